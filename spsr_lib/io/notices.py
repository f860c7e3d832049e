"""Precision and colour facts about a run's images, each said once per run (issue 26).

The image reader (:mod:`spsr_lib.io.images`) reports what the kit changes about an input as it reads it: a 16-bit
file (the kit's outputs are 8-bit PNG; training reads it at 8 bits), an alpha channel (dropped), an embedded colour
profile (pixels used as stored, outputs carry none), float values outside 0..1 (clipped). Each kind is said once:
the ``spsr`` command says it as one ``spsr <command>: note: ...`` line on stderr per run (:func:`once_per_run`),
a library user gets one :class:`ImageNotice` warning per process.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator


class ImageNotice(UserWarning):
    """A fact about an input image the kit changed (bit depth, alpha, colour profile, float range)."""


_said: set[str] = set()
_sink: Callable[[str], None] | None = None


def notice(kind: str, text: str) -> None:
    """Say ``text`` unless a notice of ``kind`` was said already (in this run, or in this process)."""
    if kind in _said:
        return
    _said.add(kind)
    if _sink is not None:
        _sink(f"{text} (said once per run)")
    else:
        warnings.warn(f"{text}. This warning is shown once per process.", ImageNotice, stacklevel=3)


def reset() -> None:
    """Forget what was said: the next notice of every kind is said again."""
    _said.clear()


@contextlib.contextmanager
def once_per_run(sink: Callable[[str], None]) -> Iterator[None]:
    """Inside the block every kind is said once, to ``sink`` (one line each); afterwards as before."""
    global _sink
    saved_sink, saved = _sink, set(_said)
    _sink = sink
    _said.clear()
    try:
        yield
    finally:
        _sink = saved_sink
        _said.clear()
        _said.update(saved)
