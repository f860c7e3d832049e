"""Training validation reports DISTS when its weights are here, and leaves it out (never random) when not."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

from spsr_lib.train.config import Config
from spsr_lib.train.data import validate_model

dists_mod = importlib.import_module("spsr_lib.metrics.dists")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def val_images(sample_images):
    from spsr_lib.ops.imresize import imresize

    out = []
    for name in ("coffee", "chelsea"):
        hr = sample_images[name][:64, :64]
        lr = imresize(hr, 0.25, mode="matlab")
        t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
        out.append({"lr": t(lr), "hr": t(hr)})
    return out


def _cfg(val_dists: bool) -> Config:
    cfg = Config()
    cfg.logging.val_lpips = False
    cfg.logging.val_dists = val_dists
    return cfg


def test_validation_has_dists_when_its_weights_are_present(val_images):
    if not dists_mod.dists_status()[0]:
        pytest.skip(f"DISTS weights not on this machine ({dists_mod.dists_status()[1]})")
    model = nn.Upsample(scale_factor=4, mode="bicubic")
    results, _ = validate_model(model, val_images, _cfg(True), torch.device("cpu"))
    expected = [dists_mod.dists(((model(i["lr"]).clamp(0, 1) * 255).round() / 255), i["hr"]) for i in val_images]
    assert results["dists"] == pytest.approx(float(sum(expected)) / 2, abs=1e-6)
    assert "dists" not in validate_model(model, val_images, _cfg(False), torch.device("cpu"))[0]


def test_validation_without_dists_weights_leaves_it_out(val_images, tmp_path, monkeypatch):
    monkeypatch.setenv("SPSR_OFFLINE", "1")
    monkeypatch.setenv("SPSR_CACHE", str(tmp_path))
    monkeypatch.delenv("SPSR_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(dists_mod, "_MODELS", {})
    results, _ = validate_model(nn.Upsample(scale_factor=4, mode="bicubic"), val_images, _cfg(True),
                                torch.device("cpu"))
    assert "dists" not in results and results["psnr_y"] > 0
