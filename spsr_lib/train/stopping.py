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
  after step N: the state of step N is saved first, then the error stops the run in one line that says so. Under
  torchrun the batch of step N+1 is loaded before step N's all_reduce of the stop note, which carries the error
  too: every rank stops after step N (none waits in a collective for a rank without a batch), rank 0 saves and
  prints the line (:class:`BatchFeed`).
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

    Only that collective changes ``stop_signal`` (once per step, and before an epoch's first step): under torchrun a
    signal landing between it and the save would otherwise send one rank into the save's barrier and the others into
    the next step."""
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


def agree_to_stop(trainer: Any, feed: BatchFeed | None = None) -> None:
    """Once per step: ``trainer.stop_signal`` becomes the signal this process noted or, under torchrun, that any rank
    noted (an all_reduce MAX of its number: one tiny collective per step, beside the one that averages the loss
    values), so every rank ends after this same step and rank 0 saves.

    ``feed``'s next batch was fetched before this call: a rank that could not load it (a bad image) is folded into
    the same all_reduce, and then every rank stops here, before a step whose gradient all_reduce that rank would
    never join; :class:`DataStopped` is raised once the last finished step is saved."""
    noted = int(getattr(trainer, "signal_noted", None) or 0)
    failed = int(feed is not None and feed.error is not None)
    if trainer.dist.enabled:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([noted, failed], dtype=torch.int32, device=trainer.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        noted, failed = (int(v) for v in flag.tolist())
    if noted and trainer.stop_signal is None:
        trainer.stop_signal = noted
    if failed and feed is not None:
        raise _stop_for_data(trainer, feed.error)


class DataStopped(SPSRError):
    """A data error stopped the run after its last finished step (saved). ``quiet``: not rank 0 under torchrun,
    where rank 0 alone prints the line (``spsr train`` exits 0 on the other ranks: see :mod:`spsr_lib.cli.train`)."""

    def __init__(self, message: str, quiet: bool = False) -> None:
        super().__init__(message)
        self.quiet = quiet


class BatchFeed:
    """One epoch of ``trainer.loader``'s batches (from ``trainer.batch_in_epoch`` on), each fetched one step ahead.

    The trainer calls :meth:`fetch` for batch N+1 before step N's :func:`agree_to_stop`, which sees :attr:`error`
    (a data error while loading: a truncated image, NaN pixels, ...). Under torchrun that folds "this rank has no
    next batch" into the step's one all_reduce. An epoch's first batch is agreed on by itself (one collective per
    epoch): the loader's iterator is still started where it always was, so a checkpoint's RNG state is unchanged."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        trainer.train_set.set_epoch(trainer.epoch)
        trainer.sampler.set_epoch(trainer.epoch)
        trainer.sampler.set_start(trainer.batch_in_epoch * trainer.local_batch)
        self._it = iter(trainer.loader)
        self._next: Any = None
        self.error: str | None = None
        self.fetch()
        agree_to_stop(trainer, self)

    def fetch(self) -> None:
        """Load the next batch; the end of the epoch (the same step on every rank: equal shards, full batches only)
        leaves none, and a data error is only noted."""
        try:
            self._next = next(self._it)
        except StopIteration:
            self._next = None
        except SPSRError as exc:
            self._next, self.error = None, _original_message(exc)[:1000]

    def __iter__(self) -> Iterator[Any]:
        while self._next is not None:
            batch, self._next = self._next, None
            yield batch


def _original_message(exc: BaseException) -> str:
    """The error's own line, also when a DataLoader worker re-raised it wrapped in its traceback."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) > 1 and "Traceback" in str(exc):  # "...\nspsr_lib.io.images.ImageReadError: <message>"
        last = lines[-1]
        head, sep, rest = last.partition(": ")
        return rest if sep and "." in head and " " not in head else last
    return lines[0] if lines else type(exc).__name__


def _stop_for_data(trainer: Any, error: str | None) -> DataStopped:
    """Every rank: save the last finished step (rank 0 writes it, unless it is already on disk), then the error that
    ends the run, naming the file one of the ranks could not read."""
    from spsr_lib.train.state import state_path

    missing = trainer.dist.is_main and trainer.step > 0 and not state_path(trainer.run_dir, trainer.step).exists()
    if trainer.dist.enabled:  # rank 0 learns the message, every rank rank 0's answer: same saves, same barriers
        import torch.distributed as dist

        gathered: list[Any] = [None] * trainer.dist.world_size
        dist.all_gather_object(gathered, (error, missing))
        error = next(e for e, _ in gathered if e is not None)
        missing = gathered[0][1]
    return DataStopped(f"{error} ({_save_before_error(trainer, missing)})", quiet=not trainer.dist.is_main)


def _save_before_error(trainer: Any, missing: bool) -> str:
    from spsr_lib.train.distributed import barrier

    step = trainer.step
    if step == 0:
        return "met before step 1: no checkpoint to save"
    if missing:
        try:
            trainer.save()  # every rank: rank 0 writes, all meet in its barrier
        except SPSRError as exc:  # only rank 0 writes, so only rank 0 gets here, before save()'s barrier
            barrier(trainer.dist)
            return f"at step {step + 1}; the checkpoint of step {step} was not saved: {str(exc)[:200]}"
    return f"at step {step + 1}; checkpoint of step {step} saved, fix or remove the file and --resume goes on"
