"""Atomic file writes: a reader (or a crash) never sees a half-written output or checkpoint.

Every file the kit writes (images, checkpoints, reports, downloads) goes through :func:`atomic_path`:
data is written to a temporary file in the destination folder, flushed and fsynced, then moved over
the destination with :func:`os.replace`, which is atomic on POSIX and Windows. A write that fails for want of
room or permission (a full disk: ``ENOSPC``, or torch's "unexpected pos") is one SPSRError line naming the file
and the free space. :func:`check_output_dir` / :func:`check_output_file` test an output location before the work
(by creating a probe file: permission bits do not bind root).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    ``suffix`` defaults to the destination's suffix so that writers that pick a format from the file
    name (cv2, PIL, safetensors) still work.  On an exception the temporary file is removed and the
    destination is left untouched.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.name}.tmp.", suffix=dest.suffix if suffix is None else suffix, dir=dest.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600 files; behave like open()
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        failure = write_failure(dest, exc) if isinstance(exc, (OSError, RuntimeError)) else None
        if failure is not None:
            raise failure from None
        raise


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def _probe(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (tried for real: access bits do not bind root)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".spsr-write-test.", dir=folder)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    os.unlink(name)
    return None


def check_output_dir(path: str | os.PathLike, option: str) -> Path:
    """Before any work: raise one SPSRError line unless ``path`` is (or can become) a writable folder.

    Nothing is created: a missing folder is checked through its nearest existing parent.
    """
    from spsr_lib.errors import SPSRError

    dest = Path(path).expanduser()
    base = _nearest_existing(dest)
    if not base.is_dir():
        where = "is a file" if base == dest else f"is under {base}, which is a file"
        raise SPSRError(f"{dest}: {where}, not a folder; pass a folder to {option}")
    problem = _probe(base)
    if problem:
        raise SPSRError(f"{dest}: cannot write in {base} ({problem}); pass a writable folder to {option}")
    return dest


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """Before any work: raise one SPSRError line unless a file can be written at ``path``."""
    from spsr_lib.errors import SPSRError

    dest = Path(path).expanduser()
    if dest.is_dir():
        raise SPSRError(f"{dest}: is a folder; give {option} a file name, e.g. {dest / 'model.safetensors'}")
    base = _nearest_existing(dest.parent)
    if not base.is_dir():
        raise SPSRError(f"{dest}: is under {base}, which is a file, not a folder; give {option} a path in a folder")
    problem = _probe(base)
    if problem:
        raise SPSRError(f"{dest}: cannot write in {base} ({problem}); give {option} a path in a writable folder")
    return dest


_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def write_failure(path: str | os.PathLike, exc: BaseException):
    """The one-line SPSRError for a write that failed for want of room or permission (None: not that kind)."""
    import shutil

    from spsr_lib.errors import SPSRError

    dest = Path(path)
    text = str(exc)
    no_room = (isinstance(exc, OSError) and exc.errno in _NO_ROOM) or (
        isinstance(exc, RuntimeError) and ("unexpected pos" in text or "file write failed" in text))
    if not no_room and not isinstance(exc, PermissionError):
        return None
    try:
        free = f"{shutil.disk_usage(_nearest_existing(dest.parent)).free / 2**20:.0f} MB free"
    except OSError:
        free = "free space unknown"
    why = getattr(exc, "strerror", None) or " ".join(text.split())[:80]
    return SPSRError(f"{dest}: writing failed ({why}; {free} there); free disk space or choose another location, "
                     "the previous file (if any) is intact")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_torch_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` that never leaves a truncated checkpoint behind."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
