"""Gradient-map structure metrics against a numpy restatement of SPSR's gradient operator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spsr_lib.metrics as M

pytest.importorskip("spsr_lib.ops.gradient")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _grad_ref(img: np.ndarray) -> np.ndarray:
    """Eq. 1 per channel: zero-padded central differences, sqrt(dx^2 + dy^2 + 1e-6)."""
    x = np.pad(img.astype(np.float64) / 255.0, ((1, 1), (1, 1), (0, 0)))
    dy = x[2:, 1:-1] - x[:-2, 1:-1]
    dx = x[1:-1, 2:] - x[1:-1, :-2]
    return np.sqrt(dx**2 + dy**2 + 1e-6)


@pytest.fixture(scope="module")
def pair():
    from scipy.ndimage import uniform_filter
    from skimage import data

    hr = data.chelsea()[:120, :150]
    sr = uniform_filter(hr.astype(np.float64), size=(3, 3, 1)).round().astype(np.uint8)
    return sr, hr


def test_against_numpy_reference(pair):
    sr, hr = pair
    a, b = _grad_ref(sr)[4:-4, 4:-4], _grad_ref(hr)[4:-4, 4:-4]
    assert M.gradient_l1(sr, hr) == pytest.approx(np.abs(a - b).mean(), rel=1e-6)
    assert M.gradient_psnr(sr, hr) == pytest.approx(10 * np.log10(1 / np.mean((a - b) ** 2)), abs=1e-4)


def test_identical_and_batched(pair):
    sr, hr = pair
    assert M.gradient_l1(hr, hr) == 0.0 and M.gradient_psnr(hr, hr) == float("inf")
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    batch = M.gradient_l1(torch.cat([t(sr), t(hr)]), torch.cat([t(hr), t(hr)]))
    assert batch.shape == (2,) and float(batch[0]) == pytest.approx(M.gradient_l1(sr, hr), rel=1e-6)
    assert float(batch[1]) == 0.0


def test_structure_metrics_ignore_a_flat_colour_shift_but_not_blur(pair):
    sr_blur, hr = pair
    hr = (hr.astype(np.int16) // 2 + 60).astype(np.uint8)  # headroom: no clipping below
    shifted = hr + np.uint8(12)
    assert M.psnr(shifted, hr) < 29  # a 12-level shift costs a lot of PSNR ...
    assert M.gradient_l1(shifted, hr) < 1e-12  # ... and no structure (float rounding only)
    assert M.gradient_l1(sr_blur, pair[1]) > 0.005
