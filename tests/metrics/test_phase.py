"""The phase index: ~1 for natural images, far above for a 4-px grid or nearest upsampling, same for both kinds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spsr_lib.metrics as M
from spsr_lib.ops.imresize import imresize

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def _with_grid(img: np.ndarray, levels: int = 8) -> np.ndarray:
    """+``levels`` grey levels on every pixel with row % 4 == 0 and col % 4 == 0: a 4-periodic pattern."""
    out = img.astype(np.int16)
    out[::4, ::4] += levels
    return np.clip(out, 0, 255).astype(np.uint8)


def test_natural_images_are_near_one(astronaut, shared_data):
    from spsr_lib.io.images import read_image_uint8

    assert 1.0 <= M.phase_index(astronaut) < 1.3
    for path in sorted((shared_data / "benchmarks" / "Set5" / "HR").glob("*.png")):
        assert 1.0 <= M.phase_index(read_image_uint8(path)) < 1.3, path.name


def test_a_four_periodic_pattern_is_seen(astronaut):
    assert M.phase_index(_with_grid(astronaut)) > 1.5
    assert M.phase_index(_with_grid(astronaut, 2)) > M.phase_index(astronaut) + 0.1  # even 2 grey levels show
    # period 3 does not see a 4-periodic pattern as strongly as period 4 does
    assert M.phase_index(_with_grid(astronaut), period=3) < M.phase_index(_with_grid(astronaut))


def test_upsampled_images_score_high(astronaut):
    small = imresize(astronaut, 0.25, mode="matlab")
    nearest = np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)
    assert M.phase_index(nearest) > 100  # inner phases of every 4x4 block have no high-pass energy at all
    assert M.phase_index(imresize(small, 4.0, mode="matlab")) > 1.5  # the bicubic kernel repeats every 4 px


def test_numpy_and_tensor_batches_agree(astronaut):
    imgs = [astronaut[:96, :128], _with_grid(astronaut)[100:196, 50:178]]
    single = [M.phase_index(i) for i in imgs]
    assert all(isinstance(v, float) for v in single)
    batch = torch.stack([torch.from_numpy(i).permute(2, 0, 1).float() / 255 for i in imgs])
    got = M.phase_index(batch)
    assert isinstance(got, torch.Tensor) and got.shape == (2,)
    np.testing.assert_allclose(got.numpy(), single, rtol=1e-6)
    assert single[1] > 1.5 > single[0]


def test_flat_and_too_small_images():
    assert M.phase_index(np.full((32, 32, 3), 100, np.uint8)) == 1.0
    with pytest.raises(ValueError, match=r"too small for the phase index.*at least 20x20"):
        M.phase_index(np.zeros((19, 40, 3), np.uint8))
    with pytest.raises(M.MetricInputError):  # also an SPSRError: the CLI prints it as one line
        M.phase_index(torch.zeros(1, 3, 40, 12))
    assert M.phase_index(np.full((20, 20, 3), 7, np.uint8)) == 1.0
