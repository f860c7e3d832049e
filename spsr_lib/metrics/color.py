"""Colour conversions and input normalisation shared by every metric.

The SR literature (and the SPSR paper's MATLAB toolbox) measures fidelity on the **Y channel** of
YCbCr as MATLAB's ``rgb2ycbcr`` defines it (ITU-R BT.601, studio swing), with R, G, B in 0..255::

    Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255

MATLAB applied to a uint8 image returns a uint8 Y, i.e. the value above rounded half away from zero;
that rounding is what distinguishes the paper's ``spsr`` protocol from the ``standard`` float-Y one
(``../shared/spec/METRICS.md``).

Metric inputs are either one uint8 HxWx3 RGB numpy image (a file's pixels) or an Nx3xHxW float
tensor in [0, 1] (a batch, possibly on the GPU).  :func:`as_batch255` turns both into an Nx3xHxW
float64 tensor on the 0..255 scale so that each metric is written once, vectorised.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

from spsr_lib.errors import SPSRError

ImageLike = Union[np.ndarray, torch.Tensor]

# MATLAB rgb2ycbcr, first row of the conversion matrix (for 0..255 inputs, divided by 255 below)
_Y_WEIGHTS = (65.481, 128.553, 24.966)


class MetricInputError(SPSRError, ValueError):
    """An image handed to a metric has the wrong type, shape or range."""


def as_batch255(img: ImageLike, what: str = "image") -> tuple[torch.Tensor, bool]:
    """Return ``(batch, from_numpy)``: an Nx3xHxW float64 tensor in 0..255 and the input kind.

    uint8 numpy images (HxWx3 RGB, or HxW grey which is replicated to 3 channels as MATLAB would see
    a grey PNG saved as RGB) are used as they are; float tensors in [0, 1] are multiplied by 255 and
    *not* rounded: callers that want the saved-PNG number round with :func:`quantize`.
    """
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8:
            raise MetricInputError(
                f"{what}: numpy images must be uint8 HxWx3 RGB (got dtype {img.dtype}); "
                "convert floats in [0,1] with (x*255).round().astype(np.uint8) or pass an Nx3xHxW tensor"
            )
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3:
            raise MetricInputError(f"{what}: expected an HxWx3 RGB uint8 array, got shape {tuple(img.shape)}")
        t = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None]  # a copy: inputs may be read-only
        return t, True
    if isinstance(img, torch.Tensor):
        if img.ndim == 3:
            img = img[None]
        if img.ndim != 4 or img.shape[1] != 3:
            raise MetricInputError(f"{what}: expected an Nx3xHxW tensor, got shape {tuple(img.shape)}")
        if img.dtype == torch.uint8:
            return img.to(torch.float64), False
        if not img.is_floating_point():
            raise MetricInputError(f"{what}: tensor dtype {img.dtype} is not supported; use float in [0,1]")
        return img.detach().to(torch.float64) * 255.0, False
    raise MetricInputError(
        f"{what}: expected a uint8 HxWx3 numpy array or an Nx3xHxW float tensor, got {type(img).__name__}"
    )


def matlab_round(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's round (half away from zero); ``torch.round`` rounds half to even."""
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


def quantize(x255: torch.Tensor) -> torch.Tensor:
    """What saving to an 8-bit PNG does: clip to 0..255 and round (half up)."""
    return matlab_round(x255.clamp(0.0, 255.0))


def rgb_to_y(x255: torch.Tensor) -> torch.Tensor:
    """MATLAB ``rgb2ycbcr`` Y of an Nx3xHxW 0..255 tensor, as an Nx1xHxW float tensor (not rounded)."""
    w = torch.tensor(_Y_WEIGHTS, dtype=x255.dtype, device=x255.device).view(1, 3, 1, 1)
    return 16.0 + (x255 * w).sum(dim=1, keepdim=True) / 255.0


def rgb_to_y_uint8(x255: torch.Tensor) -> torch.Tensor:
    """MATLAB ``rgb2ycbcr`` on a uint8 image: RGB as saved (rounded), Y rounded again.

    MATLAB scales the matrix by 1/255 and calls ``imlincomb(T1, R, T2, G, T3, B, 16)``; the same
    double arithmetic is used here because 194 of the 16.7M RGB colours sit exactly on a .5 tie,
    where the last bit decides the rounding.
    """
    q = quantize(x255)
    c = [k * (1.0 / 255.0) for k in _Y_WEIGHTS]
    y = c[0] * q[:, 0:1] + c[1] * q[:, 1:2] + c[2] * q[:, 2:3] + 16.0
    return matlab_round(y)


def y_numpy(img: np.ndarray, rounded: bool = False) -> np.ndarray:
    """Y channel (float64 HxW) of one uint8 RGB image; ``rounded`` gives MATLAB's uint8 result values."""
    t, _ = as_batch255(img)
    y = rgb_to_y_uint8(t) if rounded else rgb_to_y(t)
    return y[0, 0].numpy()


def shave(x: torch.Tensor, border: int) -> torch.Tensor:
    """Drop ``border`` pixels on every side of an N..HxW tensor (the SR convention: border = scale)."""
    if border < 0:
        raise MetricInputError(f"scale/border must be >= 0, got {border}")
    if border == 0:
        return x
    h, w = x.shape[-2:]
    if h <= 2 * border or w <= 2 * border:
        raise MetricInputError(f"image of {h}x{w} px is too small to shave {border} px from every side")
    return x[..., border:-border, border:-border]


def check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise MetricInputError(
            f"SR and HR sizes differ ({tuple(a.shape)} vs {tuple(b.shape)}); mod-crop the HR image to a "
            "multiple of the scale and check that the SR image was made at that scale"
        )
