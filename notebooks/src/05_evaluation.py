# %% [markdown]
# # 05 · Evaluation: the paper's tables, and every image behind them
#
# **What you will learn**
# - how SR papers evaluate: benchmark sets, ×4 MATLAB-bicubic LR, Y-channel PSNR/SSIM with a shaved
#   border, and perceptual metrics (LPIPS, NIQE, Ma, PI = ((10 - Ma) + NIQE) / 2);
# - why there are two PSNR/SSIM protocols (`standard` and the paper's own toolbox, `spsr`) and how far
#   apart they are;
# - running `spsr evaluate` (or `spsr_lib.inference.evaluate.evaluate`) on Set5 / Set14 / BSD100 and reading its
#   table like the paper's Table 1, plus the gradient-map metrics that measure structure;
# - browsing the results image by image with a slider;
# - evaluating the authors' released checkpoint `spsr.pth`.
#
# **Paper**: Sec. 4.2 (datasets and metrics), Table 1 (quantitative comparison), Sec. 4.3.
#
# **Modes** (the "run info" line below names the one that produced the stored outputs, and how long it took;
# without the benchmark sets on the machine, three scikit-image photos stand in for them):
# - `SPSR_FAST=1` (what `make test` and CI set): Set5 only, the quick metrics, three images on the slider;
# - the default, *laptop* mode: Set5 and Set14, whole images, both protocols, PSNR / SSIM / LPIPS /
#   gradient-map metrics / colour shift, with the shipped demo weights; a few minutes on 2 CPU cores; the
#   stored outputs come from it;
# - `SPSR_FULL=1`: Set5, Set14 and BSD100 with every metric whose model files are present (DISTS, whose
#   VGG16 on whole images is the slowest metric on a CPU, NIQE, Ma, PI).
#
# JupyterLab draws the slider of section 3 from the file, without running anything, once the notebook is
# trusted (`make lab` trusts the course; or `jupyter trust notebooks/*.ipynb`); GitHub shows the figure under it.

# %%
import os
from pathlib import Path

import numpy as np
import torch
from IPython.display import Markdown, display
from skimage import data

import spsr_lib
from spsr_lib import metrics, plots, tables, widgets
from spsr_lib.errors import SPSRError
from spsr_lib.inference.evaluate import evaluate

FAST = bool(os.environ.get("SPSR_FAST"))  # tiny sizes and steps for CPU and CI
FULL = bool(os.environ.get("SPSR_FULL")) and not FAST  # the heavy paths: BSD100 and every metric
MODE = "fast" if FAST else "full" if FULL else "laptop"
torch.manual_seed(0)
if FAST:
    torch.set_num_threads(1)  # small images: one thread avoids OpenMP spin-waits on a shared CPU

# %%
# run info: which mode and hardware produced the outputs stored in this notebook
print(spsr_lib.run_info(mode=MODE))

# %% [markdown]
# ## 1. Two protocols for the same numbers
#
# PSNR and SSIM are computed on the luminance channel Y of YCbCr, with `scale` pixels shaved from
# each border, against the HR image mod-cropped to a multiple of 4.
# - `standard` (BasicSR and most papers' Python code): Y in floating point, Gaussian SSIM on the full
#   image;
# - `spsr` (the MATLAB toolbox the SPSR paper used): Y rounded to integers, and MATLAB's `ssim`, which
#   first downsamples large images.
#
# PSNR barely changes, but on a 512×512 image the toolbox's SSIM is computed on a 2× downsampled
# image and comes out far higher: a table must say which protocol it uses (`spsr evaluate --mode
# both` reports both).

# %%
# NBVAL_CHECK_OUTPUT
hr = data.astronaut()  # 512x512, a multiple of 4
bic = spsr_lib.imresize(spsr_lib.imresize(hr, 1 / 4), 4)
for mode in metrics.MODES:
    print(f"bicubic vs HR, mode {mode:8s}: PSNR {metrics.psnr(bic, hr, 4, mode):.3f} dB, "
          f"SSIM {metrics.ssim(bic, hr, 4, mode):.4f}")
print(f"RGB PSNR (the official training validation): {metrics.psnr_rgb(bic, hr, 4):.3f} dB")
print(f"gradient-map PSNR {metrics.gradient_psnr(bic, hr, 4):.2f} dB, L1 {metrics.gradient_l1(bic, hr, 4):.5f}")

# %% [markdown]
# ## 2. The table: `spsr evaluate`
#
# ```
# spsr evaluate --model data/demo_weights/spsr_demo_x4.safetensors --sets Set5 Set14 BSD100 --mode both --out results/
# ```
#
# writes `results_standard.md`, `results_spsr.md` (+ `.csv`) and `results.json` with every per-image
# value. Below, the same through the Python API. The SR row uses the kit's demo weights (or
# `SPSR_WEIGHTS=/path/to/spsr.pth`); Bicubic is always the first row. Metrics whose model files are
# missing (NIQE and Ma need `modelparameters.mat` and Ma's `model.mat`; LPIPS needs an ImageNet
# AlexNet trunk) are reported as n/a, never guessed.

# %%
weights = Path(os.environ.get("SPSR_WEIGHTS", "../data/demo_weights/spsr_demo_x4.safetensors"))
model_path = weights if weights.is_file() else None
sets = ["Set5"] if FAST else ["Set5", "Set14", "BSD100"] if FULL else ["Set5", "Set14"]
try:
    for s in sets:
        spsr_lib.load_benchmark_set(s)
except SPSRError:  # no benchmark sets on this machine: three scikit-image photos as a mini "set"
    folder = Path("runs/nb05_photos")
    for name in ("astronaut", "chelsea", "coffee"):
        if not (folder / f"{name}.png").exists():
            spsr_lib.write_image(folder / f"{name}.png", spsr_lib.imresize(getattr(data, name)(), 1 / 2))
    sets = [str(folder)]
chosen = (["psnr", "ssim", "lpips", "grad_psnr", "grad_l1"] if FAST else None if FULL
          else ["psnr", "ssim", "lpips", "grad_psnr", "grad_l1", "colour_shift"])
ev = evaluate(sets, scale=4, mode="both", model=model_path, name="SPSR (demo weights)" if model_path else None,
              progress=False, **({"metrics": chosen} if chosen else {}))
print("sets:", ", ".join(Path(s).name for s in ev.sets), "| model:", model_path.name if model_path else "none (bicubic only)")
for mode in ev.modes:
    display(Markdown("\n".join(ln for ln in ev.table(mode).splitlines() if not ln.startswith("- "))))
if ev.unavailable:
    print("n/a here:", ", ".join(sorted(ev.unavailable)))

# %%
means = {m.name: {k: m.mean(ev.sets[0], k) for k in ("psnr_standard", "ssim_standard", "lpips", "grad_l1")}
         for m in ev.methods}
means = {name: {k: v for k, v in row.items() if v is not None} for name, row in means.items()}
plots.metric_bars(means);

# %% [markdown]
# ## 3. Image by image
#
# A mean hides which images a method handles well. The per-image values are all in the result; the
# slider shows each image (pick it in **image**) with SR, bicubic and HR, and zooms into any region.

# %%
first_set = spsr_lib.load_benchmark_set(ev.sets[0] if not sets[0].startswith("runs") else sets[0])
sr_model = spsr_lib.load_generator(model_path).eval() if model_path else None
scenes = {}
for item in list(first_set)[: 3 if FAST else None]:
    versions = {"bicubic": spsr_lib.imresize(item.lr, 4), "HR": item.hr}
    if sr_model is not None:
        versions = {"SR": spsr_lib.upscale(item.lr, sr_model, device="cpu" if FAST else "auto"), **versions}
    scenes[item.name] = versions
per_image = ev.methods[-1].values[ev.sets[0]]
columns = {"psnr_standard": "PSNR (dB)", "ssim_standard": "SSIM", "lpips": "LPIPS", "dists": "DISTS",
           "grad_l1": "grad L1", "colour_shift": "colour shift (grey levels)"}
rows = {name: {label: per_image[name].get(key) for key, label in columns.items() if key in per_image[name]}
        for name in scenes}
tables.table(rows, decimals={"PSNR (dB)": 2, "grad L1": 5, "colour shift (grey levels)": 1}, index="image",
             caption=f"{ev.methods[-1].name} on {Path(ev.sets[0]).name}, per image (standard protocol)")

# %%
# NBVAL_IGNORE_OUTPUT
slider = widgets.compare_slider(scenes, position=0.5)
display(slider.widget)
name = next(iter(scenes))
h, w = scenes[name]["HR"].shape[:2]
plots.side_by_side(scenes[name], center=(h / 2, w / 2), size=min(h, w) // 4);

# %% [markdown]
# ## 4. Evaluating the authors' checkpoint
#
# The official `spsr.pth` (linked from the README of github.com/Maclory/SPSR) loads directly:
#
# ```
# spsr evaluate --model /path/to/spsr.pth --sets Set5 Set14 BSD100 Urban100 General100 --mode spsr --out results_spsr_official/
# ```
#
# - `spsr data download Set5 Set14 BSD100 Urban100` fetches the sets (checked against per-file hashes).
# - `--mode spsr` matches the toolbox of the paper's Table 1; compare with the table row by row.
# - For PI, pass `--niqe-params modelparameters.mat --ma-model model.mat` (or set `SPSR_NIQE_PARAMS` /
#   `SPSR_MA_MODEL`).
# - The full-size model needs a lot of memory on large images; `--tile 128` bounds it.
#
# In Python: `spsr_lib.load_generator("spsr.pth")` gives an `SPSRNet` for `upscale` and for every
# notebook of this course (set `SPSR_WEIGHTS` before starting Jupyter).

# %% [markdown]
# ## Summary
# - Say which protocol a PSNR/SSIM comes from; `spsr evaluate --mode both` reports both.
# - Perceptual (LPIPS, PI) and structural (gradient-map) metrics complete the picture.
# - Every number has its per-image values and its source in `results.json`.
