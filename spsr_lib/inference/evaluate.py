"""Paper-style metric tables (``spsr evaluate``): methods as rows, benchmark sets as columns.

The SPSR paper (Table 1) reports, per set, ``PI/LPIPS`` and ``PSNR/SSIM`` for every method at x4, with
Bicubic as the first row.  :func:`evaluate` does the same for a model checkpoint or a folder of SR images:

- HR images are mod-cropped to the scale, LR is MATLAB bicubic of HR (``spsr_lib.data.benchmark_sets``);
- the Bicubic row is ``imresize(LR, scale)`` with the MATLAB resize, always included;
- SR images are evaluated as saved files would be (uint8);
- PSNR/SSIM follow the chosen protocol (``standard``, ``spsr`` or ``both``: one table each, the mode is
  named in the title); LPIPS, DISTS, NIQE, Ma, PI and the gradient-map metrics do not depend on it;
- structure (issue 24): ``phase_index`` for every method and for the HR images themselves (an "HR" row, the
  natural-image reference, ``Evaluation.reference``); for a gradient-guided model (SPSRNet, GradientGuidedSR)
  ``branch_grad_l1`` (its branch's raw ``grad_sr`` vs M(HR), shown beside ``bicubic_grad_l1``, M(bicubic) vs
  M(HR)) and ``branch_zero_change`` (grey levels), from the same tiled pass that makes its SR image
  (:mod:`spsr_lib.inference.branch_pass`); other methods have no branch rows;
- a metric whose model file is missing is "n/a" with the reason in a footnote, never a made-up number.

Outputs (``write``): ``results_<mode>.md`` and ``.csv`` per mode and ``results.json`` with every per-image
value and how it was made, all written atomically.  Values are means over the images of a set.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spsr_lib.errors import SPSRError
from spsr_lib.inference.eval_sources import bicubic_source, folder_source, model_source  # noqa: F401 (public here)

PROTOCOL_METRICS = ("psnr", "ssim")  # the ones whose value depends on the mode
OTHER_METRICS = ("lpips", "dists", "niqe", "ma", "pi", "grad_psnr", "grad_l1", "colour_shift", "phase_index",
                 "branch_grad_l1", "branch_zero_change")
ALL_METRICS = PROTOCOL_METRICS + OTHER_METRICS
BRANCH_METRICS = ("branch_grad_l1", "branch_zero_change")  # gradient-guided models only, from the SR pass itself
# table rows: (label, left metric, right metric or None for a one-metric row, decimals left, decimals right)
ROWS = (
    ("PSNR/SSIM", "psnr", "ssim", 3, 4),
    ("PI/LPIPS", "pi", "lpips", 3, 4),
    ("DISTS", "dists", None, 4, 0),
    ("NIQE/Ma", "niqe", "ma", 3, 3),
    ("GradPSNR/GradL1", "grad_psnr", "grad_l1", 2, 5),
    ("Branch gradL1/Bicubic GradL1", "branch_grad_l1", "bicubic_grad_l1", 5, 5),
    ("Branch zero change", "branch_zero_change", None, 2, 0),
    ("Colour shift", "colour_shift", None, 2, 0),
    ("Phase index", "phase_index", None, 2, 0),
)
# rows shown only for a method that has the value (the branch rows: gradient-guided models; the HR reference row)
PRESENT_ONLY = frozenset(("phase_index", *BRANCH_METRICS))


@dataclass
class MethodResult:
    """Per-image values of one method: ``values[set][image][metric_key]`` (mode-suffixed PSNR/SSIM)."""

    name: str
    values: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def mean(self, set_name: str, key: str) -> float | None:
        vals = [v[key] for v in self.values.get(set_name, {}).values() if v.get(key) is not None]
        return float(np.mean(vals)) if vals else None


@dataclass
class Evaluation:
    sets: list[str]
    scale: int
    modes: list[str]
    methods: list[MethodResult]
    unavailable: dict[str, str]  # metric -> reason
    sources: dict[str, str]  # what produced the numbers (weights, parameter files)
    reference: MethodResult | None = None  # "HR": metrics of the HR images themselves (the phase index)

    def table(self, mode: str, fmt: str = "markdown") -> str:
        from spsr_lib.metrics.psnr_ssim import MODE_DESCRIPTIONS

        header = ["Method", "Metric", *self.sets]
        rows = []
        for m in ([self.reference] if self.reference is not None else []) + self.methods:
            for label, left, right, dl, dr in ROWS:
                if left in self.unavailable and (right is None or right in self.unavailable):
                    continue
                if (left in PRESENT_ONLY or m is self.reference) and not any(m.mean(s, left) is not None
                                                                             for s in self.sets):
                    continue
                cells = [self._cell(m, s, left, right, dl, dr, mode) for s in self.sets]
                rows.append([m.name, label, *cells])
        if fmt == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow([f"# x{self.scale}, PSNR/SSIM mode: {mode} ({MODE_DESCRIPTIONS[mode]})"])
            w.writerows([header, *rows])
            return buf.getvalue()
        lines = [
            f"### SPSR-style evaluation, x{self.scale}, PSNR/SSIM mode: `{mode}`",
            "",
            f"Mode `{mode}`: {MODE_DESCRIPTIONS[mode]}.",
            "Lower is better for PI, LPIPS, DISTS, NIQE, GradL1 and colour shift (largest channel-mean difference to HR, "
            "in grey levels); higher for PSNR, SSIM, Ma and GradPSNR.",
            *self._notes_on_structure(),
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows),
        ]
        notes = [f"- {k}: n/a ({v})" for k, v in self.unavailable.items()]
        notes += [f"- {k}: {v}" for k, v in self.sources.items()]
        return "\n".join(lines + ([""] + notes if notes else [])) + "\n"

    def _notes_on_structure(self) -> list[str]:
        has = {k for m in self.methods for s in self.sets for k in PRESENT_ONLY if m.mean(s, k) is not None}
        notes = []
        if "phase_index" in has:
            notes.append("Phase index: largest over smallest mean high-pass energy of the 16 pixel phases (row, col "
                         "mod 4); about 1.1 for natural images (the HR row), higher means a grid at the x4 period.")
        if has & set(BRANCH_METRICS):
            notes.append("Branch gradL1: L1 of the gradient branch's raw grad_sr to M(HR), beside that of M(bicubic) "
                         "(lower is better); branch zero change: mean change of the SR image in grey levels when the "
                         "branch feature is zeroed before the fusion (near 0: the fusion ignores the branch).")
        return notes

    def _cell(self, m: MethodResult, s: str, left: str, right: str | None, dl: int, dr: int, mode: str) -> str:
        def one(metric: str, digits: int) -> str:
            if metric in self.unavailable:
                return "n/a"
            v = m.mean(s, f"{metric}_{mode}" if metric in PROTOCOL_METRICS else metric)
            return "n/a" if v is None else f"{v:.{digits}f}"

        return one(left, dl) if right is None else f"{one(left, dl)}/{one(right, dr)}"

    def to_json(self) -> dict:
        from spsr_lib.metrics.psnr_ssim import MODE_DESCRIPTIONS

        return {
            "scale": self.scale,
            "sets": self.sets,
            "modes": {m: MODE_DESCRIPTIONS[m] for m in self.modes},
            "unavailable": self.unavailable,
            "sources": self.sources,
            "environment": {"python": platform.python_version()},
            **({"reference": {"name": self.reference.name, "per_image": self.reference.values,
                              "mean": {s: {k: self.reference.mean(s, k) for k in _keys(self.reference, s)}
                                       for s in self.sets}}} if self.reference is not None else {}),
            "methods": [
                {
                    "name": m.name,
                    "mean": {s: {k: m.mean(s, k) for k in _keys(m, s)} for s in self.sets},
                    "per_image": m.values,
                }
                for m in self.methods
            ],
        }

    def write(self, out_dir: str | os.PathLike) -> list[Path]:
        from spsr_lib.io.atomic import atomic_write_text

        out = Path(out_dir)
        written = []
        for mode in self.modes:
            for ext, fmt in (("md", "markdown"), ("csv", "csv")):
                atomic_write_text(out / f"results_{mode}.{ext}", self.table(mode, fmt))
                written.append(out / f"results_{mode}.{ext}")
        payload, replaced = _finite(self.to_json())
        if replaced:
            payload["null_values"] = (f"{replaced} value(s) written as null were infinite or undefined (PSNR of an "
                                      "SR image identical to its HR is +inf); the tables show them as inf")
        atomic_write_text(out / "results.json", json.dumps(payload, indent=1, allow_nan=False) + "\n")
        return [*written, out / "results.json"]


def _finite(obj, count: int = 0) -> tuple[object, int]:
    """``obj`` with every inf/NaN float replaced by None (strict JSON has no Infinity), and how many were."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return None, count + 1
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out[k], count = _finite(v, count)
        return out, count
    if isinstance(obj, (list, tuple)):
        items = []
        for v in obj:
            v, count = _finite(v, count)
            items.append(v)
        return items, count
    return obj, count


def _keys(m: MethodResult, s: str) -> list[str]:
    return sorted({k for v in m.values.get(s, {}).values() for k in v})


# ------------------------------------------------------------------------------------------ metrics
def _metric_fns(
    metrics: Sequence[str], scale: int, niqe_params=None, ma_model=None
) -> tuple[dict[str, Callable], dict[str, str], dict[str, str]]:
    """Callables ``(sr, hr) -> float`` for the available metrics, reasons for the rest, and sources."""
    import spsr_lib.metrics as M

    # the package binds the functions lpips/niqe over their modules' names
    lp, nq, ma = (importlib.import_module(f"spsr_lib.metrics.{n}") for n in ("lpips", "niqe", "ma"))
    fns: dict[str, Callable] = {}
    unavailable, sources = {}, {}
    if "lpips" in metrics:
        ok, where = lp.lpips_status("alex")
        if ok:
            fns["lpips"] = lambda sr, hr: M.lpips(sr, hr, "alex")
            sources["LPIPS"] = f"v0.1 alex, trunk from {where}"
        else:
            unavailable["lpips"] = where
    if "dists" in metrics:
        ok, where = importlib.import_module("spsr_lib.metrics.dists").dists_status()
        if ok:
            fns["dists"] = lambda sr, hr: M.dists(sr, hr)
            sources["DISTS"] = f"Ding et al. 2020, {where}"
        else:
            unavailable["dists"] = where
    niqe_ok = False
    if "niqe" in metrics or "pi" in metrics:
        try:
            params = nq.params_path(niqe_params)
            fns["niqe"] = lambda sr, hr: M.niqe(sr, scale, params)
            sources["NIQE"] = f"LIVE pristine model {params}"
            niqe_ok = True
        except SPSRError as exc:
            unavailable["niqe"] = str(exc)
    ma_ok, ma_where = ma.ma_status(ma_model)
    if "ma" in metrics or "pi" in metrics:
        if ma_ok:
            fns["ma"] = lambda sr, hr: M.ma_score(sr, scale, ma_where)
            sources["Ma"] = f"model {ma_where}"
        else:
            unavailable["ma"] = ma_where
    if "pi" in metrics:
        if not (ma_ok and niqe_ok):
            unavailable["pi"] = ma_where if not ma_ok else unavailable.get("niqe", "NIQE unavailable")
    if "grad_psnr" in metrics:
        fns["grad_psnr"] = lambda sr, hr: M.gradient_psnr(sr, hr, scale)
    if "grad_l1" in metrics:
        fns["grad_l1"] = lambda sr, hr: M.gradient_l1(sr, hr, scale)
    if "colour_shift" in metrics:
        fns["colour_shift"] = lambda sr, hr: M.colour_shift(sr, hr, scale)
    if "phase_index" in metrics:
        fns["phase_index"] = lambda sr, hr: M.phase_index(sr)
    return fns, unavailable, sources


def evaluate(
    sets: Iterable[str],
    scale: int = 4,
    mode: str = "both",
    model: str | os.PathLike | None = None,
    sr_dir: str | os.PathLike | None = None,
    name: str | None = None,
    metrics: Sequence[str] = ALL_METRICS,
    root: str | os.PathLike | None = None,
    device: str = "auto",
    tile: int | str | None = None,
    bf16: bool = False,
    progress: bool = True,
    niqe_params: str | os.PathLike | None = None,
    ma_model: str | os.PathLike | None = None,
    bicubic: bool = True,
    self_ensemble: bool = False,
) -> Evaluation:
    """Evaluate Bicubic (unless ``bicubic=False``) and optionally a model or an SR folder on named benchmark sets.

    ``model``: a generator file, or a generator module in memory (``name`` then names its row).

    ``bf16``: run the model with bf16 autocast + channels_last (about 3x faster on a CPU with native bf16;
    PSNR within 0.02 dB of fp32 on Set5/Set14/BSD100). The row name gets " (bf16)" and the sources say so,
    so such numbers are never mistaken for the fp32 protocol.  ``self_ensemble``: x8 geometric self-ensemble
    (EDSR+/RCAN+); the row name gets " (x8)" and the sources say so.  ``model`` may be an ``.onnx`` file
    (onnxruntime; the sources say so).
    """
    from tqdm import tqdm

    import spsr_lib.metrics as M
    from spsr_lib.data.benchmark_sets import load_benchmark_set

    modes = ["standard", "spsr"] if mode == "both" else [mode]
    for m in modes:
        if m not in M.MODES:
            raise SPSRError(f"unknown mode {mode!r}; use standard, spsr or both")
    unknown = set(metrics) - set(ALL_METRICS)
    if unknown:
        raise SPSRError(
            f"unknown metric(s) {', '.join(sorted(unknown))}; choose from {', '.join(ALL_METRICS)}"
        )
    if model is not None and sr_dir is not None:
        raise SPSRError("give either --model or --sr-dir, not both")
    benches = [load_benchmark_set(s, scale, root) for s in sets]
    fns, unavailable, sources = _metric_fns(metrics, scale, niqe_params, ma_model)
    sources["LR"] = "MATLAB bicubic (imresize, uint8) of the mod-cropped HR"
    methods: list[tuple[str, Callable[[str], Callable]]] = [("Bicubic", lambda s: bicubic_source(scale))] if bicubic else []
    for flag, on in (("--bf16", bf16), ("--self-ensemble", self_ensemble)):
        if on and model is None:
            raise SPSRError(f"{flag} changes how a model runs; give --model (SR folders and bicubic are not affected)")
    branch = [k for k in BRANCH_METRICS if k in metrics]
    if model is not None:
        src = model_source(model, device, tile, bf16, branch=bool(branch), self_ensemble=self_ensemble)
        stem = type(model).__name__ if not isinstance(model, (str, os.PathLike)) else Path(model).stem
        methods.append((name or stem + (" (bf16)" if bf16 else "") + (" (x8)" if self_ensemble else ""),
                        lambda s: src))
        sources.update(_inference_notes(model, bf16, self_ensemble))
    elif sr_dir is not None:
        methods.append(
            (name or Path(sr_dir).resolve().name, lambda s: folder_source(sr_dir, s, len(benches)))
        )
    results = []
    reference = MethodResult("HR") if "phase_index" in metrics and methods else None
    for k, (method_name, make_source) in enumerate(methods):
        res = MethodResult(method_name)
        for bench in benches:
            source, per_image = make_source(bench.name), {}
            for item in tqdm(bench, desc=f"{method_name} / {bench.label}", disable=not progress, leave=False):
                out = source(item)
                sr, extra = out if isinstance(out, tuple) else (out, {})
                sr = np.ascontiguousarray(sr)
                if sr.shape != item.hr.shape:
                    raise SPSRError(
                        f"{method_name}: SR image for {bench.name}/{item.name} is "
                        f"{sr.shape[1]}x{sr.shape[0]} px, "
                        f"HR (mod-cropped to x{scale}) is {item.hr.shape[1]}x{item.hr.shape[0]}; "
                        "check the scale"
                    )
                try:
                    per_image[item.name] = _score(sr, item.hr, scale, modes, fns)
                    per_image[item.name].update(_branch_values(extra, branch))
                    if reference is not None and k == 0:  # the HR images' own phase index, once
                        reference.values.setdefault(bench.label, {})[item.name] = {
                            "phase_index": float(M.phase_index(item.hr))}
                except SPSRError as exc:  # e.g. too small to shave: name the file
                    if str(item.path) in str(exc):
                        raise
                    raise SPSRError(f"{item.path}: {exc}; remove it from the set") from None
            res.values[bench.label] = per_image
        results.append(res)
    return Evaluation([b.label for b in benches], scale, modes, results, unavailable, sources, reference)


def _inference_notes(model, bf16: bool, self_ensemble: bool) -> dict[str, str]:
    """The sources lines that say how the model ran when it was not plain PyTorch fp32."""
    notes = {}
    if bf16:
        notes["inference"] = "bf16 autocast + channels_last (not the fp32 protocol; PSNR within ~0.02 dB)"
    if self_ensemble:
        notes["self-ensemble"] = ("x8 (the 4 rotations with and without a flip, outputs transformed back and "
                                  "averaged, EDSR+/RCAN+); not the single-pass protocol")
    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".onnx"):
        notes["runtime"] = f"ONNX file {Path(model).name} run by onnxruntime (not PyTorch)"
    return notes


def _branch_values(extra: dict[str, float], wanted: list[str]) -> dict[str, float]:
    """The asked-for branch diagnostics of a source's extra values (branch_grad_l1 brings its bicubic reference)."""
    keys = [*wanted, *(["bicubic_grad_l1"] if "branch_grad_l1" in wanted else [])]
    return {k: extra[k] for k in keys if k in extra}


def _score(sr: np.ndarray, hr: np.ndarray, scale: int, modes: list[str], fns: dict[str, Callable]) -> dict:
    import spsr_lib.metrics as M

    v: dict[str, float] = {}
    for mode in modes:
        v[f"psnr_{mode}"], v[f"ssim_{mode}"] = M.psnr_ssim(sr, hr, scale, mode)
    for key, fn in fns.items():
        v[key] = float(fn(sr, hr))
    if "ma" in v and "niqe" in v:
        v["pi"] = ((10 - v["ma"]) + v["niqe"]) / 2
    return v
