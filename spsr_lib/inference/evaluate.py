"""Paper-style metric tables (``spsr evaluate``): methods as rows, benchmark sets as columns.

The SPSR paper (Table 1) reports, per set, ``PI/LPIPS`` and ``PSNR/SSIM`` for every method at x4, with
Bicubic as the first row.  :func:`evaluate` does the same for a model checkpoint or a folder of SR images:

- HR images are mod-cropped to the scale, LR is MATLAB bicubic of HR (``spsr_lib.data.benchmark_sets``);
- the Bicubic row is ``imresize(LR, scale)`` with the MATLAB resize, always included;
- SR images are evaluated as saved files would be (uint8);
- PSNR/SSIM follow the chosen protocol (``standard``, ``spsr`` or ``both``: one table each, the mode is
  named in the title); LPIPS, DISTS, NIQE, Ma, PI and the gradient-map metrics do not depend on it;
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

PROTOCOL_METRICS = ("psnr", "ssim")  # the ones whose value depends on the mode
OTHER_METRICS = ("lpips", "dists", "niqe", "ma", "pi", "grad_psnr", "grad_l1", "colour_shift")
ALL_METRICS = PROTOCOL_METRICS + OTHER_METRICS
# table rows: (label, left metric, right metric or None for a one-metric row, decimals left, decimals right)
ROWS = (
    ("PSNR/SSIM", "psnr", "ssim", 3, 4),
    ("PI/LPIPS", "pi", "lpips", 3, 4),
    ("DISTS", "dists", None, 4, 0),
    ("NIQE/Ma", "niqe", "ma", 3, 3),
    ("GradPSNR/GradL1", "grad_psnr", "grad_l1", 2, 5),
    ("Colour shift", "colour_shift", None, 2, 0),
)


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

    def table(self, mode: str, fmt: str = "markdown") -> str:
        from spsr_lib.metrics.psnr_ssim import MODE_DESCRIPTIONS

        header = ["Method", "Metric", *self.sets]
        rows = []
        for m in self.methods:
            for label, left, right, dl, dr in ROWS:
                if left in self.unavailable and (right is None or right in self.unavailable):
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
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows),
        ]
        notes = [f"- {k}: n/a ({v})" for k, v in self.unavailable.items()]
        notes += [f"- {k}: {v}" for k, v in self.sources.items()]
        return "\n".join(lines + ([""] + notes if notes else [])) + "\n"

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


# ------------------------------------------------------------------------------------- SR sources
def bicubic_source(scale: int) -> Callable:
    from spsr_lib.ops.imresize import imresize

    return lambda item: imresize(item.lr, float(scale), mode="matlab")


def model_source(path, device: str = "auto", tile: int | str | None = None,
                 bf16: bool = False) -> Callable:
    """SR images of a generator file, or of a generator already in memory (an ``nn.Module``)."""
    from torch import nn

    from spsr_lib.inference.infer import upscale
    from spsr_lib.io.checkpoint import load_sr_model

    model = (path if isinstance(path, nn.Module) else load_sr_model(path)).eval()
    return lambda item: upscale(item.lr, model, tile=tile, device=device, bf16=bf16)


def folder_source(sr_dir: str | os.PathLike, set_name: str, n_sets: int) -> Callable:
    """SR images from ``sr_dir/<set>/`` (or ``sr_dir`` itself for a single set), matched by file stem."""
    from spsr_lib.io.images import is_image_file, read_image_uint8

    root = Path(sr_dir)
    folder = root / set_name if (root / set_name).is_dir() else root
    if folder == root and n_sets > 1:
        raise SPSRError(
            f"{root}: no {set_name}/ sub-folder; with several sets put each set's SR images in DIR/<set>/"
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p)) if folder.is_dir() else []

    def find(item) -> np.ndarray:
        exact = [p for p in files if p.stem == item.name]
        loose = [p for p in files if p.stem.startswith(item.name + "_") or p.stem.startswith(item.name + "x")]
        hits = exact or loose
        if len(hits) != 1:
            what = (
                "no SR image"
                if not hits
                else f"{len(hits)} candidate SR images ({', '.join(p.name for p in hits)})"
            )
            raise SPSRError(
                f"{folder}: {what} for {set_name}/{item.name}; expected {item.name}.png (any image type)"
            )
        return read_image_uint8(hits[0])

    return find


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
) -> Evaluation:
    """Evaluate Bicubic (unless ``bicubic=False``) and optionally a model or an SR folder on named benchmark sets.

    ``model``: a generator file, or a generator module in memory (``name`` then names its row).

    ``bf16``: run the model with bf16 autocast + channels_last (about 3x faster on a CPU with native bf16;
    PSNR within 0.02 dB of fp32 on Set5/Set14/BSD100). The row name gets " (bf16)" and the sources say so,
    so such numbers are never mistaken for the fp32 protocol.
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
    if bf16 and model is None:
        raise SPSRError("--bf16 changes how a model runs; give --model (SR folders and bicubic are not affected)")
    if model is not None:
        src = model_source(model, device, tile, bf16)
        stem = type(model).__name__ if not isinstance(model, (str, os.PathLike)) else Path(model).stem
        methods.append((name or stem + (" (bf16)" if bf16 else ""), lambda s: src))
        if bf16:
            sources["inference"] = "bf16 autocast + channels_last (not the fp32 protocol; PSNR within ~0.02 dB)"
    elif sr_dir is not None:
        methods.append(
            (name or Path(sr_dir).resolve().name, lambda s: folder_source(sr_dir, s, len(benches)))
        )
    results = []
    for method_name, make_source in methods:
        res = MethodResult(method_name)
        for bench in benches:
            source, per_image = make_source(bench.name), {}
            for item in tqdm(bench, desc=f"{method_name} / {bench.name}", disable=not progress, leave=False):
                sr = np.ascontiguousarray(source(item))
                if sr.shape != item.hr.shape:
                    raise SPSRError(
                        f"{method_name}: SR image for {bench.name}/{item.name} is "
                        f"{sr.shape[1]}x{sr.shape[0]} px, "
                        f"HR (mod-cropped to x{scale}) is {item.hr.shape[1]}x{item.hr.shape[0]}; "
                        "check the scale"
                    )
                try:
                    per_image[item.name] = _score(sr, item.hr, scale, modes, fns)
                except SPSRError as exc:  # e.g. too small to shave: name the file
                    if str(item.path) in str(exc):
                        raise
                    raise SPSRError(f"{item.path}: {exc}; remove it from the set") from None
            res.values[bench.name] = per_image
        results.append(res)
    return Evaluation([b.name for b in benches], scale, modes, results, unavailable, sources)


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
