"""ONNX export (spsr_lib.io.onnx_export): every architecture, the onnxruntime check, refusals, nothing half-written."""

from __future__ import annotations

import sys

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from spsr_lib.errors import SPSRError  # noqa: E402
from spsr_lib.io import onnx_export  # noqa: E402
from spsr_lib.io.onnx_export import OnnxMismatchError, export_onnx  # noqa: E402
from spsr_lib.io.onnx_model import load_onnx_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lively(model: torch.nn.Module) -> torch.nn.Module:
    """Weights large enough for an image-like output (the default init gives ~1e-7: any export would match)."""
    from spsr_lib.ops.blocks import init_weights

    torch.manual_seed(0)
    init_weights(model, 0.7)  # outputs of std 0.05-1, values within a few units
    return model.eval()


def make(name: str) -> torch.nn.Module:
    from spsr_lib.models.guidance import GradientGuidedSR, SRResNet
    from spsr_lib.models.rrdb import RRDBNet
    from spsr_lib.models.spsr_net import SPSRNet

    return lively({
        "SPSRNet": lambda: SPSRNet(nf=8, nb=2, gc=4),
        "SPSRNet x2 residual=bicubic": lambda: SPSRNet(nf=8, nb=2, gc=4, scale=2, residual="bicubic"),
        "SPSRNet x3": lambda: SPSRNet(nf=8, nb=2, gc=4, scale=3),
        "RRDBNet": lambda: RRDBNet(nf=8, nb=2, gc=4),
        "RRDBNet residual=bicubic": lambda: RRDBNet(nf=8, nb=2, gc=4, residual="bicubic"),
        "SRResNet": lambda: SRResNet(nf=8, nb=2),
        "GradientGuidedSR(SRResNet)": lambda: GradientGuidedSR(SRResNet(nf=8, nb=2), gc=4),
    }[name]())


GUIDED = {"SPSRNet", "SPSRNet x2 residual=bicubic", "SPSRNet x3", "GradientGuidedSR(SRResNet)"}


@pytest.mark.parametrize("name", ["SPSRNet", "SPSRNet x2 residual=bicubic", "SPSRNet x3", "RRDBNet",
                                  "RRDBNet residual=bicubic", "SRResNet", "GradientGuidedSR(SRResNet)"])
def test_every_architecture_exports_with_dynamic_shapes_and_matches(tmp_path, name):
    model = make(name)
    report = export_onnx(model, tmp_path / "m.onnx")
    outputs = ["sr", "grad_sr"] if name in GUIDED else ["sr"]
    assert report.outputs == outputs and report.precision == "fp32"
    assert len(report.checks) == 2 * len(outputs)  # the random input and the photo, each output
    assert all(c.max_abs <= 1e-4 for c in report.checks)
    assert any(c.input.startswith("astronaut") for c in report.checks)
    onnx_model = load_onnx_model(tmp_path / "m.onnx")
    assert onnx_model.scale == model.scale and onnx_model.has_grad_sr == (name in GUIDED)
    assert onnx_model.kind == type(model).__name__
    x = torch.rand(3, 3, 7, 11, generator=torch.Generator().manual_seed(5))  # another batch and size again
    with torch.no_grad():
        ref = model(x)
    got = onnx_model(x)
    want_sr = ref if isinstance(ref, torch.Tensor) else ref.sr
    assert want_sr.std() > 2e-2  # the comparison means something
    assert (got.sr - want_sr).abs().max() <= 1e-4
    if name in GUIDED:
        assert (got.grad_sr - ref.grad_sr).abs().max() <= 1e-4


def test_fp16_export_is_half_the_size_within_its_tolerance_and_leaves_the_model_alone(tmp_path):
    model = make("SPSRNet")
    fp32 = export_onnx(model, tmp_path / "a.onnx")
    fp16 = export_onnx(model, tmp_path / "b.onnx", fp16=True)
    assert next(model.parameters()).dtype == torch.float32  # a copy was halved
    assert fp16.precision == "fp16" and fp16.size_bytes < 0.6 * fp32.size_bytes
    assert load_onnx_model(tmp_path / "b.onnx").input_dtype == torch.float16
    tol, mean_tol = fp16.tolerance
    assert (tol, mean_tol) == (2e-2, 2e-3)
    assert all(c.max_abs <= tol and c.mean_abs <= mean_tol for c in fp16.checks)
    assert max(c.max_abs for c in fp16.checks) > max(c.max_abs for c in fp32.checks)  # it is really fp16
    text = "\n".join(fp16.lines())
    assert "tolerance max |diff| <= 2e-02, mean <= 2e-03" in text and "astronaut" in text


def test_a_mismatch_is_an_error_and_leaves_the_existing_file_intact(tmp_path, monkeypatch):
    dest = tmp_path / "m.onnx"
    dest.write_bytes(b"previous export")
    monkeypatch.setitem(onnx_export.TOLERANCE, "fp32", 1e-30)
    monkeypatch.setitem(onnx_export.MEAN_TOLERANCE, "fp32", 1e-30)
    with pytest.raises(OnnxMismatchError, match=r"m\.onnx: onnxruntime's 'sr' differs from PyTorch's .* not written"):
        export_onnx(make("SRResNet"), dest)
    assert dest.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary left behind


def test_an_existing_file_is_replaced_by_one_that_passed(tmp_path):
    dest = tmp_path / "m.onnx"
    dest.write_bytes(b"previous export")
    export_onnx(make("SRResNet"), dest)
    assert load_onnx_model(dest).scale == 4


@pytest.mark.parametrize("kwargs, match", [({"path": "m.pth"}, "ends with .onnx"),
                                           ({"opset": 9}, "--opset 9 is outside 11..20")])
def test_bad_arguments_are_one_line(tmp_path, kwargs, match):
    path = tmp_path / kwargs.pop("path", "m.onnx")
    with pytest.raises(SPSRError, match=match) as err:
        export_onnx(make("SRResNet"), path, **kwargs)
    assert "\n" not in str(err.value) and not path.exists()


def test_without_onnx_one_line_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(SPSRError, match=r"'onnx', which is not installed; pip install onnx onnxruntime"):
        export_onnx(make("SRResNet"), tmp_path / "m.onnx")


def test_the_dynamo_exporter_takes_over_if_the_torchscript_one_is_gone(tmp_path, monkeypatch):
    pytest.importorskip("onnxscript")
    real = torch.onnx.export

    def without_torchscript(*args, dynamo=True, **kwargs):
        if not dynamo:
            raise TypeError("the TorchScript-based exporter was removed; use dynamo=True")
        return real(*args, dynamo=True, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", without_torchscript)
    report = export_onnx(make("SPSRNet x2 residual=bicubic"), tmp_path / "m.onnx")
    assert report.outputs == ["sr", "grad_sr"] and all(c.max_abs <= 1e-4 for c in report.checks)
