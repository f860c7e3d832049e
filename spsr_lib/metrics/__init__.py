"""Evaluation metrics of the SPSR paper (Sec. 4: PSNR, SSIM, LPIPS, PI = ((10 - Ma) + NIQE) / 2).

Public names::

    psnr(sr, hr, scale=4, mode="standard")   ssim(...)   psnr_rgb(sr, hr, scale=4)
    lpips(sr, hr, net="alex")                niqe(img, scale=4)
    dists(sr, hr)                            (DISTS, Ding et al. 2020)
    ma_score(img, scale=4)                   perceptual_index(img, scale=4)
    gradient_psnr(sr, hr, scale=4)           gradient_l1(sr, hr, scale=4)
    colour_shift(sr, hr, scale=4)            colour_offset(sr, hr, scale=4)   (grey levels)
    phase_index(img, period=4, border=8)     (grid at the upscale period: ~1.1 natural, lower is better)
    branch_gradient_l1(grad_sr, hr, scale=4) bicubic_gradient_l1(bicubic_sr, hr, scale=4)
    branch_zero_change(model, lr)            (grey levels; gradient-guided models, see ``branch.py``)

Images are uint8 HxWx3 RGB numpy arrays (one image -> a float) or Nx3xHxW float tensors in [0, 1]
(a batch -> an (N,) tensor).  ``mode`` is ``"standard"`` (float Y, MATLAB/BasicSR convention) or
``"spsr"`` (the paper's toolbox: uint8 Y, ssim.m auto-downsampling); see ``psnr_ssim.py``.

Importing this package is cheap: every submodule imports only numpy and torch at the top; scipy,
lpips and the pretrained trunks are loaded by the function that needs them.  The submodules
``lpips.py``, ``dists.py`` and ``niqe.py`` share their function's name, so the functions are bound explicitly
below (after the submodule import, which would otherwise leave the module object here).

May import: ``spsr_lib.data``, ``spsr_lib.io``, ``spsr_lib.models``, ``spsr_lib.ops`` and the base modules.
"""

from __future__ import annotations

from spsr_lib.metrics.branch import bicubic_gradient_l1, branch_gradient_l1, branch_zero_change
from spsr_lib.metrics.color import MetricInputError, rgb_to_y
from spsr_lib.metrics.colour_shift import colour_offset, colour_shift
from spsr_lib.metrics.dists import dists
from spsr_lib.metrics.lpips import lpips
from spsr_lib.metrics.ma import ma_score, perceptual_index
from spsr_lib.metrics.niqe import niqe
from spsr_lib.metrics.phase import phase_index
from spsr_lib.metrics.psnr_ssim import MODE_DESCRIPTIONS, MODES, psnr, psnr_rgb, psnr_ssim, ssim
from spsr_lib.metrics.structure import gradient_l1, gradient_psnr

__all__ = [
    "MODES",
    "MODE_DESCRIPTIONS",
    "MetricInputError",
    "bicubic_gradient_l1",
    "branch_gradient_l1",
    "branch_zero_change",
    "colour_offset",
    "colour_shift",
    "dists",
    "gradient_l1",
    "gradient_psnr",
    "lpips",
    "ma_score",
    "niqe",
    "perceptual_index",
    "phase_index",
    "psnr",
    "psnr_rgb",
    "psnr_ssim",
    "rgb_to_y",
    "ssim",
]
