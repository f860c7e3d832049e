"""Where ``spsr evaluate`` gets its SR images: MATLAB bicubic, a generator (file or module), a folder of images.

A source is a callable ``item -> SR`` (``item`` a :class:`spsr_lib.data.benchmark_sets` image with ``lr``, ``hr``,
``name``), SR a uint8 HxWx3 array; :func:`model_source` with ``branch=True`` returns ``(SR, extra values)``
instead, the extra values being the branch diagnostics of a gradient-guided model
(:mod:`spsr_lib.inference.branch_pass`), computed in the same tiled pass that makes the SR image.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from spsr_lib.errors import SPSRError


def bicubic_source(scale: int) -> Callable:
    from spsr_lib.ops.imresize import imresize

    return lambda item: imresize(item.lr, float(scale), mode="matlab")


def load_eval_model(path):
    """A generator file (``load_sr_model``), an ONNX file (onnxruntime), or a model already in memory as it is."""
    if not isinstance(path, (str, os.PathLike)):
        return path.eval()
    from spsr_lib.io.checkpoint import load_sr_model
    from spsr_lib.io.onnx_model import is_onnx_path, load_onnx_model

    return load_onnx_model(path) if is_onnx_path(path) else load_sr_model(path).eval()


def model_source(path, device: str = "auto", tile: int | str | None = None,
                 bf16: bool = False, branch: bool = False, self_ensemble: bool = False) -> Callable:
    """SR images of a generator file (or an ONNX file), or of a generator already in memory (an ``nn.Module``).

    ``branch``: for a gradient-guided model, return ``(SR, {branch_grad_l1, bicubic_grad_l1, branch_zero_change})``
    per image (one pass, the same SR image); other models ignore it and return the SR image alone.
    ``self_ensemble``: x8 self-ensemble (the branch values are then those of the ensemble's pass)."""
    from spsr_lib.inference.infer import upscale
    from spsr_lib.metrics.branch import is_gradient_guided

    model = load_eval_model(path)
    if branch and is_gradient_guided(model):
        from spsr_lib.inference.branch_pass import branch_scores, upscale_branch

        scale = int(getattr(model, "scale", 4))

        def with_branch(item) -> tuple[np.ndarray, dict[str, float]]:
            res = upscale_branch(item.lr, model, tile=tile, device=device, bf16=bf16, self_ensemble=self_ensemble)
            return res.sr, branch_scores(res, item.lr, item.hr, scale)

        return with_branch
    return lambda item: upscale(item.lr, model, tile=tile, device=device, bf16=bf16, self_ensemble=self_ensemble)


def folder_source(sr_dir: str | os.PathLike, set_name: str, n_sets: int) -> Callable:
    """SR images from ``sr_dir/<set>/`` (or ``sr_dir`` itself for a single set), matched by file stem."""
    from spsr_lib.io.images import is_image_file, read_image_uint8

    root = Path(sr_dir)
    folder = root / set_name if (root / set_name).is_dir() else root
    if folder == root and n_sets > 1:
        raise SPSRError(
            f"{root}: no {set_name}/ sub-folder; with several sets put each set's SR images in DIR/<set>/"
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p)) if folder.is_dir() else []

    def find(item) -> np.ndarray:
        exact = [p for p in files if p.stem == item.name]
        loose = [p for p in files if p.stem.startswith(item.name + "_") or p.stem.startswith(item.name + "x")]
        hits = exact or loose
        if len(hits) != 1:
            what = (
                "no SR image"
                if not hits
                else f"{len(hits)} candidate SR images ({', '.join(p.name for p in hits)})"
            )
            raise SPSRError(
                f"{folder}: {what} for {set_name}/{item.name}; expected {item.name}.png (any image type)"
            )
        return read_image_uint8(hits[0])

    return find
