"""``spsr demo``: SPSR on real photos in a minute, written up as a self-contained report folder.

The pipeline is the paper's test protocol (Sec. 4.1) on photos that ship with scikit-image: the HR
image is mod-cropped to a multiple of the scale, the LR input is made with MATLAB's bicubic
``imresize(HR, 1/4)`` (``spsr_lib.imresize``, uint8 bit-exact, as the benchmark LR sets), the network
super-resolves it, and SR and the bicubic-upscaling baseline are scored against HR with PSNR/SSIM in
both protocols (``spsr_lib.metrics``: float Y "standard" and the SPSR toolbox's uint8 Y "spsr"), the
gradient-map PSNR (structure, Eq. 1), LPIPS and DISTS (each n/a with the reason, one line on the console,
when its weights are not here; ``make demo`` fetches them once with ``spsr weights fetch``). Structure (issue 24):
the phase index (``spsr_lib.metrics.phase``: a grid at the x4 period; ~1.1 for natural photos), the gradient-map
L1, and for a gradient-guided model the branch diagnostics of :mod:`spsr_lib.metrics.branch` (the branch's
``grad_sr`` vs M(HR), to compare with the bicubic row's gradient-map L1, and the SR change when the branch
feature is zeroed), from a second, untimed pass (:mod:`spsr_lib.inference.branch_pass`).

The figure per image shows LR / bicubic / SR / HR with the gradient map of each underneath, the map
SPSR's gradient branch learns to predict (paper Fig. 2).  The report folder holds the figures, the SR
PNGs, ``index.html`` (relative links only), ``metrics.md`` and ``metrics.json``.

Sizes are budgeted for a laptop CPU: each photo is centre-cropped to ``hr_size`` (256 px) before
anything else, so the four default images run in well under 2 minutes with the compact demo weights.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import torch

from spsr_lib.errors import SPSRError
from spsr_lib.io.atomic import atomic_path, atomic_write_text

SAMPLES = ("astronaut", "chelsea", "coffee", "rocket")
DEFAULT_HR_SIZE = 256
METRIC_COLUMNS = (
    ("psnr_standard", "PSNR std (dB)"),
    ("ssim_standard", "SSIM std"),
    ("psnr_spsr", "PSNR spsr (dB)"),
    ("ssim_spsr", "SSIM spsr"),
    ("gradient_psnr", "grad-PSNR (dB)"),
    ("colour_shift", "colour shift"),
    ("lpips", "LPIPS"),
    ("dists", "DISTS"),
    ("phase_index", "phase index"),
    ("gradient_l1", "grad L1"),
    ("branch_grad_l1", "branch grad L1"),
    ("branch_zero_change", "branch zero change"),
)


@dataclass
class DemoImage:
    """One demo input: ``hr`` is None for a real low-resolution photo (then there are no metrics)."""

    name: str
    lr: np.ndarray  # uint8 HxWx3
    hr: np.ndarray | None
    source: str


@dataclass
class DemoResult:
    image: DemoImage
    sr: np.ndarray
    bicubic: np.ndarray
    seconds: float
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)  # method -> metric -> value


def centre_crop(img: np.ndarray, size: int | None, multiple: int) -> np.ndarray:
    """Centre crop to at most ``size`` px per side, then mod-crop both sides to a multiple of ``multiple``."""
    h, w = img.shape[:2]
    ch, cw = (h, w) if size is None else (min(h, size), min(w, size))
    ch, cw = ch - ch % multiple, cw - cw % multiple
    if ch == 0 or cw == 0:
        raise SPSRError(f"image of {w}x{h} px is smaller than the x{multiple} scale; use a larger image")
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[top:top + ch, left:left + cw])


def min_hr_size(scale: int) -> int:
    """Smallest HR side the report can score: SSIM's 11x11 window after ``scale`` px are shaved off each side."""
    return 2 * scale + 11


def make_lr(hr: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark LR: MATLAB bicubic ``imresize(hr, 1/scale)`` on uint8 (bit-exact)."""
    from spsr_lib.ops.imresize import imresize

    return imresize(hr, 1.0 / scale, mode="matlab")


def sample_images(scale: int = 4, hr_size: int | None = DEFAULT_HR_SIZE) -> list[DemoImage]:
    """scikit-image's astronaut, chelsea, coffee and rocket as (LR, HR) pairs."""
    from skimage import data

    out = []
    for name in SAMPLES:
        hr = centre_crop(np.asarray(getattr(data, name)())[..., :3], hr_size, scale)
        out.append(DemoImage(name, make_lr(hr, scale), hr, f"scikit-image data.{name}()"))
    return out


def user_images(paths: list[str], scale: int = 4, hr_size: int | None = DEFAULT_HR_SIZE,
                lr_input: bool = False) -> list[DemoImage]:
    """The user's photos: treated as HR (downscaled, then scored) or, with ``lr_input``, as the LR itself."""
    from spsr_lib.io.images import check_min_size, read_image_uint8

    out = []
    for p in paths:
        img = read_image_uint8(p)
        name = Path(p).stem
        if lr_input:
            lr = centre_crop(img, None if hr_size is None else hr_size // scale, 1)
            out.append(DemoImage(name, lr, None, f"{p} (used as the LR input; no HR, so no metrics)"))
        else:
            try:
                hr = centre_crop(img, hr_size, scale)
            except SPSRError as exc:
                raise SPSRError(f"{p}: {exc}") from None
            check_min_size(hr, min_hr_size(scale), p, "SSIM's 11x11 window after shaving the scale off each side")
            out.append(DemoImage(name, make_lr(hr, scale), hr,
                                 f"{p} (treated as HR: centre crop, x{scale} MATLAB-bicubic downscale, then SR)"))
    names = [d.name for d in out]
    if len(set(names)) != len(names):
        raise SPSRError(f"two --image files share a name ({', '.join(names)}); rename one so the report can hold both")
    return out


# ----------------------------------------------------------------------------- metrics


def lpips_availability() -> tuple[bool, str]:
    from spsr_lib.metrics.lpips import lpips_status

    try:
        return lpips_status("alex")
    except Exception as exc:  # the lpips package itself missing or broken: n/a, not a crash
        return False, f"{type(exc).__name__}: {exc}"


def dists_availability() -> tuple[bool, str]:
    """Builds the DISTS model once (CPU, cached): ``(True, its weights)`` or ``(False, why not)``."""
    from spsr_lib.metrics.dists import dists_model

    try:
        return True, dists_model().weights_source
    except SPSRError as exc:
        return False, str(exc)
    except Exception as exc:  # torchvision or safetensors broken: n/a, not a crash
        return False, f"{type(exc).__name__}: {exc}"


def score(sr: np.ndarray, hr: np.ndarray, scale: int, with_lpips: bool,
          with_dists: bool = False) -> dict[str, float | None]:
    from spsr_lib import metrics

    row: dict[str, float | None] = {}
    for mode in ("standard", "spsr"):
        row[f"psnr_{mode}"] = float(metrics.psnr(sr, hr, scale=scale, mode=mode))
        row[f"ssim_{mode}"] = float(metrics.ssim(sr, hr, scale=scale, mode=mode))
    row["gradient_psnr"] = float(metrics.gradient_psnr(sr, hr, scale=scale))
    row["colour_shift"] = float(metrics.colour_shift(sr, hr, scale=scale))
    row["phase_index"] = float(metrics.phase_index(sr))
    row["gradient_l1"] = float(metrics.gradient_l1(sr, hr, scale=scale))
    row["lpips"] = float(metrics.lpips(sr, hr)) if with_lpips else None
    row["dists"] = float(metrics.dists(sr, hr)) if with_dists else None
    return row


# ----------------------------------------------------------------------------- figure


def _grad_display(img: np.ndarray) -> np.ndarray:
    """Channel-mean gradient magnitude (the paper's M(I), per channel on [0, 1]) for display."""
    from spsr_lib.ops.gradient import gradient_map

    t = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    return gradient_map(t, padding=1)[0].mean(0).numpy()


def save_figure(result: DemoResult, path: Path, scale: int) -> None:
    """LR / bicubic / SR / HR (top) and their gradient maps (bottom) as one PNG, via matplotlib's Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    img = result.image
    panels = [(f"LR ({img.lr.shape[1]}x{img.lr.shape[0]}, shown x{scale} nearest)",
               np.repeat(np.repeat(img.lr, scale, 0), scale, 1), _grad_display(img.lr))]
    panels.append(("bicubic (MATLAB imresize)", result.bicubic, _grad_display(result.bicubic)))
    panels.append(("SPSR", result.sr, _grad_display(result.sr)))
    if img.hr is not None:
        panels.append(("HR (ground truth)", img.hr, _grad_display(img.hr)))
    # one grey scale for all HR-size maps, so they compare; the LR map (4x denser edges) gets its own
    vmax = float(np.percentile(panels[-1][2], 99.5)) or 1.0
    lr_vmax = float(np.percentile(panels[0][2], 99.5)) or 1.0
    h, w = result.sr.shape[:2]
    fig = Figure(figsize=(3.2 * len(panels), 3.2 * 2 * h / w + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(panels), squeeze=False)
    for col, (title, rgb, grad) in enumerate(panels):
        axes[0, col].imshow(rgb, interpolation="nearest")
        axes[0, col].set_title(title, fontsize=9)
        axes[1, col].imshow(grad, cmap="gray", vmin=0, vmax=vmax if col else lr_vmax, interpolation="nearest")
        axes[1, col].set_title("gradient map M(I)" if col else "LR gradient map (branch input)", fontsize=8)
        for row in (0, 1):
            axes[row, col].set_axis_off()
    fig.suptitle(img.name, fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


# ----------------------------------------------------------------------------- report files


def _fmt(v: float | None, key: str) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.4f}" if key.startswith(("ssim", "lpips", "dists", "gradient_l1", "branch_grad")) else f"{v:.2f}"


def _means(results: list[DemoResult], method: str) -> dict[str, float | None]:
    scored = [r.metrics[method] for r in results if method in r.metrics]
    out: dict[str, float | None] = {}
    for key, _ in METRIC_COLUMNS:
        vals = [m[key] for m in scored if m.get(key) is not None]
        out[key] = float(np.mean(vals)) if vals and len(vals) == len(scored) else None
    return out


def metrics_table_md(results: list[DemoResult]) -> str:
    head = "| image | method | " + " | ".join(label for _, label in METRIC_COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(METRIC_COLUMNS) + 2)]
    rows = [(r.image.name, m, r.metrics[m]) for r in results for m in ("bicubic", "SPSR") if m in r.metrics]
    if any(r.metrics for r in results):
        rows += [("**mean**", m, _means(results, m)) for m in ("bicubic", "SPSR")]
    for name, method, vals in rows:
        lines.append(f"| {name} | {method} | " + " | ".join(_fmt(vals.get(k), k) for k, _ in METRIC_COLUMNS) + " |")
    return "\n".join(lines)


def write_report(results: list[DemoResult], out_dir: Path, info: dict[str, Any]) -> Path:
    """metrics.json, metrics.md and index.html (figures are already in ``out_dir``); returns index.html."""
    from spsr_lib.metrics.psnr_ssim import MODE_DESCRIPTIONS

    notes = [
        f"Model: {info['model']} ({info['arch']}). {info['model_note']}",
        f"Device: {info['device']}; total time {info['seconds']:.1f} s.",
        "Metrics: Y channel, 4 px shaved. standard = " + MODE_DESCRIPTIONS["standard"]
        + "; spsr = " + MODE_DESCRIPTIONS["spsr"] + ".",
        "grad-PSNR: PSNR (peak 1) between the gradient maps M(SR) and M(HR) (paper Eq. 1), 4 px shaved.",
        "colour shift: the largest difference between the SR and HR channel means, in grey levels (0-255); "
        "a GAN stage that drifts in colour shows here first.",
        "phase index: largest over smallest mean high-pass energy of the 16 pixel phases (row, col mod 4); about "
        "1.1 for natural photos, higher is a grid at the x4 period (MATLAB bicubic itself reads about 2).",
        "grad L1: mean |M(SR) - M(HR)| on [0, 1] intensities, 4 px shaved. branch grad L1 (gradient-guided models): "
        "the same for the gradient branch's own prediction grad_sr; it should beat the bicubic row's grad L1. "
        "branch zero change: mean change of the SR in grey levels when the branch feature is zeroed before the "
        "fusion (near 0: the fusion ignores the branch).",
        "LPIPS: v0.1 AlexNet, lower is better; " + ("trunk: " + info["lpips_reason"] if info["lpips_available"]
                                                    else "n/a: " + info["lpips_reason"]),
        "DISTS: Ding et al. 2020 (VGG16 + learned alpha/beta), lower is better; "
        + ("weights: " if info.get("dists_available") else "n/a: ") + info.get("dists_reason", "not computed"),
    ]
    payload = {**info, "protocols": MODE_DESCRIPTIONS, "images": [
        {"name": r.image.name, "source": r.image.source, "lr_size": list(r.image.lr.shape[:2]),
         "sr_size": list(r.sr.shape[:2]), "seconds": round(r.seconds, 3), "metrics": r.metrics,
         "figure": f"{r.image.name}.png", "sr_png": f"{r.image.name}_sr.png"} for r in results],
        "mean": {m: _means(results, m) for m in ("bicubic", "SPSR")} if any(r.metrics for r in results) else {}}
    atomic_write_text(out_dir / "metrics.json", json.dumps(payload, indent=2, default=str) + "\n")
    table = metrics_table_md(results)
    atomic_write_text(out_dir / "metrics.md", "# spsr demo: metrics\n\n" + table + "\n\n"
                      + "\n".join(f"- {n}" for n in notes) + "\n")

    esc = html.escape
    table_rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        table_rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{esc(h)}</th>" for h in ["image", "method", *[lbl for _, lbl in METRIC_COLUMNS]])
    figures = "\n".join(
        f'<figure><img src="{quote(r.image.name)}.png" alt="{esc(r.image.name)}"><figcaption>'
        f"{esc(r.image.source)}; SR in {r.seconds:.1f} s; "
        f'<a href="{quote(r.image.name)}_sr.png">SR PNG</a></figcaption></figure>' for r in results)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>spsr demo report</title>
<style>body{{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
img{{max-width:100%}}figure{{margin:1.5em 0}}</style></head><body>
<h1>SPSR demo</h1>
<ul>{''.join(f'<li>{esc(n)}</li>' for n in notes)}</ul>
<h2>Metrics (SPSR and the bicubic baseline against HR)</h2>
{'<table><tr>' + header + '</tr>' + ''.join(table_rows) + '</table>' if table_rows else '<p>No HR images: no metrics.</p>'}
<p>Also as <a href="metrics.md">metrics.md</a> and <a href="metrics.json">metrics.json</a>.</p>
<h2>Images: LR / bicubic / SPSR / HR and their gradient maps</h2>
{figures}
</body></html>
"""
    index = out_dir / "index.html"
    atomic_write_text(index, page)
    return index


# ----------------------------------------------------------------------------- the job


def run_demo(model: torch.nn.Module, images: list[DemoImage], out_dir: str | os.PathLike, *,
             device: str = "auto", model_name: str = "", model_note: str = "",
             progress: bool = True) -> Path:
    """Super-resolve ``images``, score them, write the report folder; returns the path of index.html."""
    from spsr_lib.inference.branch_pass import branch_scores, upscale_branch
    from spsr_lib.inference.infer import resolve_device, upscale
    from spsr_lib.inference.report_dir import claim_report_dir
    from spsr_lib.io.images import write_image
    from spsr_lib.metrics.branch import is_gradient_guided
    from spsr_lib.ops.imresize import imresize

    start = time.perf_counter()
    dev = resolve_device(device)  # a bad --device before the report folder is claimed: nothing written
    out = claim_report_dir(out_dir, [img.name for img in images])  # refuses to overwrite a file it did not write
    scale = int(getattr(model, "scale", 4))
    with_lpips, lpips_reason = lpips_availability() if any(i.hr is not None for i in images) else (False, "no HR")
    with_dists, dists_reason = dists_availability() if any(i.hr is not None for i in images) else (False, "no HR")
    for name, ok, why in (("LPIPS", with_lpips, lpips_reason), ("DISTS", with_dists, dists_reason)):
        if progress and not ok and why != "no HR":
            print(f"spsr demo: {name} n/a: {why}", flush=True)
    results = []
    guided = is_gradient_guided(model)
    for img in images:
        t0 = time.perf_counter()
        sr = upscale(img.lr, model, tile="auto", device=dev)
        seconds = time.perf_counter() - t0
        result = DemoResult(img, sr, imresize(img.lr, float(scale), mode="matlab"), seconds)
        if img.hr is not None:
            try:
                result.metrics = {"bicubic": score(result.bicubic, img.hr, scale, with_lpips, with_dists),
                                  "SPSR": score(sr, img.hr, scale, with_lpips, with_dists)}
            except SPSRError as exc:  # LPIPS trunk listed but unusable: report n/a and why, keep the rest
                with_lpips, lpips_reason = False, str(exc)
                result.metrics = {"bicubic": score(result.bicubic, img.hr, scale, False, with_dists),
                                  "SPSR": score(sr, img.hr, scale, False, with_dists)}
            if guided:  # a second pass, not timed: the SR of the demo is upscale()'s, the same image
                scores = branch_scores(upscale_branch(img.lr, model, tile="auto", device=dev), img.lr, img.hr, scale)
                result.metrics["SPSR"].update({k: scores[k] for k in ("branch_grad_l1", "branch_zero_change")})
        write_image(out / f"{img.name}_sr.png", sr)
        save_figure(result, out / f"{img.name}.png", scale)
        results.append(result)
        if progress:
            msg = f"  {img.name}: SR {sr.shape[1]}x{sr.shape[0]} in {seconds:.1f} s"
            if result.metrics:
                m = result.metrics
                msg += (f", PSNR {m['SPSR']['psnr_standard']:.2f} dB (bicubic {m['bicubic']['psnr_standard']:.2f}), "
                        f"phase index {m['SPSR']['phase_index']:.2f} (bicubic {m['bicubic']['phase_index']:.2f})")
            print(msg, flush=True)
    from spsr_lib.io.checkpoint import arch_of

    info = {"model": model_name or type(model).__name__, "arch": json.dumps(arch_of(model)),
            "model_note": model_note, "device": str(dev), "scale": scale,
            "lpips_available": with_lpips, "lpips_reason": lpips_reason,
            "dists_available": with_dists, "dists_reason": dists_reason,
            "seconds": time.perf_counter() - start}
    return write_report(results, out, info)
