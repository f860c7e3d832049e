"""Shared by the training tests: a folder of real photo crops and the overrides of a tiny run."""

from __future__ import annotations

from pathlib import Path

import pytest


def write_crops(folder: Path, image, n: int, per_row: int, x0: int) -> Path:
    """``n`` 64x64 crops of ``image`` as ``crop<k>.png``, ``per_row`` side by side from (100, ``x0``)."""
    from spsr_lib.io.images import write_image

    for k in range(n):
        y, x = 64 * (k // per_row) + 100, 64 * (k % per_row) + x0
        write_image(folder / f"crop{k}.png", image[y:y + 64, x:x + 64].copy())
    return folder


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, sample_image) -> Path:
    """Six small real photo crops (64x64), enough for 3 batches of 2 per epoch."""
    folder = write_crops(tmp_path_factory.mktemp("hr"), sample_image, 6, per_row=3, x0=150)
    assert len(list(folder.iterdir())) == 6
    return folder


def tiny(run_dir: Path, data: Path, *extra: str) -> list[str]:
    """Override list for a tiny SPSR run (a few ms per step)."""
    return ["model.nf=4", "model.nb=2", "model.gc=4", "discriminator.nf=4", "data.patch_size=32",
            "data.batch_size=2", f"data.train={data}", "data.val=null", "loss.perceptual.weight=0",
            "train.niter=4", "train.branch_pretrain.steps=0", "logging.log_freq=1", "logging.save_freq=2",
            "logging.tensorboard=false", "logging.progress=false", f"output_dir={run_dir}", "runtime.device=cpu",
            "runtime.num_threads=1", *extra]
