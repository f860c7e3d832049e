"""Structure metrics: how far the SR image's gradient map is from the HR image's.

SPSR's claim (Sec. 3, Eq. 1) is that gradient guidance preserves geometric structure.  Its gradient
operator ``M(I) = ||(I(x+1,y) - I(x-1,y), I(x,y+1) - I(x,y-1))||_2`` (``spsr_lib.ops.gradient.gradient_map``,
per RGB channel, on [0, 1] intensities) turns an image into a map of edge strength; comparing the maps of
SR and HR measures structure directly, independent of texture-level colour shifts:

- ``gradient_l1``  : mean |M(SR) - M(HR)| (on the [0, 1] intensity scale; lower is better);
- ``gradient_psnr``: 10 log10(1 / MSE(M(SR), M(HR))) in dB (peak 1, the intensity range; higher is better).

The maps are computed on the whole image (padding 1, as the gradient branch) and then ``scale`` px are
shaved from every side, like PSNR, so the zero-padded image border does not dominate.  The RGB values are
those saved to disk (uint8-rounded for float tensors too, like the paper's evaluation of PNG files).
"""

from __future__ import annotations

import torch

from spsr_lib.metrics.color import ImageLike, as_batch255, check_pair, quantize, shave


def _maps(sr: ImageLike, hr: ImageLike, scale: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    from spsr_lib.ops.gradient import gradient_map

    a, from_numpy = as_batch255(sr, "SR image")
    b, _ = as_batch255(hr, "HR image")
    check_pair(a, b)
    a, b = quantize(a) / 255.0, quantize(b.to(a.device)) / 255.0
    return shave(gradient_map(a, padding=1), scale), shave(gradient_map(b, padding=1), scale), from_numpy


def gradient_l1(sr: ImageLike, hr: ImageLike, scale: int = 4) -> float | torch.Tensor:
    """Mean absolute difference between the gradient maps of SR and HR (lower is better)."""
    a, b, from_numpy = _maps(sr, hr, scale)
    v = (a - b).abs().flatten(1).mean(dim=1)
    return float(v[0]) if from_numpy else v


def gradient_psnr(sr: ImageLike, hr: ImageLike, scale: int = 4) -> float | torch.Tensor:
    """PSNR (peak 1) between the gradient maps of SR and HR, in dB (higher is better)."""
    a, b, from_numpy = _maps(sr, hr, scale)
    v = 10.0 * torch.log10(1.0 / (a - b).pow(2).flatten(1).mean(dim=1))
    return float(v[0]) if from_numpy else v
