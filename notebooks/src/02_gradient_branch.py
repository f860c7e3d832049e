# ---
# jupyter:
#   jupytext:
#     formats: ipynb,src//py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# *This notebook is built from [`notebooks/src/02_gradient_branch.py`](src/02_gradient_branch.py) (jupytext, percent format) by `scripts/build_notebooks.py`; edit the source, or this notebook in a JupyterLab with jupytext (it saves both), and rebuild.*

# %% [markdown]
# # 02 · The gradient branch, walked through with real tensors
#
# **What you will learn**
# - the three parts of the SPSR generator (SR branch, gradient branch, fusion) and their parameter
#   counts, checked against the official model;
# - which SR-branch features feed the gradient branch, and every tensor shape on the way from an LR
#   image to the SR image and the predicted SR gradient map;
# - what the branch predicts (`grad_sr`) compared with the true HR gradient map;
# - what the fusion block does with the branch, and how much of the picture depends on it;
# - the model-agnostic variant: the same branch and fusion on another backbone (SRResNet, ESRGAN).
#
# **Paper**: Sec. 3.2 and Fig. 2 (architecture), Sec. 4.4 / Table 4 (the branch on other networks).
#
# %% [markdown]
# <details><summary>About this notebook (run modes, trust, CI): click to open</summary>
#
# - **Modes.** The default *laptop* mode runs the branch (sections 3-4) on the whole 512×512 photo with the shipped
#   demo weights, and the shape walk of section 2 on the paper-size network (24.8 M parameters, untrained: shapes
#   only) on a 128-px crop; about a minute on 2 CPU cores; the stored outputs come from it (see the "run info"
#   line). `SPSR_FAST=1` (`make test`, CI) uses small crops; `SPSR_FULL=1` is the laptop mode here.
# - **Sliders.** JupyterLab draws the stored slider of section 3 once the notebook is trusted (`make lab`, or
#   `jupyter trust notebooks/*.ipynb`); it moves once its cell has run. GitHub shows the static figure under it.
# - **CI.** nbval re-runs the notebook in fast mode; cells tagged `nbval-check-output` must print what is stored.
#
# </details>

# %%
import os
from pathlib import Path

import numpy as np
import torch
from IPython.display import Markdown, display
from skimage import data

import spsr_lib
from spsr_lib import plots, widgets
from spsr_lib.io.images import to_tensor
from spsr_lib.models.guidance import GradientGuidedSR, SRResNet

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
# ## 1. Three parts, 24.8 M parameters
#
# `SPSRNet()` with its defaults is the paper's generator (nf=64, 23 RRDBs, growth 32, ×4):
# - the **SR branch** is ESRGAN's RRDBNet without its last conv: it ends in a 64-channel HR feature;
# - the **gradient branch** turns the LR gradient map into an HR gradient map, helped by four SR-branch
#   features (after RRDBs 5, 10, 15 and 20);
# - the **fusion** block merges the branch's HR feature with the SR branch's HR feature into the image.
#
# The official numbers (counted from the authors' code) follow the word "official" on each line.

# %% tags=["nbval-check-output"]
model = spsr_lib.SPSRNet()  # the paper's size; freshly initialised (shapes and counts only)
official = {"sr_branch": 16_733_184, "gradient_branch": 6_456_835, "fusion": 1_606_211}
for part, params in model.parameter_groups().items():
    n = sum(p.numel() for p in params)
    print(f"{part:16s} {n:>11,}   official {official[part]:>11,}   {'ok' if n == official[part] else 'DIFFERENT'}")
total = sum(p.numel() for p in model.parameters())
print(f"{'total':16s} {total:>11,}   official {24_796_230:>11,} trainable (+18 fixed gradient-kernel entries)")
print("gradient-branch taps (0-based RRDB indices):", model.taps)

# %% [markdown]
# ## 2. Follow one image through the network
#
# Forward hooks record the output of every stage for a real LR image. Shapes are written with `h×w`, the LR
# size (32×32 in the laptop mode, 16×16 in fast mode), and `4h×4w`, the HR size, so they hold for any input. Note the channel counts: each branch block sees **128 = 64 (branch) + 64 (SR tap)**
# channels, and the fusion sees 128 = 64 (branch HR feature) + 64 (SR HR feature); the 3-channel
# `grad_sr` map is a side output, not what is fused.

# %% tags=["nbval-check-output"]
n = 64 if FAST else 128
hr = data.astronaut()[64:64 + n, 192:192 + n]
lr = to_tensor(spsr_lib.imresize(hr, 1 / 4))

stages = {"conv_first": "SR: first conv (f0)", **{f"body.{t}": f"SR: tap {i + 1}, after RRDB {t + 1}"
                                                for i, t in enumerate(model.taps)},
          "conv_hr_feat": "SR: HR feature S", "lr_gradient": "branch: LR gradient map M(LR)",
          "grad_branch.conv_first": "branch: B0",
          **{f"grad_branch.blocks.{k}": f"branch: RRDB {k + 1} on cat(B, tap)" for k in range(4)},
          **{f"grad_branch.concats.{k}": f"branch: B{k + 1}" for k in range(4)},
          "grad_branch.conv_hr_feat": "branch: HR feature Bhr", "grad_branch.conv_out": "branch: grad_sr (1x1 conv)",
          "fusion.block": "fusion: RRDB on cat(Bhr, S)", "fusion": "fusion: SR image"}
shapes, hooks = {}, []
modules = dict(model.named_modules())
for name in stages:
    hooks.append(modules[name].register_forward_hook(
        lambda m, i, o, name=name: shapes.__setitem__(name, (tuple(i[0].shape) if i else None, tuple(o.shape)))))
with torch.no_grad():
    out = model(lr)
for h in hooks:
    h.remove()


def sym(shape: tuple, h: int = lr.shape[-2], w: int = lr.shape[-1]) -> str:
    """A shape with the LR size written as h, w (the HR size as 4h, 4w)."""
    dims = [str(d) for d in shape[:-2]]
    for d, base, name in zip(shape[-2:], (h, w), ("h", "w")):
        dims.append(name if d == base else f"{d // base}{name}" if d % base == 0 else str(d))
    return "(" + ", ".join(dims) + ")"


print(f"LR input {sym(tuple(lr.shape))}")
for name, label in stages.items():
    print(f"{label:38s} {sym(shapes[name][1]):18s} (module {name})")
print("outputs: sr", sym(tuple(out.sr.shape)), "grad_sr", sym(tuple(out.grad_sr.shape)),
      "grad_lr", sym(tuple(out.grad_lr.shape)))

# %% [markdown]
# ## 3. What the branch predicts
#
# The branch is trained (branch pixel loss: the paper's weight 0.5, the demo's stage 2b 2) towards the gradient map of the HR image, computed with
# padding 1. The weights are the kit's demo weights (or `SPSR_WEIGHTS=/path/to/spsr.pth`); without either, an
# untrained network runs and the maps are noise.
#
# The demo weights use the kit's `residual="bicubic"` option: the branch's output is added to the gradient map of
# the bicubic image, M(bicubic), so it starts as that map and learns a *correction* towards M(HR) (the authors'
# model predicts the whole map). So the branch's picture looks like a gradient map from the first step, and the
# question is whether the correction moves it towards M(HR). The lines under the next cell measure that; the
# sentence after the slider reads them out.

# %%
weights = Path(os.environ.get("SPSR_WEIGHTS", "../data/demo_weights/spsr_demo_x4.safetensors"))
trained = spsr_lib.load_generator(weights) if weights.is_file() else spsr_lib.SPSRNet(nf=16, nb=4)
trained.eval()
print("model:", weights.name if weights.is_file() else "untrained SPSRNet (no weight file found)")

m = 128 if FAST else 512
photo = data.astronaut()[36:36 + m, 160:160 + m] if FAST else data.astronaut()  # laptop: the whole photo
eyes = (64, 64) if FAST else (100, 224)  # between the astronaut's eyes
low = spsr_lib.imresize(photo, 1 / 4)
res = spsr_lib.upscale(low, trained, device="cpu", return_gradients=True)
bicubic = spsr_lib.imresize(low, 4)
maps = {"grad_sr (branch)": res.grad_sr, "M(SR)": spsr_lib.gradient_map(to_tensor(res.sr)),
        "M(bicubic)": spsr_lib.gradient_map(to_tensor(bicubic)), "M(HR)": spsr_lib.gradient_map(to_tensor(photo))}
maps = {k: widgets.as_image(v) for k, v in maps.items()}
for k, v in maps.items():
    if k != "M(HR)":
        print(f"mean |{k} - M(HR)| = {np.abs(v - maps['M(HR)']).mean():.4f}")
branch_l1 = np.abs(maps["grad_sr (branch)"] - maps["M(HR)"]).mean()
bicubic_l1 = np.abs(maps["M(bicubic)"] - maps["M(HR)"]).mean()

# %% tags=["nbval-ignore-output"]
shown = {k: widgets.as_image(v, vmax=0.5) for k, v in maps.items()}
slider = widgets.compare_slider(shown, left="grad_sr (branch)", right="M(HR)")
slider.show()
plots.side_by_side(shown, center=eyes, size=m // 4);

# %%
# what the maps above show, read from the numbers (not written by hand)
gain = (bicubic_l1 - branch_l1) / bicubic_l1
verdict = ("closer to M(HR) than M(bicubic) is" if gain > 0.01 else "about as far from M(HR) as M(bicubic) is"
           if gain > -0.01 else "further from M(HR) than M(bicubic) is")
display(Markdown(
    f"**Read the maps with these numbers:** the branch's map is {verdict} ({branch_l1:.4f} against {bicubic_l1:.4f}, "
    f"{gain:+.1%}); the SR image's own map is {np.abs(maps['M(SR)'] - maps['M(HR)']).mean():.4f} from M(HR). "
    + ("With so small a difference the branch's map and M(bicubic) look alike in the crops: thin HR edges such as "
       "eyelashes stay soft in both. " if abs(gain) < 0.05 else "")
    + "This is where the kit's demo falls short of the paper: a 2 M-parameter model and a short CPU GAN stage leave "
    "the branch a small correction of M(bicubic) (in a probe that trained the branch alone on its own L1 for a few "
    "hundred steps, it stayed within 6 % of M(bicubic) on Set5; the model card has the runs). The paper trains the branch for 5×10⁵ GPU iterations; "
    "load the authors' `spsr.pth` (`SPSR_WEIGHTS`) to see its map here: the kit has not measured it, as the file "
    "is not shipped."))

# %% [markdown]
# ## 4. The fusion: how much of the image comes from the branch?
#
# The fusion block concatenates the branch's HR feature (64 channels in the paper's model, 24 in the demo) with the
# SR branch's and maps them to RGB through an RRDB and three convs. Switching the branch feature off (a hook that
# replaces it with zeros) shows how much of the picture depends on it: the printed figure is the mean change in grey
# levels, and the difference map shows where it falls; the line under it says whether the change concentrates on
# edges, from the numbers. `spsr evaluate` reports the same figure as "Branch zero change".

# %%
def without_branch(net, lr_img):
    """SR with the gradient branch's HR feature replaced by zeros before the fusion."""
    hook = net.grad_branch.register_forward_hook(lambda mod, inp, out: (torch.zeros_like(out[0]), out[1]))
    try:
        return spsr_lib.upscale(lr_img, net, device="cpu")
    finally:
        hook.remove()


no_branch = without_branch(trained, low)
change = np.abs(res.sr.astype(np.float64) - no_branch.astype(np.float64))
print(f"switching the branch off changes the SR by {change.mean():.2f} grey levels on average "
      f"(99th percentile {np.percentile(change, 99):.1f}, largest {change.max():.0f})")
plots.difference_crops({"SR": res.sr, "SR without branch": no_branch}, reference="SR",
                       center=eyes, size=m // 2);
edges = spsr_lib.gradient_map(to_tensor(photo))[0].mean(0).numpy() > 0.1  # the HR photo's edge pixels
per_pixel = change.mean(-1)
share = per_pixel[edges].sum() / max(per_pixel.sum(), 1e-9)
display(Markdown(
    f"{share:.0%} of the total change falls on the {edges.mean():.0%} of pixels that are edges (M(HR) > 0.1): "
    + ("the change concentrates on edges" if share > 1.5 * edges.mean() else "the change is not concentrated on edges")
    + f". At {change.mean():.2f} grey levels on average the two images look the same to the eye"
    + (" (the difference map is what shows it); " if change.mean() < 2 else "; ")
    + "the demo's fusion started from the stage-1 network and has only begun to use the branch."))

# %% [markdown]
# ## 5. Model-agnostic: the same branch on other backbones
#
# Sec. 4.4 of the paper adds the gradient branch to other SR networks. `GradientGuidedSR(backbone)`
# does that for any backbone that exposes its tap features and its HR feature (`features(lr)`):
# `RRDBNet` (ESRGAN) and a light `SRResNet` ship with the kit. The backbone keeps its own
# (possibly pretrained) weights; the branch and fusion are new.

# %% tags=["nbval-check-output"]
for backbone in (SRResNet(nf=64, nb=16), spsr_lib.RRDBNet()):
    guided = GradientGuidedSR(backbone)
    counts = {k: sum(p.numel() for p in v) for k, v in guided.parameter_groups().items()}
    with torch.no_grad():
        o = guided(lr)
    print(f"{type(backbone).__name__:8s} taps {backbone.taps}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"{'':8s} sr {sym(tuple(o.sr.shape))}, grad_sr {sym(tuple(o.grad_sr.shape))}")

# %% [markdown]
# ## Exercise: your own image through the branch
#
# Does the branch help on a photo it has never seen? Set `MY_PHOTO` to the path of an image of yours (any size;
# it is cut to a multiple of 4), or keep `None` for scikit-image's coffee cup. Then write `branch_gain(model, hr)`:
# make the ×4 LR with `spsr_lib.imresize`, run `spsr_lib.upscale(lr, model, device="cpu", return_gradients=True)`,
# and return `L1(M(bicubic), M(HR)) − L1(grad_sr, M(HR))` (mean absolute differences of the `widgets.as_image` maps,
# as in section 3): positive when the branch's map is closer to the truth. Predict the sign first.
# Leave `branch_gain` returning `None` and the check runs the hidden reference solution.

# %%
MY_PHOTO = None  # e.g. "my_photo.png"


def branch_gain(model, hr):
    """Your code here: L1(M(bicubic), M(HR)) - L1(grad_sr, M(HR)) for the HxWx3 uint8 image hr."""
    return None


# %% tags=["solution"] jupyter={"source_hidden": true}
def branch_gain_solution(model, hr):
    """Reference solution (collapsed: click the three dots to expand it)."""
    lr = spsr_lib.imresize(hr, 1 / 4)
    out = spsr_lib.upscale(lr, model, device="cpu", return_gradients=True)
    m_hr = widgets.as_image(spsr_lib.gradient_map(to_tensor(hr)))
    m_bic = widgets.as_image(spsr_lib.gradient_map(to_tensor(spsr_lib.imresize(lr, 4))))
    return float(np.abs(m_bic - m_hr).mean() - np.abs(widgets.as_image(out.grad_sr) - m_hr).mean())


# %%
# check: your branch_gain against the reference (the reference alone when you have not written one)
mine = spsr_lib.read_image(MY_PHOTO) if MY_PHOTO else data.coffee()[:128 if FAST else 400, :128 if FAST else 600]
mine = mine[: mine.shape[0] // 4 * 4, : mine.shape[1] // 4 * 4]
expected = branch_gain_solution(trained, mine)
answer = branch_gain(trained, mine)
if answer is None:
    print("branch_gain returns None: showing the reference solution's value (write yours and rerun)")
    answer = expected
assert abs(answer - expected) < 1e-4, f"your gain {answer:.5f} differs from the reference {expected:.5f}"
print(f"checked: on this {mine.shape[1]}x{mine.shape[0]} photo the branch's map is "
      f"{'closer to' if answer > 0 else 'further from'} M(HR) than M(bicubic) by {abs(answer):.4f}")

# %% [markdown]
# ## Summary
# - SR branch 16.7 M + gradient branch 6.5 M + fusion 1.6 M parameters, exactly as the official model.
# - The branch starts from the LR gradient map, is guided by four SR-trunk features, and predicts the
#   HR gradient map; the fusion uses its 64-channel feature, not the 3-channel prediction.
# - `GradientGuidedSR` adds the same branch to other backbones.
#
# Next: `03_loss_ablations` trains these parts with and without the gradient losses.
