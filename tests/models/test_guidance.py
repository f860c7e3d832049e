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
    hr = torch.nn.functional.interpolate(lr, scale_factor=2, mode="nearest")
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
