"""Full training checkpoints: everything needed to continue a run *exactly*.

The official ``--resume`` restores neither D_grad nor (for a model named 'spsr') D, and no RNG state
(``SPSR_REFERENCE.md`` §9.8). A training state here holds G, D, D_grad, the three optimisers and
schedulers, the GradScaler, the EMA copy, the RNG states of python / numpy / torch / every CUDA device,
the step, the epoch and the position inside the epoch (so the sampler resumes mid-epoch), and the
resolved config. Files are ``<run>/checkpoints/state_<step:08d>.pt``, written through
:func:`spsr_lib.io.atomic.atomic_torch_save` (a kill during the write leaves the previous file intact),
the last ``keep_last`` are kept, and every entry loads with ``torch.load(weights_only=True)``. The temporary
files a kill during a write leaves are removed by the next run (:func:`remove_orphan_temps`).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spsr_lib.errors import CheckpointError
from spsr_lib.io.atomic import atomic_torch_save

FORMAT = "spsr-kit-train-state/1"
_NAME = re.compile(r"^state_(\d{8})\.pt$")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def state_path(run_dir: Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"state_{step:08d}.pt"


def list_states(run_dir: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the training states of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_state(run_dir: Path) -> Path | None:
    states = list_states(run_dir)
    return states[-1][1] if states else None


def remove_orphan_temps(run_dir: Path) -> tuple[int, int]:
    """Delete the temporary files a kill during a checkpoint write left (``checkpoints/.state_*.tmp.*``,
    ``models/.G_*.tmp.*``: :func:`spsr_lib.io.atomic.atomic_path` names them so); returns (files, bytes).
    Only the main process may call it, before it writes anything."""
    run_dir = Path(run_dir)
    found = [*checkpoint_dir(run_dir).glob(".state_*.tmp.*"), *(run_dir / "models").glob(".G_*.tmp.*")]
    size = 0
    for path in found:
        try:
            size += path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            pass
    return len(found), size


def scheduler_state(s: torch.optim.lr_scheduler.LRScheduler) -> dict:
    state = s.state_dict()
    if isinstance(state.get("milestones"), Counter):  # weights_only loading has no Counter
        state["milestones"] = dict(state["milestones"])
    return state


def load_scheduler(s: torch.optim.lr_scheduler.LRScheduler, state: dict) -> None:
    state = dict(state)
    if "milestones" in state:
        state["milestones"] = Counter(state["milestones"])
    s.load_state_dict(state)


# ------------------------------------------------------------------------------------------------- RNG
def capture_rng() -> dict[str, Any]:
    """RNG states as tensors / plain python values (``weights_only``-loadable)."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss),
                  float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


# -------------------------------------------------------------------------------------------- save/load
def save_state(run_dir: Path, step: int, payload: dict[str, Any], keep_last: int) -> Path:
    """Write ``payload`` (plus format tag, step and RNG states) atomically; prune to ``keep_last`` files."""
    path = state_path(run_dir, step)
    atomic_torch_save({"format": FORMAT, "step": step, "rng": capture_rng(), **payload}, path)
    for _, old in list_states(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def load_state(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise CheckpointError(f"{path}: not a readable training state ({type(exc).__name__}); "
                              "delete it to resume from the previous one") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a spsr-kit training state (format {FORMAT} expected); "
                              "to start from generator weights use train.pretrained instead of --resume")
    return state
