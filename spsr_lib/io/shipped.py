"""Files that ship with the kit: the demo weights, their model card and the dataset registry.

There is one copy of each in the repository, under ``data/`` (``data/demo_weights/*.safetensors``,
``data/demo_weights/MODEL_CARD.md``, ``data/datasets.json``), where users of a git checkout find them.
Building a wheel or an sdist (``setup.py``) copies the same files into the package as
``spsr_lib/_data/``.  :func:`shipped_path` looks for a file first in the installed package, through
:mod:`importlib.resources` (so it also works from a zip; a zipped file is extracted once, for the life
of the process), then in the checkout that holds ``spsr_lib/`` (a clone or an editable install).
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from pathlib import Path

PACKAGE_DATA = "_data"  # spsr_lib/_data/ inside a built wheel; absent in a checkout
CHECKOUT_DATA = Path(__file__).resolve().parents[2] / "data"

_extracted: dict[str, Path] = {}
_exit_stack = contextlib.ExitStack()
atexit.register(_exit_stack.close)


def packaged_resource(relpath: str):  # -> importlib.resources.abc.Traversable | None
    """``spsr_lib/_data/<relpath>`` of the installed package, or None when the package has no such file."""
    try:
        node = resources.files("spsr_lib") / PACKAGE_DATA
    except (ModuleNotFoundError, TypeError):
        return None
    for part in relpath.split("/"):
        node = node / part
    return node if node.is_file() else None


def shipped_path(relpath: str) -> Path:
    """A real file path for the shipped ``relpath`` (e.g. ``"demo_weights/MODEL_CARD.md"``).

    The installed package's copy when there is one, else ``<checkout>/data/<relpath>``; that checkout path
    is also returned when the file is nowhere, so that an error message can name where it was expected.
    """
    if relpath in _extracted:
        return _extracted[relpath]
    node = packaged_resource(relpath)
    if node is None:
        return CHECKOUT_DATA / relpath
    path = node if isinstance(node, Path) else _exit_stack.enter_context(resources.as_file(node))
    _extracted[relpath] = Path(path)
    return _extracted[relpath]
