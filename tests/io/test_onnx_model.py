"""ONNX files as SR models (spsr_lib.io.onnx_model.OnnxSR): upscale's tiles and self-ensemble through onnxruntime."""

from __future__ import annotations

import sys

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from spsr_lib.errors import SPSRError  # noqa: E402
from spsr_lib.inference.infer import upscale  # noqa: E402
from spsr_lib.io.onnx_export import TOLERANCE, export_onnx  # noqa: E402
from spsr_lib.io.onnx_model import OnnxSR, is_onnx_path, load_onnx_model  # noqa: E402
from tests.io.test_onnx_export import make  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(PyTorch SPSRNet with residual=bicubic, its fp32 ONNX export)."""
    model = make("SPSRNet x2 residual=bicubic")
    path = tmp_path_factory.mktemp("onnx") / "spsr.onnx"
    export_onnx(model, path)
    return model, load_onnx_model(path)


@pytest.fixture(scope="module")
def lr() -> torch.Tensor:
    return torch.rand(1, 3, 30, 23, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("self_ensemble", [False, True])
def test_tiled_upscale_through_onnx_equals_pytorch_within_the_tolerance(pair, lr, self_ensemble):
    model, onnx_model = pair
    kw = {"device": "cpu", "tile": 12, "overlap": 4, "return_gradients": True, "self_ensemble": self_ensemble}
    want, got = upscale(lr, model, **kw), upscale(lr, onnx_model, **kw)
    assert got.sr.shape == (1, 3, 60, 46)
    assert (got.sr - want.sr).abs().max() <= TOLERANCE["fp32"]
    assert (got.grad_sr - want.grad_sr).abs().max() <= TOLERANCE["fp32"]
    assert torch.equal(got.grad_lr, want.grad_lr)
    assert want.sr.std() > 0.05


def test_uint8_images_round_the_same_almost_everywhere(pair, lr):
    model, onnx_model = pair
    img = (lr[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    want, got = upscale(img, model, device="cpu", tile=12, overlap=4), upscale(img, onnx_model, device="cpu",
                                                                                 tile=12, overlap=4)
    diff = abs(want.astype(int) - got.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # a 1e-6 difference can tip a rounding, rarely


def test_autocast_flags_are_refused_for_onnx(pair, lr):
    with pytest.raises(SPSRError, match="do not apply to an ONNX model"):
        upscale(lr, pair[1], device="cpu", bf16=True)


def test_a_file_without_the_kits_metadata_gets_its_scale_measured(pair, tmp_path):
    import onnx

    proto = onnx.load(str(pair[1].path))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "foreign.onnx"))
    foreign = load_onnx_model(tmp_path / "foreign.onnx")
    assert foreign.scale == 2 and foreign.kind == "ONNX model" and foreign.has_grad_sr


def test_bad_files_are_one_line(tmp_path, monkeypatch):
    (tmp_path / "text.onnx").write_text("not a model\n")
    with pytest.raises(SPSRError, match=r"text\.onnx: onnxruntime cannot load it as an ONNX model .*; pass a file"):
        load_onnx_model(tmp_path / "text.onnx")
    with pytest.raises(SPSRError, match=r"nope\.onnx: ONNX model file not found"):
        OnnxSR(tmp_path / "nope.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    (tmp_path / "x.onnx").write_bytes(b"")
    with pytest.raises(SPSRError, match=r"'onnxruntime', which is not installed; pip install onnx onnxruntime"):
        load_onnx_model(tmp_path / "x.onnx")


def test_onnx_paths_are_known_by_their_suffix():
    assert is_onnx_path("a/b.onnx") and is_onnx_path("B.ONNX")
    assert not is_onnx_path("b.safetensors") and not is_onnx_path({"a": 1})
