"""Static matplotlib figures for the notebooks: the things people would rather see than read.

Every widget cell in the notebooks also draws one of these, so a notebook reads well on GitHub and
in HTML exports where no kernel runs the sliders.  The figures follow the paper's presentation:
full images with a marked region and enlarged crops of it (Ma et al., CVPR 2020, Figs. 1, 6, 7),
metric comparisons (Tables 1 and 3), plus training curves from the trainer's ``metrics.jsonl``.

Each function returns the ``matplotlib.figure.Figure`` (so tests can inspect it and callers can
``savefig`` it); matplotlib is imported inside the functions.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spsr_lib.errors import SPSRError
from spsr_lib.notebook.widgets import as_image, crop_box, crop_zoom, diff_heatmap, wipe

__all__ = [
    "show_images",
    "side_by_side",
    "difference_crops",
    "wipe_figure",
    "read_jsonl",
    "ema",
    "loss_curves",
    "metric_bars",
    "METRIC_LABELS",
    "probe_curves",
]

# metrics where lower is better (the bar chart says which way is good)
# (metric names are compared lower-cased with spaces as underscores: "gradient L1" is gradient_l1)
LOWER_IS_BETTER = {"lpips", "niqe", "pi", "perceptual_index", "grad_mse", "grad_l1", "gradient_mse", "gradient_l1",
                   "loss", "mse", "colour_shift"}


def _figure(nrows: int, ncols: int, panel: float, aspect: float = 1.0):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(panel * ncols, panel * nrows * aspect), squeeze=False)
    return fig, axes


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def show_images(images: Mapping[str, Any], ncols: int | None = None, panel: float = 3.0, vmax: float = 1.0):
    """A grid of images with their names as titles (tensors or HxWx3 arrays)."""
    if not images:
        raise SPSRError("show_images: nothing to show; pass a dict like {'SR': sr, 'HR': hr}")
    ncols = ncols or len(images)
    nrows = math.ceil(len(images) / ncols)
    arrays = {k: as_image(v, vmax=vmax) for k, v in images.items()}
    h, w = next(iter(arrays.values())).shape[:2]
    fig, axes = _figure(nrows, ncols, panel, aspect=h / w)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, img) in zip(axes.flat, arrays.items()):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.axis("on")
        _off(ax)
    fig.tight_layout()
    return fig


def side_by_side(images: Mapping[str, Any], center: Sequence[float] | None = None, size: int | None = None,
                 zoom: int = 1, notes: Mapping[str, str] | None = None, panel: float = 3.0, vmax: float = 1.0):
    """Full images with the crop region outlined (top row) and the crops enlarged (bottom row).

    All images must have one size (SR, HR and upsampled baselines); ``center = (row, col)`` and
    ``size`` pick the region (default: a quarter of the shorter side around the middle).  ``notes``
    adds a line under each title, e.g. ``{'SR': 'PSNR 24.1 dB'}``.
    """
    from matplotlib.patches import Rectangle

    arrays = {k: as_image(v, vmax=vmax) for k, v in images.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise SPSRError(f"side_by_side: images must share one size, got {sorted(shapes)}; upsample the LR first")
    h, w = shapes.pop()[:2]
    size = size or max(8, min(h, w) // 4)
    center = center or (h / 2, w / 2)
    top, left, ch, cw = crop_box((h, w), center, size)
    fig, axes = _figure(2, len(arrays), panel)
    for col, (name, img) in enumerate(arrays.items()):
        full, crop = axes[0, col], axes[1, col]
        full.imshow(img, interpolation="nearest")
        full.add_patch(Rectangle((left - 0.5, top - 0.5), cw, ch, fill=False, edgecolor="yellow", linewidth=1.5))
        title = name if not notes or name not in notes else f"{name}\n{notes[name]}"
        full.set_title(title, fontsize=10)
        crop.imshow(crop_zoom(img, center, (ch, cw), zoom), interpolation="nearest")
        for ax in (full, crop):
            _off(ax)
    fig.tight_layout()
    return fig


def difference_crops(images: Mapping[str, Any], reference: str, center: Sequence[float] | None = None,
                     size: int | None = None, scale: float | None = None, panel: float = 2.6):
    """Crops of every image (top) and where each differs from ``reference`` (bottom, one colour scale).

    The heatmaps share ``scale`` (default: the largest difference over all of them), so a darker
    map really is a closer match.
    """
    if reference not in images:
        raise SPSRError(f"difference_crops: no image named {reference!r}; available: {', '.join(images)}")
    arrays = {k: as_image(v) for k, v in images.items()}
    ref = arrays[reference]
    h, w = ref.shape[:2]
    size = size or max(8, min(h, w) // 4)
    center = center or (h / 2, w / 2)
    crops = {k: crop_zoom(a, center, size) for k, a in arrays.items()}
    others = [k for k in crops if k != reference]
    if scale is None:
        scale = max([float(np.abs(crops[k] - crops[reference]).mean(-1).max()) for k in others] + [1e-6])
    fig, axes = _figure(2, len(crops), panel)
    for col, (name, crop) in enumerate(crops.items()):
        axes[0, col].imshow(crop, interpolation="nearest")
        axes[0, col].set_title(name, fontsize=10)
        if name == reference:
            axes[1, col].axis("off")
            axes[1, col].text(0.5, 0.5, f"reference\n(white = |diff| {scale:.3f})", ha="center", va="center",
                              transform=axes[1, col].transAxes, fontsize=9)
        else:
            err = float(np.abs(crop - crops[reference]).mean())
            axes[1, col].imshow(diff_heatmap(crop, crops[reference], scale=scale), interpolation="nearest")
            axes[1, col].set_title(f"|{name} - {reference}|, mean {err:.4f}", fontsize=8)
        for ax in axes[:, col]:
            _off(ax)
    fig.tight_layout()
    return fig


def wipe_figure(a: Any, b: Any, position: float = 0.5, labels: Sequence[str] = ("A", "B"),
                vertical: bool = False, panel: float = 5.0, vmax: float = 1.0):
    """The static twin of the wipe slider: ``a`` before the dashed line, ``b`` after it."""
    fa, fb = as_image(a, vmax=vmax), as_image(b, vmax=vmax)
    h, w = fa.shape[:2]
    fig, axes = _figure(1, 1, panel, aspect=h / w)
    ax = axes[0, 0]
    ax.imshow(wipe(fa, fb, position, vertical=vertical), interpolation="nearest")
    split = round(position * (h if vertical else w)) - 0.5
    if vertical:
        ax.axhline(split, color="yellow", linestyle="--", linewidth=1)
    else:
        ax.axvline(split, color="yellow", linestyle="--", linewidth=1)
    ax.set_title(f"{labels[0]} | {labels[1]}" if not vertical else f"{labels[0]} above, {labels[1]} below",
                 fontsize=10)
    _off(ax)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# curves and tables
# --------------------------------------------------------------------------------------------------
def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a JSON-lines log (one object per line; a torn last line from a live run is skipped)."""
    p = Path(path)
    if not p.is_file():
        raise SPSRError(f"{p}: log file not found; point at the run's metrics.jsonl")
    records = []
    lines = p.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # the trainer may be writing this line right now
            raise SPSRError(f"{p}:{i + 1}: not valid JSON; the log is damaged, delete that line") from None
    return records


def ema(values: Sequence[float], smoothing: float) -> np.ndarray:
    """Bias-corrected exponential moving average (TensorBoard's smoothing); 0 returns the values."""
    v = np.asarray(values, dtype=np.float64)
    if smoothing <= 0 or v.size == 0:
        return v
    out = np.empty_like(v)
    acc, norm = 0.0, 0.0
    for i, x in enumerate(v):
        acc = smoothing * acc + (1 - smoothing) * x
        norm = smoothing * norm + (1 - smoothing)
        out[i] = acc / norm
    return out


def _series(records: Sequence[Mapping[str, Any]], key: str, x_key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for i, r in enumerate(records):
        y = r.get(key)
        if isinstance(y, (int, float)) and not isinstance(y, bool) and math.isfinite(y):
            xs.append(r.get(x_key, i))
            ys.append(float(y))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def loss_curves(log: Any, keys: Sequence[str] | None = None, x_key: str = "step", smoothing: float = 0.0,
                logy: bool = False, ncols: int = 3, panel: float = 3.2):
    """One panel per logged quantity, one line per run.

    ``log`` is a ``metrics.jsonl`` path, a list of records (dicts with ``x_key`` and numbers), or a
    dict ``{run name: path or records}`` to overlay runs (the loss ablation).  ``keys`` defaults to
    every numeric field except ``x_key`` and bookkeeping fields.
    """
    runs = dict(log) if isinstance(log, Mapping) else {"": log}
    runs = {name: read_jsonl(r) if isinstance(r, (str, os.PathLike)) else list(r) for name, r in runs.items()}
    if keys is None:
        skip = {x_key, "epoch", "time", "elapsed", "wall", "lr", "iter_time", "seconds"}
        found: dict[str, None] = {}
        for records in runs.values():
            for r in records:
                for k, v in r.items():
                    if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool):
                        found.setdefault(k)
        keys = list(found)
    if not keys:
        raise SPSRError("loss_curves: the log has no numeric fields to plot; is it the run's metrics.jsonl?")
    ncols = min(ncols, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = _figure(nrows, ncols, panel, aspect=0.7)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    colors = {name: f"C{i}" for i, name in enumerate(runs)}  # one colour per run in every panel
    for ax, key in zip(axes.flat, keys):
        for name, records in runs.items():
            xs, ys = _series(records, key, x_key)
            if xs.size:
                ax.plot(xs, ema(ys, smoothing), label=name or None, color=colors[name], linewidth=1.2)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel(x_key, fontsize=8)
        ax.tick_params(labelsize=8)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    if len(runs) > 1:  # one legend for the figure: a run missing from the first panel is still listed
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=c, label=name) for name, c in colors.items()]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(runs), 4), fontsize=8, frameon=False)
        rows = math.ceil(len(runs) / 4)
        fig.tight_layout(rect=(0, 0.06 * rows / nrows, 1, 1))
    return fig


# readable titles for the evaluation's internal metric keys (a chart never shows `psnr_standard`)
METRIC_LABELS = {
    "psnr_standard": "PSNR (dB, Y; standard)", "ssim_standard": "SSIM (Y; standard)",
    "psnr_spsr": "PSNR (dB, Y; paper's toolbox)", "ssim_spsr": "SSIM (Y; paper's toolbox)",
    "psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS", "dists": "DISTS", "niqe": "NIQE", "ma": "Ma score",
    "pi": "PI (perceptual index)", "grad_l1": "gradient-map L1", "grad_psnr": "gradient-map PSNR (dB)",
    "colour_shift": "colour shift (grey levels)", "phase_index": "phase index",
}


def metric_bars(table: Mapping[str, Mapping[str, float]], metrics: Sequence[str] | None = None,
                panel: float = 3.0, decimals: int | Mapping[str, int] = 3,
                errors: Mapping[str, Mapping[str, float]] | None = None, title: str | None = None):
    """Grouped comparison ``{method: {metric: value}}``: one panel per metric, one bar per method.

    Each panel says whether higher or lower is better (PSNR/SSIM up, LPIPS/NIQE/PI/gradient error
    down) and labels the bars with their values; missing values (e.g. LPIPS without weights) are
    left out of their panel.  Bars start at zero (a truncated axis would draw a 0.4 dB gain three
    times taller than it is); the differences are written out instead: every bar after the first
    is labelled with its difference from the first method's (``Δ +0.36``).  Internal keys such as
    ``psnr_standard`` are titled by :data:`METRIC_LABELS`.  ``decimals`` is one number or
    ``{metric: decimals}`` (others: 3).  ``errors`` (same shape as ``table``, e.g. the seed standard
    deviations) draws error bars and adds ``± error`` to the labels.  ``title`` goes above the panels.
    """
    if not table:
        raise SPSRError("metric_bars: empty table; pass {method: {metric: value}}")
    methods = list(table)
    if metrics is None:
        metrics = list(dict.fromkeys(m for row in table.values() for m in row))
    fig, axes = _figure(1, len(metrics), panel, aspect=0.9)
    colors = [f"C{i}" for i in range(len(methods))]
    for ax, metric in zip(axes.flat, metrics):
        pairs = [(i, float(table[m][metric])) for i, m in enumerate(methods)
                 if table[m].get(metric) is not None and math.isfinite(float(table[m][metric]))]
        if pairs:
            idx, vals = zip(*pairs)
            errs = [_error(errors, methods[i], metric) for i in idx]
            dec = decimals.get(metric, 3) if isinstance(decimals, Mapping) else decimals
            bars = ax.bar(list(idx), list(vals), color=[colors[i] for i in idx],
                          yerr=errs if any(errs) else None, capsize=3 if any(errs) else 0)
            labels = [f"{v:.{dec}f}" + (f" ± {e:.{dec}f}" if e else "")
                      + (f"\nΔ {v - vals[0]:+.{dec}f}" if k else "") for k, (v, e) in enumerate(zip(vals, errs))]
            ax.bar_label(bars, labels=labels, fontsize=7, padding=2)
            lo, hi = min(min(v - e for v, e in zip(vals, errs)), 0.0), max(max(v + e for v, e in zip(vals, errs)), 0.0)
            ax.set_ylim(lo * 1.25, hi * 1.4 or 1.0)  # from zero, with room for the two-line labels
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=30, ha="right", fontsize=8)
        arrow = "lower is better" if metric.lower().replace(" ", "_") in LOWER_IS_BETTER else "higher is better"
        ax.set_title(f"{METRIC_LABELS.get(metric, metric)}\n({arrow})", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _error(errors: Mapping[str, Mapping[str, float]] | None, method: str, metric: str) -> float:
    value = (errors or {}).get(method, {}).get(metric)
    return float(value) if value is not None and math.isfinite(float(value)) else 0.0


def probe_curves(result: Mapping[str, Any], keys: Sequence[str] = ("psnr_y", "lpips", "colour_shift"),
                 panel: float = 3.6):
    """One panel per validation metric of a stage-2 probe (``scripts/stage2_probe.py``), a line per variant."""
    from spsr_lib.train.probe_report import series

    titles = {"psnr_y": "Set5 PSNR Y (dB)", "lpips": "LPIPS (lower is better)", "ssim_y": "SSIM",
              "colour_shift": "colour shift (grey levels)", "grad_psnr": "gradient-map PSNR (dB)"}
    fig, axes = _figure(1, len(keys), panel, aspect=0.8)
    for ax, key in zip(axes[0], keys):
        for name, (steps, values) in series(dict(result), key).items():
            if steps:
                ax.plot(steps, values, marker="o", ms=3, label=name)
        if key == "colour_shift":
            ax.axhline(2.0, color="grey", ls=":", lw=1)
        ax.set_title(titles.get(key, key), fontsize=10)
        ax.set_xlabel("GAN-stage step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig

