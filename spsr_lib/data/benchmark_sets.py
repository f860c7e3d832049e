"""Benchmark sets by name (Set5, Set14, BSD100, Urban100, General100, DIV2K-val) or any folder of images.

The SR evaluation convention (``../shared/spec/METRICS.md``, "PSNR / SSIM" and "Bicubic downscaling";
``SPSR_REFERENCE.md`` §7): the ground truth is the HR image **mod-cropped** to a multiple of the scale,
and the LR input is MATLAB ``imresize(HR, 1/scale, 'bicubic')`` on uint8, i.e.
:func:`spsr_lib.ops.imresize.imresize` in ``"matlab"`` mode (bit-exact).  LR files shipped by third-party
mirrors are not used: they come from different resizers; computing LR here keeps every table comparable.

Where a named set is looked for, first hit wins:

1. ``root`` when given (only there);
2. ``$SPSR_DATA``;
3. ``./datasets`` (where ``spsr data download`` puts sets by default);
4. ``../shared/data`` beside the repository (the lab's read-only copy: ``benchmarks/<Name>/HR``).

Inside a root these layouts are recognised: ``<Name>/HR``, ``benchmarks/<Name>/HR``, ``<Name>`` holding
the images, with common spellings of the name (``B100``, ``DIV2K_valid_HR``, ...).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spsr_lib.data.paired import list_images, modcrop
from spsr_lib.errors import SPSRError
from spsr_lib.io.images import is_image_file, read_image_uint8
from spsr_lib.ops.imresize import imresize

# canonical name -> folder names it goes by in the wild (first is what `spsr data download` writes)
KNOWN_SETS: dict[str, tuple[str, ...]] = {
    "Set5": ("Set5", "set5"),
    "Set14": ("Set14", "set14"),
    "BSD100": ("BSD100", "B100", "BSDS100", "bsd100"),
    "Urban100": ("Urban100", "urban100"),
    "General100": ("General100", "General-100", "general100"),
    "DIV2K-val": ("DIV2K-val", "DIV2K_valid_HR", "DIV2K/DIV2K_valid_HR", "DIV2K_valid"),
}
# published image counts: a folder with fewer is labelled as a subset (BenchmarkSet.label)
FULL_SIZES = {"Set5": 5, "Set14": 14, "BSD100": 100, "Urban100": 100, "General100": 100, "DIV2K-val": 100}
_ALIASES = {a.lower(): name for name, aliases in KNOWN_SETS.items() for a in (name, *aliases)}
_ALIASES.update({"div2k-valid": "DIV2K-val", "div2k_val": "DIV2K-val", "div2kval": "DIV2K-val"})
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass(frozen=True)
class BenchmarkItem:
    """One evaluation pair: uint8 HxWx3 RGB arrays, ``hr`` mod-cropped, ``lr`` = MATLAB bicubic of ``hr``."""

    name: str
    hr: np.ndarray
    lr: np.ndarray
    path: Path


@dataclass
class BenchmarkSet:
    """A named list of HR files; items (mod-cropped HR + MATLAB LR) are made when accessed."""

    name: str
    scale: int
    folder: Path
    paths: list[Path]
    _cache: dict[int, BenchmarkItem] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        """The name to report: a known set that holds fewer images than its published size, numbered files, is a
        subset and says which, e.g. "Urban100 (026–075)" for img_026 .. img_075 (never "Urban100" for part of it).
        Folders of unnumbered files keep their name (e.g. the loss ablation's crops of Set5 in a folder "Set5")."""
        full = FULL_SIZES.get(self.name)
        if full is None or len(self.paths) >= full or not self.paths:
            return self.name
        first, last = (re.findall(r"\d+", p.stem) for p in (self.paths[0], self.paths[-1]))
        return f"{self.name} ({first[-1]}–{last[-1]})" if first and last else self.name

    @property
    def names(self) -> list[str]:
        return [p.stem for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> BenchmarkItem:
        if index < 0:
            index += len(self.paths)
        if index not in self._cache:
            path = self.paths[index]
            hr = np.ascontiguousarray(modcrop(read_image_uint8(path), self.scale))
            if hr.shape[0] < self.scale or hr.shape[1] < self.scale:
                raise SPSRError(f"{path}: image is smaller than the scale {self.scale}; remove it from the set")
            lr = imresize(hr, 1.0 / self.scale, mode="matlab")
            self._cache[index] = BenchmarkItem(path.stem, hr, lr, path)
        return self._cache[index]

    def __iter__(self) -> Iterator[BenchmarkItem]:
        for i in range(len(self)):
            yield self[i]


def canonical_name(name: str) -> str | None:
    """'set5' -> 'Set5', 'B100' -> 'BSD100'; None for a name the kit does not know."""
    return _ALIASES.get(name.lower())


def candidate_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for named sets, in order (see the module docstring)."""
    if root is not None:
        return [Path(root)]
    roots = []
    if os.environ.get("SPSR_DATA"):
        roots.append(Path(os.environ["SPSR_DATA"]))
    roots += [Path.cwd() / "datasets", SHARED_DATA, Path.cwd().parent / "shared" / "data"]
    unique: list[Path] = []
    for r in roots:
        if r not in unique:
            unique.append(r)
    return unique


def _hr_folder(folder: Path) -> Path | None:
    """``folder/HR`` when present, else ``folder`` itself when it holds images."""
    if (folder / "HR").is_dir():
        return folder / "HR"
    if folder.is_dir() and any(p.is_file() and is_image_file(p) for p in folder.iterdir()):
        return folder
    return None


def find_set(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """The HR folder of a named set, or None when no candidate root has it."""
    canon = canonical_name(name) or name
    spellings = KNOWN_SETS.get(canon, (canon,))
    for base in candidate_roots(root):
        for sub in ("", "benchmarks"):
            for spelled in (canon, *spellings):
                hit = _hr_folder(base / sub / spelled)
                if hit is not None:
                    return hit
    return None


def load_benchmark_set(
    name_or_folder: str | os.PathLike, scale: int = 4, root: str | os.PathLike | None = None
) -> BenchmarkSet:
    """A benchmark set by name (Set5, Set14, BSD100, Urban100, General100, DIV2K-val) or by folder path."""
    if int(scale) != scale or scale < 1:
        raise SPSRError(f"load_benchmark_set: scale must be a positive integer, got {scale!r}")
    scale = int(scale)
    text = str(name_or_folder)
    canon = canonical_name(text)
    looks_like_path = isinstance(name_or_folder, os.PathLike) or "/" in text or os.sep in text
    if canon is not None and not looks_like_path:
        folder = find_set(canon, root)
        if folder is not None:
            return BenchmarkSet(canon, scale, folder, list_images(folder))
        if not Path(text).is_dir():
            looked = ", ".join(str(r) for r in candidate_roots(root))
            hint = f" --root {root}" if root is not None else ""
            raise SPSRError(
                f"benchmark set {canon} not found (looked in {looked}); run `spsr data download {canon}{hint}` "
                "or set SPSR_DATA to the folder that holds it"
            )
    as_path = Path(text)
    if not as_path.is_dir():
        raise SPSRError(f"{text}: not a known benchmark set ({', '.join(KNOWN_SETS)}) nor an existing folder")
    folder = _hr_folder(as_path)
    if folder is None:
        raise SPSRError(f"{as_path}: no images (.png, .jpg, .bmp, .tif, .webp) here or in {as_path / 'HR'}")
    name = as_path.resolve().parent.name if as_path.resolve().name == "HR" else as_path.resolve().name
    return BenchmarkSet(name, scale, folder, list_images(folder))
