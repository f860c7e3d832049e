"""The loss terms of SPSR (Ma et al., CVPR 2020, Sec. 3.3, Eq. 5-9; official ``SPSR_model.py``).

Generator objective (paper Eq. 9, official weights as in ``SPSR_REFERENCE.md`` §5.1)::

    L_G = 1e-2 * L1(SR, HR)                               pixel            (Eq. 5, "L_SR^Pix")
        + 1    * L1(VGG(SR), VGG(HR))                     perceptual       (Eq. 5, "L_SR^Per")
        + 5e-3 * RaGAN_G(D; SR, HR)                       image GAN        (Eq. 5, "L_SR^Adv")
        + 1e-2 * MSE(M2(SR), M2(HR))                      gradient pixel   (Eq. 6, "L_SR^PixGM")
        + 5e-3 * RaGAN_G(D_grad; M2(SR), M2(HR))          gradient GAN     (Eq. 7, "L_SR^AdvGM")
        + 0.5  * L1(grad_sr, M1(HR))                      branch pixel     (Eq. 8, "L_GB^Pix")

``M1``/``M2`` are the gradient maps with zero padding 1 (HxW) and 2 ((H+2)x(W+2)), exactly as the official
code (gradient pixel loss and D_grad see 130x130 maps for 128x128 patches; the branch target is 128x128).

GAN formulations. The official ``gan_type: vanilla`` only selects ``BCEWithLogits``; the code *always*
builds the relativistic-average terms (ESRGAN), for D and for D_grad (§5.2)::

    G: ( BCE(D(HR) - mean D(SR), 0) + BCE(D(SR) - mean D(HR), 1) ) / 2,   D(HR) detached
    D: ( BCE(D(HR) - mean D(SR), 1) + BCE(D(SR) - mean D(HR), 0) ) / 2,   SR detached

``vanilla`` (non-saturating BCE), ``lsgan`` and ``hinge`` exist for ablations; their D loss is also the
mean of the real and fake halves so that every kind has the same scale as the official one. The logits may
be per-pixel maps (``discriminator.kind: unet``): every mean, RaGAN's "average" included, is then over the
batch and all pixels, so a map loss equals the loss of its flattened logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spsr_lib.ops.gradient import gradient_map

# ImageNet statistics of the torchvision VGG trunks (the official VGGFeatureExtractor, use_input_norm=True)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Official loss weights (train_spsr.json); each can be re-weighted or set to 0 in the config.
OFFICIAL_WEIGHTS = {
    "pixel": 1e-2,
    "perceptual": 1.0,
    "gan": 5e-3,
    "gradient_pixel": 1e-2,
    "gradient_gan": 5e-3,
    "branch_pixel": 0.5,
}

PIXEL_KINDS = ("l1", "mse", "charbonnier")
GAN_KINDS = ("ragan", "vanilla", "lsgan", "hinge")


# ------------------------------------------------------------------------------------------- pixel terms
def pixel_loss(x: Tensor, y: Tensor, kind: str = "l1", eps: float = 1e-6) -> Tensor:
    """Mean pixel distance: ``l1``, ``mse`` or ``charbonnier`` (mean of sqrt((x-y)^2 + eps^2))."""
    if kind == "l1":
        return F.l1_loss(x, y)
    if kind == "mse":
        return F.mse_loss(x, y)
    if kind == "charbonnier":
        diff = x - y
        return torch.sqrt(diff * diff + eps * eps).mean()
    raise ValueError(f"unknown pixel loss {kind!r}; expected one of {PIXEL_KINDS}")


class PixelLoss(nn.Module):
    def __init__(self, kind: str = "l1", eps: float = 1e-6) -> None:
        super().__init__()
        if kind not in PIXEL_KINDS:
            raise ValueError(f"unknown pixel loss {kind!r}; expected one of {PIXEL_KINDS}")
        self.kind, self.eps = kind, eps

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return pixel_loss(x, y, self.kind, self.eps)


def gradient_pixel_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """Eq. 6: MSE between the padding-2 gradient maps of SR and HR (MSE is hard-coded officially)."""
    return F.mse_loss(gradient_map(sr, padding=2), gradient_map(hr, padding=2))


def branch_pixel_loss(grad_sr: Tensor, hr: Tensor) -> Tensor:
    """Eq. 8: L1 between the gradient-branch output and the padding-1 gradient map of HR."""
    return F.l1_loss(grad_sr, gradient_map(hr, padding=1))


def low_frequency_loss(sr: Tensor, hr: Tensor, factor: int = 4) -> Tensor:
    """L1 between ``factor``-fold box-downscaled SR and HR: an anchor for colour and brightness only.

    Not in the paper.  A short GAN stage drifts in colour because the perceptual features hardly change
    under a global offset and Adam moves every weight by about lr at first; the official pixel term (1e-2)
    is too weak to pull it back and a stronger full-resolution pixel term also fights the textures the
    perceptual and GAN terms add.  Averaging ``factor`` x ``factor`` blocks keeps only what the LR input
    already determines, so a large weight holds the mean colour while leaving high frequencies free
    (``../shared/spec/STAGE2_PROBES.md``: weight 10 held Set5 within 3 grey levels where 1 did not).
    """
    return F.l1_loss(F.avg_pool2d(sr, factor), F.avg_pool2d(hr, factor))


# ------------------------------------------------------------------------------------ LDL artifact map
@torch.no_grad()
def artifact_map(sr: Tensor, hr: Tensor, sr_ema: Tensor | None = None, window: int = 7) -> Tensor:
    """LDL's artifact map (Liang et al., CVPR 2022, Sec. 3; official ``get_refined_artifact_map``), N x 1 x H x W.

    ``r = sum_c |HR - SR|``; ``M = var(r over each image) ** (1/5) * local_var(r)``, the local variance taken
    over a ``window`` x ``window`` neighbourhood (reflect padding, unbiased, as the official code; the 1/5 power
    applies to the per-image variance only). With ``sr_ema`` (the EMA generator's output) the map is refined:
    zero where the current residual is below the EMA's, i.e. kept only where the model is worse than its
    average, the unstable pixels LDL calls artifacts. Computed without gradient: the map only weights the loss.
    """
    residual = (hr - sr).abs().sum(1, keepdim=True)
    pad = (window - 1) // 2
    patches = F.pad(residual, [pad] * 4, mode="reflect").unfold(2, window, 1).unfold(3, window, 1)
    local = patches.var(dim=(-1, -2), unbiased=True)
    weight = residual.var(dim=(1, 2, 3), keepdim=True) ** (1 / 5) * local
    if sr_ema is not None:
        weight = torch.where(residual < (hr - sr_ema).abs().sum(1, keepdim=True), 0.0, weight)
    return weight


def artifact_map_loss(sr: Tensor, hr: Tensor, sr_ema: Tensor | None = None, window: int = 7) -> Tensor:
    """LDL's artifact loss: ``L1(M * SR, M * HR)`` with the detached :func:`artifact_map` ``M``."""
    m = artifact_map(sr.detach(), hr, None if sr_ema is None else sr_ema.detach(), window)
    return F.l1_loss(m * sr, m * hr)


# -------------------------------------------------------------------------------------------- perceptual
class PerceptualLoss(nn.Module):
    """L1 between VGG features of SR and HR (official ``VGGFeatureExtractor``, §4).

    ``features`` is any frozen feature trunk taking ImageNet-normalised RGB, e.g.
    ``spsr_lib.io.weights.load_vgg_features("vgg19")`` (conv5_4 before ReLU, the paper). The input is
    normalised here with the ImageNet mean/std; SR is fed unclamped, HR features are detached.
    """

    def __init__(self, features: nn.Module, criterion: str = "l1",
                 taps: dict[int, float] | None = None) -> None:
        """``taps``: ``{index in features: weight}`` for a weighted sum over several layers (a small-budget
        lever, not the paper); None = the last layer of ``features`` alone with weight 1 (the paper)."""
        super().__init__()
        self.features = features
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.features.eval()
        self.criterion = criterion
        # None: the whole trunk, any nn.Module (the paper); taps index the layers of an nn.Sequential trunk
        self.taps = dict(taps) if taps else None
        if self.taps is not None and (max(self.taps) >= len(features) or min(self.taps) < 0):
            raise ValueError(f"perceptual taps {sorted(self.taps)} outside the {len(features)} feature layers")
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:  # the trunk stays in eval mode, always
        super().train(mode)
        self.features.eval()
        return self

    def extract(self, x: Tensor) -> Tensor:
        return self.features((x - self.mean) / self.std)

    def extract_taps(self, x: Tensor) -> dict[int, Tensor]:
        """The feature maps at every tap (one pass through the trunk, stopping at the deepest tap)."""
        out, x = {}, (x - self.mean) / self.std
        last = max(self.taps)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out[i] = x
            if i == last:
                break
        return out

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        if self.taps is None:
            with torch.no_grad():
                target = self.extract(hr)
            return pixel_loss(self.extract(sr), target.detach(), self.criterion)
        with torch.no_grad():
            target = self.extract_taps(hr)
        feats = self.extract_taps(sr)
        return sum(w * pixel_loss(feats[i], target[i].detach(), self.criterion) for i, w in self.taps.items())


# ------------------------------------------------------------------------------------------------- GANs
def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def gan_generator_loss(pred_fake: Tensor, pred_real: Tensor | None, kind: str = "ragan") -> Tensor:
    """Adversarial term of the generator; ``pred_real`` is detached here (needed by RaGAN only)."""
    if kind == "ragan":
        real = pred_real.detach()
        return (_bce(real - pred_fake.mean(), 0.0) + _bce(pred_fake - real.mean(), 1.0)) / 2
    if kind == "vanilla":
        return _bce(pred_fake, 1.0)
    if kind == "lsgan":
        return F.mse_loss(pred_fake, torch.ones_like(pred_fake))
    if kind == "hinge":
        return -pred_fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_KINDS}")


def gan_discriminator_loss(pred_real: Tensor, pred_fake: Tensor, kind: str = "ragan") -> Tensor:
    """Discriminator loss; ``pred_fake`` must come from a detached SR (the caller's job)."""
    if kind == "ragan":
        return (_bce(pred_real - pred_fake.mean(), 1.0) + _bce(pred_fake - pred_real.mean(), 0.0)) / 2
    if kind == "vanilla":
        return (_bce(pred_real, 1.0) + _bce(pred_fake, 0.0)) / 2
    if kind == "lsgan":
        return (F.mse_loss(pred_real, torch.ones_like(pred_real))
                + F.mse_loss(pred_fake, torch.zeros_like(pred_fake))) / 2
    if kind == "hinge":
        return (F.relu(1.0 - pred_real).mean() + F.relu(1.0 + pred_fake).mean()) / 2
    raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_KINDS}")


class GANLoss(nn.Module):
    """Holds the formulation; ``generator(fake, real)`` and ``discriminator(real, fake)``."""

    def __init__(self, kind: str = "ragan") -> None:
        super().__init__()
        if kind not in GAN_KINDS:
            raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_KINDS}")
        self.kind = kind

    def generator(self, pred_fake: Tensor, pred_real: Tensor | None = None) -> Tensor:
        return gan_generator_loss(pred_fake, pred_real, self.kind)

    def discriminator(self, pred_real: Tensor, pred_fake: Tensor) -> Tensor:
        return gan_discriminator_loss(pred_real, pred_fake, self.kind)

    def extra_repr(self) -> str:
        return f"kind={self.kind}"
