"""Phase-energy loss: keep a GAN stage from drawing a grid at the upscale period (a kit option, not the paper's).

A x4 generator makes each HR pixel from the LR pixel it sits in; a short GAN stage finds it cheap to add texture
that repeats every 4 px (``spsr_lib.metrics.phase``: the shipped CPU demo of 2026-12-01 reached a phase index
of ~3, HR images ~1.1). This term compares *where within the 4 x 4 LR cell* SR and HR put their high-frequency
energy: for each image the mean of ``|g - box3x3(g)|`` (grey ``g``) over each of the ``period**2`` phases, divided
by its mean over all phases, so the term sees only the phase profile, not how much texture there is (that stays
the perceptual and GAN terms' business). Loss = mean |profile(SR) - profile(HR)|; a natural HR patch has a flat
profile (all ~1), a gridded SR a peaked one. Patches must start on the LR grid (the training crops do).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

LUMA = (0.299, 0.587, 0.114)


def highpass_energy(img: Tensor) -> Tensor:
    """N x (H-2) x (W-2) ``|g - box3x3(g)|`` of the BT.601 grey ``g`` of an Nx3xHxW batch (valid part only: pixel
    (i, j) of the result is pixel (i+1, j+1) of the image); also what ``spsr_lib.metrics.phase`` measures."""
    w = torch.tensor(LUMA, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    g = (img * w).sum(1, keepdim=True)
    return (g[:, :, 1:-1, 1:-1] - F.avg_pool2d(g, 3, stride=1)).abs()[:, 0]


def phase_profile(img: Tensor, period: int = 4) -> Tensor:
    """N x period x period mean high-pass energy per phase, divided by its mean (float32, differentiable)."""
    e = highpass_energy(img)
    # e[i, j] belongs to image pixel (i + 1, j + 1): start at period - 1 so every cell is a whole LR cell
    e = e[:, period - 1:, period - 1:]
    h, w_ = (e.shape[1] // period) * period, (e.shape[2] // period) * period
    if h == 0 or w_ == 0:
        raise ValueError(f"phase_profile: images of {tuple(img.shape[-2:])} px are too small for period {period}")
    cells = e[:, :h, :w_].reshape(e.shape[0], h // period, period, w_ // period, period)
    p = cells.mean(dim=(1, 3))
    return p / p.mean(dim=(1, 2), keepdim=True).clamp_min(1e-6)


def phase_energy_loss(sr: Tensor, hr: Tensor, period: int = 4) -> Tensor:
    """Mean |phase_profile(SR) - phase_profile(HR)| (module docstring); 0 when SR has HR's phase profile."""
    with torch.no_grad():
        target = phase_profile(hr.float(), period)
    return (phase_profile(sr.float(), period) - target).abs().mean()
