"""Shared by the training tests: a folder of real photo crops and the overrides of a tiny run."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, sample_image) -> Path:
    """Six small real photo crops (64x64), enough for 3 batches of 2 per epoch."""
    from spsr_lib.io.images import write_image

    folder = tmp_path_factory.mktemp("hr")
    for k in range(6):
        y, x = 64 * (k // 3) + 100, 64 * (k % 3) + 150
        write_image(folder / f"crop{k}.png", sample_image[y:y + 64, x:x + 64].copy())
    assert len(list(folder.iterdir())) == 6
    return folder


def tiny(run_dir: Path, data: Path, *extra: str) -> list[str]:
    """Override list for a tiny SPSR run (a few ms per step)."""
    return ["model.nf=4", "model.nb=2", "model.gc=4", "discriminator.nf=4", "data.patch_size=32",
            "data.batch_size=2", f"data.train={data}", "data.val=null", "loss.perceptual.weight=0",
            "train.niter=4", "train.branch_pretrain.steps=0", "logging.log_freq=1", "logging.save_freq=2",
            "logging.tensorboard=false", "logging.progress=false", f"output_dir={run_dir}", "runtime.device=cpu",
            "runtime.num_threads=1", *extra]
