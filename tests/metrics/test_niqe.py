"""NIQE: the LIVE pristine model, MATLAB's known value, and a cross-check against BasicSR's port.

The independent port is BasicSR 1.4.2's ``basicsr/metrics/niqe.py`` (with its ``utils/matlab_functions.py``
imresize) read straight from its PyPI sdist (``pip download --no-deps --no-binary :all:
--no-build-isolation basicsr==1.4.2``; not a dependency, cached in ``$SPSR_CACHE/reference``), run
unmodified except for its import lines.  Both are fed the same uint8 Y channel (4 px shaved), so the
comparison isolates the NIQE algorithm.  On all 114 Set14 + BSD100 images 103 agree within 0.1 %
(median 0.0001 %); the others have flat or saturated areas where NIQE depends on float rounding noise
(a 1e-13 relative change of the half-scale image moves it by up to 2.5 %), so no two ports agree there.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import spsr_lib.metrics as M
from spsr_lib.errors import WeightsUnavailableError
from spsr_lib.io.images import read_image_uint8 as read_image
from spsr_lib.metrics.color import y_numpy

N = importlib.import_module("spsr_lib.metrics.niqe")  # the package binds the function `niqe`
BASICSR_SDIST = "basicsr-1.4.2.tar.gz"
# Ordinary photos (see the module docstring for the ill-conditioned ones)
SET14 = ("baboon", "barbara", "lenna", "zebra")
BSD100 = ("97033", "86068", "12084", "210088")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def params(shared_data: Path) -> Path:
    return shared_data / "metrics" / "niqe_modelparameters.mat"


def _load_basicsr_niqe(sdist: Path):
    with tarfile.open(sdist) as tar:

        def read(member: str) -> bytes:
            return tar.extractfile(f"basicsr-1.4.2/basicsr/{member}").read()

        niqe_src, resize_src = read("metrics/niqe.py").decode(), read("utils/matlab_functions.py").decode()
        npz = np.load(io.BytesIO(read("metrics/niqe_pris_params.npz")))
    matlab = types.ModuleType("basicsr_matlab_functions")
    exec(compile(resize_src, "basicsr/utils/matlab_functions.py", "exec"), matlab.__dict__)
    niqe_src = re.sub(r"^from basicsr.*$", "", niqe_src, flags=re.M).replace(
        "@METRIC_REGISTRY.register()", ""
    )
    niqe_src = niqe_src.replace("from scipy.ndimage.filters import", "from scipy.ndimage import")
    mod = types.ModuleType("basicsr_niqe")
    mod.imresize = matlab.imresize
    exec(compile(niqe_src, "basicsr/metrics/niqe.py", "exec"), mod.__dict__)
    mu, cov, window = npz["mu_pris_param"], npz["cov_pris_param"], npz["gaussian_window"]
    return (lambda y: mod.niqe(y.copy(), mu, cov, window)), mu, cov


@pytest.fixture(scope="module")
def basicsr_niqe():
    cache = Path(os.environ.get("SPSR_CACHE") or Path.home() / ".cache" / "spsr-kit") / "reference"
    sdist = cache / BASICSR_SDIST
    if not sdist.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
               "basicsr==1.4.2", "-d", str(cache)]  # fmt: skip
        try:
            subprocess.run(cmd, capture_output=True, timeout=180, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"BasicSR sdist (the independent NIQE port) not cached and not downloadable: {exc}")
    return _load_basicsr_niqe(sdist)


def _y(shared_data: Path, rel: str, shave: int = 4) -> np.ndarray:
    y = y_numpy(read_image(shared_data / "benchmarks" / rel), rounded=True)
    return y[shave:-shave, shave:-shave] if shave else y


def test_pristine_model_is_the_live_one(params, basicsr_niqe):
    _, mu_ref, cov_ref = basicsr_niqe  # BasicSR ships the same numbers as an npz
    mu, cov = N.load_params(str(params))
    np.testing.assert_array_equal(mu, mu_ref.reshape(-1))
    np.testing.assert_array_equal(cov, cov_ref)


def test_baboon_matches_matlab(shared_data, params):
    """MATLAB R2021a niqe on baboon's Y: 5.72957338 (BasicSR's docstring); no shave."""
    mu, cov = N.load_params(str(params))
    assert N.niqe_gray(_y(shared_data, "Set14/HR/baboon.png", 0), mu, cov) == pytest.approx(
        5.72957338, rel=1e-4
    )


@pytest.mark.parametrize("rel", [f"Set14/HR/{n}.png" for n in SET14] + [f"BSD100/HR/{n}.png" for n in BSD100])
def test_within_0p1_percent_of_basicsr(shared_data, params, basicsr_niqe, rel):
    ours = M.niqe(read_image(shared_data / "benchmarks" / rel), scale=4, params=params)
    ref = basicsr_niqe[0](_y(shared_data, rel))
    assert ours == pytest.approx(ref, rel=1e-3)


def test_batch_and_quality_ordering(shared_data, params):
    from scipy.ndimage import gaussian_filter

    img = read_image(shared_data / "benchmarks" / "Set14/HR/zebra.png")[:200, :296]
    blurred = gaussian_filter(img.astype(np.float64), (1.5, 1.5, 0)).round().astype(np.uint8)
    sharp, soft = M.niqe(img, params=params), M.niqe(blurred, params=params)
    assert soft > sharp + 1  # NIQE: lower is more natural; blur is unnatural
    batch = torch.stack([torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255 for a in (img, blurred)])
    got = M.niqe(batch, params=params)
    assert got.shape == (2,) and got[0].item() == pytest.approx(sharp, rel=1e-9)


def test_params_resolution(tmp_path, monkeypatch, params):
    monkeypatch.setenv("SPSR_CACHE", str(tmp_path))
    monkeypatch.delenv("SPSR_NIQE_PARAMS", raising=False)
    with pytest.raises(WeightsUnavailableError, match="niqe_release.zip"):
        N.params_path()
    monkeypatch.setenv("SPSR_NIQE_PARAMS", str(params))
    assert N.params_path() == params
    monkeypatch.delenv("SPSR_NIQE_PARAMS")
    cached = tmp_path / "niqe" / "niqe_modelparameters.mat"
    cached.parent.mkdir()
    cached.write_bytes(params.read_bytes())
    assert N.params_path() == cached
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"junk")
    with pytest.raises(WeightsUnavailableError, match="not a NIQE modelparameters.mat"):
        N.load_params(str(bad))
