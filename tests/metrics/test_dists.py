"""DISTS: the published value of a calibration pair, batching, devices, no download at import, never random."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import spsr_lib.metrics as M
from spsr_lib.errors import WeightsUnavailableError

dists_mod = importlib.import_module("spsr_lib.metrics.dists")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

# ../shared/data/metrics/calibration/SOURCE.md: pyiqa's ResultsCalibra, official implementations
PUBLISHED = {"dists": 0.4742, "lpips": 0.7237}


@pytest.fixture(scope="module")
def dists_available():
    ok, why = dists_mod.dists_status()
    if not ok:
        pytest.skip(f"DISTS weights not on this machine ({why})")


@pytest.fixture(scope="module")
def calibration_pair(shared_data) -> tuple[np.ndarray, np.ndarray]:
    from spsr_lib.io.images import read_image_uint8

    folder = shared_data / "metrics" / "calibration"
    return read_image_uint8(folder / "I03_ref.bmp"), read_image_uint8(folder / "I03_dist.bmp")


def test_calibration_pair_matches_the_published_dists(dists_available, calibration_pair):
    ref, dist = calibration_pair
    assert ref.shape == (384, 512, 3)
    value = M.dists(dist, ref)
    assert value == pytest.approx(PUBLISHED["dists"], abs=1e-3)
    assert M.dists(ref, dist) == pytest.approx(value, abs=1e-6)  # symmetric


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()[100:228, 150:310]


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


def test_identical_is_zero_and_distortion_orders(dists_available, photo):
    assert abs(M.dists(photo, photo)) < 1e-6
    d = [M.dists(_noisy(photo, s), photo) for s in (3, 10, 30)]
    assert 0 < d[0] < d[1] < d[2] < 1


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1).float() / 255


def test_batch_matches_single_images_and_runs_on_each_device(dists_available, photo):
    imgs = [_noisy(photo, s, s) for s in (5, 20)]
    batch = M.dists(torch.stack([_t(i) for i in imgs]), torch.stack([_t(photo)] * 2))
    assert batch.shape == (2,) and batch.dtype == torch.float64
    for k, img in enumerate(imgs):
        assert float(batch[k]) == pytest.approx(M.dists(img, photo), abs=1e-6)
    if torch.cuda.is_available():
        gpu = M.dists(torch.stack([_t(i) for i in imgs]).cuda(), torch.stack([_t(photo)] * 2).cuda())
        assert gpu.device.type == "cuda" and torch.allclose(gpu.cpu(), batch, atol=1e-4)


def test_model_uses_the_published_weights_and_the_imagenet_trunk(dists_available):
    from spsr_lib.io import weights as W
    from spsr_lib.io.weights_dists import load_alpha_beta

    model = dists_mod.dists_model()
    ab, _ = load_alpha_beta()
    total = ab["alpha"].sum() + ab["beta"].sum()
    assert torch.allclose(model.alpha, ab["alpha"] / total)
    assert torch.equal(model.features[28].weight, W.load_vgg_features("vgg16", "relu5_3")[28].weight)
    assert len(model.features) == 30 and "alpha/beta" in model.weights_source


def test_import_loads_and_downloads_nothing(tmp_path):
    code = ("import importlib, sys; d = importlib.import_module('spsr_lib.metrics.dists'); assert not d._MODELS; "
            "assert 'torchvision' not in sys.modules and 'safetensors' not in sys.modules")
    env = {**__import__("os").environ, "SPSR_CACHE": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert not (tmp_path / "cache").exists()


def test_missing_weights_is_an_error_not_random_weights(tmp_path, monkeypatch, photo):
    monkeypatch.setenv("SPSR_CACHE", str(tmp_path))
    monkeypatch.setenv("SPSR_OFFLINE", "1")
    monkeypatch.delenv("SPSR_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(dists_mod, "_MODELS", {})
    with pytest.raises(WeightsUnavailableError, match="spsr weights fetch dists"):
        M.dists(photo, photo)
    ok, why = dists_mod.dists_status()
    assert not ok and "spsr weights fetch dists" in why and "\n" not in why
