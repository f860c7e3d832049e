"""Where the shipped demo weights live, and how ``--model`` / the default are resolved.

The repository ships small SPSR weights trained with the kit's own trainer (``data/demo_weights/
spsr_demo_x4.safetensors``, described in ``data/demo_weights/MODEL_CARD.md``).  They are demo
weights, not the paper's model: pass ``--model spsr.pth`` for the authors' release.  A built wheel
carries the same files inside the package (:mod:`spsr_lib.io.shipped`: the installed package first,
then the checkout), unless ``SPSR_DEMO_WEIGHTS`` names another path.
"""

from __future__ import annotations

import os
from pathlib import Path

from spsr_lib.errors import SPSRError
from spsr_lib.io.shipped import shipped_path

DEMO_WEIGHTS_NAME = "spsr_demo_x4.safetensors"
STAGE1_WEIGHTS_NAME = "rrdb_psnr_demo_x4.safetensors"
MODEL_CARD_NAME = "MODEL_CARD.md"
ENV_VAR = "SPSR_DEMO_WEIGHTS"


def default_demo_weights_path() -> Path:
    """Where the demo weights are: ``$SPSR_DEMO_WEIGHTS``, else the installed package's or the checkout's copy."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return demo_weights_file(DEMO_WEIGHTS_NAME)


def demo_weights_file(name: str) -> Path:
    """A shipped file of ``data/demo_weights/`` by name (the weights, ``STAGE1_WEIGHTS_NAME``, the model card)."""
    return shipped_path(f"demo_weights/{name}")


def model_card_path() -> Path:
    """The demo weights' model card (``MODEL_CARD.md``: data, steps, metric tables)."""
    return demo_weights_file(MODEL_CARD_NAME)


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
            f"{path}: demo weights not found (they ship in the spsr-kit wheel and under data/demo_weights/ of "
            f"the git repository, or set {ENV_VAR}); pass --model PATH (e.g. the authors' spsr.pth) instead"
        )
    return path


def load_model(model: str | os.PathLike | None = None):  # -> SPSRNet (or RRDBNet for an ESRGAN file)
    """Load the generator named by ``model`` (or the demo weights) with ``spsr_lib.io.checkpoint``; an ``.onnx``
    file becomes an :class:`~spsr_lib.io.onnx_model.OnnxSR` run by onnxruntime."""
    from spsr_lib.io.checkpoint import load_sr_model
    from spsr_lib.io.onnx_model import is_onnx_path, load_onnx_model

    path = resolve_model_path(model)
    return load_onnx_model(path) if is_onnx_path(path) else load_sr_model(path)
