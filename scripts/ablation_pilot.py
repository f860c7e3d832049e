"""The ablation's pilot (``make_ablation_results.py --pilot``): (b), (c), (d) of the structure recipe, one seed,
evaluated every ``--every`` steps, to size the full run's budget.

Paper: Ma et al., CVPR 2020, Sec. 4.4 (the ablation) and Sec. 3.2 (the gradient branch). Kept beside the runner
(one concept per file). Each pair trains in segments (``train.niter`` = every, 2 x every, ...; each segment
resumes from the last checkpoint, so a killed pilot goes on where it stopped) and after each segment, and once
before the first, its exported generator is evaluated on the pilot's sets (Set5 and centred crops of the first
Urban100 (026–075) images) with LPIPS, gradient-map L1, the phase index and, for (d), the branch diagnostics.
The results (``<out>/pilot/pilot.json`` and ``.md``) hold every checkpoint, the loss curves, and the budget the rule
of :mod:`spsr_lib.train.ablation_budget` derives from them; the structure profile then uses that budget.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np


def _eval_file(run: Path, step: int) -> Path:
    return run / f"eval_{step:06d}.json"


def run_pair(args, variant, seed: int, *, fit, stage1, config, arch, evaluate_model) -> None:
    """Train ``variant`` in segments of ``every`` steps up to the pilot's length, evaluating after each."""
    from spsr_lib.io.atomic import atomic_write_text
    from spsr_lib.train.ablation import build_generator, generator_factory
    from spsr_lib.train.log import read_metrics

    p, run = args.p, args.work / variant.name / f"seed{seed}"
    base = stage1(args, variant.backbone)
    seconds = 0.0
    for step in [0, *range(p["every"], p["steps"] + 1, p["every"])]:
        if _eval_file(run, step).is_file():
            continue
        if step == 0:  # the start: every variant's first image is stage 1's (0 steps trained)
            model = build_generator(variant, base, arch).eval()
        else:
            seconds, model = fit(config(args, variant, seed, run, step), generator_factory(variant, base, arch))
        t0 = time.perf_counter()
        ev = evaluate_model(args, model, variant.name, run / "pilot_eval")
        record = {"step": step, "train_seconds": round(seconds, 1), "eval_seconds": round(time.perf_counter() - t0, 1),
                  "sets": {s: {k: v for k, v in vals.items() if v is not None}
                                                         for s, vals in ev["methods"][0]["mean"].items()}}
        atomic_write_text(_eval_file(run, step), json.dumps(record) + "\n")
    train = read_metrics(run / "metrics.jsonl") if (run / "metrics.jsonl").is_file() else []
    curves = {k: [r.get(k) for r in train] for k in train[0] if k == "step" or k.startswith("l_")} if train else {}
    atomic_write_text(run / "result.json", json.dumps({"variant": variant.name, "seed": seed, "steps": p["steps"],
                                                       "curves": curves}) + "\n")


def full_run_pixels() -> int:
    """SR pixels the structure profile's evaluation scores per pair (Set5, Set14, BSD100, Urban100 (026–075))."""
    from PIL import Image

    from spsr_lib.data.benchmark_sets import load_benchmark_set

    total = 0
    for name in ("Set5", "Set14", "BSD100", "Urban100"):
        for path in load_benchmark_set(name).paths:
            with Image.open(path) as im:
                total += (im.size[0] // 4 * 4) * (im.size[1] // 4 * 4)
    return total


def aggregate(args, argv: list[str]) -> Path:
    """``<out>/pilot.json`` and ``pilot.md``: every checkpoint, the curves, and the suggested budget."""
    from spsr_lib.io.atomic import atomic_write_text
    from spsr_lib.train.ablation_budget import suggest_budget

    p, variants = args.p, {}
    for name in args.variants:
        run = args.work / name / f"seed{p['seeds'][0]}"
        checkpoints = [json.loads(f.read_text()) for f in sorted(run.glob("eval_*.json"))]
        result = json.loads((run / "result.json").read_text()) if (run / "result.json").is_file() else {}
        variants[name] = {"checkpoints": checkpoints, "curves": result.get("curves", {}), "done": bool(result)}
    urban = next((s for c in variants.get("spsr", {}).get("checkpoints", []) for s in c["sets"]
                  if s.startswith("Urban100")), None)
    doc = {"what": "pilot of the ablation's second edition: (b), (c), (d), one seed, evaluated every "
                   f"{p['every']} steps, to size the budget (docs/ABLATION.md 'Sizing the budget')",
           "command": "python scripts/make_ablation_results.py " + " ".join(argv), "steps": p["steps"],
           "every": p["every"], "seed": p["seeds"][0], "evaluation": p["eval_note"], "variants": variants}
    d = variants.get("spsr", {})
    trained = [c for c in d.get("checkpoints", []) if c["step"] > 0]
    if trained and urban:
        # seconds per step: the median logged sec_per_it of (b), (c), (d) (Trainer start-ups excluded), and the
        # machine's load beside it (a shared CPU makes every timing slower)
        per_step = float(np.median([r["sec_per_it"] for name in args.variants for r in _records(args, name)
                                    if r.get("sec_per_it")] or [trained[-1]["train_seconds"] / trained[-1]["step"]]))
        doc["load_average"] = [round(x, 2) for x in os.getloadavg()]
        # the pilot's evaluation speed (seconds per scored SR pixel) times the full run's pixels, per pair
        pix = sum(c.get("eval_seconds", 0) for c in trained) / max(1, sum(_pilot_pixels(args) for _ in trained))
        doc["budget"] = suggest_budget(d["checkpoints"], d["curves"], urban, p["steps"], per_step,
                                       pix * full_run_pixels())
    out = args.out / "pilot.json"
    atomic_write_text(out, json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown(doc))
    return out


def _records(args, name: str) -> list[dict]:
    from spsr_lib.train.log import read_metrics

    path = args.work / name / f"seed{args.p['seeds'][0]}" / "metrics.jsonl"
    return read_metrics(path) if path.is_file() else []


def _pilot_pixels(args) -> int:
    """SR pixels one pilot evaluation scores (its sets as the profile cuts them)."""
    from ablation_eval import eval_folders
    from PIL import Image

    from spsr_lib.data.benchmark_sets import load_benchmark_set

    total = 0
    for folder, _ in eval_folders(args.work, args.p):
        for path in load_benchmark_set(folder).paths:
            with Image.open(path) as im:
                total += (im.size[0] // 4 * 4) * (im.size[1] // 4 * 4)
    return total


COLUMNS = (("lpips", 4), ("grad_l1", 5), ("phase_index", 2), ("branch_grad_l1", 5), ("bicubic_grad_l1", 5),
           ("branch_zero_change", 3))


def markdown(doc: dict) -> str:
    """The pilot as tables (one per variant: checkpoints x metrics per set) and the budget it suggests."""
    lines = [f"# Ablation pilot: {doc['steps']} steps, seed {doc['seed']}", "", f"- command: `{doc['command']}`",
             f"- evaluation: {doc['evaluation']}", ""]
    for name, v in doc["variants"].items():
        if not v["checkpoints"]:
            continue
        sets = list(v["checkpoints"][0]["sets"])
        head = ["step", "l_branch_pixel"] + [f"{s} {m}" for s in sets for m, _ in COLUMNS
                                             if m in v["checkpoints"][-1]["sets"][s]]
        lines += [f"## {name}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        curve = v["curves"]
        for c in v["checkpoints"]:
            near = [x for s, x in zip(curve.get("step", []), curve.get("l_branch_pixel", [])) if s <= c["step"]
                    and x is not None][-5:]
            cells = [str(c["step"]), f"{np.mean(near):.5f}" if near else "–"]
            cells += [f"{c['sets'][s][m]:.{dec}f}" if m in c["sets"].get(s, {}) else "–" for s in sets
                      for m, dec in COLUMNS if m in v["checkpoints"][-1]["sets"][s]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    b = doc.get("budget")
    lines.append(f"**Suggested budget: {b['steps']} steps per pair** ({b['why']}); expected wall time of the full "
                 f"run: {b['wall_hours']} h for {b['pairs']} pairs on {b['jobs']} jobs at {b['seconds_per_step']:.2f} "
                 f"s/step and {b['eval_seconds_per_pair'] / 60:.0f} min of evaluation per pair (an upper bound: the "
                 f"pilot's evaluations include their start-up; load average {doc.get('load_average')} while it ran)."
                 if b else
                 "No budget yet: (d) has no trained checkpoint on an Urban100 set.")
    return "\n".join(lines) + "\n"
