"""Loss terms against hand-computed values and the official RaGAN / gradient-operator vectors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from spsr_lib import losses
from spsr_lib.train.config import load_config


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _bce_np(logits: np.ndarray, target: float) -> float:
    """Hand-written, numerically stable BCE-with-logits (mean), independent of torch."""
    x = logits.astype(np.float64)
    return float(np.mean(np.maximum(x, 0) - x * target + np.log1p(np.exp(-np.abs(x)))))


@pytest.fixture()
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)


def test_pixel_losses_match_hand_formulas(pair):
    x, y = pair
    d = _np(x) - _np(y)
    assert losses.pixel_loss(x, y, "l1").item() == pytest.approx(np.abs(d).mean(), rel=1e-6)
    assert losses.pixel_loss(x, y, "mse").item() == pytest.approx((d**2).mean(), rel=1e-6)
    eps = 1e-3
    assert losses.PixelLoss("charbonnier", eps=eps)(x, y).item() == pytest.approx(
        np.sqrt(d**2 + eps**2).mean(), rel=1e-6)
    with pytest.raises(ValueError, match="unknown pixel loss"):
        losses.PixelLoss("l3")


def test_ragan_matches_official_vectors(parity_dir):
    vec = json.loads((parity_dir / "manifest.json").read_text())["gan_loss_vectors"]
    real, fake = torch.tensor(vec["pred_real"]), torch.tensor(vec["pred_fake"])
    g_key = next(k for k in vec if k.startswith("G_adv"))
    d_key = next(k for k in vec if k.startswith("D_total"))
    assert losses.gan_generator_loss(fake, real, "ragan").item() == pytest.approx(vec[g_key], abs=1e-6)
    assert losses.gan_discriminator_loss(real, fake, "ragan").item() == pytest.approx(vec[d_key], abs=1e-6)
    # the two halves of the D loss, as the official code logs them
    d_real = _bce_np(_np(real) - _np(fake).mean(), 1.0)
    d_fake = _bce_np(_np(fake) - _np(real).mean(), 0.0)
    assert d_real == pytest.approx(vec[next(k for k in vec if k.startswith("D_real"))], abs=1e-6)
    assert d_fake == pytest.approx(vec[next(k for k in vec if k.startswith("D_fake"))], abs=1e-6)


def test_ragan_generator_does_not_backprop_into_real_logits():
    real = torch.tensor([0.3, -1.0, 2.0], requires_grad=True)
    fake = torch.tensor([0.1, 0.5, -0.2], requires_grad=True)
    losses.GANLoss("ragan").generator(fake, real).backward()
    assert real.grad is None and fake.grad is not None


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge"])
def test_other_gan_formulations(kind):
    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(5, 1, generator=g), torch.randn(5, 1, generator=g)
    r, f = _np(real), _np(fake)
    expected_g = {"vanilla": _bce_np(f, 1.0), "lsgan": float(((f - 1) ** 2).mean()), "hinge": float(-f.mean())}[kind]
    expected_d = {
        "vanilla": (_bce_np(r, 1.0) + _bce_np(f, 0.0)) / 2,
        "lsgan": float((((r - 1) ** 2).mean() + (f**2).mean()) / 2),
        "hinge": float((np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean()) / 2),
    }[kind]
    crit = losses.GANLoss(kind)
    assert crit.generator(fake, real).item() == pytest.approx(expected_g, rel=1e-5)
    assert crit.discriminator(real, fake).item() == pytest.approx(expected_d, rel=1e-5)


def test_unknown_gan_kind():
    with pytest.raises(ValueError, match="unknown GAN loss"):
        losses.GANLoss("wgan-gp")


def test_gradient_losses_use_official_operators(parity_dir):
    """Gradient pixel loss = MSE of padding-2 maps; branch loss = L1 against the padding-1 HR map."""
    io = torch.load(parity_dir / "grad_op_io.pt", weights_only=True)
    x, pad1, pad2 = io["input"], io["get_gradient_nopadding"], io["get_gradient_padding2"]
    y = x.flip(-1)  # the magnitude is flip-equivariant: official maps of y are the flipped maps of x
    expected = ((_np(pad2) - _np(pad2.flip(-1))) ** 2).mean()
    assert losses.gradient_pixel_loss(x, y).item() == pytest.approx(expected, rel=1e-5)
    pred = torch.rand_like(pad1)
    assert losses.branch_pixel_loss(pred, x).item() == pytest.approx(np.abs(_np(pred) - _np(pad1)).mean(), rel=1e-5)


class _Trunk(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)  # exposes train/eval mode: must stay eval

    def forward(self, x):
        return self.bn(self.conv(x))


def test_perceptual_loss_normalises_and_freezes(pair):
    sr, hr = pair
    sr = sr.clone().requires_grad_(True)
    trunk = _Trunk()
    crit = losses.PerceptualLoss(trunk).train()
    assert not trunk.training and not any(p.requires_grad for p in trunk.parameters())
    value = crit(sr, hr)
    mean = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    with torch.no_grad():
        f_sr = trunk(torch.from_numpy((_np(sr) - mean) / std).float())
        f_hr = trunk(torch.from_numpy((_np(hr) - mean) / std).float())
    assert value.item() == pytest.approx(np.abs(_np(f_sr) - _np(f_hr)).mean(), rel=1e-5)
    value.backward()
    assert sr.grad is not None and trunk.conv.weight.grad is None
    assert math.isfinite(value.item())


def test_official_weights_are_config_defaults():
    loss = load_config(None).loss
    got = {"pixel": loss.pixel.weight, "perceptual": loss.perceptual.weight, "gan": loss.gan.weight,
           "gradient_pixel": loss.gradient_pixel.weight, "gradient_gan": loss.gradient_gan.weight,
           "branch_pixel": loss.branch_pixel.weight}
    assert got == losses.OFFICIAL_WEIGHTS == {"pixel": 1e-2, "perceptual": 1.0, "gan": 5e-3,
                                              "gradient_pixel": 1e-2, "gradient_gan": 5e-3, "branch_pixel": 0.5}
    assert loss.gan.kind == loss.gradient_gan.kind == "ragan" and loss.perceptual.arch == "vgg19"


# ------------------------------------------------------------------------------------ LDL artifact map
def test_artifact_map_is_zero_when_sr_equals_hr():
    hr = torch.rand(2, 3, 24, 24)
    m = losses.artifact_map(hr.clone(), hr)
    assert m.shape == (2, 1, 24, 24) and torch.count_nonzero(m) == 0
    assert losses.artifact_map_loss(hr.clone().requires_grad_(), hr).item() == 0.0


def test_artifact_map_is_larger_where_the_residual_is_noisy():
    gen = torch.Generator().manual_seed(0)
    hr = torch.full((1, 3, 32, 32), 0.5)
    sr = hr + 0.05  # a smooth (constant) residual everywhere ...
    sr[..., :, 16:] += 0.1 * torch.randn(1, 3, 32, 16, generator=gen)  # ... and a noisy one on the right
    m = losses.artifact_map(sr, hr, window=7)
    assert m[..., 4:28, 20:28].mean() > 100 * m[..., 4:28, 3:10].mean()
    assert m[..., 4:28, 3:10].abs().max() < 1e-9  # constant residual: zero local variance


def test_artifact_map_matches_its_definition_and_ema_refinement():
    gen = torch.Generator().manual_seed(1)
    hr, sr, ema = (torch.rand(1, 3, 12, 12, generator=gen) for _ in range(3))
    r = (hr - sr).abs().sum(1, keepdim=True)
    m = losses.artifact_map(sr, hr, window=3)
    padded = torch.nn.functional.pad(r, [1] * 4, mode="reflect")
    y, x = 5, 7
    local = padded[0, 0, y:y + 3, x:x + 3].var(unbiased=True)
    assert m[0, 0, y, x].item() == pytest.approx((r.var() ** 0.2 * local).item(), rel=1e-5)
    refined = losses.artifact_map(sr, hr, ema, window=3)
    better_than_ema = r < (hr - ema).abs().sum(1, keepdim=True)
    assert better_than_ema.any() and (~better_than_ema).any()
    assert torch.count_nonzero(refined[better_than_ema]) == 0
    assert torch.equal(refined[~better_than_ema], m[~better_than_ema])


def test_artifact_map_loss_grad_flows_to_sr_only_not_through_the_map():
    gen = torch.Generator().manual_seed(2)
    hr = torch.rand(1, 3, 16, 16, generator=gen)
    sr = (hr + 0.1 * torch.randn(1, 3, 16, 16, generator=gen)).requires_grad_()
    loss = losses.artifact_map_loss(sr, hr)
    loss.backward()
    m = losses.artifact_map(sr.detach(), hr)
    expected = (m * torch.sign(sr.detach() - hr)) / sr.numel()  # d/dSR of mean |M*SR - M*HR|, M constant
    torch.testing.assert_close(sr.grad, expected, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("kind", ["ragan", "vanilla", "lsgan", "hinge"])
def test_gan_losses_on_logit_maps_average_over_batch_and_pixels(kind):
    """A U-Net D gives N x 1 x H x W logits: the loss equals that of the flattened logits, per-pixel gradients."""
    gen = torch.Generator().manual_seed(3)
    real, fake = (torch.randn(2, 1, 6, 6, generator=gen) for _ in range(2))
    fake.requires_grad_()
    for fn, args in ((losses.gan_generator_loss, (fake, real)), (losses.gan_discriminator_loss, (real, fake))):
        flat = fn(*(a.reshape(-1, 1) for a in args), kind)
        on_map = fn(*args, kind)
        assert on_map.item() == pytest.approx(flat.item(), rel=1e-6)
    fake.grad = None
    losses.gan_generator_loss(fake, real, kind).backward()
    assert fake.grad.shape == fake.shape and torch.count_nonzero(fake.grad) > fake.numel() // 2
