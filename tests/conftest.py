"""Shared test helpers.

- ``shared_data`` finds ``../shared/data`` (benchmark and training images); tests that need it are
  skipped with a clear reason on a machine that does not have it (e.g. a user's fresh clone).
  ``SPSR_SHARED_DATA`` overrides the location.
- ``sample_image`` / ``sample_images`` give real photos that ship with scikit-image, always available.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR_CANDIDATES = [REPO_ROOT.parent / "shared" / "spec"]
SAMPLE_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left")

# Tests are single-threaded and deterministic; CI has 2 cores.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def find_shared_data() -> Path | None:
    """Return the shared data folder, or None when this machine does not have it."""
    env = os.environ.get("SPSR_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if (c / "benchmarks").is_dir():
            return c
    return None


def find_spec_dir() -> Path | None:
    env = os.environ.get("SPSR_SHARED_SPEC")
    for c in ([Path(env)] if env else []) + SPEC_DIR_CANDIDATES:
        if (c / "parity").is_dir():
            return c
    return None


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny tensors and models: thread hand-off costs more than it saves, and on a
    loaded 2-core machine OpenMP's spinning threads made such tests 20-40x slower. The suite's setting comes back
    afterwards. Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def train_images(tmp_path_factory) -> Path:
    """Four small good PNGs: a training folder for the real-process `spsr train` tests (lock, SIGTERM, corpus)."""
    from tests import corpus

    folder = tmp_path_factory.mktemp("train")
    for k in range(4):
        corpus.good_png(folder / f"p{k}.png", side=40, seed=k)
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = find_shared_data()
    if path is None:
        pytest.skip("../shared/data not found (set SPSR_SHARED_DATA to the folder holding benchmarks/ and train/)")
    return path


@pytest.fixture(scope="session")
def spec_dir() -> Path:
    path = find_spec_dir()
    if path is None:
        pytest.skip("../shared/spec (official parity vectors) not found; set SPSR_SHARED_SPEC")
    return path


@pytest.fixture(scope="session")
def parity_dir(spec_dir: Path) -> Path:
    return spec_dir / "parity"


def load_sample(name: str) -> np.ndarray:
    """A scikit-image sample photo as uint8 HxWx3 RGB."""
    from skimage import data

    if name == "motorcycle_left":  # scikit-image ships it as the left view of stereo_motorcycle()
        img = data.stereo_motorcycle()[0]
    else:
        img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


@pytest.fixture(scope="session")
def sample_images() -> dict[str, np.ndarray]:
    return {name: load_sample(name) for name in SAMPLE_NAMES}


@pytest.fixture(scope="session")
def sample_image() -> np.ndarray:
    return load_sample("astronaut")
