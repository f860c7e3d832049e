"""How a training run stops before ``niter`` without losing work: Ctrl-C, SIGTERM, a bad image met mid-run.

- SIGINT (Ctrl-C) and SIGTERM (what SLURM, ``docker stop`` and systemd send) during ``fit()``: the current step
  ends, a checkpoint is saved, one line is printed and ``spsr train`` exits with ``128 + signal`` (130 for
  Ctrl-C, 143 for SIGTERM); ``--resume`` goes on. A second signal stops at once (the previous checkpoint is
  intact: every write is atomic).
- Under torchrun (which forwards the signal it gets to every worker; SLURM signals them all) each rank's handler
  only notes the signal, and :func:`agree_to_stop` (one all_reduce of that note per step) makes every rank stop
  after the same step, where rank 0 saves the checkpoint: a signal that reached one rank stops them all, and none
  waits for ever in a collective the others left.
- A data error (an :class:`~spsr_lib.errors.SPSRError` raised while loading a batch, e.g. a truncated image)
  after step N: the state of step N is saved first, then the error stops the run in one line that says so.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from spsr_lib.errors import SPSRError, Terminated

SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


def defer_stop_signals(trainer: Any) -> Callable[[], None]:
    """Make SIGINT/SIGTERM note themselves in ``trainer.signal_noted``; :func:`agree_to_stop` turns the note into
    ``trainer.stop_signal`` once per step, after which the loop saves and stops. Returns the undo.

    Only that one point in the step changes ``stop_signal``: under torchrun a signal landing between it and the
    save would otherwise send one rank into the save's barrier and the others into the next step."""
    trainer.signal_noted = None
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum, frame):
        # the second one stops now; not under torchrun, whose agent forwards the Ctrl-C or SIGTERM it got to workers
        # that often got it already (a terminal signals the whole process group): the launcher's own SIGKILL after
        # its shutdown timeout (30 s) is the 'stop now' there
        if trainer.signal_noted is not None and not trainer.dist.enabled:
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)
        trainer.signal_noted = trainer.signal_noted or signum

    previous = {s: signal.signal(s, on_signal) for s in SIGNAL_NAMES}

    def undo() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)

    return undo


def agree_to_stop(trainer: Any) -> None:
    """Once per step: ``trainer.stop_signal`` becomes the signal this process noted or, under torchrun, that any rank
    noted (an all_reduce MAX of its number: one tiny collective per step, beside the one that averages the loss
    values), so every rank ends after this same step and rank 0 saves."""
    noted = int(getattr(trainer, "signal_noted", None) or 0)
    if trainer.dist.enabled:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([noted], dtype=torch.int32, device=trainer.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        noted = int(flag.item())
    if noted and trainer.stop_signal is None:
        trainer.stop_signal = noted


def _original_message(exc: BaseException) -> str:
    """The error's own line, also when a DataLoader worker re-raised it wrapped in its traceback."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) > 1 and "Traceback" in str(exc):  # "...\nspsr_lib.io.images.ImageReadError: <message>"
        last = lines[-1]
        head, sep, rest = last.partition(": ")
        return rest if sep and "." in head and " " not in head else last
    return lines[0] if lines else type(exc).__name__


def checkpointed_batches(trainer: Any) -> Iterator[Any]:
    """``trainer.loader``'s batches; a data error saves the last finished step before it stops the run."""
    it = iter(trainer.loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except SPSRError as exc:
            raise SPSRError(f"{_original_message(exc)} ({_save_before_error(trainer)})") from None
        yield batch


def _save_before_error(trainer: Any) -> str:
    from spsr_lib.train.state import state_path

    step = trainer.step
    if step == 0:
        return "met before step 1: no checkpoint to save"
    if trainer.dist.enabled:
        return f"at step {step + 1}; under torchrun no extra checkpoint is saved, --resume goes on from the last one"
    if not state_path(trainer.run_dir, step).exists():
        try:
            trainer.save()
        except SPSRError as exc:
            return f"at step {step + 1}; the checkpoint of step {step} was not saved: {str(exc)[:200]}"
    return f"at step {step + 1}; checkpoint of step {step} saved, fix or remove the file and --resume goes on"
