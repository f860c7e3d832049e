"""How a training run stops before ``niter`` without losing work: Ctrl-C, SIGTERM, a bad image met mid-run.

- SIGINT (Ctrl-C) and SIGTERM (what SLURM, ``docker stop`` and systemd send) during ``fit()``: the current step
  ends, a checkpoint is saved, one line is printed and ``spsr train`` exits with ``128 + signal`` (130 for
  Ctrl-C, 143 for SIGTERM); ``--resume`` goes on. A second signal stops at once (the previous checkpoint is
  intact: every write is atomic). Single process only: under torchrun the ranks would not agree on the step.
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
    """Make SIGINT/SIGTERM set ``trainer.stop_signal`` (the loop saves and stops after the step); returns the undo."""
    if trainer.dist.enabled or threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum, frame):
        if trainer.stop_signal is not None:  # the second one: stop now
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)
        trainer.stop_signal = signum

    previous = {s: signal.signal(s, on_signal) for s in SIGNAL_NAMES}

    def undo() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)

    return undo


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
