"""Ma et al.'s no-reference SR quality score (NRQM, CVIU 2017) and the PIRM Perceptual Index.

The SPSR paper ranks methods by PI = ((10 - Ma) + NIQE) / 2 (lower is better).  Ma's score is the
MATLAB ``quality_predict.m`` of https://github.com/chaoma99/sr-metric::

    [f1, f2, f3] = feature_all(im);              % DCT, GSM and SVD feature vectors of the Y image
    s_k = regRF_predict(f_k, model.rf{k});       % three regression forests (randomforest-matlab)
    score = [1 s1 s2 s3] * model.linear;         % a 4x1 linear layer

``model.mat`` holds forests trained on human scores: it cannot be recreated and is not shipped.  It is
found as the ``model`` argument, ``$SPSR_MA_MODEL`` or ``$SPSR_CACHE/ma/model.mat``; without it
:func:`ma_score` raises ``WeightsUnavailableError`` and tables print "n/a (model.mat not found: see
README)".  The forest evaluation (:func:`forest_predict`) is exact randomForest ``predict`` semantics
(go left when ``x[var] <= split``, average the leaves over trees); :func:`feature_all` follows below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from spsr_lib.errors import WeightsUnavailableError
from spsr_lib.io.cache import cache_root
from spsr_lib.metrics.color import ImageLike, as_batch255, rgb_to_y_uint8, shave

MODEL_URL = "https://github.com/chaoma99/sr-metric (model.mat)"
NA_REASON = "model.mat not found: see README"


@dataclass(frozen=True)
class Forest:
    """A randomforest-matlab regression forest: arrays are (nodes, trees), node indices 1-based, 0 = none."""

    left: np.ndarray  # lDau
    right: np.ndarray  # rDau
    split: np.ndarray  # upper (xbestsplit): go left when x[var] <= split
    value: np.ndarray  # avnode (nodepred)
    var: np.ndarray  # mbest (bestvar), 1-based feature index
    status: np.ndarray | None = None  # nodestatus: -1 marks a leaf; None -> a leaf has no daughters


def forest_predict(forest: Forest, x: np.ndarray) -> np.ndarray:
    """Mean over trees of the leaf value reached by each row of ``x`` (samples x features)."""
    x = np.atleast_2d(np.asarray(x, np.float64))
    n_nodes, n_trees = forest.left.shape
    trees = np.arange(n_trees)[None, :]
    node = np.zeros((len(x), n_trees), dtype=np.int64)  # 0-based current node per (sample, tree)
    rows = np.arange(len(x))[:, None]
    for _ in range(n_nodes):  # a path is never longer than the number of nodes
        leaf = (
            (forest.left[node, trees] == 0) if forest.status is None else (forest.status[node, trees] == -1)
        )
        if leaf.all():
            break
        var = forest.var[node, trees].astype(np.int64) - 1
        go_left = x[rows, np.clip(var, 0, x.shape[1] - 1)] <= forest.split[node, trees]
        nxt = np.where(go_left, forest.left[node, trees], forest.right[node, trees]).astype(np.int64) - 1
        node = np.where(leaf, node, nxt)
    return forest.value[node, trees].mean(axis=1)


@dataclass(frozen=True)
class MaModel:
    forests: tuple[Forest, Forest, Forest]
    linear: np.ndarray  # (4,)

    def predict(self, f1: np.ndarray, f2: np.ndarray, f3: np.ndarray) -> np.ndarray:
        s = [forest_predict(rf, f) for rf, f in zip(self.forests, (f1, f2, f3))]
        return np.stack([np.ones_like(s[0]), *s], axis=1) @ self.linear


def model_path(model: str | os.PathLike | None = None) -> Path:
    if model is not None:
        candidates = [Path(model)]
    else:
        env = os.environ.get("SPSR_MA_MODEL")
        candidates = ([Path(env)] if env else []) + [cache_root() / "ma" / "model.mat"]
    for c in candidates:
        if c.is_file():
            return c
    raise WeightsUnavailableError(
        f"{NA_REASON} (looked at {', '.join(map(str, candidates))}); get it from {MODEL_URL} and pass "
        f"model=PATH, set SPSR_MA_MODEL, or copy it to {candidates[-1]}"
    )


def _field(struct, name: str, position: int) -> np.ndarray:
    names = struct.dtype.names or ()
    value = struct[name] if name in names else struct[names[position]]
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.item()
    return np.asarray(value)


@lru_cache(maxsize=2)
def load_model(path: str) -> MaModel:
    """Read ``model.mat`` (``model.rf`` = 1x3 cell of regRF structs, ``model.linear`` = 4x1)."""
    from scipy.io import loadmat

    try:
        m = loadmat(path)["model"][0, 0]
        linear = np.asarray(m["linear"], np.float64).reshape(-1)
        forests = []
        for k in range(3):
            rf = m["rf"].reshape(-1)[k]
            rf = rf.reshape(-1)[0] if rf.dtype == object else rf
            rf = rf.reshape(-1)[0]
            status = _field(rf, "nodestatus", 2) if "nodestatus" in (rf.dtype.names or ()) else None
            forests.append(Forest(
                left=_field(rf, "lDau", 0).astype(np.int64), right=_field(rf, "rDau", 1).astype(np.int64),
                split=_field(rf, "upper", 4).astype(np.float64),
                value=_field(rf, "avnode", 5).astype(np.float64),
                var=_field(rf, "mbest", 6).astype(np.int64),
                status=None if status is None else status.astype(np.int64),
            ))  # fmt: skip
    except WeightsUnavailableError:
        raise
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{path}: not Ma et al.'s model.mat ({type(exc).__name__}: {exc})"
        ) from None
    if linear.shape != (4,):
        raise WeightsUnavailableError(f"{path}: model.linear must be 4x1, got {linear.shape}")
    return MaModel(tuple(forests), linear)


def _y_images(img: ImageLike, scale: int) -> tuple[np.ndarray, bool]:
    x, from_numpy = as_batch255(img, "image")
    return shave(rgb_to_y_uint8(x), scale).cpu().numpy()[:, 0], from_numpy


def ma_score(img: ImageLike, scale: int = 4, model: str | os.PathLike | None = None) -> float | torch.Tensor:
    """Ma et al.'s score of the uint8 Y channel, ``scale`` px shaved (higher is better, about 0..10)."""
    m = load_model(str(model_path(model)))
    ys, from_numpy = _y_images(img, scale)
    values = [float(m.predict(*feature_all(y))[0]) for y in ys]
    return values[0] if from_numpy else torch.tensor(values, dtype=torch.float64)


def perceptual_index(
    img: ImageLike, scale: int = 4, model: str | os.PathLike | None = None, niqe_params=None
) -> float | torch.Tensor:
    """PIRM's PI = ((10 - Ma) + NIQE) / 2 (lower is better); needs both model files."""
    from spsr_lib.metrics.niqe import niqe

    ma = ma_score(img, scale, model)
    return ((10 - ma) + niqe(img, scale, niqe_params)) / 2


def ma_status(model: str | os.PathLike | None = None) -> tuple[bool, str]:
    """``(available, path-or-reason)`` for table footnotes."""
    try:
        return True, str(model_path(model))
    except WeightsUnavailableError:
        return False, NA_REASON


# --------------------------------------------------------------------------------------- features
# Ma et al.'s MATLAB feature code is not public beside model.mat; this follows the structure of its
# documented re-implementation (pyiqa ``nrqm_arch.py``): DCT statistics of 7x7 blocks (stride 3) on a
# 3-level Gaussian pyramid (18 values), GSM statistics of a 2-scale, 6-orientation complex steerable
# pyramid (45), and singular values of 5x5 block matrices on the pyramid (75).  Without MATLAB and
# model.mat on this machine the features are tested for shape, invariances and determinism only.
_EPS = 1e-7


@lru_cache(maxsize=1)
def _ggd_table() -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import gammaln

    gam = np.arange(0.03, 10 + 0.001, 0.001)
    return gam, np.exp(gammaln(1 / gam) + gammaln(3 / gam) - 2 * gammaln(2 / gam))  # decreasing in gam


def _ggd_shape(x: np.ndarray) -> np.ndarray:
    """Generalised-Gaussian shape per row by moment matching: argmin |rho - r(gam)| over 0.03:0.001:10."""
    gam, r = _ggd_table()
    var = x.var(axis=-1, ddof=1)
    mean_abs = np.abs(x - x.mean(axis=-1, keepdims=True)).mean(axis=-1) ** 2
    rho = var / (mean_abs + _EPS)
    # r is monotonic, so the nearest entry is one of the two neighbours of rho's insertion point
    pos = len(r) - np.searchsorted(r[::-1], rho)  # r[pos-1] >= rho > r[pos] (clipped below)
    lo, hi = np.clip(pos - 1, 0, len(r) - 1), np.clip(pos, 0, len(r) - 1)
    pick = np.where(np.abs(rho - r[hi]) < np.abs(rho - r[lo]), hi, lo)  # ties: the first (smaller gam)
    return gam[pick]


def _abs_cv(x: np.ndarray) -> np.ndarray:
    """Coefficient of variation of |x| per row."""
    a = np.abs(x)
    return a.std(axis=-1, ddof=1) / (a.mean(axis=-1) + _EPS)


def _gauss_pyramid(im: np.ndarray, levels: int = 2) -> list[np.ndarray]:
    from scipy.ndimage import correlate

    g = np.exp(-(np.arange(-1, 2)[:, None] ** 2 + np.arange(-1, 2)[None, :] ** 2) / (2 * 0.5**2))
    g /= g.sum()  # fspecial('gaussian', 3, 0.5)
    pyr = [im]
    for _ in range(levels):
        im = correlate(im, g, mode="constant")[1::2, 1::2]
        pyr.append(im)
    return pyr


def _patches(im: np.ndarray, k: int, stride: int) -> np.ndarray:
    """k x k patches every ``stride`` px with TensorFlow-'SAME' zero padding: (n, k, k)."""
    h, w = im.shape
    ph = (-(-h // stride) - 1) * stride + k - h
    pw = (-(-w // stride) - 1) * stride + k - w
    x = np.pad(im, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k))[::stride, ::stride]
    return win.reshape(-1, k, k)


def _dct_features(im: np.ndarray) -> list[float]:
    from scipy.fft import dctn

    d = dctn(_patches(im, 7, 3), type=2, norm="ortho", axes=(1, 2))
    ac = d.reshape(len(d), -1)[:, 1:]
    gam = np.sort(_ggd_shape(ac))
    cv = np.sort(_abs_cv(ac))
    bands = (
        [d[:, 0, 1:], d[:, 1, 2:], d[:, 2, 4:], d[:, 3, 5:]],
        [d[:, 1, 1:2], d[:, 2, 2:4], d[:, 3, 2:5], d[:, 4, 3:], d[:, 5, 4:], d[:, 6, 4:]],
        [d[:, 1:, 0], d[:, 2:, 1], d[:, 4:, 2], d[:, 5:, 3]],
    )
    ori = np.sort(np.stack([_abs_cv(np.concatenate(b, axis=1)) for b in bands], 1).var(axis=1, ddof=1))
    n = len(gam)
    return [
        gam[: int(np.ceil(0.1 * n)) + 1].mean(), gam.mean(),
        cv[int(np.floor(0.9 * n)) :].mean(), cv.mean(),
        ori[int(np.floor(0.9 * n)) :].mean(), ori.mean(),
    ]  # fmt: skip


def _steerable_pyramid(im: np.ndarray, height: int = 2, nbands: int = 6) -> tuple[np.ndarray, list]:
    """Complex steerable pyramid (matlabPyrTools ``buildSCFpyr``): (high-pass, [[band]*nbands]*height)."""
    from math import factorial

    m, n = im.shape
    x = np.linspace(-(m // 2) / (m / 2), (m // 2) / (m / 2) - (1 - m % 2) * 2 / m, num=m)
    y = np.linspace(-(n // 2) / (n / 2), (n // 2) / (n / 2) - (1 - n % 2) * 2 / n, num=n)
    xv, yv = np.meshgrid(y, x)
    angle = np.arctan2(yv, xv)
    rad = np.sqrt(xv**2 + yv**2)
    rad[m // 2, n // 2] = rad[m // 2, n // 2 - 1]
    log_rad = np.log2(rad)
    xr = np.pi * np.arange(-257, 2) / 512
    yr = np.cos(xr) ** 2
    yr[0], yr[-1] = yr[1], yr[-2]
    xr = -0.5 + 2 / np.pi * (xr + np.pi / 4)  # rcosFn(1, -0.5)
    yr = np.sqrt(yr)
    yir = np.sqrt(1 - yr**2)
    dft = np.fft.fftshift(np.fft.fft2(im))
    hi0 = np.fft.ifft2(np.fft.ifftshift(dft * np.interp(log_rad, xr, yr))).real
    lodft = dft * np.interp(log_rad, xr, yir)
    lut = 1024
    xcosn = np.pi * np.arange(-(2 * lut + 1), lut + 2) / lut
    order = nbands - 1
    const = 2 ** (2 * order) * factorial(order) ** 2 / (nbands * factorial(2 * order))
    ycosn = (
        2
        * np.sqrt(const)
        * np.cos(xcosn) ** order
        * (np.abs((xcosn + np.pi) % (2 * np.pi) - np.pi) < np.pi / 2)
    )
    levels = []
    for _ in range(height):
        xr = xr - 1
        himask = np.interp(log_rad, xr, yr)
        bands = []
        for b in range(nbands):
            anglemask = np.interp(angle, xcosn + np.pi * b / nbands, ycosn)
            band = lodft * anglemask * himask * (-1j) ** order
            bands.append(np.fft.ifft2(np.fft.ifftshift(band)))
        levels.append(bands)
        dims = np.array(lodft.shape)
        lo = (np.ceil((dims + 0.5) / 2) - np.ceil((np.ceil((dims - 0.5) / 2) + 0.5) / 2)).astype(int)
        hi = lo + np.ceil((dims - 0.5) / 2).astype(int)
        log_rad, angle = log_rad[lo[0] : hi[0], lo[1] : hi[1]], angle[lo[0] : hi[0], lo[1] : hi[1]]
        lodft = lodft[lo[0] : hi[0], lo[1] : hi[1]] * np.interp(log_rad, xr, yir)
    return hi0, levels


def _resize(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    from spsr_lib.ops.imresize import imresize

    return imresize(x, output_size=hw, mode="matlab")


def _divisive_normalisation(bands: list[np.ndarray], nbands: int = 6) -> list[np.ndarray]:
    """GSM normalisation of each band by its 3x3 neighbours, parent and sibling orientations."""
    out = []
    for idx, band in enumerate(bands):
        scale, h, w = idx // nbands, *band.shape
        cols = [np.lib.stride_tricks.sliding_window_view(band, (3, 3)).reshape(-1, 9)]
        n = 9
        if idx + nbands < len(bands):
            cols.append(_resize(bands[idx + nbands], (h, w))[1:-1, 1:-1].reshape(-1, 1))
            n += 1
        for j in range(scale * nbands, (scale + 1) * nbands):
            if j != idx:
                cols.append(bands[j][1:-1, 1:-1].reshape(-1, 1))
        t = np.concatenate(cols, axis=1)
        cov = t.T @ t / len(t)
        lam, q = np.linalg.eigh(cov)
        pos = lam * (lam > 0)
        lam = pos * lam.sum() / (pos.sum() or 1.0)  # drop negative eigenvalues, keep the trace
        cov = q @ np.diag(lam) @ q.T
        z = np.sqrt(np.maximum(((t @ np.linalg.pinv(cov)) * t).sum(axis=1) / n, 0))
        centre = band[1:-1, 1:-1].reshape(-1)
        centre = centre - centre.mean()
        g = np.divide(centre, z, out=np.zeros_like(centre), where=z != 0).reshape(h - 2, w - 2)
        gb = 16 // 2**scale
        g = g[gb:-gb, gb:-gb]
        out.append(g - g.mean())
    return out


def _ssim_l255(a: np.ndarray, b: np.ndarray) -> float:
    """Wang's SSIM (Gaussian 11 / 1.5, 'valid', L = 255) of two float maps, numpy float64."""
    from scipy.ndimage import correlate1d

    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    g /= g.sum()

    def filt(v: np.ndarray) -> np.ndarray:
        return correlate1d(correlate1d(v, g, axis=0), g, axis=1)[5:-5, 5:-5]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filt(a), filt(b)
    va, vb, cov = filt(a * a) - mu_a**2, filt(b * b) - mu_b**2, filt(a * b) - mu_a * mu_b
    return float(((2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))).mean())


def _gsm_features(im: np.ndarray, nbands: int = 6) -> list[float]:
    hi0, levels = _steerable_pyramid(im, 2, nbands)
    sub = _divisive_normalisation([b.real for level in levels for b in level], nbands)
    feats = [float(_ggd_shape(s.reshape(1, -1))[0]) for s in sub]
    for i in range(nbands):
        feats.append(float(_ggd_shape(np.concatenate([sub[i].ravel(), sub[i + nbands].ravel()])[None])[0]))
    feats += [_ssim_l255(_resize(s, hi0.shape), hi0) for s in sub]
    feats += [_ssim_l255(sub[i], sub[j]) for i in range(nbands) for j in range(i + 1, nbands)]
    return feats


def _svd_features(im: np.ndarray) -> list[float]:
    h, w = im.shape
    x = np.pad(im, ((0, -h % 5), (0, -w % 5)))  # im2col 'distinct': zero pad bottom/right
    blocks = x.reshape(x.shape[0] // 5, 5, x.shape[1] // 5, 5).transpose(0, 2, 1, 3).reshape(-1, 25)
    return list(np.linalg.svd(blocks, compute_uv=False))


def feature_all(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``feature_all.m``: DCT (18), GSM (45) and SVD (75) feature vectors of one Y image (0..255)."""
    y = np.asarray(y, np.float64)
    if min(y.shape) < 64:
        from spsr_lib.metrics.color import MetricInputError

        raise MetricInputError(f"Ma's score needs at least 64x64 px after shaving; image is {y.shape}")
    pyr = _gauss_pyramid(y / 255.0)
    f1 = np.array([v for level in pyr for v in _dct_features(level)])
    f2 = np.array(_gsm_features(y))
    f3 = np.array([v for level in pyr for v in _svd_features(level)])
    return f1, f2, f3
