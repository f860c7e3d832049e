"""init_guided_fusion_as_identity: GradientGuidedSR starts exactly as its (pre-trained) backbone, nothing frozen."""

from __future__ import annotations

import pytest
import torch

from spsr_lib.models.guidance import GradientGuidedSR, SRResNet
from spsr_lib.models.rrdb import RRDBNet
from spsr_lib.train.warm_start import init_guided_fusion_as_identity

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _randomise(net: torch.nn.Module, seed: int = 3) -> torch.nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():  # weights far from the 0.1-scaled init so that negative activations occur
        for p in net.parameters():
            p.normal_(0, 0.1)
    return net.eval()


@pytest.mark.parametrize("backbone,nf", [
    (lambda: SRResNet(nf=8, nb=2, scale=4), None),
    (lambda: SRResNet(nf=16, nb=3, scale=2, taps=(0, 2)), None),
    (lambda: SRResNet(nf=8, nb=2, scale=2), 12),  # a fusion wider than the SR feature
    (lambda: RRDBNet(nf=8, nb=2, gc=4, scale=4), None),  # any backbone with a conv_last head (no base)
])
def test_guided_identity_fusion_reproduces_the_backbone(backbone, nf):
    bb = _randomise(backbone())
    torch.manual_seed(0)
    guided = GradientGuidedSR(bb, nf=nf, gc=4).eval()
    lr = torch.rand(2, 3, 9, 11)
    with torch.no_grad():
        ref = bb(lr)
        before = (guided(lr).sr - ref).abs().max().item()
        assert (bb.features(lr)[1] < 0).any()  # the LReLU pass-through is exercised on negative features
    assert init_guided_fusion_as_identity(guided) is guided
    with torch.no_grad():
        out = guided(lr)
    assert before > 1e-2  # a randomly initialised fusion does not give the backbone's image
    assert (out.sr - ref).abs().max().item() < 1e-5
    assert out.grad_sr.abs().max() > 0  # the gradient branch is left as it was (random), not zeroed


def test_guided_identity_fusion_still_learns_everything():
    """One backward: the (zero-initialised) fusion convs, the branch half of the concat and the gradient branch
    all get gradients, so nothing is frozen (the convs before a zero conv5 get theirs from the first step on)."""
    guided = init_guided_fusion_as_identity(GradientGuidedSR(_randomise(SRResNet(nf=8, nb=2, scale=4)), gc=4))
    branch_ch = guided.grad_branch.conv_hr_feat.out_channels
    lr = torch.rand(1, 3, 8, 8)
    guided.zero_grad()
    out = guided(lr)
    (out.sr.square().mean() + out.grad_sr.abs().mean()).backward()
    fusion = dict(guided.fusion.named_parameters())
    for name in ("block.rdb1.conv5.weight", "block.rdb2.conv5.weight", "block.rdb3.conv5.weight",
                 "concat.weight", "conv_hr.weight", "conv_last.weight"):
        g = fusion[name].grad
        assert g is not None and g.abs().sum() > 0, name
    # the concat starts with weight 0 on the branch feature, and can learn to use it
    assert guided.fusion.concat.weight[:, :branch_ch].abs().max() == 0
    assert guided.fusion.concat.weight.grad[:, :branch_ch].abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in guided.grad_branch.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in guided.backbone.parameters())


def test_guided_identity_fusion_needs_a_conv_last_head():
    bb = SRResNet(nf=8, nb=2, scale=4)
    guided = GradientGuidedSR(bb, gc=4)
    del bb.conv_last  # the guided model itself never uses it
    with torch.no_grad():
        guided(torch.rand(1, 3, 6, 6))
    with pytest.raises(ValueError, match="SRResNet has no conv_last"):
        init_guided_fusion_as_identity(guided)


@pytest.mark.parametrize("bb_nf,nf", [(4, None), (8, 6)])  # < 2 * out_ch; narrower than the SR feature
def test_guided_identity_fusion_needs_a_wide_enough_fusion(bb_nf, nf):
    guided = GradientGuidedSR(SRResNet(nf=bb_nf, nb=1, scale=2), nf=nf, gc=4)
    with pytest.raises(ValueError, match="fusion width >= 6 and >= the SR feature channels"):
        init_guided_fusion_as_identity(guided)
