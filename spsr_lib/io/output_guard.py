"""Output paths that never overwrite an input or a file no spsr run wrote (issue 26).

A command lists *every* file it will write (main image, gradient maps, tables, ...) before the work and asks an
:class:`OutputPlan` for them, owner by owner (an input image, the run). An owner's outputs are all refused, with
one reason, when one of them

- is an input of the run (compared after resolving symlinks and ``..``),
- is already planned for another owner (two inputs whose outputs share a name), or
- exists and was not written by the kit (``ours(path)`` is False): a user's file is never replaced. Kit files
  are recognised by their content: images by the PNG text chunk ``Software: spsr-kit ...`` that
  :func:`spsr_lib.io.images.write_image` writes when asked (:data:`KIT_SOFTWARE`), tables by their first line.

A re-run into the same folder replaces the kit's own earlier outputs, as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from spsr_lib.version import __version__

KIT_SOFTWARE = f"spsr-kit {__version__}"


def _key(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, RuntimeError):  # a symlink loop: compare the path as given
        return Path(os.path.abspath(path))


def kit_png(path: str | os.PathLike) -> bool:
    """True when ``path`` is a PNG the kit wrote (its ``Software`` text chunk starts with 'spsr-kit')."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.format == "PNG" and str(img.info.get("Software", "")).startswith("spsr-kit")
    except Exception:  # not an image, unreadable: not ours
        return False


def starts_with(*heads: str) -> Callable[[Path], bool]:
    """``ours`` for text files the kit writes with a known first line."""

    def ours(path: Path) -> bool:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                first = fh.read(200)
        except OSError:
            return False
        return any(first.startswith(h) for h in heads)

    return ours


class OutputPlan:
    """The outputs of one run, claimed owner by owner; see the module doc."""

    def __init__(self, inputs: Iterable[str | os.PathLike], ours: Callable[[Path], bool], who: str) -> None:
        self.inputs = {_key(Path(p)) for p in inputs}
        self.ours, self.who = ours, who
        self.taken: dict[Path, str] = {}

    def problem(self, owner: str, outputs: Iterable[Path]) -> str | None:
        """Why ``owner``'s ``outputs`` cannot be written (None: they can, and are now planned)."""
        outputs = [Path(o) for o in outputs]
        keys = [_key(o) for o in outputs]
        for out, key in zip(outputs, keys):
            if key in self.inputs:
                return f"output {out} would overwrite an input"
            if key in self.taken:
                return f"output {out} is already the result of {self.taken[key]}"
            if (out.exists() or out.is_symlink()) and not (out.is_file() and self.ours(out)):
                return f"{out} exists and was not written by {self.who}, so it is never replaced"
        if len(set(keys)) < len(keys):
            return f"two outputs of {owner} share a name"
        self.taken.update((k, owner) for k in keys)
        return None


def refuse_existing(path: str | os.PathLike, option: str, who: str) -> None:
    """A command's single named output (``spsr convert`` / ``spsr export`` OUT) never replaces an existing file
    (or a dangling symlink, which a write would follow) unless ``--force`` was given: raise one SPSRError line."""
    from spsr_lib.errors import SPSRError

    out = Path(path)
    if out.exists() or out.is_symlink():
        raise SPSRError(f"{out}: {option} already exists and {who} never replaces a file; choose another {option} "
                        "name or pass --force to replace it")
