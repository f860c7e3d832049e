"""Claiming a run's ``output_dir`` before any work: writable, locked, not someone else's run, a kill's leftovers gone.

The order matters (issue 26): the folder's run lock (:mod:`spsr_lib.io.run_lock`) is taken *first*, so a second
``spsr train`` (or a ``--resume`` of a run that is still going) is refused in one line having touched nothing of
the live run; only the lock holder checks for an earlier run's checkpoints and then removes the temporary files
a kill during a checkpoint write left (:func:`spsr_lib.train.state.remove_orphan_temps`). Only the main process
claims the folder, and refuses a new run whose ``config.yaml`` / ``metrics.jsonl`` would replace files no run wrote,
and any run whose ``train.pretrained`` lies in the ``models/`` folder it rewrites. The lock is held from ``Trainer(...)`` to the end of ``fit()`` (or ``close()``); a second
``fit()`` of the same trainer takes it again (:func:`relock`).
"""

from __future__ import annotations

import os
from pathlib import Path

from spsr_lib.errors import SPSRError
from spsr_lib.io.atomic import check_output_dir
from spsr_lib.io.output_guard import OutputPlan, starts_with
from spsr_lib.io.run_lock import RunLock, lock_folder
from spsr_lib.train import state as train_state

WHO, OPTION = "spsr train", "--set output_dir=..."


def _ours(path: Path) -> bool:
    """config.yaml / metrics.jsonl as spsr train writes them (or empty: nothing to lose)."""
    from spsr_lib.train.config import DUMP_HEADER

    return path.stat().st_size == 0 or starts_with(DUMP_HEADER, '{"kind": ')(path)


def _check_outputs(run_dir: Path, resume: bool, pretrained: str | None) -> None:
    """No file the run writes is its own input (``train.pretrained``) or, in a new run, a file no run wrote."""
    if pretrained and Path(os.path.realpath(pretrained)).parent == Path(os.path.realpath(run_dir / "models")):
        raise SPSRError(f"train.pretrained: {pretrained} is in {run_dir / 'models'}, which this run rewrites; copy "
                        "it elsewhere and point train.pretrained there, or choose another run with "
                        "--set output_dir=...")
    if not resume:
        problem = OutputPlan([], _ours, WHO).problem("the run", [run_dir / "config.yaml", run_dir / "metrics.jsonl"])
        if problem:
            raise SPSRError(f"{problem}; move it, or choose another run with --set output_dir=...")


def claim_run_dir(run_dir: Path, resume: bool, pretrained: str | None = None) -> RunLock:
    """Check, lock and tidy ``run_dir``; returns the held lock (release it when the run ends)."""
    check_output_dir(run_dir, "output_dir")
    lock = lock_folder(run_dir, WHO, OPTION)
    try:
        if not resume and train_state.latest_state(run_dir):
            raise SPSRError(f"{run_dir}: already holds training checkpoints; pass --resume to continue, "
                            "or choose another run with --set output_dir=...")
        _check_outputs(run_dir, resume, pretrained)
        n_tmp, tmp_bytes = train_state.remove_orphan_temps(run_dir)
    except BaseException:
        lock.release()
        raise
    if n_tmp:
        print(f"note: {run_dir}: removed {n_tmp} temporary file(s) ({tmp_bytes / 2**20:.1f} MB) left by "
              "an interrupted checkpoint write")
    return lock


def relock(lock: RunLock | None, run_dir: Path) -> RunLock:
    """``lock`` when it is still held, else the folder's lock taken again (refused in one line when taken)."""
    return lock if lock is not None and lock.held else lock_folder(run_dir, WHO, OPTION)
