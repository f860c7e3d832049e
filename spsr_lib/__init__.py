"""spsr_lib: Structure-Preserving Super Resolution with Gradient Guidance (Ma et al., CVPR 2020).

Everything inside the library works on NCHW float32 RGB tensors in [0, 1]; conversions to and from
files and uint8 arrays live in :mod:`spsr_lib.io.images` only.

``import spsr_lib`` is deliberately cheap: the public names below are resolved lazily on first use,
so a missing optional dependency (lpips, tensorboard, ipywidgets, ...) can only break the feature that
needs it, never the import of the package.
"""

from __future__ import annotations

import importlib
from typing import Any

from spsr_lib.version import __version__

# public name -> module that defines it (one concept per file; the layers are in docs/ARCHITECTURE.md)
_EXPORTS: dict[str, str] = {
    # ops: exact building blocks
    "gradient_map": "spsr_lib.ops.gradient",
    "GradientMap": "spsr_lib.ops.gradient",
    "imresize": "spsr_lib.ops.imresize",
    # io: files in and out
    "read_image": "spsr_lib.io.images",
    "write_image": "spsr_lib.io.images",
    "ImageReadError": "spsr_lib.io.images",
    "load_generator": "spsr_lib.io.checkpoint",
    "save_generator": "spsr_lib.io.checkpoint",
    "load_discriminator": "spsr_lib.io.checkpoint",
    "save_discriminator": "spsr_lib.io.checkpoint",
    "export_official_state_dict": "spsr_lib.io.checkpoint",
    "run_info": "spsr_lib.run_info",
    # models: the paper's networks
    "RRDBNet": "spsr_lib.models.rrdb",
    "SPSRNet": "spsr_lib.models.spsr_net",
    "SPSROutput": "spsr_lib.models.spsr_net",
    "GradientGuidedSR": "spsr_lib.models.guidance",
    "SRResNet": "spsr_lib.models.guidance",
    "VGGDiscriminator": "spsr_lib.models.discriminator",
    # data
    "PairedImageDataset": "spsr_lib.data.paired",
    "BenchmarkSet": "spsr_lib.data.benchmark_sets",
    "load_benchmark_set": "spsr_lib.data.benchmark_sets",
    # jobs
    "upscale": "spsr_lib.inference.infer",
    "load_config": "spsr_lib.train.config",
    "Trainer": "spsr_lib.train.trainer",
}

# modules reachable as attributes (``spsr_lib.metrics.psnr``, ``from spsr_lib import widgets``): name -> module.
# ``widgets``, ``plots`` and ``tables`` are short names of modules in ``spsr_lib.notebook``.
_SUBMODULES: dict[str, str] = {
    "metrics": "spsr_lib.metrics",
    "losses": "spsr_lib.losses",
    "errors": "spsr_lib.errors",
    "widgets": "spsr_lib.notebook.widgets",
    "plots": "spsr_lib.notebook.plots",
    "tables": "spsr_lib.notebook.tables",
}

__all__ = ["__version__", *_EXPORTS, *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'spsr_lib' has no attribute {name!r}")
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
