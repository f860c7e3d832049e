#!/usr/bin/env python
"""The loss ablation of SPSR as an experiment: four generators, one seed, one budget, one results file.

Paper: Ma et al., CVPR 2020, Sec. 3.3 (Eq. 9, the six loss terms) and Sec. 4.4 (ablation). Variants:

(a) ``l1``        RRDBNet, L1 only (the PSNR-oriented model every GAN variant starts from);
(b) ``esrgan``    RRDBNet, pixel + perceptual + RaGAN (ESRGAN's objective);
(c) ``grad_loss`` RRDBNet, (b) + gradient pixel loss + gradient GAN (SPSR's losses, no branch);
(d) ``spsr``      SPSRNet, (c) + the gradient branch and its branch pixel loss (full SPSR).

Protocol (the paper's): a shared L1 pre-train of RRDBNet (``--pretrain-steps``); then every variant trains
``--steps`` more iterations from it with the same seed, data order and batch ((a) keeps training with L1,
(b)-(d) start their SR branch from it, as SPSR starts from ``RRDB_PSNR_x4.pth``). SPSRNet's image comes out
of its fusion block, which RRDBNet does not have: (d) starts with ``train.fusion_init: identity``
(:mod:`spsr_lib.train.warm_start`), so that its first output is exactly the pre-trained RRDBNet's and all four
GAN-stage runs start from the same images. (The official recipe instead trains a randomly initialised fusion
alone for 5,000 steps; on this budget that does not converge and (d) collapsed to ~10 dB on Set5.)
Everything goes through the library's :class:`spsr_lib.Trainer` with config overrides; the only additions
are how the Trainer's generator is built (:func:`generator_factory`): :class:`BranchlessRRDB` for (b)/(c),
because the stage-2 step expects SPSRNet's outputs (its "branch output" is M(SR), weight 0).

Evaluation: PSNR / SSIM (Y, 4 px shaved), LPIPS (when its trunk is on this machine), gradient-map L1 and
PSNR (``spsr_lib.metrics``) on a benchmark set (``--eval``, Set5 by default; scikit-image photos when no
set is found), plus crops of every variant's output for the notebook.

    python scripts/make_ablation_results.py --fast            # seconds: what 03_loss_ablations runs live
    python scripts/make_ablation_results.py                   # CPU profile (about an hour on 2 cores)
    python scripts/make_ablation_results.py --profile gpu     # larger model and budget for one GPU
    python scripts/make_ablation_results.py --variants spsr   # rerun (d) only, reuse the pre-train, merge

Writes ``<out>/ablation_results.json`` (+ ``<out>/crops/*.png``); training runs go to ``--work``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

import spsr_lib
from spsr_lib import metrics
from spsr_lib.errors import SPSRError
from spsr_lib.io.atomic import atomic_write_text
from spsr_lib.io.images import write_image
from spsr_lib.models.rrdb import RRDBNet
from spsr_lib.models.spsr_net import SPSROutput
from spsr_lib.ops.gradient import gradient_map
from spsr_lib.run_info import cpu_name
from spsr_lib.train.config import load_config
from spsr_lib.train.log import read_metrics

REPO = Path(__file__).resolve().parents[1]

# profile -> model / data / budget overrides shared by every variant
PROFILES: dict[str, dict] = {
    "fast": dict(model="{nf: 8, nb: 2, gc: 8, scale: 4}", d_nf=8, patch=32, batch=2, pretrain=30, steps=4,
                 eval_images=2, eval_crop=96, lr_pre=1e-3, lr=1e-4),
    "cpu": dict(model="{nf: 16, nb: 4, gc: 16, scale: 4}", d_nf=16, patch=64, batch=4, pretrain=2000, steps=300,
                eval_images=5, eval_crop=None, lr_pre=1e-3, lr=1e-4),
    "gpu": dict(model="{nf: 64, nb: 23, gc: 32, scale: 4}", d_nf=64, patch=128, batch=16, pretrain=20000,
                steps=10000, eval_images=None, eval_crop=None, lr_pre=2e-4, lr=1e-4),
}

GAN = ["loss.perceptual.weight=1.0", "loss.gan.weight=5e-3"]
GRAD = ["loss.gradient_pixel.weight=1e-2", "loss.gradient_gan.weight=5e-3"]
OFF = {"loss.perceptual.weight": 0, "loss.gan.weight": 0, "loss.gradient_pixel.weight": 0,
       "loss.gradient_gan.weight": 0, "loss.branch_pixel.weight": 0}
VARIANTS = [
    # name, label, stage, generator, loss overrides (on top of everything OFF)
    ("l1", "(a) L1 only", "psnr", "RRDBNet", ["loss.pixel.weight=1.0"]),
    ("esrgan", "(b) pixel + perceptual + GAN", "spsr", "RRDBNet", ["loss.pixel.weight=1e-2", *GAN]),
    ("grad_loss", "(c) (b) + gradient pixel + gradient GAN", "spsr", "RRDBNet", ["loss.pixel.weight=1e-2", *GAN, *GRAD]),
    ("spsr", "(d) full SPSR (c) + gradient branch", "spsr", "SPSRNet",
     ["loss.pixel.weight=1e-2", *GAN, *GRAD, "loss.branch_pixel.weight=0.5"]),
]


class BranchlessRRDB(RRDBNet):
    """RRDBNet that answers like SPSRNet (``SPSROutput``) so the stage-2 step can train it; no branch."""

    def forward(self, lr: torch.Tensor) -> SPSROutput:  # type: ignore[override]
        sr = super().forward(lr)
        return SPSROutput(sr, gradient_map(sr, padding=1), gradient_map(lr, padding=1))

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        return {"sr_branch": list(self.parameters()), "gradient_branch": [], "fusion": []}


def sr_branch_loader(library_loader):
    """The warm start of stage 2: a :class:`BranchlessRRDB` takes the whole pre-trained RRDBNet (it is one)."""

    def load(model: torch.nn.Module, rrdb: torch.nn.Module) -> list[str]:
        if not isinstance(model, BranchlessRRDB):
            return library_loader(model, rrdb)
        model.load_state_dict(rrdb.state_dict())
        return list(model.state_dict())

    return load


@contextlib.contextmanager
def generator_factory(build):
    """While active, the Trainer builds its generator with ``build(cfg)`` (None: the library's default)."""
    import spsr_lib.io.checkpoint as checkpoint_module
    import spsr_lib.train.trainer as train_module

    original, original_loader = train_module.build_generator, checkpoint_module.load_sr_branch_from_rrdb
    if build is not None:
        train_module.build_generator = build
        checkpoint_module.load_sr_branch_from_rrdb = sr_branch_loader(original_loader)
    try:
        yield
    finally:
        train_module.build_generator = original
        checkpoint_module.load_sr_branch_from_rrdb = original_loader


def branchless(cfg) -> BranchlessRRDB:
    m = cfg.model
    return BranchlessRRDB(m.in_ch, m.out_ch, m.nf, m.nb, m.gc, m.scale)


# --------------------------------------------------------------------------------------------- data
def training_folder(requested: str | None, work: Path) -> tuple[Path, str]:
    """The HR training folder: ``--train``, else T91 of the shared data, else scikit-image photos."""
    if requested:
        return Path(requested), Path(requested).name
    shared = Path(os.environ.get("SPSR_SHARED_DATA", REPO.parent / "shared" / "data")) / "train" / "T91"
    if shared.is_dir():
        return shared, "T91"
    from skimage import data as skdata

    folder = work / "train_skimage"
    for name in ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry"):
        if not (folder / f"{name}.png").exists():
            img = getattr(skdata, name)()
            write_image(folder / f"{name}.png", img if img.ndim == 3 else np.stack([img] * 3, -1))
    return folder, "scikit-image photos"


def eval_images(name: str, count: int | None, crop: int | None) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], str]:
    """``[(name, lr, hr)]`` uint8 arrays from a benchmark set, else from scikit-image photos."""
    try:
        items = [(it.name, it.hr) for it in spsr_lib.load_benchmark_set(name)]
        source = name
    except SPSRError:
        from skimage import data as skdata

        items = [(n, getattr(skdata, n)()) for n in ("astronaut", "chelsea", "coffee")]
        source = "scikit-image photos"
    out = []
    for n, hr in items[:count]:
        if crop:  # a centred crop keeps fast runs fast
            top, left = max(0, (hr.shape[0] - crop) // 2), max(0, (hr.shape[1] - crop) // 2)
            hr = hr[top:top + crop, left:left + crop]
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        out.append((n, spsr_lib.imresize(hr, 1 / 4), hr))
    return out, source


# ----------------------------------------------------------------------------------------- training
def perceptual_trunk() -> str | None:
    """VGG19 (the paper's), else VGG16 (the ImageNet trunk available offline), else None (term off)."""
    from spsr_lib.io.weights import locate

    for arch in ("vgg19", "vgg16"):
        try:
            locate(arch, download=False)
            return arch
        except SPSRError:
            continue
    return None


def base_overrides(p: dict, train: Path, work: Path, seed: int, device: str, perceptual_arch: str) -> list[str]:
    return [f"model={p['model']}", f"discriminator.nf={p['d_nf']}", f"data.train={train}", "data.val=null",
            f"data.patch_size={p['patch']}", f"data.batch_size={p['batch']}", "data.num_workers=0",
            f"seed={seed}", f"train.lr_g={p['lr']}", f"train.lr_d={p['lr']}", "train.milestones=[1000000000]",
            f"loss.perceptual.arch={perceptual_arch}", "logging.tensorboard=false", "logging.progress=false",
            "logging.val_freq=1000000000", f"runtime.device={device}", "train.ema.enabled=false"]


def train(name: str, stage: str, overrides: list[str], niter: int, work: Path, build, log_freq: int):
    run = work / name
    if run.exists():  # the Trainer refuses to overwrite a run: this one is redone from scratch
        shutil.rmtree(run)
    cfg = load_config(None, [f"name={name}", f"stage={stage}", f"output_dir={run}", f"train.niter={niter}",
                             f"logging.log_freq={log_freq}", f"logging.save_freq={niter}", *overrides])
    with generator_factory(build):
        trainer = spsr_lib.Trainer(cfg)
        t0 = time.perf_counter()
        try:
            trainer.fit()
        finally:
            trainer.close()
    return trainer.export_model.eval(), time.perf_counter() - t0, run


def curves(run: Path, max_points: int = 200) -> dict[str, list[float]]:
    recs = read_metrics(run / "metrics.jsonl")
    if len(recs) > max_points:
        recs = [recs[round(i * (len(recs) - 1) / (max_points - 1))] for i in range(max_points)]
    keys = [k for k in recs[0] if k.startswith("l_") or k == "step"] if recs else []
    return {k: [r.get(k) for r in recs] for k in keys}


def evaluate(model, images, lpips_ok: bool) -> tuple[dict[str, float | None], dict[str, np.ndarray]]:
    rows, srs = [], {}
    for name, lr, hr in images:
        sr = spsr_lib.upscale(lr, model, device="auto")
        srs[name] = sr
        row = {"psnr": metrics.psnr(sr, hr, scale=4), "ssim": metrics.ssim(sr, hr, scale=4),
               "grad_l1": metrics.gradient_l1(sr, hr, scale=4), "grad_psnr": metrics.gradient_psnr(sr, hr, scale=4)}
        row["lpips"] = metrics.lpips(sr, hr) if lpips_ok else None
        rows.append(row)
    mean = {k: (None if rows[0][k] is None else float(np.mean([r[k] for r in rows]))) for k in rows[0]}
    return mean, srs


def crop_for_notebook(img: np.ndarray, size: int = 96) -> np.ndarray:
    top, left = max(0, (img.shape[0] - size) // 2), max(0, (img.shape[1] - size) // 2)
    return img[top:top + size, left:left + size]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast", action="store_true", help="same as --profile fast (tiny model, a few steps)")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    ap.add_argument("--steps", type=int, help="iterations per variant (default: the profile's)")
    ap.add_argument("--pretrain-steps", type=int, help="shared L1 pre-train iterations (default: the profile's)")
    ap.add_argument("--train", help="folder of HR training images (default: shared T91, else scikit-image photos)")
    ap.add_argument("--eval", default="Set5", help="benchmark set for the table (default Set5)")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: on a shared 2-core machine OpenMP spin-waits cost more than it gains)")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "ablation", help="training runs go here")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "ablation_results")
    ap.add_argument("--variants", nargs="+", choices=[v[0] for v in VARIANTS],
                    help="run only these; reuse the pre-train in --work and merge into the existing results file")
    args = ap.parse_args(argv)
    profile = "fast" if args.fast else args.profile
    p = dict(PROFILES[profile])
    p["pretrain"] = args.pretrain_steps if args.pretrain_steps is not None else p["pretrain"]
    p["steps"] = args.steps if args.steps is not None else p["steps"]
    torch.set_num_threads(args.threads)
    work = args.work / profile
    out_file = args.out / ("ablation_results.json" if profile != "fast" else "ablation_results_fast.json")
    partial = bool(args.variants) and out_file.is_file()
    doc = json.loads(out_file.read_text()) if partial else None
    if doc is not None and doc["profile"] != profile:
        raise SPSRError(f"{out_file}: holds a '{doc['profile']}' run, not '{profile}'; drop --variants to redo it")
    if not partial and work.exists():  # a full run starts afresh
        shutil.rmtree(work)
    train_dir, train_name = training_folder(args.train, work)
    images, eval_source = eval_images(args.eval, p["eval_images"], p["eval_crop"])
    from spsr_lib.metrics.lpips import lpips_status

    lpips_ok, lpips_note = lpips_status()
    arch = perceptual_trunk()
    base = base_overrides(p, train_dir, work, args.seed, args.device, arch or "vgg19")
    log_freq = max(1, (p["pretrain"] + p["steps"]) // 200)
    print(f"ablation '{profile}': train on {train_name}, evaluate on {eval_source} ({len(images)} images), "
          f"perceptual {arch}, LPIPS {'on' if lpips_ok else 'off'}", flush=True)

    pretrained = work / "pretrain_l1" / "models" / "G_latest.safetensors"
    if doc is None or not pretrained.is_file():
        # the shared pre-train may use a higher learning rate than the variants (a short L1 run needs it)
        pre = base + ["loss.pixel.weight=1.0", f"train.lr_g={p['lr_pre']}"]
        _, t_pre, _ = train("pretrain_l1", "psnr", pre, p["pretrain"], work, None, log_freq)
        doc = new_document(args, argv, profile, p, t_pre, train_name, eval_source, images, arch, lpips_ok,
                           lpips_note)
        doc["results"]["bicubic"] = bicubic_row(images, lpips_ok)
    crops_dir = args.out / "crops"
    crop_names = doc["crops"]["names"]
    for n, lr, hr in (it for it in images if it[0] in crop_names):
        write_image(crops_dir / f"{profile}_HR_{n}.png", crop_for_notebook(hr))
        write_image(crops_dir / f"{profile}_bicubic_{n}.png", crop_for_notebook(spsr_lib.imresize(lr, 4)))

    for name, label, stage, generator, losses in VARIANTS:
        if args.variants and name not in args.variants:
            continue
        print(f"-> {label}", flush=True)
        overrides = [*base, *(f"{k}={v}" for k, v in OFF.items()), *losses, "train.branch_pretrain.steps=0"]
        if arch is None:  # no ImageNet VGG on this machine: the perceptual term cannot be computed honestly
            overrides.append("loss.perceptual.weight=0")
        if generator == "SPSRNet":  # SR branch from the pre-train, fusion as identity: G starts as (a)'s start
            overrides += [f"train.pretrained={pretrained}", "train.fusion_init=identity"]
            build = None
        else:
            build = branchless if stage == "spsr" else None
            overrides.append(f"train.pretrained={pretrained}")
        model, seconds, run = train(name, stage, overrides, p["steps"], work, build, log_freq)
        mean, srs = evaluate(model, images, lpips_ok)
        for n in crop_names:
            write_image(crops_dir / f"{profile}_{name}_{n}.png", crop_for_notebook(srs[n]))
        doc["results"][name] = {"label": label, "stage": stage, "generator": generator,
                                "params": sum(q.numel() for q in model.parameters()),
                                "overrides": [o for o in overrides if o.startswith("loss.")],
                                "train_seconds": round(seconds, 1), "metrics": mean, "curves": curves(run)}
        print("   " + "  ".join(f"{k} {v:.4f}" for k, v in mean.items() if v is not None), flush=True)
        order = ["bicubic", *(v[0] for v in VARIANTS)]
        doc["results"] = {k: doc["results"][k] for k in order if k in doc["results"]}
        atomic_write_text(out_file, json.dumps(doc, indent=1) + "\n")  # after every variant: partial results
    print(f"wrote {out_file}", flush=True)
    return 0


def new_document(args, argv, profile, p, t_pre, train_name, eval_source, images, arch, lpips_ok, lpips_note) -> dict:
    names = [n for n, _, _ in images]
    # crops for the notebook: butterfly (SPSR's structure showcase) and one more when they are there
    crop_names = ([n for n in ("butterfly", "bird") if n in names] or names)[:2]
    return {
        "what": "SPSR loss ablation (Ma et al., CVPR 2020, Sec. 4.4): same seed, data and budget per variant",
        "profile": profile, "created": time.strftime("%Y-%m-%d"),
        "hardware": f"{cpu_name()}, {torch.get_num_threads()} threads"
                    + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() and args.device != "cpu" else ""),
        "torch": torch.__version__, "spsr_kit": spsr_lib.__version__, "seed": args.seed,
        "command": "python scripts/make_ablation_results.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": p["model"], "patch_size": p["patch"], "batch_size": p["batch"], "pretrain_steps": p["pretrain"],
        "pretrain_lr": p["lr_pre"], "lr": p["lr"], "steps_per_variant": p["steps"],
        "pretrain_seconds": round(t_pre, 1), "train_set": train_name, "eval_set": eval_source, "eval_images": names,
        "perceptual": arch or "off (no ImageNet VGG weights on this machine)",
        "lpips": f"LPIPS v0.1 alex ({Path(lpips_note).name})" if lpips_ok else "not computed: no AlexNet trunk here",
        "crops": {"names": crop_names, "pattern": f"crops/{profile}_{{variant}}_{{image}}.png"},
        "results": {},
    }


def bicubic_row(images, lpips_ok: bool) -> dict:
    def mean(fn) -> float:
        return float(np.mean([fn(spsr_lib.imresize(lr, 4), hr) for _, lr, hr in images]))

    return {"label": "bicubic", "metrics": {
        "psnr": mean(lambda sr, hr: metrics.psnr(sr, hr, scale=4)), "ssim": mean(lambda sr, hr: metrics.ssim(sr, hr, scale=4)),
        "grad_l1": mean(lambda sr, hr: metrics.gradient_l1(sr, hr, scale=4)),
        "grad_psnr": mean(lambda sr, hr: metrics.gradient_psnr(sr, hr, scale=4)),
        "lpips": mean(metrics.lpips) if lpips_ok else None}}


if __name__ == "__main__":
    raise SystemExit(main())
