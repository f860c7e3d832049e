"""Where the kit keeps files it fetches or converts on the user's machine (weights, NIQE/Ma model files)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$SPSR_CACHE``, default ``~/.cache/spsr-kit``; each kind of file has its own subfolder below it."""
    root = os.environ.get("SPSR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "spsr-kit")
    return Path(root)
