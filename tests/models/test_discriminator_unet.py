"""Real-ESRGAN's U-Net discriminator: per-pixel logits at any size, spectral norm where Real-ESRGAN has it."""

from __future__ import annotations

import pytest
import torch

from spsr_lib.models.discriminator import VGGDiscriminator, build_discriminator
from spsr_lib.models.discriminator_unet import UNetDiscriminator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("size", [32, 34, 48, 50])  # D's patches and D_grad's (H+2)x(W+2) gradient maps
def test_logit_map_has_the_input_size(size):
    d = UNetDiscriminator(nf=4)
    x = torch.rand(2, 3, size, size, requires_grad=True)
    out = d(x)
    assert out.shape == (2, 1, size, size)
    out.mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_spectral_norm_on_every_conv_but_the_first_and_last():
    d = UNetDiscriminator(nf=4, spectral_norm=True)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    normed = [torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs]
    assert len(convs) == 10 and normed == [False] + [True] * 8 + [False]
    plain = UNetDiscriminator(nf=4, spectral_norm=False)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in plain.modules())
    x = torch.rand(1, 3, 32, 32)
    d.train()(x)
    d.eval()
    d2 = UNetDiscriminator(nf=4, spectral_norm=True).eval()
    d2.load_state_dict(d.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(d2(x), d(x), rtol=0, atol=0)


def test_build_discriminator_kinds_and_tiny_inputs():
    assert isinstance(build_discriminator("vgg", 3, 4, 32), VGGDiscriminator)
    u = build_discriminator("unet", 3, 4, 32, spectral_norm=True)
    assert isinstance(u, UNetDiscriminator) and "spectral_norm=True" in repr(u)
    with pytest.raises(ValueError, match="vgg or unet"):
        build_discriminator("patch", 3, 4, 32)
    with pytest.raises(ValueError, match="at least 8x8"):
        u(torch.rand(1, 3, 4, 4))
