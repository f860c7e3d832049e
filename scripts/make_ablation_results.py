#!/usr/bin/env python
"""The loss ablation of SPSR as an experiment: six variants x three seeds, one recipe, one results file.

Paper: Ma et al., CVPR 2020, Sec. 3.3 (Eq. 9) and Sec. 4.4. The variants are :data:`spsr_lib.train.ablation.
VARIANTS`: (a) L1, (b) ESRGAN losses, (c) (b) + gradient losses, (d) full SPSR on RRDBNet; (e) SRResNet with
ESRGAN losses, (f) SRResNet + the kit's gradient guidance with SPSR's losses.

Protocol. Every variant of a backbone starts from the same stage-1 (L1) network, and its first output is that
network's image (tests/train/test_ablation.py). The profile (``scripts/ablation_profiles.py``) says which:
``structure`` (the default, the second edition): the structure lineage's stage 1
``data/demo_weights/rrdb_psnr_demo_x4.safetensors`` (RRDBNet, ``residual: bicubic``) and the recipe
``configs/structure_x4.yaml``, evaluated on Set5, Set14, BSD100 and Urban100 (026–075) with LPIPS, DISTS,
PSNR/SSIM, gradient-map PSNR/L1, phase index, colour shift and, for (d) and (f), the branch diagnostics; results in
``data/ablation_results_v2``. ``cpu``: the first edition (``data/ablation_results``; its stage 1 is
``git show f5d4953:data/demo_weights/rrdb_psnr_demo_x4.safetensors > runs/rrdb_psnr_demo_x4_2026-11-26.safetensors``).
SRResNet: an L1 pre-train this script runs once (seed 0). Each (variant, seed) pair trains ``--steps`` iterations;
within a seed all variants see the same batches in the same order, and across seeds only the data order and the
random initialisations (D, D_grad, gradient branch) change. Evaluation: ``scripts/ablation_eval.py``; crops of
the showcase images come from the median seed (by mean LPIPS over the sets).

Resumable: every pair is a run folder under ``--work``; a finished pair (``result.json``) is skipped, an
unfinished one resumes from its last checkpoint. ``--jobs N`` trains N pairs at once (subprocesses, one torch
thread each). The results file is rewritten after every pair, with ``complete: false`` until all are done.

    python scripts/make_ablation_results.py --fast             # seconds: what notebook 03 runs live in CI
    python scripts/make_ablation_results.py --pilot            # (b)/(c)/(d), one seed: sizes the budget
    python scripts/make_ablation_results.py --jobs 2           # the second edition (docs/ABLATION.md)
    python scripts/make_ablation_results.py --profile cpu --jobs 2   # the first edition, as committed
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
from ablation_eval import evaluate_model  # noqa: E402
from ablation_profiles import CPU_RECIPE, PROFILES, with_eval_options  # noqa: E402

from spsr_lib.io.atomic import atomic_write_text  # noqa: E402
from spsr_lib.train.ablation import BY_NAME, VARIANTS, Backbones, Variant, generator_factory  # noqa: E402

RECIPE = CPU_RECIPE  # the first edition's (and the fast profile's) overrides on top of their base config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=("structure", "cpu", "fast"), default="structure",
                    help="structure: the second edition (default); cpu: the first edition; fast: mechanics only")
    ap.add_argument("--fast", action="store_true", help="= --profile fast: tiny networks, a few steps, one seed")
    ap.add_argument("--pilot", action="store_true", help="(b)/(c)/(d) of the structure recipe, one seed, "
                    "evaluated every --every steps: sizes the budget (scripts/ablation_pilot.py)")
    ap.add_argument("--every", type=int, help="pilot: evaluate every this many steps (default 50)")
    ap.add_argument("--steps", type=int, help="GAN-stage iterations per pair (default: the pilot's suggestion "
                    "when it exists (structure profile), else the profile's)")
    ap.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the profile's)")
    ap.add_argument("--variants", nargs="+", choices=[v.name for v in VARIANTS], help="only these variants")
    ap.add_argument("--bsd100", type=int, help="evaluate on the first N BSD100 images only (stated in the results)")
    ap.add_argument("--urban100-first", type=int, help="evaluate on the first N images of Urban100 (026–075) only")
    ap.add_argument("--urban100-crop", type=int, help="evaluate Urban100 (026–075) on centred HR crops of N px")
    ap.add_argument("--jobs", type=int, default=1, help="pairs trained at once (subprocesses)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (shared 2-core CPU: 1)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="extra",
                    help="one more config override for every run (the GPU script's batch, patch, workers)")
    ap.add_argument("--work", type=Path, default=Path.home() / "spsr-runs" / "ablation", help="run folders")
    ap.add_argument("--out", type=Path, help="results folder (default: the profile's)")
    ap.add_argument("--aggregate-only", action="store_true", help="only rewrite the results file")
    ap.add_argument("--only", help=argparse.SUPPRESS)  # a worker: "stage1:srresnet" or "VARIANT:SEED"
    args = ap.parse_args(argv)
    args.profile = "fast" if args.fast else "pilot" if args.pilot else args.profile
    p = with_eval_options(dict(PROFILES[args.profile]), args.bsd100, args.urban100_first, args.urban100_crop)
    args.out = args.out or REPO / p["out"]
    if args.pilot:
        args.out = args.out / "pilot"
        p["every"] = args.every or p["every"]
        args.variants = args.variants or p["variants"]
    suggestion = args.out / "pilot" / "pilot.json"
    p["steps_from"] = "--steps" if args.steps else "the profile"
    if args.steps:
        p["steps"] = args.steps
    elif args.profile == "structure" and suggestion.is_file():  # the budget the pilot sized (docs/ABLATION.md)
        p["steps"] = int(json.loads(suggestion.read_text())["budget"]["steps"])
        p["steps_from"] = f"the pilot's suggestion ({suggestion.name} in the results folder)"
    p["seeds"] = args.seeds or p["seeds"]
    p["runtime"] = [*p.get("runtime", []), *args.extra]
    args.p = p
    args.work = args.work / args.profile
    args.recipe, args.base_config = p["recipe"], REPO / p["base_config"]
    return args


def arch_of(p: dict) -> Backbones:
    return Backbones(rrdb=tuple(p["rrdb"]), srresnet=tuple(p["srresnet"]), residual=p.get("residual", "none"),
                     fusion_init=p.get("fusion_init", "identity"))


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
            f"model.gc={gc}", f"model.residual={p.get('residual', 'none')}", f"discriminator.nf={p['d_nf']}", f"data.train={json.dumps(training_data())}",
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
    cfg = load_config(str(args.base_config), [*common_overrides(args, f"stage1_{backbone}", run, 0), "stage=psnr",
                                        "loss.pixel.weight=1.0", f"data.batch_size={p['pretrain_batch']}",
                                        f"train.niter={steps}", f"train.lr_g={p['pretrain_lr']}", "train.ema.enabled=false",
                                        f"train.milestones=[{int(steps * 0.6)}, {int(steps * 0.85)}]"])
    arch = arch_of(p)
    seconds, _ = fit(cfg, lambda: arch.stage1(backbone))
    atomic_write_text(run / "done.json", json.dumps({"steps": steps, "seconds": round(seconds, 1)}) + "\n")


# ----------------------------------------------------------------------------------------- one pair
def pair_config(args, variant: Variant, seed: int, run: Path, steps: int):
    """The config of one (variant, seed) pair: the profile's base config, recipe, the variant's losses, ``steps``."""
    from spsr_lib.train.config import load_config

    return load_config(str(args.base_config), [*common_overrides(args, f"{variant.name}_s{seed}", run, seed),
                                               *cfg_overrides(args, variant), f"train.niter={steps}"])


def run_pair(args, variant: Variant, seed: int) -> None:
    from spsr_lib.inference.infer import upscale
    from spsr_lib.io.images import write_image
    from spsr_lib.train.ablation import same_start
    from spsr_lib.train.log import read_metrics

    run = args.work / variant.name / f"seed{seed}"
    arch, p = arch_of(args.p), args.p
    if (run / "result.json").is_file():
        done = json.loads((run / "result.json").read_text())["steps"]
        if done != p["steps"]:  # never mix budgets in one results file
            raise SystemExit(f"{run}: finished with {done} steps, this run asks for {p['steps']}; pass --steps "
                             f"{done} or another --work")
        return
    base = stage1(args, variant.backbone)
    seconds, model = fit(pair_config(args, variant, seed, run, p["steps"]), generator_factory(variant, base, arch))
    t0 = time.perf_counter()
    ev = evaluate_model(args, model, variant.name, run)
    eval_seconds = round(time.perf_counter() - t0, 1)
    crops = []  # written to run/crops/<image>.png
    for image, set_name in p["showcase"].items():
        item = showcase(set_name, image)
        if item is not None:
            write_image(run / "crops" / f"{image}.png", crop_of(upscale(item.lr, model, device=args.device)))
            crops.append(image)
    probe = showcase("Set5", "baby")  # how close the freshly built generator starts to stage 1 (0: the same image)
    gap = None if probe is None else same_start(variant, base, arch, _tensor(probe.lr)) * 255
    train = read_metrics(run / "metrics.jsonl")
    curves = {k: [r.get(k) for r in train] for k in train[0] if k == "step" or k.startswith("l_")} if train else {}
    result = {"variant": variant.name, "seed": seed, "steps": p["steps"], "train_seconds": round(seconds, 1),
              "eval_seconds": eval_seconds,
              "params": sum(q.numel() for q in model.parameters()), "overrides": cfg_overrides(args, variant),
              "start_gap_grey_levels": gap, "evaluation": ev, "curves": curves, "crops": crops}
    atomic_write_text(run / "result.json", json.dumps(result) + "\n")


def _tensor(img) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0


def cfg_overrides(args, variant: Variant) -> list[str]:
    return [*args.p["recipe"], *variant.overrides()]


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
    elif args.profile == "pilot":
        import ablation_pilot

        ablation_pilot.run_pair(args, BY_NAME[kind], int(value), fit=fit, stage1=stage1, config=pair_config,
                                arch=arch_of(args.p), evaluate_model=evaluate_model)
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
    if args.profile == "pilot":
        import ablation_pilot

        return ablation_pilot.aggregate(args, argv)
    doc = build_document(args, argv, REPO, evaluate_model, VARIANTS)
    out = args.out / ("ablation_results_fast.json" if args.profile == "fast" else "ablation_results.json")
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
              f"{len(args.variants or VARIANTS)} variant(s), {args.p['steps']} steps each (from {args.p['steps_from']}); "
              f"runs in {args.work}",
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
