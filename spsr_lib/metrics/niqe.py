"""NIQE, the 'completely blind' quality score in the SPSR paper's PI (Mittal et al., IEEE SPL 2013).

This follows the LIVE MATLAB release (``niqe.m`` / ``computequality.m``, block size 96, no overlap):

1. crop the grey image to a multiple of 96 px; two scales (the second is ``imresize(im, 0.5)``, bicubic
   with antialiasing on doubles; see the border note below);
2. MSCN coefficients ``(im - mu) / (sigma + 1)`` with a 7x7 Gaussian (sigma 7/6) and 'replicate' border;
3. per 96/scale block, 18 features: the AGGD fit (Eq. 7: alpha by a grid search over 0.2:0.001:10 of
   the moment ratio, then beta_l, beta_r) of the coefficients and of their products with the four
   circularly shifted neighbours (Eq. 8 mean);
4. the blocks' features give a Gaussian (``nanmean``, covariance of NaN-free rows); the quality is the
   Mahalanobis-like distance to the pristine model (Eq. 10)::

       sqrt((mu_p - mu_d) pinv((cov_p + cov_d) / 2) (mu_p - mu_d)^T)

The pristine model is the LIVE ``modelparameters.mat`` (mu_prisparam 1x36, cov_prisparam 36x36), found
as the ``params`` argument, ``$SPSR_NIQE_PARAMS``, or ``$SPSR_CACHE/niqe/niqe_modelparameters.mat``.
As the PIRM/SPSR toolbox, the input is the **uint8-rounded Y** channel with ``scale`` px shaved.
All blocks of an image are processed at once (numpy, float64).  Lower is better.

Border of the half-scale resize: MATLAB R2021a's ``niqe`` gives 5.72957338 on Set14 baboon (full image,
Y).  With ``spsr_lib.imresize(mode="matlab")`` (edge replication) this code gives 5.71951 (-0.18 %);
with the half-sample symmetric mirror (``mode="official_float"``, the border BasicSR's port uses) it gives
5.72996 (+0.007 %).  The mirror is therefore used here.

Cross-check: against BasicSR 1.4.2's port on the same Y of all 114 Set14 + BSD100 images (4 px shaved),
103 agree within 0.1 % (median 0.0001 %).  The other 11 contain flat or saturated areas where MSCN
coefficients are rounding noise around 0: which of them count as negative or positive decides the AGGD
fit, and a 1e-13 relative change of the half-scale image moves NIQE by up to 2.5 %.  No port (nor
MATLAB) is reproducible there to better than that.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from spsr_lib.errors import WeightsUnavailableError
from spsr_lib.io.cache import cache_root
from spsr_lib.metrics.color import ImageLike, MetricInputError, as_batch255, rgb_to_y_uint8, shave

BLOCK = 96
PARAMS_FILE = "niqe_modelparameters.mat"
LIVE_URL = "http://live.ece.utexas.edu/research/quality/niqe_release.zip"


def params_path(params: str | os.PathLike | None = None) -> Path:
    """Where the pristine model is read from (argument, then ``$SPSR_NIQE_PARAMS``, then the cache)."""
    if params is not None:
        candidates = [Path(params)]
    else:
        env = os.environ.get("SPSR_NIQE_PARAMS")
        candidates = ([Path(env)] if env else []) + [cache_root() / "niqe" / PARAMS_FILE]
    for c in candidates:
        if c.is_file():
            return c
    raise WeightsUnavailableError(
        f"NIQE pristine model not found (looked at {', '.join(map(str, candidates))}): "
        f"get modelparameters.mat from {LIVE_URL} and pass params=PATH, set SPSR_NIQE_PARAMS, "
        f"or copy it to {candidates[-1]}"
    )


@lru_cache(maxsize=4)
def load_params(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(mu_prisparam (36,), cov_prisparam (36, 36))`` from a LIVE ``modelparameters.mat``."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        mu = np.asarray(mat["mu_prisparam"], np.float64).reshape(-1)
        cov = np.asarray(mat["cov_prisparam"], np.float64)
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{path}: not a NIQE modelparameters.mat ({exc}); re-download it"
        ) from None
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise WeightsUnavailableError(
            f"{path}: expected mu 1x36 and cov 36x36, got {mu.shape} and {cov.shape}"
        )
    return mu, cov


def _gaussian_7x7() -> np.ndarray:
    """``fspecial('gaussian', 7, 7/6)``, normalised."""
    x = np.arange(-3, 4, dtype=np.float64)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7 / 6) ** 2))
    return g / g.sum()


@lru_cache(maxsize=1)
def _gamma_table() -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import gamma

    gam = np.arange(0.2, 10.001, 0.001)  # MATLAB 0.2:0.001:10 (9801 values)
    return gam, gamma(2 / gam) ** 2 / (gamma(1 / gam) * gamma(3 / gam))


def aggd_params(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``estimateaggdparam`` for each row of ``x`` (blocks x samples): alpha, beta_l, beta_r."""
    from scipy.special import gamma

    gam, r_gam = _gamma_table()
    with np.errstate(divide="ignore", invalid="ignore"):  # flat blocks give NaN, as in MATLAB
        left = np.sqrt((np.where(x < 0, x, 0) ** 2).sum(1) / (x < 0).sum(1))
        right = np.sqrt((np.where(x > 0, x, 0) ** 2).sum(1) / (x > 0).sum(1))
        gammahat = left / right
        rhat = np.abs(x).mean(1) ** 2 / (x**2).mean(1)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
        alpha = gam[
            np.argmin((r_gam[None, :] - rhatnorm[:, None]) ** 2, axis=1)
        ]  # all-NaN -> first, as min()
        ratio = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * ratio, right * ratio


def block_features(mscn: np.ndarray, block: int) -> np.ndarray:
    """``computefeature`` on every ``block`` x ``block`` tile of an MSCN map: (n_blocks, 18)."""
    from scipy.special import gamma

    h, w = mscn.shape
    tiles = mscn.reshape(h // block, block, w // block, block).transpose(0, 2, 1, 3).reshape(-1, block, block)
    alpha, bl, br = aggd_params(tiles.reshape(len(tiles), -1))
    feats = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):  # circshift inside each block, as MATLAB
        pair = (tiles * np.roll(tiles, shift, axis=(1, 2))).reshape(len(tiles), -1)
        alpha, bl, br = aggd_params(pair)
        with np.errstate(invalid="ignore"):
            mean = (br - bl) * (gamma(2 / alpha) / gamma(1 / alpha))
        feats += [alpha, mean, bl, br]
    return np.stack(feats, axis=1)


def niqe_gray(im: np.ndarray, mu_p: np.ndarray, cov_p: np.ndarray, block: int = BLOCK) -> float:
    """NIQE of one grey image (float 0..255, HxW) against a pristine model."""
    from scipy.ndimage import correlate

    from spsr_lib.ops.imresize import imresize

    rows, cols = (im.shape[0] // block) * block, (im.shape[1] // block) * block
    if rows * cols < 2 * block * block:  # one block gives no covariance (MATLAB: NaN)
        raise MetricInputError(
            f"NIQE needs at least two {block}x{block} blocks after shaving; image is {im.shape}"
        )
    im = np.asarray(im, np.float64)[:rows, :cols]
    window = _gaussian_7x7()
    feats = []
    for scale in (1, 2):
        mu = correlate(im, window, mode="nearest")  # imfilter(..., 'replicate')
        sigma = np.sqrt(np.abs(correlate(im * im, window, mode="nearest") - mu * mu))
        feats.append(block_features((im - mu) / (sigma + 1), block // scale))
        if scale == 1:
            im = imresize(im, 0.5, mode="official_float")  # float64 in, float64 out, mirrored border
    dist = np.concatenate(feats, axis=1)
    mu_d = np.nanmean(dist, axis=0)
    complete = dist[~np.isnan(dist).any(axis=1)]
    cov_d = np.cov(complete, rowvar=False)
    d = mu_p - mu_d
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov_d) / 2) @ d))


def niqe(img: ImageLike, scale: int = 4, params: str | os.PathLike | None = None) -> float | torch.Tensor:
    """NIQE of the uint8 Y channel with ``scale`` px shaved (uint8 HxWx3 -> float; Nx3xHxW -> (N,))."""
    mu_p, cov_p = load_params(str(params_path(params)))
    x, from_numpy = as_batch255(img, "image")
    y = shave(rgb_to_y_uint8(x), scale).cpu().numpy()
    values = [niqe_gray(y[i, 0], mu_p, cov_p) for i in range(len(y))]
    return values[0] if from_numpy else torch.tensor(values, dtype=torch.float64)
