"""Evaluation of one ablation generator: its SR images saved once, every metric from them, the branch diagnostics.

Kept beside ``make_ablation_results.py`` (one concept per file). Paper: Ma et al., CVPR 2020, Sec. 4.3-4.4 (the
structure claim is measured on Urban100 with perceptual and gradient-map metrics).

One pass per image (:func:`spsr_lib.inference.eval_sources.model_source`, fp32, whole images): the SR image is
written to ``<run>/sr/<set>/<image>.png`` and, for a gradient-guided generator ((d), (f)), the branch diagnostics
of that same pass are kept (``branch_grad_l1`` beside ``bicubic_grad_l1``, ``branch_zero_change``,
:mod:`spsr_lib.metrics.branch`). The image metrics are then computed from the saved files
(``evaluate(sr_dir=...)``, bit-identical to evaluating the model: the SR image is uint8 either way), so the SR
images of the sets in the profile's ``keep_sr`` (Urban100 (026–075)) remain, for (b), (c) and (d), for the crops
chosen by rule
(:mod:`spsr_lib.notebook.ablation_crops`); the others are deleted after scoring.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

BRANCH_KEYS = ("branch_grad_l1", "bicubic_grad_l1", "branch_zero_change")


def eval_folders(work: Path, p: dict) -> list[tuple[str, str]]:
    """``[(what evaluate() is given, the label to report)]`` for the profile's evaluation sets.

    A whole set is its name; a subset is a folder of links (``first``) or of centred crops (``crop``) under
    ``work/eval``, named so that :attr:`BenchmarkSet.label` names the subset ("Urban100 (026–035)"), plus the
    profile's ``label_suffix`` for crops. Only file paths are listed: iterating a set would read every image."""
    from spsr_lib.data.benchmark_sets import load_benchmark_set
    from spsr_lib.io.images import read_image, write_image

    out = []
    for name, opts in p["eval"]:
        if not opts:
            out.append((name, load_benchmark_set(name).label))
            continue
        crop = opts.get("crop")
        tag = f"first{opts.get('first', 'all')}" + (f"_crop{crop}" if crop else "")
        folder = work / "eval" / tag / opts.get("folder", name)
        if opts.get("folder"):  # the first edition's flat layout: work/eval/BSD100-first20
            folder = work / "eval" / opts["folder"]
        folder.mkdir(parents=True, exist_ok=True)
        for path in load_benchmark_set(name).paths[: opts.get("first")]:
            target = folder / (f"{path.stem}.png" if crop else path.name)
            if target.exists() or target.is_symlink():
                continue
            if crop:
                img = read_image(path)
                top, left = max(0, (img.shape[0] - crop) // 2), max(0, (img.shape[1] - crop) // 2)
                write_image(target, img[top:top + crop, left:left + crop])
            else:
                target.symlink_to(path.resolve())
        out.append((str(folder), load_benchmark_set(folder).label + opts.get("label_suffix", "")))
    return out


def _relabel(ev: dict, labels: dict[str, str]) -> dict:
    """Rename the sets of an ``Evaluation.to_json()`` from the folders' labels to the reported ones."""
    def rename(d: dict) -> dict:
        return {labels.get(k, k): v for k, v in d.items()}

    ev["sets"] = [labels.get(s, s) for s in ev["sets"]]
    for m in ev["methods"]:
        m["mean"], m["per_image"] = rename(m["mean"]), rename(m["per_image"])
    if "reference" in ev:
        ev["reference"]["mean"] = rename(ev["reference"]["mean"])
        ev["reference"]["per_image"] = rename(ev["reference"]["per_image"])
    return ev


def evaluate_model(args, model, name: str | None, run: Path | None = None) -> dict:
    """``spsr evaluate``'s JSON of ``model`` (per-image values and means, sets under their reported labels), or of
    bicubic when ``model`` is None. With ``run``, the SR images are saved under ``run/sr`` (see the module)."""
    from spsr_lib.data.benchmark_sets import load_benchmark_set
    from spsr_lib.inference.evaluate import BRANCH_METRICS, evaluate

    p = args.p
    folders = eval_folders(args.work, p)
    labels = {load_benchmark_set(f).label: lab for f, lab in folders}
    image_metrics = [m for m in p["metrics"] if m not in BRANCH_METRICS]
    if model is None:
        return _relabel(evaluate([f for f, _ in folders], 4, "both", metrics=image_metrics, device=args.device,
                                 progress=False, bicubic=True).to_json(), labels)
    run = run or args.work / "eval_tmp" / (name or "model")
    sr_root = run / "sr"
    extras = _save_sr(args, model, folders, sr_root, branch=any(m in BRANCH_METRICS for m in p["metrics"]))
    ev = evaluate([f for f, _ in folders], 4, "both", sr_dir=sr_root, name=name, metrics=image_metrics,
                  device=args.device, progress=False, bicubic=False).to_json()
    ev["sources"]["SR"] = "the generator in fp32, whole images, one pass (the branch diagnostics from that pass)"
    method = ev["methods"][0]
    for label, per_image in extras.items():
        for image, values in per_image.items():
            method["per_image"][label][image].update(values)
        for key in BRANCH_KEYS:
            vals = [v[key] for v in per_image.values() if key in v]
            if vals:
                method["mean"][label][key] = float(np.mean(vals))
    # only (b), (c), (d) need their Urban100 (026–075) images (the crops by rule): about 100 MB per pair
    keep = p.get("keep_sr", ()) if name in ("esrgan", "grad_loss", "spsr") else ()
    for folder, _ in folders:
        bench = load_benchmark_set(folder)
        if bench.name not in keep:
            shutil.rmtree(sr_root / bench.name, ignore_errors=True)
    return _relabel(ev, labels)


def _save_sr(args, model, folders: list[tuple[str, str]], sr_root: Path, branch: bool) -> dict:
    """Write every SR image once; ``{folder label: {image: branch values}}`` for a gradient-guided model."""
    from spsr_lib.data.benchmark_sets import load_benchmark_set
    from spsr_lib.inference.eval_sources import model_source
    from spsr_lib.io.images import write_image

    source = model_source(model.eval(), args.device, branch=branch)
    extras: dict[str, dict[str, dict[str, float]]] = {}
    for folder, _ in folders:
        bench = load_benchmark_set(folder)
        out = sr_root / bench.name
        for item in bench:
            res = source(item)
            sr, extra = res if isinstance(res, tuple) else (res, {})
            write_image(out / f"{item.name}.png", np.ascontiguousarray(sr))
            if extra:
                extras.setdefault(bench.label, {})[item.name] = {k: float(v) for k, v in extra.items()
                                                                 if k in BRANCH_KEYS}
    return extras
