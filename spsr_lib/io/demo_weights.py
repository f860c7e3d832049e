"""Where the shipped demo weights live, and how ``--model`` / the default are resolved.

The repository ships small SPSR weights trained with the kit's own trainer (``data/demo_weights/
spsr_demo_x4.safetensors``, described in ``data/demo_weights/MODEL_CARD.md``).  They are demo
weights, not the paper's model: pass ``--model spsr.pth`` for the authors' release.  ``data/`` is
not part of the installed package, so the file is looked up beside the package (a git checkout or an
editable install) unless ``SPSR_DEMO_WEIGHTS`` names another path.
"""

from __future__ import annotations

import os
from pathlib import Path

from spsr_lib.errors import SPSRError

DEMO_WEIGHTS_NAME = "spsr_demo_x4.safetensors"
ENV_VAR = "SPSR_DEMO_WEIGHTS"


def default_demo_weights_path() -> Path:
    """Where the demo weights are expected: ``$SPSR_DEMO_WEIGHTS`` or ``<repo>/data/demo_weights/...``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "data" / "demo_weights" / DEMO_WEIGHTS_NAME


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """The weight file to load: ``model`` if given (it must exist), else the shipped demo weights."""
    if model is not None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise SPSRError(f"{path}: model file not found; check the --model path")
        return path
    path = default_demo_weights_path()
    if not path.is_file():
        raise SPSRError(
            f"{path}: demo weights not found (they ship with the git repository under data/demo_weights/, "
            f"or set {ENV_VAR}); pass --model PATH (e.g. the authors' spsr.pth) instead"
        )
    return path


def load_model(model: str | os.PathLike | None = None):  # -> SPSRNet (or RRDBNet for an ESRGAN file)
    """Load the generator named by ``model`` (or the demo weights) with ``spsr_lib.io.checkpoint``."""
    from spsr_lib.io.checkpoint import load_sr_model

    return load_sr_model(resolve_model_path(model))
