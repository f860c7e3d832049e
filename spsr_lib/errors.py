"""The one exception type the command line turns into a one-line message.

Library code raises :class:`SPSRError` (or a subclass) for problems a user can fix: a bad file, a
missing weight file, an unknown config key.  The message must say *which file*, *what is wrong* and
*what to do*; the CLI prints it as ``spsr: error: <message>`` and exits with status 2, never with a
traceback.
"""

from __future__ import annotations


class SPSRError(Exception):
    """A user-facing error with a complete, one-line message."""


class ConfigError(SPSRError, ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class CheckpointError(SPSRError):
    """A checkpoint cannot be read or does not match the architecture."""


class WeightsUnavailableError(SPSRError):
    """Pretrained weights (VGG, LPIPS trunk, NIQE/Ma parameters) are not on this machine."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (SLURM, ``docker stop``, systemd) turned into an exception, handled like Ctrl-C; ``signum`` kept."""

    def __init__(self, signum: int = 15) -> None:
        super().__init__(signum)
        self.signum = signum


SHORT = 80  # characters of a user's value quoted in a message


def short_repr(value: object, limit: int = SHORT) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters, computed in bounded time and memory (a huge
    or deeply nested value, e.g. a YAML alias bomb, is never expanded whole)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother, r.maxlong = 3, limit, limit, limit
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 6
    text = r.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def short_text(text: str, limit: int = SHORT) -> str:
    """``text`` on one line, at most ``limit`` characters (start and end kept)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    keep = (limit - 5) // 2
    return f"{text[:keep]} ... {text[len(text) - keep:]}"
