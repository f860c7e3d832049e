"""Branch diagnostics: the parts pass equals the forward, zeroing the branch feature is measured, the branch L1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spsr_lib.metrics as M
from spsr_lib.metrics.branch import branch_forward, is_gradient_guided
from spsr_lib.models.guidance import GradientGuidedSR, SRResNet
from spsr_lib.models.rrdb import RRDBNet
from spsr_lib.models.spsr_net import Fusion, SPSRNet
from spsr_lib.ops.blocks import init_weights
from spsr_lib.ops.gradient import gradient_map
from spsr_lib.ops.imresize import imresize

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _spsr(residual: str = "none", seed: int = 0) -> SPSRNet:
    torch.manual_seed(seed)
    net = SPSRNet(nf=8, nb=2, gc=4, residual=residual)
    init_weights(net, 0.5)  # larger than the training init: an image that is neither black nor bicubic
    return net.eval()


@pytest.fixture(scope="module")
def hr() -> np.ndarray:
    from skimage import data

    return data.astronaut()[100:164, 180:260]


@pytest.fixture(scope="module")
def lr(hr) -> np.ndarray:
    return imresize(hr, 0.25, mode="matlab")


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255


def _hooked_zero_sr(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Independent of the parts pass: the real forward with the fusion's first input replaced by zeros."""
    handle = model.fusion.register_forward_pre_hook(lambda mod, args: (torch.zeros_like(args[0]), *args[1:]))
    try:
        return model(x).sr
    finally:
        handle.remove()


@pytest.mark.parametrize("make", [
    lambda: _spsr("none"),
    lambda: _spsr("bicubic"),
    lambda: GradientGuidedSR(SRResNet(nf=8, nb=2), gc=4),  # backbone with a bilinear base
    lambda: GradientGuidedSR(RRDBNet(nf=8, nb=2, gc=4, residual="bicubic"), gc=4),
], ids=["spsr", "spsr_bicubic", "guided_srresnet", "guided_rrdb"])
def test_the_parts_pass_is_the_forward(make, lr):
    torch.manual_seed(1)
    model = make().eval()
    x = torch.cat([_t(lr), _t(lr).flip(-1)])
    with torch.no_grad():
        out, parts = model(x), branch_forward(model, x)
        zero = _hooked_zero_sr(model, x)
    assert torch.equal(parts.sr, out.sr) and torch.equal(parts.grad_sr, out.grad_sr)
    torch.testing.assert_close(parts.sr_zero_branch, zero, rtol=0, atol=1e-6)
    assert not torch.equal(parts.sr_zero_branch, parts.sr)


def test_zero_change_of_a_random_model_against_a_manual_computation(lr):
    model = _spsr("bicubic")
    got = M.branch_zero_change(model, lr)
    assert isinstance(got, float) and got > 0.05
    with torch.no_grad():
        sr = model(_t(lr)).sr
        zero = _hooked_zero_sr(model, _t(lr))
    manual = float(((sr.clamp(0, 1) - zero.clamp(0, 1)).abs() * 255).mean())
    assert got == pytest.approx(manual, rel=1e-5)
    batch = M.branch_zero_change(model, torch.cat([_t(lr), _t(lr).flip(-2)]))
    assert isinstance(batch, torch.Tensor) and batch.shape == (2,)
    assert float(batch[0]) == pytest.approx(got, rel=1e-5) and float(batch[1]) != pytest.approx(got, rel=1e-2)


class _BranchBlindFusion(Fusion):
    """A fusion that looks only at the SR feature: the branch cannot matter."""

    def forward(self, branch_feature: torch.Tensor, sr_feature: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.zeros_like(branch_feature), sr_feature)


def test_zero_change_is_zero_when_the_branch_cannot_matter(lr):
    blind = _spsr("bicubic")
    old = blind.fusion
    blind.fusion = _BranchBlindFusion(8, 8, 8, 3, 4)
    blind.fusion.load_state_dict(old.state_dict())
    assert M.branch_zero_change(blind, lr) == 0.0
    # a branch whose HR feature is zero (last conv zeroed) changes nothing when zeroed either
    dead = _spsr("bicubic")
    with torch.no_grad():
        dead.grad_branch.conv_hr_feat.weight.zero_()
        dead.grad_branch.conv_hr_feat.bias.zero_()
    assert M.branch_zero_change(dead, lr) == 0.0
    assert M.branch_zero_change(_spsr("bicubic"), lr) > 0.05  # the same net with its branch: not 0


def test_branch_gradient_l1(hr, lr):
    bic = imresize(lr, 4.0, mode="matlab")
    m_bic = gradient_map(_t(bic).double(), padding=1)
    # grad_sr == M(bicubic): exactly the bicubic reference, which is gradient_l1 of the bicubic image
    ref = M.bicubic_gradient_l1(bic, hr)
    assert ref == M.gradient_l1(bic, hr) and ref > 0.01
    assert M.branch_gradient_l1(m_bic, hr) == pytest.approx(ref, rel=1e-9)
    assert M.branch_gradient_l1(m_bic[0].permute(1, 2, 0).numpy(), hr) == pytest.approx(ref, rel=1e-9)
    # grad_sr == M(HR): 0; the raw value is used (no clamping: a map > 1 counts in full)
    m_hr = gradient_map(_t(hr).double(), padding=1)
    assert M.branch_gradient_l1(m_hr, hr) == pytest.approx(0.0, abs=1e-7)
    assert M.branch_gradient_l1(m_hr + 2.0, hr) == pytest.approx(2.0, abs=1e-6)
    # by hand: shave 4 px, mean over channels and pixels; a batch gives (N,)
    g = torch.rand(2, 3, *hr.shape[:2], dtype=torch.float64)
    manual = (g - m_hr).abs()[..., 4:-4, 4:-4].flatten(1).mean(1)
    got = M.branch_gradient_l1(g, torch.cat([_t(hr), _t(hr)]))
    assert got.shape == (2,) and torch.allclose(got, manual, atol=1e-6)
    assert float(M.branch_gradient_l1(g[:1], hr, scale=0)) == pytest.approx(float((g[0] - m_hr[0]).abs().mean()),
                                                                            rel=1e-6)


def test_clear_errors():
    assert not is_gradient_guided(RRDBNet(nf=8, nb=1, gc=4)) and is_gradient_guided(_spsr())
    with pytest.raises(M.MetricInputError, match="RRDBNet has no gradient branch"):
        M.branch_zero_change(RRDBNet(nf=8, nb=1, gc=4), np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(M.MetricInputError, match="sizes differ"):
        M.branch_gradient_l1(torch.zeros(1, 3, 32, 32), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(M.MetricInputError, match="raw output"):
        M.branch_gradient_l1(np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8))
