"""PSNR/SSIM in both protocols against independent references (scikit-image, numpy re-statements)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import spsr_lib.metrics as M
from spsr_lib.errors import SPSRError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sample_images() -> dict[str, np.ndarray]:
    """Real photos shipped with scikit-image (conftest's fixture also asks for one that 0.26 lacks)."""
    from skimage import data

    return {n: getattr(data, n)()[..., :3] for n in ("astronaut", "chelsea", "coffee", "rocket")}


def _degrade(img: np.ndarray, seed: int) -> np.ndarray:
    """A plausible 'SR' image: blurred and noisy, so PSNR ~25-35 dB."""
    from scipy.ndimage import uniform_filter

    rng = np.random.default_rng(seed)
    blurred = uniform_filter(img.astype(np.float64), size=(3, 3, 1))
    return np.clip(blurred + rng.normal(0, 4, img.shape), 0, 255).round().astype(np.uint8)


def _y_ref(img: np.ndarray, rounded: bool = False) -> np.ndarray:
    """Float Y: scikit-image's rgb2ycbcr (MATLAB's formula, Y in 16..235).

    Rounded Y: MATLAB's rgb2ycbcr on uint8 restated: T = origT / 255 (as a product with 1/255), then
    imlincomb(T1, R, T2, G, T3, B, 16) rounded half away from zero.
    """
    if not rounded:
        return rgb2ycbcr(img)[..., 0]
    r, g, b = (img[..., k].astype(np.float64) for k in range(3))
    t = np.array([65.481, 128.553, 24.966]) * (1 / 255)
    return np.floor(t[0] * r + t[1] * g + t[2] * b + 16 + 0.5)


def test_uint8_y_is_exact_rounding_except_on_exact_ties():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (1, 200_000, 3)).astype(np.int64)
    num = 65481 * rgb[..., 0] + 128553 * rgb[..., 1] + 24966 * rgb[..., 2]  # 1000 * 255 * (Y - 16)
    exact = 16 + (num + 127_500) // 255_000  # round half up in integers
    got = M.color.y_numpy(rgb.astype(np.uint8), rounded=True)
    tie = num % 255_000 == 127_500
    assert np.array_equal(got[~tie], exact[~tie])
    assert np.all(np.abs(got[tie] - exact[tie]) <= 1)


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )


def _box_downsample_ref(y: np.ndarray) -> np.ndarray:
    """ssim.m: imfilter(img, ones(f)/f^2, 'symmetric', 'same') then img(1:f:end, 1:f:end)."""
    f = max(1, int(np.floor(min(y.shape) / 256 + 0.5)))
    if f == 1:
        return y
    origin = (f + 1) // 2  # MATLAB's kernel centre floor((f+1)/2), 1-based
    padded = np.pad(y, ((origin - 1, f - origin), (origin - 1, f - origin)), mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (f, f))
    return windows.mean(axis=(-1, -2))[::f, ::f]


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_standard_mode_equals_scikit_image_on_float_y(sample_images, name):
    hr = sample_images[name]
    sr = _degrade(hr, 1)
    ya, yb = _y_ref(sr)[4:-4, 4:-4], _y_ref(hr)[4:-4, 4:-4]
    assert M.psnr(sr, hr) == pytest.approx(peak_signal_noise_ratio(yb, ya, data_range=255), abs=1e-6)
    assert M.ssim(sr, hr) == pytest.approx(_skimage_ssim(ya, yb), abs=1e-6)
    assert M.ssim(sr, hr, scale=2) == pytest.approx(
        _skimage_ssim(_y_ref(sr)[2:-2, 2:-2], _y_ref(hr)[2:-2, 2:-2]), abs=1e-6
    )


@pytest.mark.parametrize("name", ["astronaut", "coffee"])  # 504 px and 392 px after the shave: f = 2
def test_spsr_mode_is_uint8_y_plus_ssim_m_downsampling(sample_images, name):
    hr = sample_images[name]
    sr = _degrade(hr, 2)
    ya, yb = _y_ref(sr, True)[4:-4, 4:-4], _y_ref(hr, True)[4:-4, 4:-4]
    assert M.psnr(sr, hr, mode="spsr") == pytest.approx(
        peak_signal_noise_ratio(yb, ya, data_range=255), abs=1e-6
    )
    ref = _skimage_ssim(_box_downsample_ref(ya), _box_downsample_ref(yb))
    assert M.ssim(sr, hr, mode="spsr") == pytest.approx(ref, abs=1e-6)


def test_spsr_downsampling_with_odd_factor():
    rng = np.random.default_rng(3)
    from scipy.ndimage import gaussian_filter

    hr = np.clip(gaussian_filter(rng.uniform(0, 255, (668, 700, 3)), (4, 4, 0)) * 3 - 250, 0, 255).astype(
        np.uint8
    )
    sr = _degrade(hr, 4)
    ya, yb = _y_ref(sr, True)[4:-4, 4:-4], _y_ref(hr, True)[4:-4, 4:-4]  # 660 px: f = round(2.58) = 3
    ref = _skimage_ssim(_box_downsample_ref(ya), _box_downsample_ref(yb))
    assert M.ssim(sr, hr, mode="spsr") == pytest.approx(ref, abs=1e-6)


def test_the_two_modes_differ_in_the_documented_ways(sample_images):
    small, big = sample_images["chelsea"], sample_images["astronaut"]  # 292 px and 504 px after the shave
    for hr in (small, big):
        sr = _degrade(hr, 5)
        d = M.psnr(sr, hr) - M.psnr(sr, hr, mode="spsr")
        assert abs(d) < 0.1 and d != 0  # only the Y rounding
    sr = _degrade(small, 5)
    assert M.ssim(sr, small, mode="spsr") == pytest.approx(
        M.ssim(sr, small), abs=2e-3
    )  # f = 1: rounding only
    sr = _degrade(big, 5)
    assert M.ssim(sr, big, mode="spsr") > M.ssim(sr, big) + 0.02  # f = 2 box-averages the noise away


def test_batch_tensor_path_matches_per_image_numpy(sample_images):
    hr = sample_images["astronaut"][:200, :240]
    srs = [_degrade(hr, s) for s in (6, 7, 8)]
    to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 255  # noqa: E731
    batch_sr = torch.stack([to_t(s) for s in srs])
    batch_hr = torch.stack([to_t(hr)] * 3)
    for mode in M.MODES:
        p, s = M.psnr(batch_sr, batch_hr, mode=mode), M.ssim(batch_sr, batch_hr, mode=mode)
        assert p.shape == (3,) and s.shape == (3,)
        for i, sr in enumerate(srs):
            # float32 /255 round trip: standard mode sees 255*(u/255) ~ u to ~1e-5
            assert float(p[i]) == pytest.approx(M.psnr(sr, hr, mode=mode), abs=1e-4)
            assert float(s[i]) == pytest.approx(M.ssim(sr, hr, mode=mode), abs=1e-6)


def test_psnr_rgb_is_the_official_validation_number(sample_images):
    hr = sample_images["coffee"]
    sr = _degrade(hr, 9)
    mse = np.mean((sr[4:-4, 4:-4].astype(np.float64) - hr[4:-4, 4:-4]) ** 2)
    assert M.psnr_rgb(sr, hr) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-9)


def test_identical_and_grey_images(sample_images):
    hr = sample_images["rocket"]
    assert M.psnr(hr, hr) == float("inf") and M.ssim(hr, hr) == pytest.approx(1.0)
    grey = hr[..., 1]
    assert M.psnr(_degrade(grey[..., None], 1)[..., 0], grey) == pytest.approx(
        M.psnr(np.repeat(_degrade(grey[..., None], 1), 3, axis=2), np.stack([grey] * 3, -1))
    )


def test_user_errors_are_one_line_spsr_errors(sample_images):
    hr = sample_images["astronaut"]
    with pytest.raises(SPSRError, match="sizes differ.*mod-crop"):
        M.psnr(hr[:-1], hr)
    with pytest.raises(SPSRError, match="unknown metric mode 'matlab'"):
        M.ssim(hr, hr, mode="matlab")
    with pytest.raises(SPSRError, match="must be uint8"):
        M.psnr(hr / 255.0, hr)
    with pytest.raises(SPSRError, match="too small"):
        M.psnr(hr[:8, :8], hr[:8, :8])


def test_metrics_package_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, spsr_lib.metrics, spsr_lib.io.weights, spsr_lib.inference.evaluate; "
        "print(','.join(m for m in ('scipy', 'lpips', 'skimage', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing the metrics pulled in: {out.stdout}"
