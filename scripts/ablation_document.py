"""The results file of ``make_ablation_results.py``: every finished (variant, seed) run folder, summed up.

Kept beside the runner so that each file reads top to bottom. The document is what notebook 03 and
:mod:`spsr_lib.notebook.ablation_report` read:

- how it was made: command, machine, torch, recipe, steps, seeds, wall time, evaluation sets;
- ``bicubic``: ``{set: {metric: value}}``;
- ``results[variant]``: label, backbone, overrides, ``seeds {seed: {set: {metric: value}}}``, ``mean`` and
  ``std`` (sample std over seeds, ddof=1) in the same shape, training seconds, the median seed, loss curves
  per seed, and the crop files of the median seed (copied to ``<out>/crops``);
- ``paper``: the ESRGAN and SPSR rows of the paper's Table 1 and what Sec. 3.2-4.4 states about each component
  (:mod:`spsr_lib.metrics.paper_table`, :mod:`spsr_lib.metrics.paper_ablation`), with their sources;
- ``hr_reference``: the HR images' own phase index per set (the floor a model's phase index is read against);
- ``rule_crops`` (structure profile, once (b), (c) and (d) are done): the Urban100 (026–075) tiles where (b) and
  (d) differ most in gradient-map L1 (:mod:`spsr_lib.notebook.ablation_crops`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np


def showcase(set_name: str, image: str):
    """The benchmark item ``image`` of ``set_name`` (only that image is read), or None."""
    from spsr_lib.data.benchmark_sets import load_benchmark_set

    bench = load_benchmark_set(set_name)
    return bench[bench.names.index(image)] if image in bench.names else None


def crop_of(img: np.ndarray, size: int = 128) -> np.ndarray:
    """The centred ``size`` x ``size`` crop every picture of the experiment is cut to."""
    top, left = max(0, (img.shape[0] - size) // 2), max(0, (img.shape[1] - size) // 2)
    return img[top:top + size, left:left + size]


def _means(ev: dict, method_index: int = 0) -> dict[str, dict[str, float]]:
    """``{set: {metric: mean}}`` of one method of an ``Evaluation.to_json()``."""
    return {s.rsplit("/", 1)[-1]: {k: v for k, v in vals.items() if v is not None}
            for s, vals in ev["methods"][method_index]["mean"].items()}


def _thin(curves: dict[str, list], points: int = 120) -> dict[str, list]:
    n = len(curves.get("step", []))
    if n <= points:
        return curves
    idx = [round(i * (n - 1) / (points - 1)) for i in range(points)]
    return {k: [v[i] for i in idx] for k, v in curves.items()}


def _mean_std(per_seed: dict[str, dict[str, dict[str, float]]]) -> tuple[dict, dict]:
    seeds = list(per_seed.values())
    mean, std = {}, {}
    for s in seeds[0]:
        mean[s], std[s] = {}, {}
        for k in seeds[0][s]:
            vals = [r[s][k] for r in seeds if k in r.get(s, {})]
            mean[s][k] = float(np.mean(vals))
            std[s][k] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
    return mean, std


def bicubic(args, evaluate_model) -> tuple[dict, dict]:
    """Bicubic on the evaluation sets, once per work folder (it does not depend on the variants), and the HR
    images' own phase index (``{set: {"phase_index": v}}``, empty when the profile does not measure it)."""
    path = args.work / "bicubic.json"
    if not path.is_file():
        from spsr_lib.io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(evaluate_model(args, None, None)) + "\n")
    ev = json.loads(path.read_text())
    ref = ev.get("reference", {}).get("mean", {})
    return _means(ev), {s: {k: v for k, v in vals.items() if v is not None} for s, vals in ref.items()}


def paper_figures() -> dict:
    """The paper's Table 1 rows for ESRGAN and SPSR, and its statements per component, with their sources."""
    from dataclasses import asdict

    from spsr_lib.metrics import paper_ablation, paper_table

    table = paper_table.paper_table1()
    return {"table1": {m: table[m] for m in ("ESRGAN", "SPSR")}, "table1_source": paper_table.SOURCE,
            "table1_note": paper_table.NOTE, "components": {k: asdict(c) for k, c in paper_ablation.COMPONENTS.items()},
            "components_source": paper_ablation.SOURCE, "figures_note": paper_ablation.FIGURES_NOTE,
            "paper_setup": paper_ablation.PAPER_SETUP}


def build_document(args, argv: list[str], repo: Path, evaluate_model, variants) -> dict:
    import torch

    import spsr_lib
    from spsr_lib.run_info import cpu_name, run_info
    from spsr_lib.train.config import load_config

    p = args.p
    crops = p["showcase"]
    crops_dir = args.out / "crops"
    results, total_pairs, done_pairs, train_seconds, finished = {}, 0, 0, [], []
    for v in variants:
        if args.variants and v.name not in args.variants:
            continue
        per_seed, seconds, curves, crop_names, start_gaps = {}, {}, {}, {}, {}
        for seed in p["seeds"]:
            total_pairs += 1
            f = args.work / v.name / f"seed{seed}" / "result.json"
            if not f.is_file():
                continue
            r = json.loads(f.read_text())
            done_pairs += 1
            finished.append(f.stat().st_mtime)
            per_seed[str(seed)] = _means(r["evaluation"])
            seconds[str(seed)] = r["train_seconds"]
            train_seconds.append(r["train_seconds"])
            curves[str(seed)] = _thin(r["curves"])
            crop_names[str(seed)] = list(r["crops"])  # the run's crops/<image>.png
            params, overrides = r["params"], r["overrides"]
            start_gaps[str(seed)] = r.get("start_gap_grey_levels")
        if not per_seed:
            continue
        mean, std = _mean_std(per_seed)
        # the median seed by mean LPIPS over the sets: its crops are the variant's pictures
        score = {s: float(np.mean([m["lpips"] for m in sets.values() if "lpips" in m] or [0.0]))
                 for s, sets in per_seed.items()}
        median = sorted(score, key=score.get)[len(score) // 2]
        for image in crop_names[median]:
            crops_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.work / v.name / f"seed{median}" / "crops" / f"{image}.png",
                            crops_dir / f"{args.profile}_{v.name}_{image}.png")
        results[v.name] = {"label": v.label, "backbone": v.backbone, "gradient_branch": v.branch,
                           "stage": v.stage, "overrides": overrides, "params": params,
                           "seeds": per_seed, "mean": mean, "std": std, "train_seconds": seconds,
                           "median_seed": median, "curves": curves, "start_gap_grey_levels": start_gaps}
    _reference_crops(args, crops_dir, crops)
    rule_crops = _rule_crops(args, results)
    cfg = load_config(str(args.base_config), list(args.recipe))
    launch_file = args.work / "launch.json"
    launch = json.loads(launch_file.read_text()) if launch_file.is_file() else {
        "command": "python scripts/make_ablation_results.py " + " ".join(argv), "machine": run_info(),
        "jobs": args.jobs, "threads": args.threads}
    stage1_srresnet = args.work / "stage1_srresnet" / "done.json"
    bic, hr_reference = bicubic(args, evaluate_model)
    from ablation_eval import eval_folders

    return {
        "what": "SPSR loss ablation (Ma et al., CVPR 2020, Sec. 4.4): six variants x seeds, one recipe and budget",
        "profile": args.profile, "complete": done_pairs == total_pairs, "pairs_done": done_pairs,
        "pairs_total": total_pairs, "created": time.strftime("%Y-%m-%d"),
        "command": launch["command"], "started": launch.get("started"),
        "machine": launch["machine"], "cpu": cpu_name(), "threads_per_process": launch["threads"],
        "jobs": launch["jobs"],
        "torch": torch.__version__, "spsr_kit": spsr_lib.__version__,
        "recipe": {"base_config": str(Path(args.base_config).relative_to(repo)), "overrides": args.recipe,
                   "low_frequency": cfg.loss.low_frequency.weight, "ema_decay": cfg.train.ema.decay},
        "precision": " + ".join(p.get("runtime", [])) or "fp32",
        "edition": 2 if args.profile in ("structure", "pilot") else 1,
        "steps": p["steps"], "steps_from": p.get("steps_from"), "seeds": p["seeds"], "batch_size": p["batch"], "patch_size": p["patch"],
        "budget": f"{p['steps']} GAN-stage steps of batch {p['batch']} x {p['patch']} px per (variant, seed)",
        "train_seconds_total": round(float(sum(train_seconds)), 1),
        "wall_seconds": _wall_seconds(launch, finished),
        "architectures": {"rrdb (nf, nb, gc)": list(p["rrdb"]), "srresnet (nf, nb)": list(p["srresnet"]),
                          "discriminator nf": p["d_nf"]},
        "residual": p.get("residual", "none"), "fusion_init": p.get("fusion_init", "identity"),
        "stage1": {"rrdb": p["rrdb_stage1"] or f"L1 pre-train, {p['pretrain_steps']} steps (this script)",
                   "srresnet": f"L1 pre-train, {p['pretrain_steps']} steps, batch {p['pretrain_batch']}"
                               + (f", {json.loads(stage1_srresnet.read_text())['seconds']} s" if
                                  stage1_srresnet.is_file() else "")},
        "evaluation": {"sets": [label for _, label in eval_folders(args.work, p)], "note": p["eval_note"],
                       "metrics": list(p["metrics"]),
                       "protocols": "PSNR/SSIM: standard (Y, scale px shaved) and spsr (the paper's own script)",
                       "std": "sample standard deviation over seeds (ddof=1)"},
        "bicubic": bic, "hr_reference": hr_reference, "paper": paper_figures(),
        "crops": {"names": list(crops), "pattern": f"crops/{args.profile}_{{variant}}_{{image}}.png",
                  "from": "the median seed of each variant (by mean LPIPS over the sets)"},
        "rule_crops": rule_crops,
        "results": results,
    }


def _rule_crops(args, results: dict) -> dict | None:
    """The Urban100 (026–075) tiles where (b) and (d) differ most in gradient-map L1, from the median seeds' saved
    SR images (written to ``<out>/rule_crops``); None until (b), (c) and (d) all have them."""
    from ablation_eval import eval_folders

    from spsr_lib.data.benchmark_sets import load_benchmark_set
    from spsr_lib.data.paired import modcrop
    from spsr_lib.io.images import read_image_uint8
    from spsr_lib.notebook.ablation_crops import write_rule_crops

    trio = ("esrgan", "grad_loss", "spsr")
    urban = [(f, lab) for f, lab in eval_folders(args.work, args.p) if lab.startswith("Urban100")]
    if "Urban100" not in args.p.get("keep_sr", ()) or not urban or not all(v in results for v in trio):
        return None
    folder, label = urban[0]
    dirs = {v: args.work / v / f"seed{results[v]['median_seed']}" / "sr" / "Urban100" for v in trio}
    if not all(d.is_dir() for d in dirs.values()):
        return None
    paths = {p.stem: p for p in load_benchmark_set(folder).paths}
    index = write_rule_crops(lambda name: modcrop(read_image_uint8(paths[name]), 4), dirs, args.out / "rule_crops",
                             labels={v: results[v]["label"] for v in trio})
    return {"folder": "rule_crops", "set": label, "rule": index["rule"], "from": "the median seed of each variant",
            "tiles": [{k: t[k] for k in ("image", "top", "left", "size", "grad_l1", "score", "better")}
                      for t in index["tiles"]]}


def _wall_seconds(launch: dict, finished: list[float]) -> float:
    """From the first launch to the last finished pair (a resumed run counts its pause too)."""
    if not finished:
        return 0.0
    start = launch.get("started_epoch")
    if start is None and launch.get("started"):  # minute precision: files written before started_epoch existed
        start = time.mktime(time.strptime(launch["started"], "%Y-%m-%d %H:%M"))
    return round(max(finished) - start, 1) if start is not None else 0.0


def _reference_crops(args, crops_dir: Path, crops: dict[str, str]) -> None:
    """HR and bicubic crops of the showcase images, as the variants' crops are cut."""
    from spsr_lib.io.images import write_image
    from spsr_lib.ops.imresize import imresize

    for image, set_name in crops.items():
        item = showcase(set_name, image)
        if item is not None:
            crops_dir.mkdir(parents=True, exist_ok=True)
            write_image(crops_dir / f"{args.profile}_HR_{image}.png", crop_of(item.hr))
            write_image(crops_dir / f"{args.profile}_bicubic_{image}.png", crop_of(imresize(item.lr, 4)))
