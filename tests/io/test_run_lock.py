"""io/run_lock: one holder per folder, refusal touches nothing, release leaves nothing the lock made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spsr_lib.errors import SPSRError
from spsr_lib.io.run_lock import LOCK_NAME, lock_folder

REPO = Path(__file__).resolve().parents[2]


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_lock_is_refused_in_one_line_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    with lock_folder(run, "spsr train", "--set output_dir=...") as lock:
        assert lock.held and (run / LOCK_NAME).is_file()
        assert f"pid {os.getpid()}" in (run / LOCK_NAME).read_text()
        before = files(tmp_path)
        with pytest.raises(SPSRError) as err:
            lock_folder(run, "spsr train", "--set output_dir=...")
        msg = str(err.value)
        assert "\n" not in msg and f"pid {os.getpid()}" in msg and "--set output_dir" in msg
        assert files(tmp_path) == before
    assert not run.exists(), "release left the folder the lock created"


def test_release_keeps_folders_it_did_not_create_and_files_in_them(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    lock = lock_folder(tmp_path, "t", "-o")
    lock.release()
    lock.release()  # twice is harmless
    assert files(tmp_path) == {"keep.txt": b"x"}


def test_a_killed_holder_frees_the_lock(tmp_path):
    """The lock belongs to the process: SIGKILL frees it, and the stale file is simply locked again."""
    code = ("import sys, os, signal; from spsr_lib.io.run_lock import lock_folder; "
            "lock_folder(sys.argv[1], 'x', '-o'); os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -9
    assert (tmp_path / LOCK_NAME).exists()
    with lock_folder(tmp_path, "t", "-o") as lock:
        assert lock.held
