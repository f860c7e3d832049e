"""The phase index: does an SR image carry a regular grid at the upscale period?

A x4 generator makes every HR pixel from the LR pixel it sits in, so a network that has not learnt to hide its
upsampling leaves a pattern that repeats every 4 px (nearest-neighbour upconvs, a GAN stage that found the
period, Fig. 1's "structural distortion"). A natural image has no preferred phase: its high-frequency energy is
the same on every row and column modulo 4. The index measures how far an image is from that:

1. ``g``: the grey image (ITU-R BT.601 luma of the RGB values saved to disk, [0, 255]);
2. high-pass energy ``e = |g - box3x3(g)|`` (3x3 mean, valid part only);
3. drop ``border`` px (default 8) on every side, so padding and the frame do not count;
4. for each of the ``period**2`` phases ``(row mod period, col mod period)`` (rows and columns counted in the
   image's own coordinates, which is where the LR grid sits), the mean of ``e`` over that phase;
5. index = largest phase mean / smallest phase mean.

Reference values (Set5 / Set14, x4, whole mod-cropped images, ``spsr evaluate --metrics psnr phase_index``: the
"HR" and "Bicubic" rows): HR 1.09 / 1.08, MATLAB-bicubic upsampling 1.93 / 2.04 (its kernel weights repeat every
4 px), the 2026-12 CPU-demo SPSR (``data/demo_weights/spsr_demo_x4.safetensors``, fp32) 3.07 / 3.16; the four
``spsr demo`` photos: that SPSR 3.07 on average, bicubic 1.88. Issue 24 quotes 1.10 / 1.08, 1.97 / 2.07 and
3.02 / 3.08 for the same three. Lower is better; 1.0 is no phase preference at all. Flat images (all phases 0) give 1.0. Issue 24 sets 1.4 as the target for the demo weights.
"""

from __future__ import annotations

import numpy as np
import torch

from spsr_lib.losses_phase import highpass_energy
from spsr_lib.metrics.color import ImageLike, MetricInputError, as_batch255, quantize


def phase_means(img: ImageLike, period: int = 4, border: int = 8) -> torch.Tensor:
    """``(N, period, period)`` mean high-pass energy per phase (grey levels)."""
    x, _ = as_batch255(img, "image")
    e = highpass_energy(quantize(x).double())  # pixel (i, j) of e is (i+1, j+1) of the image
    h, w_ = e.shape[-2:]
    b = max(border - 1, 0)  # e starts one pixel in
    if h - 2 * b < period or w_ - 2 * b < period:
        need = 2 * max(border, 1) + period
        raise MetricInputError(f"image of {x.shape[-2]}x{x.shape[-1]} px is too small for the phase index "
                               f"(border {border}, period {period}); use an image of at least {need}x{need} px")
    e = e[:, b:h - b, b:w_ - b]
    r0 = (b + 1) % period  # image row of e's first row, modulo the period
    c0 = (b + 1) % period
    out = torch.empty(e.shape[0], period, period, dtype=e.dtype)
    for dr in range(period):
        for dc in range(period):
            out[:, (r0 + dr) % period, (c0 + dc) % period] = e[:, dr::period, dc::period].flatten(1).mean(1).cpu()
    return out


def phase_index(img: ImageLike, period: int = 4, border: int = 8) -> float | torch.Tensor:
    """Largest over smallest per-phase high-pass energy (module docstring); ~1.1 for natural images, lower is
    better. One uint8 HxWx3 image -> float; an Nx3xHxW float batch in [0, 1] -> (N,) tensor. An image smaller
    than ``2 * border + period`` px on a side raises :class:`MetricInputError` (a ``ValueError``)."""
    m = phase_means(img, period, border).flatten(1)
    lo, hi = m.min(1).values, m.max(1).values
    v = torch.where(lo > 0, hi / lo.clamp_min(1e-12), torch.where(hi > 0, torch.full_like(hi, float("inf")),
                                                                 torch.ones_like(hi)))
    return float(v[0]) if isinstance(img, np.ndarray) else v.float()
