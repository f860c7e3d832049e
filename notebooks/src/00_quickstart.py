# %% [markdown]
# # 00 · Quick start: super-resolve a real image
#
# **What you will learn**
# - load SPSR weights (the kit's demo weights, or the authors' `spsr.pth`) with one call;
# - make a ×4 low-resolution (LR) input the way the paper does, with MATLAB's bicubic `imresize`;
# - super-resolve it with `spsr_lib.upscale` and compare SR, bicubic and the high-resolution (HR)
#   original with numbers, enlarged crops, a difference map and a slider.
#
# **Paper**: Ma et al., *Structure-Preserving Super Resolution with Gradient Guidance*, CVPR 2020:
# Sec. 1 and Fig. 1 (GAN-based SR distorts geometric structure; SPSR keeps it), Sec. 4.2 (evaluation).
#
# **Modes** (the "run info" line below names the one that produced the stored outputs, and how long it took):
# - `SPSR_FAST=1` (what `make test` and CI set): a 128-px crop of the face, seconds;
# - the default, *laptop* mode: the whole 512×512 photo at full size with the shipped demo weights, well
#   under a minute on 2 CPU cores; the outputs stored in this file come from it;
# - `SPSR_FULL=1`: nothing heavier exists here, it is the laptop mode.
#
# JupyterLab draws the slider of section 5 from the file, without running anything, once the notebook is
# trusted (`make lab` trusts the course; or `jupyter trust notebooks/*.ipynb`); GitHub shows the figure under it.

# %%
import os
from pathlib import Path

import numpy as np
import torch
from IPython.display import display
from skimage import data

import spsr_lib
from spsr_lib import metrics, plots, tables, widgets

FAST = bool(os.environ.get("SPSR_FAST"))  # tiny sizes and steps for CPU and CI
FULL = bool(os.environ.get("SPSR_FULL")) and not FAST  # the heavy paths (none in this notebook)
MODE = "fast" if FAST else "full" if FULL else "laptop"
torch.manual_seed(0)
if FAST:
    torch.set_num_threads(1)  # small inputs: one thread avoids OpenMP spin-waits on a shared CPU

# %%
# run info: which mode and hardware produced the outputs stored in this notebook
print(spsr_lib.run_info(mode=MODE))

# %% [markdown]
# ## 1. Weights
#
# `spsr_lib.load_generator` reads the authors' checkpoint layout (`spsr.pth` from the official
# repository, 884 keys), the kit's training checkpoints and `.safetensors` files, and infers the
# architecture from the weights. The kit ships small demo weights trained with its own trainer
# (`data/demo_weights/spsr_demo_x4.safetensors`; they are not the paper's model). To use the authors'
# model, set `SPSR_WEIGHTS=/path/to/spsr.pth` before starting Jupyter. If neither file is present, an
# untrained network is used so that every cell still runs: the pictures then show the pipeline, not
# SPSR's quality.

# %%
weights = Path(os.environ.get("SPSR_WEIGHTS", "../data/demo_weights/spsr_demo_x4.safetensors"))
if weights.is_file():
    model = spsr_lib.load_generator(weights)
    source = weights.name
else:
    model = spsr_lib.SPSRNet(nf=16, nb=4)
    source = "untrained SPSRNet (no weight file found)"
model.eval()
n_params = sum(p.numel() for p in model.parameters())
print(f"{source}: {type(model).__name__}(nf={model.nf}, nb={model.nb}), {n_params:,} parameters, x{model.scale}")

# %% [markdown]
# ## 2. A low-resolution input
#
# The benchmark LR images of the paper are the HR images shrunk ×1/4 by MATLAB's antialiased
# bicubic `imresize`; `spsr_lib.imresize` reproduces it bit for bit on uint8 images. The bicubic
# enlargement of the LR image is the baseline every SR method has to beat.

# %%
if FAST:
    size = 128
    top, left = 128 - size // 2, 224 - size // 2  # the face: eyes, hair and skin, thin edges and texture
    hr = data.astronaut()[top:top + size, left:left + size]
else:
    hr, top, left = data.astronaut(), 0, 0  # the whole photo at full size, 512 x 512
    size = hr.shape[0]
lr = spsr_lib.imresize(hr, 1 / 4)
bicubic = spsr_lib.imresize(lr, 4)
print("HR", hr.shape, hr.dtype, "| LR", lr.shape, "| bicubic x4", bicubic.shape)

# %%
# NBVAL_CHECK_OUTPUT
# the x4 round trip, whatever the size: LR is HR / 4 on each side, and bicubic x4 is back at HR's size
print("LR = HR / 4:", (lr.shape[0] * 4, lr.shape[1] * 4) == hr.shape[:2], "| bicubic x4 has HR's size:",
      bicubic.shape == hr.shape, "| dtypes", lr.dtype, bicubic.dtype)

# %% [markdown]
# ## 3. Super-resolve
#
# `upscale` takes a numpy image, a tensor or a PIL image and gives back the same kind. Large images
# can be processed in tiles (`tile=256` or `tile="auto"`), which bounds memory; the CLI equivalent is
# `spsr infer input.png --out results/`.

# %%
sr = spsr_lib.upscale(lr, model, device="cpu" if FAST else "auto")
print("SR", sr.shape, sr.dtype)

# %% [markdown]
# ## 4. How close is it?
#
# PSNR and SSIM are computed like the paper's tables: on the luminance (Y) channel with 4 pixels
# shaved from every border. Both reward blur; SPSR is a perceptual method, so it is judged by its
# structures (and by LPIPS / PI in notebook 05) as much as by PSNR. Two structure numbers join them:
# the gradient-map L1 (how far the edges of the image are from the HR image's, `metrics.gradient_l1`) and the
# phase index (`metrics.phase_index`: does the image carry a grid every 4 px? HR photos are about 1.1, bicubic
# about 1.9; a GAN stage that draws a grid scores 2-3).

# %%
table = {name: {"PSNR (dB)": metrics.psnr(img, hr, scale=4), "SSIM": metrics.ssim(img, hr, scale=4),
                "gradient L1": metrics.gradient_l1(img, hr, scale=4), "phase index": metrics.phase_index(img)}
         for name, img in {"bicubic": bicubic, "SPSR": sr, "HR": hr}.items() if name != "HR"}
table["HR"] = {"phase index": metrics.phase_index(hr)}
display(tables.table(table, decimals={"PSNR (dB)": 2}, index="x4, Y channel",
                     caption=f"{'the whole photo' if not FAST else 'a crop'}, {hr.shape[1]}x{hr.shape[0]} px"))
plots.metric_bars({k: {m: v for m, v in row.items() if m in ("PSNR (dB)", "SSIM")} for k, row in table.items()
                   if k != "HR"});

# %%
notes = {k: f"PSNR {v['PSNR (dB)']:.2f} dB" for k, v in table.items() if "PSNR (dB)" in v}
crop = dict(center=(100 - top, 224 - left), size=32 if FAST else 96)  # the eyes (row 100, column 224 of astronaut)
plots.side_by_side({"bicubic": bicubic, "SPSR": sr, "HR": hr}, zoom=1, notes=notes, **crop);

# %% [markdown]
# Where does each result differ from the HR image? Bright means a large difference; both maps share
# one colour scale.

# %%
plots.difference_crops({"bicubic": bicubic, "SPSR": sr, "HR": hr}, reference="HR", **crop);

# %%
# what the crops and the table above say, computed from them (not written by hand)
t = table
said = [f"SPSR is {t['SPSR']['PSNR (dB)'] - t['bicubic']['PSNR (dB)']:+.2f} dB against bicubic in PSNR",
        f"its edges are {'closer to' if t['SPSR']['gradient L1'] < t['bicubic']['gradient L1'] else 'further from'} "
        f"HR's (gradient L1 {t['SPSR']['gradient L1']:.4f} vs {t['bicubic']['gradient L1']:.4f})",
        f"its phase index is {t['SPSR']['phase index']:.2f} (HR {t['HR']['phase index']:.2f}, bicubic "
        f"{t['bicubic']['phase index']:.2f}): " + ("no 4-px grid beyond what the photo has"
                                                  if t['SPSR']['phase index'] <= 1.4 else "a 4-px grid is visible")]
print("; ".join(said) + ".")

# %% [markdown]
# ## 5. Slider
#
# Run the cell, then drag the slider to wipe between two images, switch to *blend* to cross-fade, pick other
# images in the drop-downs, and zoom into a region with the zoom controls. Opened without a running kernel the
# slider shows its stored picture but does not move; the static figure under it shows the same comparison for
# readers without a kernel (GitHub, HTML exports).

# %%
# NBVAL_IGNORE_OUTPUT
slider = widgets.compare_slider({"SPSR": sr, "HR": hr, "bicubic": bicubic}, position=0.5)
display(slider.widget)
plots.wipe_figure(sr, hr, position=0.5, labels=("SPSR", "HR"));

# %% [markdown]
# ## Next
# - `01_gradient_maps`: the gradient operator SPSR is built on, and why LR gradients lose thin edges.
# - `02_gradient_branch`: the network, part by part, with real tensors.
# - `03_loss_ablations`: what each loss term adds, as an experiment.
# - `04_gan_training_gpu`: training SPSR from a config, on GPU or (tiny) on CPU.
# - `05_evaluation`: the paper's tables on Set5 / Set14 / BSD100, and per-image browsing.
#
# From the command line: `spsr demo` writes a report for the sample images, `spsr infer` processes
# files and folders.
