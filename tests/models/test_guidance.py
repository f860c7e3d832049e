"""Model-agnostic gradient guidance: reproduces SPSR on SPSRNet's own SR branch, runs on RRDBNet and SRResNet."""

from __future__ import annotations

import pytest
import torch

from spsr_lib.io.checkpoint import load_generator
from spsr_lib.models.guidance import GradientGuidedSR, SRResNet
from spsr_lib.models.rrdb import RRDBNet
from spsr_lib.models.spsr_net import SPSROutput

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def test_wrapping_spsr_sr_branch_reproduces_official_outputs(parity_dir):
    spsr = load_generator(parity_dir / "g_small_state_dict.pth")
    guided = GradientGuidedSR(spsr, gc=spsr.gc)
    guided.grad_branch.load_state_dict(spsr.grad_branch.state_dict())
    guided.fusion.load_state_dict(spsr.fusion.state_dict())
    io = torch.load(parity_dir / "g_small_io.pt", weights_only=True)
    with torch.no_grad():
        out = guided(io["input"])
    grad_branch, sr, grad_lr = io["outputs"]
    for got, ref in [(out.sr, sr), (out.grad_sr, grad_branch), (out.grad_lr, grad_lr)]:
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backbone", [
    lambda: RRDBNet(nf=8, nb=4, gc=4, scale=4),
    lambda: SRResNet(nf=8, nb=4, scale=4),
    lambda: SRResNet(nf=8, nb=3, scale=3, taps=(0, 2)),
    lambda: RRDBNet(nf=8, nb=2, gc=4, scale=2),
])
def test_guided_backbones_run_and_train_end_to_end(backbone):
    torch.manual_seed(0)
    bb = backbone()
    model = GradientGuidedSR(bb, nf=8, gc=4)
    lr = torch.rand(2, 3, 8, 8)
    out = model(lr)
    s = bb.scale
    assert isinstance(out, SPSROutput)
    assert out.sr.shape == out.grad_sr.shape == (2, 3, 8 * s, 8 * s) and out.grad_lr.shape == lr.shape
    assert len(model.grad_branch.blocks) == len(bb.taps)
    out.sr.mean().add(out.grad_sr.mean()).backward()
    groups = model.parameter_groups()
    assert all(any(p.grad is not None and p.grad.abs().sum() > 0 for p in ps) for ps in groups.values())
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


def test_guided_model_learns_a_tiny_target():
    torch.manual_seed(0)
    model = GradientGuidedSR(SRResNet(nf=8, nb=2, scale=2), nf=8, gc=4)
    lr = torch.rand(1, 3, 6, 6)
    # SRResNet's bilinear base alone is already close to the nearest upsample: the +0.3 is what it must learn
    hr = torch.nn.functional.interpolate(lr, scale_factor=2, mode="nearest") + 0.3
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = (model(lr).sr - hr).abs().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < 0.65 * losses[0]


def test_srresnet_shapes_and_size():
    m = SRResNet()
    assert sum(p.numel() for p in m.parameters()) == 1_517_571  # BasicSR MSRResNet x4, nf=64, nb=16
    for s in (2, 3, 4):
        assert SRResNet(nf=8, nb=2, scale=s)(torch.rand(1, 3, 5, 7)).shape == (1, 3, 5 * s, 7 * s)


def test_protocol_violation_is_reported():
    with pytest.raises(TypeError, match="guidance protocol"):
        GradientGuidedSR(torch.nn.Conv2d(3, 3, 3))


# ------------------------------------------------------------------------------ the backbone's global residual
def _randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Weights far from the 0.1-scaled init, so that every part contributes visibly to the image."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    return model


def _zero_fusion(model: GradientGuidedSR) -> None:
    with torch.no_grad():
        for p in model.fusion.parameters():
            p.zero_()


def test_srresnet_forward_is_its_head_plus_the_bilinear_base():
    torch.manual_seed(0)
    bb = _randomise(SRResNet(nf=8, nb=2, scale=3)).eval()
    lr = torch.rand(1, 3, 5, 7)
    bilinear = torch.nn.functional.interpolate(lr, scale_factor=3, mode="bilinear", align_corners=False)
    with torch.no_grad():
        torch.testing.assert_close(bb.base(lr), bilinear, rtol=0, atol=0)
        head = bb.conv_last(bb.features(lr)[1])
        assert head.abs().max() > 1e-2  # the residual is not trivially zero
        torch.testing.assert_close(bb(lr), head + bilinear)


def test_guided_srresnet_adds_the_backbone_base_to_the_fused_image():
    torch.manual_seed(0)
    model = _randomise(GradientGuidedSR(SRResNet(nf=8, nb=2, scale=4), gc=4)).eval()
    lr = torch.rand(1, 3, 6, 5)
    bilinear = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)
    with torch.no_grad():
        fused = model.fusion(model.grad_branch(model.lr_gradient(lr), model.backbone.features(lr)[0])[0],
                             model.backbone.features(lr)[1])
        assert fused.abs().max() > 1e-2
        torch.testing.assert_close(model(lr).sr, fused + bilinear)
        _zero_fusion(model)
        torch.testing.assert_close(model(lr).sr, bilinear, rtol=0, atol=0)  # all fusion weights 0: the base alone


def test_guided_rrdb_has_no_base_to_add():
    torch.manual_seed(0)
    bb = RRDBNet(nf=8, nb=2, gc=4, scale=2)
    assert bb.base(torch.rand(1, 3, 6, 6)) is None  # the official net (residual="none") has no base
    model = GradientGuidedSR(bb, gc=4).eval()
    _zero_fusion(model)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 6, 6)).sr.abs().max() == 0
