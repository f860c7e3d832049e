#!/usr/bin/env python
"""The loss ablation of SPSR as an experiment: six variants x three seeds, one recipe, one results file.

Paper: Ma et al., CVPR 2020, Sec. 3.3 (Eq. 9) and Sec. 4.4. The variants are :data:`spsr_lib.train.ablation.
VARIANTS`: (a) L1, (b) ESRGAN losses, (c) (b) + gradient losses, (d) full SPSR on RRDBNet; (e) SRResNet with
ESRGAN losses, (f) SRResNet + the kit's gradient guidance with SPSR's losses.

Protocol. Every variant of a backbone starts from the same stage-1 (L1) network: for RRDBNet the kit's shipped
the demo stage 1 of 2026-11-26 (``git show f5d4953:data/demo_weights/rrdb_psnr_demo_x4.safetensors >
runs/rrdb_psnr_demo_x4_2026-11-26.safetensors``; the shipped stage 1 has changed since), for SRResNet an L1 pre-train this script runs once (seed 0).
Each (variant, seed) pair then trains ``--steps`` iterations with the small-budget recipe
(``configs/demo_x4_small_budget.yaml`` plus :data:`RECIPE`); within a seed all variants see the same batches in
the same order, and across seeds only the data order and the random initialisations (D, D_grad, gradient
branch) change. Evaluation: PSNR/SSIM in both protocols, LPIPS-alex, colour shift, gradient-map PSNR and L1 on
Set5, Set14 and a fixed subset of BSD100 (its first ``--bsd100`` images in file order), by
``spsr_lib.inference.evaluate``. Crops come from the median seed (by mean LPIPS over the sets).

Resumable: every pair is a run folder under ``--work``; a finished pair (``result.json``) is skipped, an
unfinished one resumes from its last checkpoint. ``--jobs N`` trains N pairs at once (subprocesses, one torch
thread each). The results file is rewritten after every pair, with ``complete: false`` until all are done.

    python scripts/make_ablation_results.py --fast             # seconds: what notebook 03 runs live in CI
    python scripts/make_ablation_results.py --jobs 2           # the committed run (2 CPU cores, see docs/TRAINING.md)
    python scripts/make_ablation_results.py --aggregate-only   # rewrite the results file from the run folders
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from ablation_document import build_document, crop_of, showcase  # noqa: E402  (beside this file)

from spsr_lib.io.atomic import atomic_write_text  # noqa: E402
from spsr_lib.train.ablation import BY_NAME, VARIANTS, Backbones, Variant, generator_factory  # noqa: E402

BASE_CONFIG = REPO / "configs" / "demo_x4_small_budget.yaml"
# the small-budget recipe's GAN-stage levers (low-frequency loss, EMA, VGG16) come from BASE_CONFIG; the pilot
# for this experiment (docs/TRAINING.md "The loss ablation") changed these on top of it
RECIPE = ["train.lr_g=2e-4", "train.lr_d=2e-4", "loss.low_frequency.weight=10",
          "loss.perceptual.layers={conv2_2: 0.1, conv3_3: 1, conv4_3: 1, conv5_3: 1}"]
PROFILES: dict[str, dict] = {
    "fast": dict(rrdb=(8, 2, 4), srresnet=(8, 2), d_nf=8, patch=32, batch=2, steps=3, seeds=[1],
                 rrdb_stage1=None, pretrain_steps=40, pretrain_batch=4, pretrain_lr=2e-3, bsd100=0, eval_crop=64, log_every=1),
    "cpu": dict(rrdb=(24, 6, 12), srresnet=(32, 8), d_nf=32, patch=64, batch=4, steps=800, seeds=[1, 2, 3],
                rrdb_stage1="runs/rrdb_psnr_demo_x4_2026-11-26.safetensors", pretrain_steps=2000,
                pretrain_batch=16, pretrain_lr=5e-4, bsd100=20, eval_crop=None, log_every=10,
                # bf16 autocast + channels_last: 1.9x faster training steps on this AMX CPU (evaluation is fp32)
                runtime=["runtime.amp=bf16", "runtime.channels_last=true"]),
}
METRICS = ("lpips", "colour_shift", "grad_psnr", "grad_l1")
CROPS = {"butterfly": "Set5", "zebra": "Set14"}  # structure showcases: wing veins, stripes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast", action="store_true", help="tiny networks, a few steps, one seed: the mechanics only")
    ap.add_argument("--steps", type=int, help="GAN-stage iterations per pair (default: the profile's)")
    ap.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the profile's)")
    ap.add_argument("--variants", nargs="+", choices=[v.name for v in VARIANTS], help="only these variants")
    ap.add_argument("--jobs", type=int, default=1, help="pairs trained at once (subprocesses)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (shared 2-core CPU: 1)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--work", type=Path, default=Path.home() / "spsr-runs" / "ablation", help="run folders")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "ablation_results")
    ap.add_argument("--aggregate-only", action="store_true", help="only rewrite the results file")
    ap.add_argument("--only", help=argparse.SUPPRESS)  # a worker: "stage1:srresnet" or "VARIANT:SEED"
    args = ap.parse_args(argv)
    args.profile = "fast" if args.fast else "cpu"
    p = dict(PROFILES[args.profile])
    p["steps"] = args.steps or p["steps"]
    p["seeds"] = args.seeds or p["seeds"]
    args.p = p
    args.work = args.work / args.profile
    args.recipe, args.base_config = RECIPE, BASE_CONFIG
    args.sets = eval_sets_names(p)
    return args


def eval_sets_names(p: dict) -> list[str]:
    """The evaluation sets' names; the BSD100 subset is also the name of its folder of links."""
    return ["Set5", "Set14"] + ([f"BSD100-first{p['bsd100']}"] if p["bsd100"] else [])


def arch_of(p: dict) -> Backbones:
    return Backbones(rrdb=tuple(p["rrdb"]), srresnet=tuple(p["srresnet"]))


def training_data() -> list[str]:
    shared = Path(os.environ.get("SPSR_SHARED_DATA", REPO.parent / "shared" / "data")) / "train"
    found = [str(shared / n) for n in ("T91", "BSD200") if (shared / n).is_dir()]
    if not found:
        raise SystemExit(f"no training images: {shared}/T91 not found; set SPSR_SHARED_DATA or run `spsr data`")
    return found


def common_overrides(args, name: str, run: Path, seed: int) -> list[str]:
    p = args.p
    nf, nb, gc = p["rrdb"]
    return [f"name={name}", f"output_dir={run}", f"seed={seed}", f"model.nf={nf}", f"model.nb={nb}",
            f"model.gc={gc}", f"discriminator.nf={p['d_nf']}", f"data.train={json.dumps(training_data())}",
            "data.val=null", f"data.patch_size={p['patch']}", f"data.batch_size={p['batch']}",
            "data.num_workers=0", "train.pretrained=null", "train.fusion_init=official",
            "train.milestones=[1000000000]",
            f"runtime.device={args.device}", f"runtime.num_threads={args.threads}", "logging.tensorboard=false",
            "logging.progress=false", "logging.val_freq=1000000000", f"logging.log_freq={p['log_every']}",
            f"logging.save_freq={max(p['log_every'], 50)}", "logging.keep_last=1", *p.get("runtime", [])]


def fit(cfg, factory) -> tuple[float, torch.nn.Module]:
    """Train (resuming when the run folder holds a checkpoint); ``(training seconds over all sessions, the
    exported generator (EMA when on))``."""
    from spsr_lib.train.state import latest_state
    from spsr_lib.train.trainer import Trainer

    tr = Trainer(cfg, resume=latest_state(cfg.out_path) is not None, generator=factory)
    clock = cfg.out_path / "train_seconds.json"  # a resumed run adds to what the earlier sessions spent
    before = json.loads(clock.read_text())["seconds"] if clock.is_file() else 0.0
    t0 = time.perf_counter()
    try:
        tr.fit()
    finally:
        tr.close()
    seconds = before + time.perf_counter() - t0
    atomic_write_text(clock, json.dumps({"seconds": round(seconds, 1)}) + "\n")
    return seconds, tr.export_model.eval()


# -------------------------------------------------------------------------------------------- stage 1
def stage1(args, backbone: str) -> torch.nn.Module:
    """The stage-1 network of ``backbone``: the shipped RRDBNet (cpu profile) or this script's L1 pre-train."""
    from safetensors.torch import load_file

    p = args.p
    if backbone == "rrdb" and p["rrdb_stage1"]:
        from spsr_lib.io.checkpoint import load_rrdb

        return load_rrdb(REPO / p["rrdb_stage1"])
    path = args.work / f"stage1_{backbone}" / "models" / "G_latest.safetensors"
    if not path.is_file():
        raise SystemExit(f"{path}: the {backbone} pre-train has not run; run without --only/--aggregate-only")
    net = arch_of(p).stage1(backbone)
    net.load_state_dict(load_file(str(path)))
    return net.eval()


def pretrain(args, backbone: str) -> None:
    from spsr_lib.train.config import load_config

    run = args.work / f"stage1_{backbone}"
    if (run / "done.json").is_file():
        return
    p = args.p
    steps = p["pretrain_steps"]
    cfg = load_config(str(BASE_CONFIG), [*common_overrides(args, f"stage1_{backbone}", run, 0), "stage=psnr",
                                        "loss.pixel.weight=1.0", f"data.batch_size={p['pretrain_batch']}",
                                        f"train.niter={steps}", f"train.lr_g={p['pretrain_lr']}", "train.ema.enabled=false",
                                        f"train.milestones=[{int(steps * 0.6)}, {int(steps * 0.85)}]"])
    arch = arch_of(p)
    seconds, _ = fit(cfg, lambda: arch.stage1(backbone))
    atomic_write_text(run / "done.json", json.dumps({"steps": steps, "seconds": round(seconds, 1)}) + "\n")


# ----------------------------------------------------------------------------------------- one pair
def eval_sets(args) -> list[str]:
    """Set5, Set14 and the fixed BSD100 subset (a folder of links under --work), or small crops (fast)."""
    from spsr_lib.data.benchmark_sets import load_benchmark_set
    from spsr_lib.io.images import read_image, write_image

    # only file paths are listed here: iterating a set would read and downscale every image of it
    p, sets = args.p, []
    for name in ("Set5", "Set14"):
        if p["eval_crop"]:  # fast: two centred crops per set keep CI fast
            folder = args.work / "eval" / name
            for path in load_benchmark_set(name).paths[:2]:
                if not (folder / f"{path.stem}.png").exists():
                    c, img = p["eval_crop"], read_image(path)
                    top, left = (img.shape[0] - c) // 2, (img.shape[1] - c) // 2
                    write_image(folder / f"{path.stem}.png", img[top:top + c, left:left + c])
            sets.append(str(folder))
        else:
            sets.append(name)
    if p["bsd100"]:
        folder = args.work / "eval" / args.sets[-1]  # BSD100-first<n>
        folder.mkdir(parents=True, exist_ok=True)
        for path in load_benchmark_set("BSD100").paths[: p["bsd100"]]:
            link = folder / path.name
            if not link.exists():
                link.symlink_to(path.resolve())
        sets.append(str(folder))
    return sets


def evaluate_model(args, model, name: str | None) -> dict:
    """``spsr evaluate``'s JSON (per-image values and their means) of ``model``, or of bicubic when None."""
    from spsr_lib.inference.evaluate import evaluate

    return evaluate(eval_sets(args), 4, "both", model=model, name=name, metrics=METRICS, device=args.device,
                    progress=False, bicubic=model is None).to_json()


def run_pair(args, variant: Variant, seed: int) -> None:
    from spsr_lib.inference.infer import upscale
    from spsr_lib.io.images import write_image
    from spsr_lib.train.config import load_config
    from spsr_lib.train.log import read_metrics

    run = args.work / variant.name / f"seed{seed}"
    if (run / "result.json").is_file():
        return
    arch, p = arch_of(args.p), args.p
    base = stage1(args, variant.backbone)
    cfg = load_config(str(BASE_CONFIG), [*common_overrides(args, f"{variant.name}_s{seed}", run, seed),
                                         *cfg_overrides(variant), f"train.niter={p['steps']}"])
    seconds, model = fit(cfg, generator_factory(variant, base, arch))
    ev = evaluate_model(args, model, variant.name)
    crops = []  # written to run/crops/<image>.png
    for image, set_name in CROPS.items():
        item = showcase(set_name, image)
        if item is not None:
            write_image(run / "crops" / f"{image}.png", crop_of(upscale(item.lr, model, device=args.device)))
            crops.append(image)
    train = read_metrics(run / "metrics.jsonl")
    curves = {k: [r.get(k) for r in train] for k in train[0] if k == "step" or k.startswith("l_")} if train else {}
    result = {"variant": variant.name, "seed": seed, "steps": p["steps"], "train_seconds": round(seconds, 1),
              "params": sum(q.numel() for q in model.parameters()), "overrides": cfg_overrides(variant),
              "evaluation": ev, "curves": curves, "crops": crops}
    atomic_write_text(run / "result.json", json.dumps(result) + "\n")


def cfg_overrides(variant: Variant) -> list[str]:
    return [*RECIPE, *variant.overrides()]


# ----------------------------------------------------------------------------------------- scheduler
def tasks(args) -> list[tuple[str, list[str]]]:
    """``[(task, [tasks it needs])]``: the SRResNet pre-train first (its pairs need it), then pairs seed by seed."""
    chosen = [v for v in VARIANTS if not args.variants or v.name in args.variants]
    out = []
    if args.p["rrdb_stage1"] is None and any(v.backbone == "rrdb" for v in chosen):
        out.append(("stage1:rrdb", []))
    if any(v.backbone == "srresnet" for v in chosen):
        out.append(("stage1:srresnet", []))
    pre = {t for t, _ in out}
    for seed in args.p["seeds"]:
        for v in chosen:
            need = [f"stage1:{v.backbone}"] if f"stage1:{v.backbone}" in pre else []
            out.append((f"{v.name}:{seed}", need))
    return out


def run_task(args, task: str) -> None:
    kind, value = task.split(":")
    torch.set_num_threads(args.threads)
    if kind == "stage1":
        pretrain(args, value)
    else:
        run_pair(args, BY_NAME[kind], int(value))


def run_all(args, argv: list[str]) -> None:
    todo, running, done, failed = tasks(args), {}, set(), []
    if args.jobs <= 1:
        for task, _ in todo:
            print(f"[ablation] {task}", flush=True)
            run_task(args, task)
            aggregate(args, argv)
        return
    while todo or running:
        ready = [t for t in todo if all(d in done for d in t[1])]
        while ready and len(running) < args.jobs:
            task = ready.pop(0)
            todo.remove(task)
            log = args.work / "logs" / f"{task[0].replace(':', '_')}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, __file__, *argv, "--only", task[0]]
            running[task[0]] = (subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT), log)
            print(f"[ablation] started {task[0]} (log {log})", flush=True)
        time.sleep(2)
        for name, (proc, log) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            (done.add(name) if proc.returncode == 0 else failed.append(name))
            print(f"[ablation] {name}: {'done' if proc.returncode == 0 else f'FAILED, see {log}'}", flush=True)
            if proc.returncode == 0:
                aggregate(args, argv)
        if not running and todo and not any(all(d in done for d in t[1]) for t in todo):
            failed += [t for t, _ in todo]  # their pre-train failed
            break
    if failed:
        raise SystemExit(f"[ablation] failed: {', '.join(failed)}; rerun the same command to retry them")


def aggregate(args, argv: list[str]) -> Path:
    doc = build_document(args, argv, REPO, evaluate_model, VARIANTS, CROPS)
    out = args.out / ("ablation_results.json" if args.profile == "cpu" else "ablation_results_fast.json")
    atomic_write_text(out, json.dumps(doc, indent=1) + "\n")
    from spsr_lib.notebook.ablation_report import markdown

    if doc["results"]:
        atomic_write_text(out.with_suffix(".md"), markdown(doc))  # the tables and verdict, for docs and reviews
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.only:
        run_task(args, args.only)
        return 0
    if not args.aggregate_only:
        args.work.mkdir(parents=True, exist_ok=True)
        print(f"[ablation] profile {args.profile}: {len(args.p['seeds'])} seed(s) x "
              f"{len(args.variants or VARIANTS)} variant(s), {args.p['steps']} steps each; runs in {args.work}",
              flush=True)
        from spsr_lib.run_info import run_info

        launch = args.work / "launch.json"  # what the results file reports as "command"; "started" stays the first
        first = json.loads(launch.read_text()) if launch.is_file() else {}
        atomic_write_text(launch, json.dumps({
            "command": "python scripts/make_ablation_results.py " + " ".join(argv), "machine": run_info(),
            "jobs": args.jobs, "threads": args.threads,
            "started": first.get("started") or time.strftime("%Y-%m-%d %H:%M"),
            "started_epoch": first.get("started_epoch") or time.time()}) + "\n")
        run_all(args, argv)
    out = aggregate(args, argv)
    print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
