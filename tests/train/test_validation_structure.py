"""Training validation logs the phase index for every generator and the branch diagnostics for gradient-guided ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spsr_lib.metrics as M
from spsr_lib.models.spsr_net import SPSRNet
from spsr_lib.ops.blocks import init_weights
from spsr_lib.train.config import Config
from spsr_lib.train.data import validate_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _t(a) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def val_images(sample_images):
    from spsr_lib.ops.imresize import imresize

    out = []
    for name in ("coffee", "chelsea"):
        hr = sample_images[name][:64, :80]
        out.append({"lr": _t(imresize(hr, 0.25, mode="matlab")), "hr": _t(hr)})
    return out


def _cfg() -> Config:
    cfg = Config()
    cfg.logging.val_lpips = False
    cfg.logging.val_dists = False
    return cfg


def _q(sr: torch.Tensor) -> torch.Tensor:
    return (sr.clamp(0, 1) * 255).round() / 255


def test_phase_index_for_any_generator_and_no_branch_keys_without_a_branch(val_images):
    model = nn.Upsample(scale_factor=4, mode="nearest")  # a 4-px grid by construction
    results, _ = validate_model(model, val_images, _cfg(), torch.device("cpu"))
    expected = sum(float(M.phase_index(_q(model(i["lr"])))) for i in val_images) / 2
    assert results["phase_index"] == pytest.approx(expected, rel=1e-9) and results["phase_index"] > 10
    assert "branch_grad_l1" not in results and "branch_zero_change" not in results


def test_branch_diagnostics_of_a_gradient_guided_generator(val_images):
    torch.manual_seed(0)
    model = SPSRNet(nf=8, nb=2, gc=4, residual="bicubic")
    init_weights(model, 0.5)
    model.train()
    results, grids = validate_model(model, val_images, _cfg(), torch.device("cpu"))
    assert model.training  # the mode is given back
    model.eval()
    with torch.no_grad():
        outs = [model(i["lr"]) for i in val_images]
    grad_l1 = [float(M.branch_gradient_l1(o.grad_sr, i["hr"])) for o, i in zip(outs, val_images)]
    zero = [float(M.branch_zero_change(model, i["lr"])[0]) for i in val_images]
    assert results["branch_grad_l1"] == pytest.approx(sum(grad_l1) / 2, rel=1e-6)
    assert results["branch_zero_change"] == pytest.approx(sum(zero) / 2, rel=1e-5) and results["branch_zero_change"] > 0
    # the SR image of that pass is the forward's
    psnr = [float(M.psnr(_q(o.sr), i["hr"])) for o, i in zip(outs, val_images)]
    assert results["psnr_y"] == pytest.approx(sum(psnr) / 2, rel=1e-9)
    assert results["phase_index"] == pytest.approx(sum(float(M.phase_index(_q(o.sr))) for o in outs) / 2, rel=1e-9)
    torch.testing.assert_close(grids["branch_grad_sr"], outs[0].grad_sr[0].clamp(0, 1))

