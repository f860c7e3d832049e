"""spsr_lib: Structure-Preserving Super Resolution with Gradient Guidance (Ma et al., CVPR 2020).

Everything inside the library works on NCHW float32 RGB tensors in [0, 1]; conversions to and from
files and uint8 arrays live in :mod:`spsr_lib.image_io` only.

``import spsr_lib`` is deliberately cheap: the public names below are resolved lazily on first use,
so a missing optional dependency (lpips, tensorboard, ipywidgets, ...) can only break the feature that
needs it, never the import of the package.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from spsr_lib.version import __version__

# public name -> module that defines it (one concept per file; see LAYOUT in README)
_EXPORTS: dict[str, str] = {
    # floor 1: exact building blocks
    "gradient_map": "spsr_lib.gradient",
    "GradientMap": "spsr_lib.gradient",
    "imresize": "spsr_lib.imresize",
    "read_image": "spsr_lib.image_io",
    "write_image": "spsr_lib.image_io",
    "ImageReadError": "spsr_lib.image_io",
    "load_config": "spsr_lib.config",
    "run_info": "spsr_lib.run_info",
    # floor 2: the paper
    "RRDBNet": "spsr_lib.rrdb",
    "SPSRNet": "spsr_lib.spsr_net",
    "SPSROutput": "spsr_lib.spsr_net",
    "GradientGuidedSR": "spsr_lib.guidance",
    "SRResNet": "spsr_lib.guidance",
    "VGGDiscriminator": "spsr_lib.discriminator",
    "load_generator": "spsr_lib.checkpoint",
    "save_generator": "spsr_lib.checkpoint",
    "load_discriminator": "spsr_lib.checkpoint",
    "save_discriminator": "spsr_lib.checkpoint",
    "export_official_state_dict": "spsr_lib.checkpoint",
    "PairedImageDataset": "spsr_lib.data",
    "BenchmarkSet": "spsr_lib.benchmark_sets",
    "load_benchmark_set": "spsr_lib.benchmark_sets",
    # floor 3: jobs
    "upscale": "spsr_lib.infer",
    "Trainer": "spsr_lib.train",
}

# subpackages that are imported on attribute access (``spsr_lib.metrics.psnr``)
_SUBMODULES = {"metrics", "widgets", "plots", "losses", "errors"}

__all__ = ["__version__", *_EXPORTS, *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        value = getattr(module, name)
        globals()[name] = value  # cache: later lookups skip __getattr__
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"spsr_lib.{name}")
    raise AttributeError(f"module 'spsr_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """Keeps ``spsr_lib.imresize`` the function once ``spsr_lib.imresize`` the module is imported.

    Importing a submodule sets ``package.<submodule>`` to the module, which would hide an exported
    function of the same name (and ``__getattr__`` is never asked again).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__:
            value = getattr(value, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
