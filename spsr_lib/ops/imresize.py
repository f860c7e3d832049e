"""MATLAB ``imresize(I, scale, 'bicubic')`` with antialiasing, vectorised, in two flavours.

How SR low-resolution images are made (``../shared/spec/METRICS.md``, "Bicubic downscaling";
``SPSR_REFERENCE.md`` §6):

* cubic kernel with a = -0.5 (Keys); for a downscale (scale < 1) with antialiasing it is widened by
  1/scale, so x4 uses 4 * 4 = 16 taps (plus two guard taps), and every output's weights are normalised;
* output pixel i (1-based) sits at input coordinate ``u = i / scale + 0.5 * (1 - 1 / scale)``.

``mode="matlab"`` is MATLAB's algorithm: out-of-range taps **replicate** (clamp) the edge pixel, the
dimension with the smaller scale is resized first (rows first when equal), and a uint8 image is
**rounded half up to uint8 after each pass**.  On uint8 input this is bit-exact with the MATLAB recipe
of METRICS.md (the standard benchmark LR, e.g. Set5 x4); on float input it is MATLAB on doubles.

Which MATLAB: the replicate border is that of ``imresize.m`` as shipped around 2006-2007 ("Clamp
out-of-range indices; has the effect of replicating end-points") and is the recipe METRICS.md verified on
MATLAB-made LR files.  Later releases mirror instead ("Mirror out-of-bounds indices; equivalent of doing
symmetric padding"): the MATLAB R2019b values published with bicubic-pytorch (4x4 ramp -> 3x3, first row
0.7506 2.1004 3.4503) are reproduced only with ``border="symmetric"``.  ``mode="matlab",
border="symmetric"`` is therefore newer MATLAB (per-pass uint8 rounding kept); the default stays the
verified recipe.

``mode="official_float"`` is the float port SPSR's data code uses (``data/util.imresize_np``, from
BasicSR): half-sample **symmetric mirror** at the border, rows then columns, no intermediate rounding
(``parity/imresize_io.pt``, atol 1e-6).  The official ``generate_dataset.py`` fed it uint8 values and
saved with cv2, so uint8 input here returns uint8 rounded once at the end.  The two modes agree on
86 % of uint8 pixels and differ by up to 7 levels, only near borders and through the double rounding.

Which mode the kit uses where: benchmark LR (``benchmark_sets``) is ``matlab`` on uint8; training pairs
(``data.PairedImageDataset``) default to ``matlab`` on uint8 too, so the network trains on the same
LR distribution it is evaluated on, like the official pre-generated (quantised) LR.
``lr_mode="official_float"`` reproduces the official on-the-fly path (float, unrounded).

The work is one gather + multiply-add per kernel tap (P ~ 18 at x4) along each axis, in float64 and
in tap order, as MATLAB's ``imresizemex`` accumulates; a 2040x1356 DIV2K image takes ~0.1-0.2 s.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, TypeVar

import numpy as np
import torch

Mode = Literal["matlab", "official_float"]
MODES: tuple[str, ...] = ("matlab", "official_float")
BORDERS: tuple[str, ...] = ("replicate", "symmetric")
Array = TypeVar("Array", np.ndarray, torch.Tensor)

_KERNEL_WIDTH = 4.0  # bicubic support in input pixels before antialias widening


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic, a = -0.5, written as MATLAB's ``cubic`` so float64 rounding matches it."""
    absx = np.abs(x)
    absx2 = absx**2
    absx3 = absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * (
        (1 < absx) & (absx <= 2)
    )


@lru_cache(maxsize=64)
def _contributions(
    in_length: int, out_length: int, scale: float, antialias: bool, border: str
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out, P) float64 and 0-based input indices (out, P) int64, as MATLAB ``contributions``.

    Cached: a dataset resizes many images of the same size.  ``border`` is "replicate" (MATLAB) or
    "symmetric" (official port).  Columns whose weights are zero everywhere are dropped like MATLAB's
    ``kill`` step; a zero weight adds an exact 0.0, so that only saves work.
    """
    if scale < 1 and antialias:
        kernel_width = _KERNEL_WIDTH / scale
    else:
        kernel_width = _KERNEL_WIDTH
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    ind = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    if scale < 1 and antialias:
        weights = scale * _cubic(scale * (u[:, None] - ind))
    else:
        weights = _cubic(u[:, None] - ind)
    weights = weights / weights.sum(axis=1, keepdims=True)
    ind0 = ind.astype(np.int64) - 1  # MATLAB is 1-based
    if border == "replicate":
        ind0 = np.clip(ind0, 0, in_length - 1)
    else:  # half-sample symmetric: -1 -> 0, -2 -> 1, n -> n-1; periodic for tiny inputs
        period = 2 * in_length
        m = np.mod(ind0, period)
        ind0 = np.where(m < in_length, m, period - 1 - m)
    keep = np.any(weights != 0, axis=0)
    weights, ind0 = weights[:, keep], ind0[:, keep]
    weights.setflags(write=False)
    ind0.setflags(write=False)
    return weights, ind0


def imresize_output_size(in_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """MATLAB's output size ``ceil(scale * size)`` (a 1e-9 guard keeps 300 * (1/3) at 100)."""
    if scale <= 0:
        raise ValueError(f"imresize: scale must be > 0, got {scale}")
    return tuple(max(1, math.ceil(n * scale - 1e-9)) for n in in_hw)  # type: ignore[return-value]


def _round_u8(x):
    """MATLAB's double -> uint8: saturate, then round half away from zero (= half up here)."""
    if isinstance(x, np.ndarray):
        return np.floor(np.clip(x, 0.0, 255.0) + 0.5)
    return torch.floor(x.clamp(0.0, 255.0) + 0.5)


def _resize_axis(x, dim: int, weights: np.ndarray, indices: np.ndarray):
    """out[i] = sum_k weights[i, k] * x[indices[i, k]] along ``dim``, accumulated in tap order.

    The resized axis is moved to the front and the rest flattened, so each tap is one contiguous row
    gather, a multiply and an add (separate, not fused, like a plain C loop).  numpy arrays stay in
    numpy (no thread-pool start-up per call: data-loader workers resize many small crops); tensors stay
    on their device.  Both give bit-identical float64 results.
    """
    if isinstance(x, np.ndarray):
        xm = np.moveaxis(x, dim, 0)
        rest = xm.shape[1:]
        x2 = xm.reshape(xm.shape[0], -1)
        out = np.zeros((weights.shape[0], x2.shape[1]))
        buf = np.empty_like(out)
        for k in range(weights.shape[1]):
            np.take(x2, indices[:, k], axis=0, out=buf)
            buf *= weights[:, k, None]
            out += buf
        return np.moveaxis(out.reshape(weights.shape[0], *rest), 0, dim)
    w = torch.tensor(weights, dtype=x.dtype, device=x.device)  # copies: the cached tables are read-only
    idx = torch.tensor(indices, device=x.device)
    xm = x.movedim(dim, 0)
    rest = xm.shape[1:]
    x2 = xm.reshape(xm.shape[0], -1)
    out = torch.zeros((w.shape[0], x2.shape[1]), dtype=x.dtype, device=x.device)
    buf = torch.empty_like(out)
    for k in range(w.shape[1]):
        torch.index_select(x2, 0, idx[:, k], out=buf)
        out.add_(buf.mul_(w[:, k, None]))
    return out.reshape(w.shape[0], *rest).movedim(0, dim)


def _plan(
    in_hw: tuple[int, int],
    scale: float | tuple[float, float] | None,
    output_size: tuple[int, int] | None,
) -> tuple[tuple[float, float], tuple[int, int]]:
    if output_size is not None:
        out_hw = (int(output_size[0]), int(output_size[1]))
        if scale is None:
            scales = (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])
        else:
            scales = (float(scale), float(scale)) if np.isscalar(scale) else tuple(map(float, scale))
        return scales, out_hw  # type: ignore[return-value]
    if scale is None:
        raise ValueError("imresize: give scale or output_size")
    scales = (float(scale), float(scale)) if np.isscalar(scale) else tuple(map(float, scale))
    out_hw = (imresize_output_size((in_hw[0], 1), scales[0])[0], imresize_output_size((1, in_hw[1]), scales[1])[1])
    return scales, out_hw  # type: ignore[return-value]


def _as_float64(img: Array) -> tuple[np.ndarray | torch.Tensor, dict]:
    """A float64 copy: numpy HW/HWC (H, W = dims 0, 1) stays numpy; torch [N][C]HW (dims -2, -1) stays torch."""
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise ValueError(f"imresize: numpy input must be HxW or HxWxC, got shape {img.shape}")
        info = {"kind": "numpy", "dtype": img.dtype, "float": img.dtype.kind == "f", "hw": (0, 1)}
        return np.array(img, dtype=np.float64), info
    if isinstance(img, torch.Tensor):
        if img.dim() not in (2, 3, 4):
            raise ValueError(f"imresize: tensor input must be HxW, CxHxW or NxCxHxW, got {tuple(img.shape)}")
        info = {"kind": "torch", "dtype": img.dtype, "float": img.dtype.is_floating_point}
        info["hw"] = (img.dim() - 2, img.dim() - 1)
        return img.to(torch.float64), info
    raise TypeError(f"imresize: expected a numpy array or torch tensor, got {type(img).__name__}")


def _restore(t: np.ndarray | torch.Tensor, info: dict) -> Array:
    if _is_uint8(info):
        t = _round_u8(t)
    elif not info["float"]:
        t = t.round()  # other integer types: nearest; the cast below saturates or wraps like numpy/torch
    if info["kind"] == "numpy":
        return np.ascontiguousarray(t.astype(info["dtype"], copy=False))
    return t.to(info["dtype"])


def _border(mode: str, border: str | None) -> str:
    if border is None:
        return "replicate" if mode == "matlab" else "symmetric"
    if border not in BORDERS:
        raise ValueError(f"imresize: border must be one of {BORDERS}, got {border!r}")
    return border


def _is_uint8(info: dict) -> bool:
    return info["dtype"] == np.uint8 or info["dtype"] == torch.uint8


def _run_passes(
    t: np.ndarray | torch.Tensor,
    tables: list[tuple[int, np.ndarray, np.ndarray]],
    round_between: bool,
):
    for n, (dim, weights, indices) in enumerate(tables):
        t = _resize_axis(t, dim, weights, indices)
        if round_between and n < len(tables) - 1:
            t = _round_u8(t)
    return t


def imresize(
    img: Array,
    scale: float | tuple[float, float] | None = None,
    *,
    mode: Mode = "matlab",
    output_size: tuple[int, int] | None = None,
    antialias: bool = True,
    border: str | None = None,
) -> Array:
    """Bicubic resize like MATLAB ``imresize``; ``scale`` < 1 shrinks (0.25 is the x4 LR), > 1 enlarges.

    ``img`` is numpy HxW / HxWxC (uint8 or float) or a torch CxHxW / NxCxHxW tensor (any device);
    the result has the same kind, layout and dtype.  uint8 results are rounded half up and saturated
    (in ``matlab`` mode after each pass, as MATLAB; in ``official_float`` mode once, at the end).
    Float input is not clipped: bicubic overshoots slightly, as in MATLAB and the official code.
    ``border`` overrides the mode's border ("replicate" / "symmetric"); see the module docstring.
    """
    if mode not in MODES:
        raise ValueError(f"imresize: mode must be one of {MODES}, got {mode!r}")
    t, info = _as_float64(img)
    hw = info["hw"]
    in_hw = (int(t.shape[hw[0]]), int(t.shape[hw[1]]))
    scales, out_hw = _plan(in_hw, scale, output_size)
    border = _border(mode, border)
    tables = []
    for axis in (0, 1):
        if out_hw[axis] == in_hw[axis] and scales[axis] == 1.0:
            continue  # MATLAB skips an identity dimension
        w, i = _contributions(in_hw[axis], out_hw[axis], scales[axis], antialias, border)
        tables.append((hw[axis], w, i, scales[axis]))
    if mode == "matlab":
        # MATLAB resizes the dimension with the smallest scale first (stable: rows first on ties)
        tables.sort(key=lambda item: item[3])
    tables = [item[:3] for item in tables]
    out = _run_passes(t, tables, round_between=mode == "matlab" and _is_uint8(info))
    return _restore(out, info)


def imresize_crop(
    img: Array,
    scale: float,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    mode: Mode = "matlab",
    antialias: bool = True,
    border: str | None = None,
) -> Array:
    """``imresize(img, scale)[top:top+height, left:left+width]``, exactly, without resizing the rest.

    Used for on-the-fly training LR: only the rows and columns the crop depends on are read, with the
    same weights (computed for the whole image) and the same accumulation order, so the crop is
    bit-identical to cropping the full resize.  Same dims sorted as in MATLAB only for equal scales.
    """
    if mode not in MODES:
        raise ValueError(f"imresize_crop: mode must be one of {MODES}, got {mode!r}")
    if not isinstance(img, (np.ndarray, torch.Tensor)):
        raise TypeError(f"imresize_crop: expected a numpy array or torch tensor, got {type(img).__name__}")
    hdim, wdim = (0, 1) if isinstance(img, np.ndarray) else (img.dim() - 2, img.dim() - 1)
    in_hw = (int(img.shape[hdim]), int(img.shape[wdim]))
    out_hw = imresize_output_size(in_hw, scale)
    if top < 0 or left < 0 or top + height > out_hw[0] or left + width > out_hw[1]:
        raise ValueError(f"imresize_crop: window {top},{left} {height}x{width} is outside the output {out_hw}")
    border = _border(mode, border)
    wh, ih = _contributions(in_hw[0], out_hw[0], float(scale), antialias, border)
    ww, iw = _contributions(in_hw[1], out_hw[1], float(scale), antialias, border)
    wh, ih = wh[top : top + height], ih[top : top + height]
    ww, iw = ww[left : left + width], iw[left : left + width]
    # only the input window the crop depends on is converted and read (the row pass works column by
    # column, the column pass row by row), with the weights of the whole image: bit-identical results
    r0, r1 = int(ih.min()), int(ih.max()) + 1
    c0, c1 = int(iw.min()), int(iw.max()) + 1
    if isinstance(img, np.ndarray):
        window = img[r0:r1, c0:c1]
    else:
        window = img.narrow(hdim, r0, r1 - r0).narrow(wdim, c0, c1 - c0)
    t, info = _as_float64(window)
    ih, iw = ih - r0, iw - c0
    out = _run_passes(t, [(hdim, wh, ih), (wdim, ww, iw)], round_between=mode == "matlab" and _is_uint8(info))
    return _restore(out, info)
