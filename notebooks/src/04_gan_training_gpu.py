# %% [markdown]
# # 04 · Training SPSR: from a config, on a GPU (or a few CPU steps)
#
# **What you will learn**
# - the two training stages (L1 pre-train of the SR branch, then the SPSR GAN stage) and the paper's
#   recipe as a YAML config with `--set`-style overrides;
# - where the training data comes from: downloading and preparing DIV2K with `spsr data`;
# - GPU options: device auto-detection, mixed precision (AMP), channels-last, `torch.compile`, and
#   several GPUs with `torchrun`;
# - watching a run: live loss curves and sample grids from the run's `metrics.jsonl` and checkpoints;
# - resuming a run exactly where it stopped.
#
# **Paper**: Sec. 4.1 (training details: DIV2K, 128×128 patches, batch, Adam 1e-4, RRDB_PSNR
# initialisation) and Sec. 3.3 (the losses); the official hyper-parameters are in `configs/paper_x4.yaml`.
#
# **Modes** (the "run info" line below names the one that produced the stored outputs, and how long it took).
# The *same code path* runs in all three:
# - `SPSR_FAST=1` (what `make test` and CI set): a handful of CPU steps on a tiny network and a few
#   scikit-image photos, seconds;
# - the default, *laptop* mode: a short stage 2 of the demo-size SPSRNet (nf 24, nb 6) on CPU, started from
#   the shipped stage-1 RRDBNet with the small-budget recipe of section 6 (T91 when it is on the machine),
#   a dozen steps at batch 2 (the mechanics, not a trained model: `scripts/stage2_probe.py` and section 6 are
#   the real small-budget runs): minutes on 2 cores; the sample grid uses the whole `coffee` photo; the stored
#   outputs come from it;
# - `SPSR_FULL=1`: the paper's configuration on the best device found (days on one GPU for the full 500k
#   iterations; stop and resume at any time).
#
# JupyterLab draws the slider of section 7 from the file, without running anything, once the notebook is
# trusted (`make lab` trusts the course; or `jupyter trust notebooks/*.ipynb`); GitHub shows the figure under it.

# %%
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from skimage import data

import spsr_lib
from spsr_lib import plots, widgets
from spsr_lib.errors import SPSRError
from spsr_lib.io.images import to_tensor
from spsr_lib.train.log import read_metrics
from spsr_lib.train.state import latest_state

FAST = bool(os.environ.get("SPSR_FAST"))  # tiny sizes and steps for CPU and CI
FULL = bool(os.environ.get("SPSR_FULL")) and not FAST  # the heavy path: the paper's configuration
MODE = "fast" if FAST else "full" if FULL else "laptop"
torch.manual_seed(0)
if FAST:
    torch.set_num_threads(1)  # tiny tensors: one thread avoids OpenMP spin-waits on a shared CPU

# %%
# run info: which mode and hardware produced the outputs stored in this notebook
print(spsr_lib.run_info(mode=MODE))

# %% [markdown]
# ## 1. The recipe is a config
#
# `configs/paper_x4.yaml` spells out the official hyper-parameters (every value equals the kit's
# default, so an empty YAML file *is* the paper's configuration). Stage 1 (`configs/psnr_x4.yaml`)
# pre-trains RRDBNet with L1; stage 2 starts its SR branch from that generator (`train.pretrained`).
# On the command line:
#
# ```
# spsr train configs/psnr_x4.yaml                                   # stage 1
# spsr train configs/paper_x4.yaml --set train.pretrained=runs/psnr_x4/models/G_latest.safetensors
# spsr train configs/paper_x4.yaml --resume                         # continue after a stop
# ```

# %%
# NBVAL_CHECK_OUTPUT
paper = spsr_lib.load_config("../configs/paper_x4.yaml")
m, d, t = paper.model, paper.data, paper.train
print(f"stage {paper.stage}: SPSRNet nf={m.nf} nb={m.nb} gc={m.gc} x{m.scale}, taps {m.taps}")
print(f"data: HR patch {d.patch_size}, batch {d.batch_size}, augment {d.augment}")
print(f"train: {t.niter:,} iterations, Adam lr G {t.lr_g:g} / D {t.lr_d:g}, betas {t.betas}, "
      f"MultiStepLR {t.milestones} x{t.gamma}")
print(f"branch pre-train: {t.branch_pretrain.steps} steps training only '{t.branch_pretrain.train}'")
print(f"runtime: device {paper.runtime.device}, amp {paper.runtime.amp}, channels_last {paper.runtime.channels_last}")

# %% [markdown]
# ## 2. Training data: DIV2K
#
# The paper trains on the 800 DIV2K training images cut into 480×480 sub-images (stride 240) with
# their ×4 LR pre-computed by MATLAB's bicubic. The kit downloads (with checksums) and prepares them:
#
# ```
# spsr data download DIV2K-train          # ~3.5 GB into datasets/DIV2K-train/HR
# spsr data prepare datasets/DIV2K-train/HR datasets/DIV2K800_sub   # 480 px sub-images + LR_x4
# ```
#
# Any folder of HR images works too (LR is then made on the fly, bit-exact to MATLAB). In fast mode
# the "dataset" is five scikit-image photos written to a folder.

# %%
print(subprocess.run([sys.executable, "-m", "spsr_lib", "data", "list"], capture_output=True, text=True).stdout)

# %%
run_root = Path("runs")
div2k = Path("../datasets/DIV2K800_sub/HR")
shared_t91 = Path(os.environ.get("SPSR_SHARED_DATA", "../../shared/data")) / "train" / "T91" / "HR"
if not FAST and div2k.is_dir():
    train_dir = div2k
elif not FAST and shared_t91.is_dir():
    train_dir = shared_t91  # a much smaller set: fine for trying the code, not for the paper's numbers
else:
    train_dir = run_root / "nb04_photos"
    for name in ("astronaut", "chelsea", "rocket", "immunohistochemistry", "coffee"):
        if not (train_dir / f"{name}.png").exists():
            spsr_lib.write_image(train_dir / f"{name}.png", getattr(data, name)())
print("training images:", train_dir.name if train_dir.name != "HR" else train_dir.parent.name,
      f"({len(list(train_dir.glob('*.png')))} files)")

# %% [markdown]
# ## 3. Device, precision and several GPUs
#
# - `runtime.device: auto` picks CUDA when present. `runtime.amp: bf16` (Ampere or newer) halves
#   memory; `fp16` adds a gradient scaler. At the paper's batch the step is launch-bound (the GPU waits
#   for Python between thousands of small kernels), so bf16 pays off together with
#   `runtime.channels_last: true` and `runtime.cuda_graphs: true`: one training step is captured as a
#   CUDA graph and replayed (single GPU). On an H200 that step runs 2.4-2.9x faster than fp32 eager and
#   trains bit for bit like the eager step (`docs/PERFORMANCE.md`). `runtime.compile: true` is the other route.
# - Several GPUs: `torchrun --nproc_per_node 4 -m spsr_lib train configs/paper_x4.yaml ...`. Each process
#   takes `batch_size / world_size` samples (the config's batch is the *global* batch, 30 as in the
#   paper), gradients are averaged, and rank 0 writes logs and checkpoints. The official code ran the
#   discriminators' BatchNorm per GPU; `discriminator.sync_bn: true` synchronises it instead.
#
# Below, the paper's config is shrunk by overrides in fast mode; laptop mode runs a few CPU steps of the recipe
# that made the shipped demo weights (`configs/structure_x4.yaml`, section 6) from their stage 1; full mode uses
# the paper's config as is, with bf16 on a GPU that supports it.

# %%
overrides = [f"data.train={train_dir}", "logging.tensorboard=false", "logging.progress=false"]
if FAST:
    overrides += ["model={nf: 8, nb: 2, gc: 8, scale: 4}", "discriminator.nf=8", "data.patch_size=32",
                  "data.batch_size=2", "data.num_workers=0", "data.val=null", "train.niter=6",
                  "train.branch_pretrain.steps=2",
                  "logging.log_freq=1", "logging.save_freq=2", "runtime.device=cpu", "seed=9"]
elif not FULL:  # laptop: the shipped demo recipe (configs/structure_x4.yaml) from the shipped stage 1, a few steps
    overrides += ["data.batch_size=2", "data.num_workers=0", "data.val=null", "train.niter=6",
                  "train.pretrained=../data/demo_weights/rrdb_psnr_demo_x4.safetensors",
                  "logging.log_freq=1", "logging.save_freq=3", "runtime.device=cpu", "seed=9"]
else:
    overrides += ["runtime.device=auto", "data.val_max_images=5", "logging.save_freq=5000"]
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        overrides += ["runtime.amp=bf16", "runtime.channels_last=true", "runtime.cuda_graphs=true"]
recipe = "../configs/structure_x4.yaml" if not (FAST or FULL) else "../configs/paper_x4.yaml"
cfg = spsr_lib.load_config(recipe, overrides)
from spsr_lib.io.weights import locate  # the perceptual loss needs ImageNet VGG weights, never random ones

for arch in (cfg.loss.perceptual.arch, "vgg16", None):  # VGG16 is the trunk available offline
    try:
        if arch is not None:
            locate(arch, download=not FAST)
            cfg.loss.perceptual.arch = arch
        else:
            cfg.loss.perceptual.weight = 0.0  # `spsr weights fetch vgg16` makes the term available
        break
    except SPSRError:
        continue
cfg.train.pretrained = None if FAST else cfg.train.pretrained  # fast mode: no stage-1 generator to start from
cfg.output_dir = str(run_root / ("nb04_fast" if FAST else "nb04_laptop" if not FULL else cfg.name))
if not FULL and Path(cfg.output_dir).exists():
    shutil.rmtree(cfg.output_dir)  # fast and laptop mode always start afresh
print(f"run folder {cfg.output_dir}: SPSRNet nf={cfg.model.nf} nb={cfg.model.nb}, patch {cfg.data.patch_size}, "
      f"batch {cfg.data.batch_size}, {cfg.train.niter:,} iterations, "
      f"perceptual {cfg.loss.perceptual.arch if cfg.loss.perceptual.weight else 'off (no VGG weights here)'}")

# %% [markdown]
# ## 4. Train, and watch it
#
# `spsr_lib.Trainer(cfg).fit()` is the whole training loop (what `spsr train` runs). To watch it from
# a notebook, train in chunks: each chunk builds a `Trainer` with `resume=True`, which continues
# *exactly* from the latest checkpoint (weights, optimisers, schedulers, RNG and data position), trains
# to the next checkpoint, and returns. After every chunk the loss curves (from `metrics.jsonl`) and a
# sample grid (from the saved generator) are redrawn in place.

# %%
probe_hr = data.coffee()[100:100 + 128, 200:200 + 128] if FAST else data.coffee()  # else the whole photo
probe_lr = spsr_lib.imresize(probe_hr, 1 / cfg.model.scale)
run_dir = Path(cfg.output_dir)


def sample_grid(step: int):
    G = spsr_lib.load_generator(run_dir / "models" / "G_latest.safetensors")
    res = spsr_lib.upscale(probe_lr, G, device="cpu" if FAST else "auto", return_gradients=True)
    near = np.kron(probe_lr, np.ones((cfg.model.scale, cfg.model.scale, 1), np.uint8))
    grad = lambda img: widgets.as_image(spsr_lib.gradient_map(to_tensor(img)), vmax=0.5)  # noqa: E731
    fig = plots.show_images({"LR (nearest)": near, f"SR, step {step}": res.sr, "HR": probe_hr,
                             "branch grad_sr": widgets.as_image(res.grad_sr, vmax=0.5),
                             "M(SR)": grad(res.sr), "M(HR)": grad(probe_hr)}, ncols=3, panel=2.4)
    return fig, res


def train_chunks(total: int) -> tuple[dict, object]:
    curves_view = display("loss curves appear after the first checkpoint", display_id=True)
    grid_view = display("samples appear after the first checkpoint", display_id=True)
    step, last, res = 0, {}, None
    while step < total:
        cfg.train.niter = min(total, step + cfg.logging.save_freq)  # stop at the next checkpoint
        trainer = spsr_lib.Trainer(cfg, resume=latest_state(run_dir) is not None)
        try:
            last = trainer.fit()
        finally:
            trainer.close()
        step = trainer.step
        fig = plots.loss_curves(read_metrics(run_dir / "metrics.jsonl"), keys=["l_pixel", "l_perceptual", "l_gan",
                                "l_gradient_pixel", "l_gradient_gan", "l_branch_pixel", "l_d", "l_d_grad"], ncols=4)
        curves_view.update(fig)
        plt.close(fig)
        fig, res = sample_grid(step)
        grid_view.update(fig)
        plt.close(fig)
    return last, res


niter = cfg.train.niter
last, res = train_chunks(niter)
print("last logged values:", {k: round(v, 4) for k, v in last.items() if k.startswith("l_")})

# %% [markdown]
# ## 5. Resume
#
# A stopped run continues with `spsr train CONFIG --resume` (or `Trainer(cfg, resume=True)`), from the
# newest `checkpoints/state_*.pt`. Here: two more checkpoints' worth of steps on top of the run above.

# %%
print("checkpoints:", [p.name for p in sorted((run_dir / "checkpoints").glob("state_*.pt"))])
cfg.train.niter = niter + 2 * cfg.logging.save_freq
trainer = spsr_lib.Trainer(cfg, resume=True)
print("resumed at step", trainer.step)
try:
    trainer.fit()
finally:
    trainer.close()
print("now at step", trainer.step, "| newest checkpoint:", latest_state(run_dir).name)

# %% [markdown]
# ## 6. Stage 2 on a small budget: colour drift, and how to see it
#
# A short GAN stage goes wrong in a way its loss curves do not show. Run with the official losses for a
# few hundred or thousand steps (instead of the paper's 5×10⁵ at batch 30), the generator drifts in **colour**:
# the kit's first GPU demo run (1,122 steps, batch 16) came out +8 to +14 grey levels brighter per channel,
# 6 dB below its stage-1 model. The cause is the perceptual term: VGG features barely change under a global
# colour offset, Adam moves every weight by about lr in its first steps whatever the gradient, and the
# official pixel term (weight 1e-2) is too weak to pull the colour back (`../shared/spec/STAGE2_PROBES.md`:
# the perceptual term alone shifts Set5 by (+7.8, −14.8, +1.3) grey levels in 20 steps; a 10× larger pixel
# weight does not stop it; a 10× lower lr only slows it).
#
# Two things to watch, and two levers, all in the kit:
# - `spsr_lib.metrics.colour_shift` (the largest SR−HR channel-mean difference, grey levels) is logged at every
#   validation, in `spsr evaluate` and in the demo report, so a drift is seen while it happens;
# - `loss.low_frequency` (not in the paper) is an L1 between 4×-box-downscaled SR and HR: it pins what the LR
#   input already determines (colour, brightness) and leaves the high frequencies to the perceptual and GAN
#   terms; `train.ema` averages the last ~100 generators, which removes the step-to-step colour jitter of a
#   batch-4 Adam at lr 1e-4.
#
# `scripts/stage2_probe.py` trains named variants side by side from one generator (same seed, same batches) and
# validates them every K steps; `configs/demo_x4_small_budget.yaml` is the recipe it found. The committed probe
# (`data/stage2_probe/probe.json`, 2 CPU cores) continued the drifted GPU stage 2 with three variants, and ran
# the final recipe from the stage-1 RRDBNet too:

# %%
from IPython.display import Markdown

from spsr_lib.train.probe_report import probe_table, read_probe

probe = read_probe(Path("../data/stage2_probe/probe.json"))
display(Markdown(probe_table(probe, steps=[0, 100, 300, 600, 1200])))
fig = plots.probe_curves(probe)
display(fig)
plt.close(fig)

# %% [markdown]
# Reading it: with the low-frequency term the drifted model's colour comes back within a few hundred steps
# while LPIPS keeps falling (weight 30 faster than 10); without EMA the shift jumps from one validation to the
# next. From the stage-1 RRDBNet the same recipe holds colour from the start, but at batch 4 and 64-px patches
# LPIPS falls slowly: the perceptual gain of the shipped model comes from its GPU stage (batch 16, 128 px).
# The run that continued to 1,200 steps is the shipped demo model (`data/demo_weights/MODEL_CARD.md`). To check
# your own recipe, add a `--variant NAME "key=value ..."` per idea:
#
# ```
# python scripts/stage2_probe.py configs/demo_x4_small_budget.yaml --steps 300 --every 50 --out runs/probe \
#     --variant base "" --variant no_lf "loss.low_frequency.weight=0" --variant lpips_layers \
#     "'loss.perceptual.layers={conv3_3: 1, conv5_3: 1}'"
# ```

# %% [markdown]
# ### The grid and the branch: the recipe of the shipped weights
#
# Holding colour is not enough: run longer, the same recipe drew a regular 4-px grid into fur and skin and beaded
# thin edges (the *structural distortion* of the paper's Fig. 1), and its gradient branch stayed unused. The
# shipped weights come from a second probe (`data/structure_probe/`, 200 steps from their stage 1, Set5): a stage 1
# with a bicubic residual (`model.residual=bicubic`), then one lever per variant. The `phase index` column measures
# the grid (largest over smallest high-pass energy of the 16 pixel phases; HR images ≈ 1.1, bicubic ≈ 1.9).
# The first variants ran before the kit logged that column; their values come from `spsr evaluate` of the same
# generators on the same images (`data/structure_probe/final_generators_set5.json`; the file's `filled` says which).

# %%
structure = read_probe(Path("../data/structure_probe/probe.json"))
display(Markdown(probe_table(structure, steps=[200])))

# %% [markdown]
# Reading it: every lever of the discriminator (spectral norm, a pause rule, Real-ESRGAN's U-Net D) left LPIPS and
# the grid where the base recipe put them; a higher learning rate bought LPIPS and a faster-growing grid; the
# phase-energy term (`loss.phase_energy`, not in the paper) held the phase index at the stage-1 level at the same
# LPIPS. `configs/structure_x4.yaml` adopts lr 2e-4 together with it, plus LDL and spectral norm, and quotes every
# row; its 1,500-step run is the shipped demo model (`data/demo_weights/MODEL_CARD.md`).

# %% [markdown]
# ## 7. Use the result
#
# `models/G_latest.safetensors` is the generator (`spsr infer --model` and `load_generator` read it).
# The slider compares its output with the HR image; the static figure is the last sample grid.

# %%
# NBVAL_IGNORE_OUTPUT
fig, res = sample_grid(trainer.step)
bicubic = spsr_lib.imresize(probe_lr, cfg.model.scale)
slider = widgets.compare_slider({"SR": res.sr, "HR": probe_hr, "bicubic": bicubic}, position=0.5)
display(slider.widget)
display(fig)
plt.close(fig)

# %% [markdown]
# ## Summary
# - One config holds the recipe; overrides shrink it (fast mode) or adapt it (AMP, devices).
# - `Trainer(cfg).fit()` is the loop; `resume=True` continues exactly; `metrics.jsonl` feeds the plots.
# - Several GPUs: `torchrun --nproc_per_node N -m spsr_lib train ...`, the batch is global.
# - A short run (minutes, not days)? Start from a stage-1 RRDBNet with `train.fusion_init=identity`, watch
#   `colour_shift` and `phase_index` in the validation log, hold colour with `loss.low_frequency` and `train.ema`
#   and the grid with `loss.phase_energy` (`configs/structure_x4.yaml`, section 6); `train.time_limit_s` ends a run
#   cleanly on a wall-clock budget. The shipped demo weights are both stages of that recipe on 2 CPU cores
#   (`scripts/train_structure_demo.sh`).
#
# Next: `05_evaluation` measures a trained generator the way the paper does.
