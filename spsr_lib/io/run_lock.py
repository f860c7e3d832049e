"""An OS-level lock on an output folder: one run writes a folder at a time.

:func:`lock_folder` creates (if needed) the folder and ``<folder>/.spsr.lock`` and takes ``fcntl.flock`` on it
without waiting. The kernel drops the lock when the process ends in any way (exit, crash, SIGKILL), so a killed
run never leaves a stale lock; the file itself may stay behind and is simply locked again by the next run. A
folder held by a live process is refused with one :class:`~spsr_lib.errors.SPSRError` line naming the holder
(pid, host, start time, as written in the lock file) and nothing is written: the refused process only opens
the existing lock file for reading its holder.

:meth:`RunLock.release` removes the lock file while still holding the lock (a process that opened the old file
and locks it afterwards sees that it is no longer the file at that path and starts over), and removes the folders
the lock created when they are left empty (a run refused for a bad input leaves nothing behind).

The lock file is the one file the kit writes in place (not through :mod:`spsr_lib.io.atomic`): replacing it
would replace the inode that is locked. It holds one line of text and no data.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

from spsr_lib.errors import SPSRError

LOCK_NAME = ".spsr.lock"


def _holder(path: Path) -> str:
    """What the lock file says about the process holding it (bounded; '' when unreadable)."""
    try:
        with open(path, "rb") as fh:
            text = fh.read(200).decode("utf-8", "replace")
    except OSError:
        return ""
    return " ".join(text.split())[:120]


class RunLock:
    """A held lock on ``folder``; :meth:`release` (or the end of the process) frees it."""

    def __init__(self, folder: Path, fd: int, created: list[Path]) -> None:
        self.folder, self.path, self._fd, self._created = folder, folder / LOCK_NAME, fd, created

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                os.unlink(self.path)  # still locked here: no one can take it between unlink and close
        os.close(fd)
        for folder in self._created:  # deepest first: only folders this lock made, only when empty
            with contextlib.suppress(OSError):
                folder.rmdir()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # an object dropped without release(): free the lock, keep the file
        if getattr(self, "_fd", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)


def _make_folder(folder: Path) -> list[Path]:
    """``mkdir -p`` that returns the folders it created, deepest first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def lock_folder(folder: str | os.PathLike, what: str, option: str) -> RunLock:
    """Take the run lock of ``folder`` or raise one SPSRError line (``what``: 'spsr train'; ``option``: how to
    choose another folder, e.g. '--set output_dir=...')."""
    import fcntl

    folder = Path(folder)
    created = _make_folder(folder)
    path = folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _holder(path)
            by = f" ({holder})" if holder else ""
            raise SPSRError(f"{folder}: another process{by} is running in this folder and holds its lock "
                            f"{LOCK_NAME}; wait for it to end, or choose another folder with {option}") from None
        except OSError as exc:  # a file system without flock (some network mounts)
            os.close(fd)
            raise SPSRError(f"{path}: cannot lock the folder ({exc.strerror}); choose a local folder with "
                            f"{option}") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the file was removed by its previous holder between our open and lock: take the new one
    os.ftruncate(fd, 0)
    line = f"{what} pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
    os.write(fd, line.encode("utf-8", "replace"))
    return RunLock(folder, fd, created)
