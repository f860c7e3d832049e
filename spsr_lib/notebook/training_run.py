"""The two-stage training run of notebook 04, in its four modes, with paths from the repository root.

Modes (:func:`course_mode`, from the environment): ``fast`` (``SPSR_FAST=1``, CI: the gpu-short configs shrunk to
a tiny network and a few CPU steps per stage, i.e. a dry run of the gpu-short code path), ``laptop`` (the default:
a dozen CPU steps of the shipped demo's stage 2 from the shipped stage 1), ``gpu-short`` (``SPSR_GPU_SHORT=1``:
``configs/gpu_short_x4_psnr.yaml`` then ``configs/gpu_short_x4.yaml`` from it, about 10 minutes on one GPU) and
``full`` (``SPSR_FULL=1``: ``configs/psnr_x4.yaml`` then ``configs/paper_x4.yaml`` on DIV2K, days; launched as a
background process with ``--resume``, never inside a cell).

Config paths (``data.train``, ``data.val``, ``train.pretrained``, ``output_dir``) are resolved from the repository
root and written relative to the working directory, so the same cell runs from ``notebooks/`` or from the root
and no output shows an absolute path. A missing DIV2K is a one-line error (:class:`DataMissing`), never a silent
fallback to other images.
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spsr_lib.errors import SPSRError

__all__ = ["MODES", "Stage", "DataMissing", "course_mode", "repo_root", "rel", "find_training_set",
           "training_data", "stages", "train_stage", "full_run_script"]

MODES = ("fast", "laptop", "gpu-short", "full")
# where `spsr data download/prepare` put the training sets, below datasets/ or $SPSR_DATA (first hit wins)
TRAIN_SETS = {"DIV2K": ("DIV2K800_sub/HR", "DIV2K800_sub", "DIV2K-train/HR", "DIV2K_train_HR"),
              "T91": ("T91/HR", "T91")}
DIV2K_HOWTO = ("spsr data download DIV2K-train && spsr data prepare datasets/DIV2K-train/HR datasets/DIV2K800_sub "
               "(from the repository root)")
# fast mode: the gpu-short configs on a tiny network, a few CPU steps (what CI runs of the gpu-short path)
TINY = ["model.nf=8", "model.nb=2", "model.gc=8", "discriminator.nf=8", "data.patch_size=32", "data.batch_size=2",
        "data.num_workers=0", "runtime.device=cpu", "runtime.amp=none", "runtime.channels_last=false",
        "runtime.num_threads=1", "logging.log_freq=1", "logging.save_freq=2", "logging.val_freq=1000000",
        "train.time_limit_s=null"]
CURVE_KEYS = ["l_pixel", "l_perceptual", "l_gan", "l_gradient_pixel", "l_gradient_gan", "l_branch_pixel", "l_d",
              "l_d_grad"]


class DataMissing(SPSRError):
    """A training set the mode needs is not on the machine; IPython shows the one line, not a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"DataMissing: {self}"]


@dataclass
class Stage:
    """One stage of the run: its config, the wall-clock budget of the notebook's cell, whether a cell trains it."""

    label: str
    cfg: Any
    budget_s: float | None = None
    trains: bool = True


def course_mode(environ: dict | None = None) -> str:
    env = os.environ if environ is None else environ
    if env.get("SPSR_FAST"):
        return "fast"
    if env.get("SPSR_GPU_SHORT"):
        return "gpu-short"
    return "full" if env.get("SPSR_FULL") else "laptop"


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """The spsr-kit checkout holding the working directory (``notebooks/`` or the root itself)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "configs" / "paper_x4.yaml").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    raise SPSRError(f"no spsr-kit checkout (configs/paper_x4.yaml) at or above {here.name}/: run the notebook "
                    "inside the repository")


def rel(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory (what a notebook prints: no absolute paths of this machine)."""
    return os.path.relpath(Path(path).resolve(), Path.cwd())


def find_training_set(name: str, root: Path) -> Path | None:
    bases = [Path(os.environ["SPSR_DATA"])] if os.environ.get("SPSR_DATA") else []
    for base in [*bases, root / "datasets"]:
        for sub in TRAIN_SETS[name]:
            if (base / sub).is_dir() and any((base / sub).iterdir()):
                return base / sub
    return None


def training_data(mode: str, root: Path, photos_dir: Path) -> tuple[Path, str]:
    """``(folder, what it is)``: DIV2K for gpu-short and full (a :class:`DataMissing` when absent); laptop and fast
    take T91 from ``spsr data download T91`` or, without it, five scikit-image photos (said in ``what``)."""
    div2k = find_training_set("DIV2K", root)
    if mode in ("gpu-short", "full"):
        if div2k is None:
            raise DataMissing(f"{mode} mode trains on DIV2K, which is not in datasets/ or $SPSR_DATA: {DIV2K_HOWTO}")
        return div2k, "DIV2K (the paper's training set)"
    t91 = None if mode == "fast" else find_training_set("T91", root)
    if t91 is not None:
        return t91, "T91 (91 images from `spsr data download T91`; the mechanics, not the paper's data)"
    from skimage import data

    from spsr_lib.io.images import write_image

    for name in ("astronaut", "chelsea", "rocket", "immunohistochemistry", "coffee"):
        if not (photos_dir / f"{name}.png").exists():
            write_image(photos_dir / f"{name}.png", getattr(data, name)())
    return photos_dir, "five scikit-image photos (no T91 here: `spsr data download T91` adds it)"


def _val_set(name: str) -> str | None:
    from spsr_lib.data.benchmark_sets import find_set

    found = find_set(name)
    return rel(found) if found is not None else None


def _load(root: Path, config: str, overrides: list[str]):
    from spsr_lib.train.config import load_config

    return load_config(root / "configs" / config, overrides)


def stages(mode: str, root: Path, train_dir: Path, run_root: Path) -> list[Stage]:
    """Stage 1 then stage 2 of ``mode``, stage 2's ``train.pretrained`` set to stage 1's generator."""
    base = [f"data.train={rel(train_dir)}", "logging.tensorboard=false", "logging.progress=false"]
    out = {}
    if mode in ("fast", "gpu-short"):
        val = None if mode == "fast" else _val_set("Set5")
        extra = TINY + ["data.val=null", "seed=9"] if mode == "fast" else [f"data.val={val}" if val else "data.val=null"]
        s1 = _load(root, "gpu_short_x4_psnr.yaml", base + extra + (["train.niter=3"] if mode == "fast" else []))
        s2 = _load(root, "gpu_short_x4.yaml", base + extra + (["train.niter=4"] if mode == "fast" else []))
        out = {"stage 1 (L1)": (s1, s1.train.time_limit_s), "stage 2 (SPSR GAN)": (s2, s2.train.time_limit_s)}
    elif mode == "laptop":
        s1 = _load(root, "structure_x4_psnr.yaml", base + ["data.val=null"])
        s1.output_dir = rel(root / "data" / "demo_weights")
        s2 = _load(root, "structure_x4.yaml", base + [
            "data.batch_size=2", "data.num_workers=0", "data.val=null", "train.niter=6", "logging.log_freq=1",
            "logging.save_freq=3", "runtime.device=cpu", "seed=9"])
        out = {"stage 1 (shipped)": (s1, None), "stage 2 (SPSR GAN)": (s2, None)}
    elif mode == "full":
        val = _val_set("Set14")
        extra = [f"data.val={val}" if val else "data.val=null"]
        s1, s2 = _load(root, "psnr_x4.yaml", base + extra), _load(root, "paper_x4.yaml", base + extra)
        out = {"stage 1 (L1)": (s1, None), "stage 2 (SPSR GAN)": (s2, None)}
    else:
        raise SPSRError(f"mode {mode!r}: one of {', '.join(MODES)}")
    result = []
    for label, (cfg, budget) in out.items():
        if not label.endswith("(shipped)"):
            cfg.output_dir = rel(run_root / (f"nb04_{mode}_" + ("stage1" if label.startswith("stage 1") else "stage2")
                                             if mode != "full" else cfg.name))
        result.append(Stage(label, cfg, budget, trains=mode != "full" and not label.endswith("(shipped)")))
    s1, s2 = result
    s2.cfg.train.pretrained = (rel(root / "data/demo_weights/rrdb_psnr_demo_x4.safetensors") if mode == "laptop"
                               else str(Path(s1.cfg.output_dir) / "models" / "G_latest.safetensors"))
    return result


def perceptual_trunk(cfg, download: bool) -> str:
    """Use the config's VGG if its ImageNet weights are here (VGG16 otherwise, or the term off); say which."""
    from spsr_lib.io.weights import locate

    if not cfg.loss.perceptual.weight:
        return "off"
    for arch in (cfg.loss.perceptual.arch, "vgg16"):
        try:
            locate(arch, download=download)
            cfg.loss.perceptual.arch = arch
            return arch
        except SPSRError:
            continue
    cfg.loss.perceptual.weight = 0.0  # `spsr weights fetch vgg16` makes the term available
    return "off (no VGG weights here)"


def train_stage(stage: Stage, sample, total: int | None = None, fresh: bool = True) -> dict:
    """Train ``stage`` in chunks of one checkpoint each (``resume=True`` continues exactly), redrawing the loss
    curves and ``sample(step)`` (a figure) in place after every chunk; stop at ``total`` steps (default the config's
    ``train.niter``) or when the stage's wall-clock budget is spent; ``fresh`` removes an earlier run of the same
    folder first (a notebook run starts afresh). Returns the last logged values, the step and the seconds taken."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    from spsr_lib.notebook.plots import loss_curves
    from spsr_lib.train.log import read_metrics
    from spsr_lib.train.state import latest_state
    from spsr_lib.train.trainer import Trainer

    cfg, run_dir = stage.cfg, Path(stage.cfg.output_dir)
    if fresh and run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    total = total or cfg.train.niter
    views = [display(f"{stage.label}: {what} appear after the first checkpoint", display_id=True)
             for what in ("loss curves", "samples")]  # None outside IPython (a test): then shown as new outputs
    step, last, t0 = 0, {}, time.perf_counter()
    while step < total:
        left = None if stage.budget_s is None else stage.budget_s - (time.perf_counter() - t0)
        if left is not None and left <= 0:
            break
        cfg.train.niter = min(total, step + cfg.logging.save_freq)  # stop at the next checkpoint
        cfg.train.time_limit_s = left
        trainer = Trainer(cfg, resume=latest_state(run_dir) is not None)
        try:
            last = trainer.fit()
        finally:
            trainer.close()
        if trainer.step == step:
            break
        step = trainer.step
        keys = [k for k in CURVE_KEYS if any(k in r for r in read_metrics(run_dir / "metrics.jsonl"))]
        curves = loss_curves(read_metrics(run_dir / "metrics.jsonl"), keys=keys, ncols=4)
        for view, fig in zip(views, (curves, sample(step))):
            view.update(fig) if view is not None else display(fig)
            plt.close(fig)
    return {"step": step, "seconds": time.perf_counter() - t0, **last}


def full_run_script(stage_list: list[Stage], root: Path, python: str = "python") -> str:
    """A bash script that runs both stages of the full mode from the repository root, each with ``--resume`` once
    it has a checkpoint, so the same script starts the run and continues it after any stop."""
    lines = ["#!/usr/bin/env bash", "# the paper-length run (both stages); rerun this script to resume", "set -euo pipefail",
             f"cd {shlex.quote(os.path.relpath(root, Path.cwd()))}"]
    for st in stage_list:
        cfg, out = st.cfg, os.path.relpath(Path(st.cfg.output_dir).resolve(), root)
        sets = [f"data.train={os.path.relpath(Path(cfg.data.train).resolve(), root)}", f"output_dir={out}"]
        if cfg.data.val:
            sets.append(f"data.val={os.path.relpath(Path(cfg.data.val).resolve(), root)}")
        if cfg.train.pretrained:
            sets.append(f"train.pretrained={os.path.relpath(Path(cfg.train.pretrained).resolve(), root)}")
        config = f"configs/{cfg.name}.yaml"
        args = " ".join(f"--set {shlex.quote(s)}" for s in sets)
        lines += [f'resume=""; ls {shlex.quote(out)}/checkpoints/state_*.pt >/dev/null 2>&1 && resume="--resume"',
                  f"{python} -m spsr_lib train {config} {args} $resume"]
    return "\n".join(lines) + "\n"
