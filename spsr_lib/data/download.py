"""``spsr data download NAME``: fetch a dataset from its registry entry, check it, install it atomically.

The registry is ``data/datasets.json`` (sources, checksums, licence and citation; ``data/README.md``
explains each entry).  A set ends up as ``<root>/<NAME>/HR/*.png`` with a ``.complete.json`` marker,
which is the layout :func:`spsr_lib.data.benchmark_sets.load_benchmark_set` and ``PairedImageDataset`` read.
``root`` defaults to ``$SPSR_DATA`` or ``./datasets``.

Transfers (stdlib ``urllib`` only):

* **resumable**: bytes go to ``<file>.part``; a retry or a later run asks for the rest with an HTTP
  ``Range`` request (a server that ignores it is read again from the start);
* **checked**: SHA-256 of the bytes (and MD5 where that is all the mirror's users published); a mismatch
  deletes the ``.part`` file and raises :class:`DownloadError`, so a bad file never takes the final name;
* **atomic**: the verified ``.part`` is fsynced and renamed onto the final name; an extracted set is
  assembled in a staging folder (files written through :mod:`spsr_lib.io.atomic`) and renamed into place;
* **per-file checks** after extraction/conversion: ``sha256`` of the file or ``pixels_sha256`` (SHA-256 of
  the decoded uint8 RGB pixels, which survives JPEG/BMP -> PNG conversion);
* a progress bar (tqdm) on stderr.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from spsr_lib.errors import SPSRError, short_repr
from spsr_lib.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from spsr_lib.io.shipped import shipped_path
from spsr_lib.version import __version__

REGISTRY_PATH = shipped_path("datasets.json")  # the installed package's copy, else the checkout's data/datasets.json
MARKER = ".complete.json"


class DownloadError(SPSRError):
    """A download, checksum or extraction failed; the message says what to do."""


def load_registry(path: str | os.PathLike | None = None) -> dict:
    """The ``sets`` table of the registry (``$SPSR_DATASETS_JSON`` overrides the location)."""
    path = Path(path or os.environ.get("SPSR_DATASETS_JSON") or REGISTRY_PATH)
    if not path.is_file():
        raise DownloadError(f"{path}: dataset registry not found; reinstall spsr-kit (the wheel and the git checkout ship it)")
    return _read_registry(path)


REGISTRY_MAX_BYTES = 4 * 2**20  # the shipped one is ~30 kB


def _read_registry(path: Path) -> dict:
    """The registry's ``sets``; a file that is not UTF-8 JSON text of that shape (UTF-16, binary, huge, nested too
    deep for the parser) is one line naming it, never a UnicodeDecodeError / RecursionError traceback (issue 26)."""
    fix = "point SPSR_DATASETS_JSON at a registry like the kit's data/datasets.json, or unset it"
    if path.stat().st_size > REGISTRY_MAX_BYTES:
        raise DownloadError(f"{path}: {path.stat().st_size / 2**20:.0f} MB, too large for a dataset registry "
                            f"(at most {REGISTRY_MAX_BYTES // 2**20} MB); {fix}")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise DownloadError(f"{path}: not UTF-8 text (binary, UTF-16 or Latin-1); {fix}") from None
    except (ValueError, RecursionError) as exc:
        raise DownloadError(f"{path}: not valid JSON ({short_repr(str(exc))}); {fix}") from None
    sets = data.get("sets") if isinstance(data, dict) else None
    if not isinstance(sets, dict):
        raise DownloadError(f"{path}: no 'sets' table of dataset entries; {fix}")
    for name, spec in sets.items():
        if not (isinstance(spec, dict) and isinstance(spec.get("kind"), str) and isinstance(spec.get("source"), dict)
                and isinstance(spec["source"].get("type"), str)):
            raise DownloadError(f"{path}: set {short_repr(name)} lacks 'kind' or 'source' with a 'type'; {fix}")
    return sets


def default_root() -> Path:
    return Path(os.environ.get("SPSR_DATA") or "datasets")


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pixels_digest(path: str | os.PathLike) -> str:
    """SHA-256 of the decoded uint8 HxWx3 RGB pixels: identical across lossless re-encodings."""
    from spsr_lib.io.images import read_image_uint8

    return hashlib.sha256(read_image_uint8(path).tobytes()).hexdigest()


def _progress(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=not enabled, leave=False)


def _transfer(url: str, part: Path, timeout: float, progress: bool) -> None:
    """One HTTP request appending to ``part`` (Range when it has bytes); raises on a short body."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"spsr-kit/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the .part is complete (the hash decides)
            return
        raise
    with resp:
        if have and resp.status != 206:
            have = 0  # the server ignored Range: start over
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as fh, _progress(total, have, part.name[:-5], progress) as bar:
            while True:
                block = resp.read(1 << 20)
                if not block:
                    break
                fh.write(block)
                bar.update(len(block))
            fh.flush()
            os.fsync(fh.fileno())
    if total is not None and part.stat().st_size < total:
        raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    progress: bool = True,
    retries: int = 4,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``dest`` resumably; verify ``sha256``/``md5``/``size``; return ``dest``.

    An existing ``dest`` is trusted only if it matches the given checksum.  Interrupted transfers are
    retried ``retries`` times with back-off, each resuming where the last stopped; every failed try is one line
    on stderr (a stalled server is no longer silent for minutes: ``timeout`` seconds without a byte end a try).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and sha256 and file_digest(dest) == sha256:
        return dest
    part = dest.with_name(dest.name + ".part")
    if part.exists() and size is not None and part.stat().st_size > size:
        part.unlink()
    for attempt in range(retries + 1):
        try:
            if not (size is not None and part.exists() and part.stat().st_size == size):
                _transfer(url, part, timeout, progress)
            break
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}; check the address or try again later") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            if attempt == retries:
                reason = getattr(exc, "reason", None) or type(exc).__name__
                resume = f"; it resumes from {part}" if part.exists() and part.stat().st_size else ""
                raise DownloadError(
                    f"{url}: download failed ({reason}) after {retries + 1} tries; check the network or proxy "
                    f"and run the command again{resume}"
                ) from None
            wait = min(0.2 * 2**attempt, 5.0)
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            print(f"spsr data: {url}: try {attempt + 1} of {retries + 1} failed ({reason}); retrying in {wait:.1f} s",
                  file=sys.stderr, flush=True)
            time.sleep(wait)
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        part.unlink()
        raise DownloadError(f"{dest.name}: got {got_size} bytes, expected {size}; the file was deleted, run the command again")
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected:
            got = file_digest(part, algorithm)
            if got != expected.lower():
                part.unlink()
                raise DownloadError(
                    f"{dest.name}: {algorithm.upper().replace('SHA', 'SHA-')} mismatch (expected {expected}, got {got}); "
                    "the file was deleted: run the command again, or report the mirror if it persists"
                )
    os.replace(part, dest)
    return dest


def _safe_members(names: list[str], archive: Path) -> None:
    for name in names:
        p = Path(name)
        if p.is_absolute() or ".." in p.parts:
            raise DownloadError(f"{archive}: unsafe path {short_repr(name)} inside the archive; refusing to extract it")


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a .zip / .tar(.gz) into ``dest`` (members may not leave it; every file written atomically)."""
    archive, dest = Path(archive), Path(dest)
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            _safe_members(zf.namelist(), archive)
            for info in zf.infolist():
                if not info.is_dir():
                    with atomic_path(dest / info.filename) as tmp, zf.open(info) as src, open(tmp, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
    elif name.endswith((".tar", ".tar.gz", ".tgz")):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            _safe_members([m.name for m in members], archive)
            for m in members:
                if m.isfile():
                    src = tf.extractfile(m)
                    with atomic_path(dest / m.name) as tmp, src, open(tmp, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
    else:
        raise DownloadError(f"{archive}: unknown archive type; expected .zip, .tar or .tar.gz")
    return dest


def _verify_file(path: Path, entry: dict, installing: str | None = None) -> None:
    """Check one file against its registry entry. ``installing``: the set being downloaded (the file is then in
    a staging folder that is deleted on failure, so the message names the set's file instead)."""
    what = f"{installing}/{entry.get('name', path.name)}" if installing else str(path)
    fix = ("nothing was installed; run the download again, or report the mirror if it persists" if installing
           else f"delete {path.parent} and download again")
    if entry.get("sha256") and file_digest(path) != entry["sha256"]:
        raise DownloadError(f"{what}: SHA-256 differs from the registry; {fix}")
    if entry.get("pixels_sha256") and pixels_digest(path) != entry["pixels_sha256"]:
        raise DownloadError(f"{what}: pixels differ from the registry; {fix}")


def _install_files(spec: dict, staging: Path, downloads: Path, progress: bool) -> str:
    from spsr_lib.io.images import read_image_uint8, write_image

    base = spec["source"]["base_url"]
    for entry in spec["files"]:
        remote = entry.get("remote", entry["name"])
        same_bytes = remote == entry["name"]
        got = fetch(base + remote, downloads / remote, sha256=entry.get("sha256") if same_bytes else None,
                    progress=progress)
        target = staging / entry["name"]
        if same_bytes:
            atomic_write_bytes(target, got.read_bytes())
        else:  # e.g. the BSDS JPEG or T91 BMP originals, kept as lossless PNG
            write_image(target, read_image_uint8(got))
        _verify_file(target, {"name": entry["name"], "pixels_sha256": entry.get("pixels_sha256")} if not same_bytes
                     else entry, installing=spec.get("name", staging.parent.name))
    return "verified per file (SHA-256 of each file or of its pixels)"


def _install_archive(spec: dict, staging: Path, downloads: Path, progress: bool) -> str:
    src = spec["source"]
    filename = src["url"].rsplit("/", 1)[-1].split("?")[0]
    archive = fetch(src["url"], downloads / filename, sha256=src.get("sha256"), md5=src.get("md5"),
                    size=src.get("size"), progress=progress)
    unpacked = staging.with_name(staging.name + "-unpacked")
    shutil.rmtree(unpacked, ignore_errors=True)
    extract_archive(archive, unpacked)
    hr = unpacked / src["hr_subdir"] if src.get("hr_subdir") else unpacked
    if not hr.is_dir():
        raise DownloadError(f"{archive}: has no folder {src.get('hr_subdir')!r}; the mirror changed, report it")
    from spsr_lib.io.images import is_image_file

    images = sorted(p for p in hr.iterdir() if p.is_file() and is_image_file(p))
    if src.get("count") and len(images) != src["count"]:
        raise DownloadError(f"{archive}: {len(images)} images inside, expected {src['count']}; the mirror changed, report it")
    staging.mkdir(parents=True, exist_ok=True)
    for p in images:
        os.replace(p, staging / p.name)
    by_name = {e["name"]: e for e in spec.get("files", [])}
    for p in images:
        if p.name in by_name:
            _verify_file(staging / p.name, by_name[p.name], installing=staging.parent.name)
    shutil.rmtree(unpacked, ignore_errors=True)
    if src.get("sha256"):
        return "archive SHA-256 verified"
    if src.get("md5"):
        return f"archive MD5 verified (no published SHA-256; this copy's SHA-256 is {file_digest(archive)})"
    return f"UNVERIFIED (no published checksum; this copy's SHA-256 is {file_digest(archive)})"


def _remove_empty_downloads(downloads: Path) -> None:
    """After a failure: drop empty ``.part`` files and the folders left empty (a resumable ``.part`` stays)."""
    for part in downloads.glob("*.part") if downloads.is_dir() else ():
        if part.stat().st_size == 0:
            part.unlink()
    for folder in (downloads, downloads.parent):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def download_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    registry: dict | None = None,
    progress: bool = True,
    keep_downloads: bool = False,
) -> Path:
    """Install dataset ``name`` as ``<root>/<name>/HR``; return that folder (no-op when already complete)."""
    sets = registry if registry is not None else load_registry()
    match = next((k for k in sets if k.lower() == name.lower()), None)
    if match is None:
        raise DownloadError(f"unknown dataset {short_repr(name)}; choose one of: {', '.join(sets)}")
    spec, root = sets[match], Path(root) if root is not None else default_root()
    home = root / match
    target = home / "HR"
    if (home / MARKER).is_file() and target.is_dir():
        return target
    kind = spec["source"]["type"]
    if kind == "manual":
        raise DownloadError(
            f"{match} has no automatic download: {spec['source']['note']} (homepage {spec.get('homepage', '?')})"
        )
    if target.exists():
        raise DownloadError(f"{target}: exists but is not a completed download; move it away and run again")
    downloads = root / ".downloads" / match
    staging = home / ".staging-HR"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if kind == "files":
            status = _install_files(spec, staging, downloads, progress)
        elif kind == "archive":
            status = _install_archive(spec, staging, downloads, progress)
        else:
            raise DownloadError(f"registry entry {match}: unknown source type {kind!r}")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(staging.with_name(staging.name + "-unpacked"), ignore_errors=True)
        with contextlib.suppress(OSError):
            home.rmdir()  # only when empty: nothing half-installed is left under the set's name
        _remove_empty_downloads(downloads)
        raise
    os.replace(staging, target)
    count = sum(1 for _ in target.iterdir())
    atomic_write_text(home / MARKER, json.dumps({"name": match, "images": count, "check": status,
                                                 "source": spec["source"]}, indent=1) + "\n")
    if not keep_downloads:
        shutil.rmtree(downloads, ignore_errors=True)
        with contextlib.suppress(OSError):
            (root / ".downloads").rmdir()
    return target
