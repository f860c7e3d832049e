"""Crops of the loss ablation chosen by a rule, not by eye: where two variants differ most in structure.

SPSR's claim is about structure (Ma et al., CVPR 2020, Sec. 4.3, Fig. 1 and Fig. 5: Urban100, gradient maps), so
the pictures that can show the gradient branch's effect are the tiles where the SR images' gradient maps differ.
The rule (:func:`pick_tiles`): cut every saved SR image of Urban100 (026–075) into non-overlapping ``size``-px tiles
(``scale`` px shaved from each side, as the metric does); for each tile compute the gradient-map L1 of each
variant against the HR image, ``mean |M(SR) - M(HR)|`` with ``M`` the operator of Eq. 1
(:func:`spsr_lib.ops.gradient.gradient_map`, padding 1, per RGB channel on [0, 1]); rank the tiles by
``|L1(a) - L1(b)|`` (by default (b) ESRGAN losses against (d) full SPSR, either sign) and keep the ``k`` largest,
at most one per image. :func:`write_rule_crops` saves HR / (b) / (c) / (d) of each tile with their gradient maps and
an index (``rule_crops.json``) that says which variant is better on each tile; notebook 03 reads it with
:func:`load_rule_crops`. Pure NumPy / torch: no IPython import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from spsr_lib.ops.gradient import gradient_map

RULE = ("non-overlapping {size}-px tiles of every SR image of the set ({scale} px shaved), ranked by "
        "|gradient-map L1 of {a} - that of {b}| against the HR image (M of Eq. 1, per RGB channel, [0, 1]); the "
        "{k} largest, at most one per image")


@dataclass(frozen=True)
class Tile:
    """One chosen tile: where it is, each variant's gradient-map L1 there, and the ranking score."""

    image: str
    top: int
    left: int
    size: int
    grad_l1: dict[str, float]
    score: float  # |L1(a) - L1(b)|
    better: str  # the variant of (a, b) with the lower L1 on this tile


def gradient_of(img: np.ndarray) -> np.ndarray:
    """``M(img)`` (H x W x 3 float32, per RGB channel) of a uint8 H x W x 3 image, on [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0
    return gradient_map(x, padding=1)[0].permute(1, 2, 0).numpy()


def tile_grad_l1(sr: np.ndarray, hr: np.ndarray, size: int, scale: int = 4) -> np.ndarray:
    """Mean ``|M(sr) - M(hr)|`` per ``size`` x ``size`` tile (rows x cols array) after shaving ``scale`` px."""
    diff = np.abs(gradient_of(sr) - gradient_of(hr)).mean(axis=2)
    diff = diff[scale:diff.shape[0] - scale, scale:diff.shape[1] - scale]
    rows, cols = diff.shape[0] // size, diff.shape[1] // size
    d = diff[:rows * size, :cols * size].reshape(rows, size, cols, size)
    return d.mean(axis=(1, 3))


def pick_tiles(hr_of: Callable[[str], np.ndarray], sr_dirs: Mapping[str, Path], a: str = "esrgan",
               b: str = "spsr", size: int = 96, k: int = 4, scale: int = 4) -> list[Tile]:
    """The ``k`` tiles where ``a`` and ``b`` differ most in gradient-map L1 (see the module docstring).

    ``hr_of(image)``: the HR image (uint8, mod-cropped to the SR size); ``sr_dirs``: variant -> folder of its SR
    PNGs (the images present in every folder are used)."""
    from spsr_lib.io.images import read_image_uint8

    names = sorted(set.intersection(*({p.stem for p in Path(d).glob("*.png")} for d in sr_dirs.values())))
    best: list[Tile] = []
    for name in names:
        hr = hr_of(name)
        grids = {v: tile_grad_l1(read_image_uint8(Path(d) / f"{name}.png"), hr, size, scale)
                 for v, d in sr_dirs.items()}
        gap = np.abs(grids[a] - grids[b])
        if gap.size == 0:
            continue
        r, c = np.unravel_index(int(np.argmax(gap)), gap.shape)
        l1 = {v: float(g[r, c]) for v, g in grids.items()}
        best.append(Tile(name, scale + int(r) * size, scale + int(c) * size, size, l1, float(gap[r, c]),
                         a if l1[a] < l1[b] else b))
    return sorted(best, key=lambda t: -t.score)[:k]


def grey_gradient(img: np.ndarray, clip: float = 0.5) -> np.ndarray:
    """A gradient map as a uint8 grey picture: channel mean of ``M(img)``, ``clip`` and above shown white."""
    g = gradient_of(img).mean(axis=2)
    return (np.clip(g / clip, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_rule_crops(hr_of: Callable[[str], np.ndarray], sr_dirs: Mapping[str, Path], out_dir: Path,
                     a: str = "esrgan", b: str = "spsr", size: int = 96, k: int = 4, scale: int = 4,
                     labels: Mapping[str, str] | None = None) -> dict:
    """Pick the tiles, write ``<image>_<top>_<left>_<who>.png`` and ``..._<who>_grad.png`` for HR and every
    variant of ``sr_dirs`` (the gradient map of the crop's context, cut after computing it on the whole image),
    and ``rule_crops.json``; returns the index."""
    from spsr_lib.io.images import read_image_uint8, write_image

    tiles = pick_tiles(hr_of, sr_dirs, a, b, size, k, scale)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for t in tiles:
        stem = f"{t.image}_{t.top}_{t.left}"
        images = {"HR": hr_of(t.image), **{v: read_image_uint8(Path(d) / f"{t.image}.png") for v, d in sr_dirs.items()}}
        files = {}
        for who, img in images.items():
            crop = img[t.top:t.top + t.size, t.left:t.left + t.size]
            grad = grey_gradient(img)[t.top:t.top + t.size, t.left:t.left + t.size]
            write_image(out_dir / f"{stem}_{who}.png", crop)
            write_image(out_dir / f"{stem}_{who}_grad.png", grad)
            files[who] = {"image": f"{stem}_{who}.png", "gradient": f"{stem}_{who}_grad.png"}
        entries.append({**asdict(t), "files": files})
    index = {"rule": RULE.format(size=size, scale=scale, a=a, b=b, k=k), "a": a, "b": b,
             "labels": dict(labels or {}), "tiles": entries}
    (out_dir / "rule_crops.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return index


def load_rule_crops(folder: str | Path, who: Sequence[str] | None = None) -> list[dict]:
    """``[{tile fields..., "images": {who: uint8}, "gradients": {who: uint8}}]`` from a ``rule_crops.json``
    folder (empty when there is none: the second edition has not run)."""
    from spsr_lib.io.images import read_image_uint8

    index_file = Path(folder) / "rule_crops.json"
    if not index_file.is_file():
        return []
    index = json.loads(index_file.read_text(encoding="utf-8"))
    out = []
    for t in index["tiles"]:
        names = [w for w in t["files"] if who is None or w in who]
        out.append({**{k: v for k, v in t.items() if k != "files"},
                    "images": {w: read_image_uint8(Path(folder) / t["files"][w]["image"]) for w in names},
                    "gradients": {w: read_image_uint8(Path(folder) / t["files"][w]["gradient"]) for w in names}})
    return out
