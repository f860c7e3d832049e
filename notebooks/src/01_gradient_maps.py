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
# *This notebook is built from [`notebooks/src/01_gradient_maps.py`](src/01_gradient_maps.py) (jupytext, percent format) by `scripts/build_notebooks.py`; edit the source, or this notebook in a JupyterLab with jupytext (it saves both), and rebuild.*

# %% [markdown]
# # 01 · Gradient maps: the structure SPSR preserves
#
# **What you will learn**
# - the gradient operator of the paper, computed by `spsr_lib.gradient_map`, number by number;
# - why the gradient map of a low-resolution image is blurred and why thin edges vanish from it;
# - padding 1 versus padding 2 (the two variants the official code uses, and where);
# - how the operator compares with the Sobel filter;
# - the gradient maps of HR, bicubic and SR images side by side, with a slider that wipes between
#   them and controls that pick the image and the zoom region.
#
# **Paper**: Sec. 3.1 (Eq. 1, the gradient map M(I) = ‖∇I‖₂) and Fig. 2; the losses built on it are
# in Sec. 3.3 (notebook 03).
#
# %% [markdown]
# <details><summary>About this notebook (run modes, trust, CI): click to open</summary>
#
# - **Modes.** The default *laptop* mode uses the whole photos at full size (camera and astronaut 512×512, chelsea
#   448×300) and the shipped demo weights, about a minute on 2 CPU cores; the stored outputs come from it (the
#   "run info" line names the mode, the machine and the wall time). `SPSR_FAST=1` (`make test`, CI) uses 128-px
#   crops; `SPSR_FULL=1` is the laptop mode here.
# - **Sliders.** JupyterLab draws the stored slider of section 6 once the notebook is trusted (`make lab`, or
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
from spsr_lib import plots, tables, widgets
from spsr_lib.io.images import to_tensor

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
# ## 1. The operator, number by number
#
# For every pixel and every colour channel separately (no grey conversion):
#
# $$I_x = I(x+1, y) - I(x-1, y),\qquad I_y = I(x, y+1) - I(x, y-1),\qquad M(I) = \sqrt{I_x^2 + I_y^2 + 10^{-6}}$$
#
# The official code implements it as a 3×3 cross-correlation with zero padding; the `1e-6` keeps the
# square root differentiable, so a flat region gives `1e-3`, not 0. On a step edge the map is a
# two-pixel-wide ridge; on a one-pixel line the line itself gets ~0 (its neighbours are equal) and
# the two pixels beside it light up.

# %% tags=["nbval-check-output"]
step = torch.zeros(1, 1, 5, 6)
step[..., 3:] = 1.0  # a vertical step edge between columns 2 and 3
line = torch.zeros(1, 1, 5, 6)
line[..., 2] = 1.0  # a one-pixel vertical line
torch.set_printoptions(precision=3)
print("step edge, M(I) row 2:", spsr_lib.gradient_map(step)[0, 0, 2])
print("thin line, M(I) row 2:", spsr_lib.gradient_map(line)[0, 0, 2])
print("flat region value:", f"{spsr_lib.gradient_map(torch.full((1, 1, 5, 5), 0.5))[0, 0, 2, 2].item():.4g}")

# %% [markdown]
# ## 2. Gradient maps of a real image
#
# Bright pixels are strong edges. The maps are shown with `vmax=0.5` (values are mostly small; the
# largest possible is √2).

# %%
camera = np.stack([data.camera()] * 3, axis=-1)  # grey photo with thin structures (tripod, buildings)
hr = camera[96:96 + 128, 160:160 + 128] if FAST else camera  # fast: a crop; else the whole 512x512 photo
grad_hr = spsr_lib.gradient_map(to_tensor(hr))
plots.show_images({"HR": hr, "M(HR)": widgets.as_image(grad_hr, vmax=0.5)});

# %% [markdown]
# ## 3. Why LR gradient maps are blurred
#
# Shrinking ×1/4 averages 16 pixels (plus the bicubic kernel's tails) into one. An edge that was one or
# two pixels wide becomes a fraction of an LR pixel: after enlarging again, it is a soft ramp several
# pixels wide, and its gradient is low and wide. The numbers below count the pixels whose gradient
# (mean over RGB) exceeds a threshold: the bicubic image has far fewer strong edges than HR (compare the
# two rows of the table). This is the information SPSR's gradient branch has to restore (its input is the
# LR gradient map, its target the HR one).

# %%
lr = spsr_lib.imresize(hr, 1 / 4)
bicubic = spsr_lib.imresize(lr, 4)
grads = {"HR": grad_hr, "bicubic x4": spsr_lib.gradient_map(to_tensor(bicubic))}
rows = {}
for name, g in grads.items():
    m = g.mean(1)
    rows[name] = {"mean M": m.mean().item(),
                  **{f"pixels with M > {t}": f"{(m > t).float().mean().item():.2%}" for t in (0.1, 0.2, 0.3)}}
tables.table(rows, index=f"{hr.shape[1]}x{hr.shape[0]} px", caption="gradient magnitude, mean over RGB")

# %% [markdown]
# A one-pixel line makes it concrete: in HR its gradient peaks at 0.706 on the two pixels beside the line. The
# cell prints the profile across the line before and after the ×4 round trip, and what is left of the peak.

# %% tags=["nbval-check-output"]
thin = np.full((64, 64, 3), 40, np.uint8)
thin[:, 30] = 220  # a bright one-pixel vertical line
thin_bic = spsr_lib.imresize(spsr_lib.imresize(thin, 1 / 4), 4)
for name, img in {"HR": thin, "bicubic x4": thin_bic}.items():
    profile = spsr_lib.gradient_map(to_tensor(img))[0].mean(0)[32, 26:35]
    print(f"{name:11s} M across the line (columns 26-34):", np.round(profile.numpy(), 3))
peaks = {k: spsr_lib.gradient_map(to_tensor(v))[0].mean(0)[32].max().item() for k, v in {"HR": thin, "bic": thin_bic}.items()}
wide = (spsr_lib.gradient_map(to_tensor(thin_bic))[0].mean(0)[32] > peaks["bic"] / 2).sum().item()
print(f"after the round trip the peak is {peaks['bic']:.3f}, {peaks['bic'] / peaks['HR']:.0%} of HR's {peaks['HR']:.3f} "
      f"({peaks['HR'] / peaks['bic']:.1f}x lower), and {wide} pixels are above half of it (HR: 2)")

# %%
plots.show_images({"LR (nearest x4)": np.kron(lr, np.ones((4, 4, 1), np.uint8)),
                   "M(LR)": widgets.as_image(spsr_lib.gradient_map(to_tensor(lr)), vmax=0.5),
                   "M(bicubic x4)": widgets.as_image(grads["bicubic x4"], vmax=0.5),
                   "M(HR)": widgets.as_image(grad_hr, vmax=0.5)});

# %% [markdown]
# ## 4. Padding 1 versus padding 2
#
# The official code has three copies of the operator that differ only in padding:
# - padding 1 keeps the size (H×W): the LR map fed into the gradient branch, and the target of the
#   branch pixel loss;
# - padding 2 gives (H+2)×(W+2): the gradient pixel loss and the gradient discriminator (130×130 maps
#   for 128×128 training patches). Its inner H×W equals the padding-1 map exactly; the extra ring
#   holds the absolute values of the border pixels (zero padding on both sides).

# %%
x = to_tensor(hr)
g1, g2 = spsr_lib.gradient_map(x, padding=1), spsr_lib.gradient_map(x, padding=2)
print("input", tuple(x.shape), "| padding 1:", tuple(g1.shape), "| padding 2:", tuple(g2.shape))

# %% tags=["nbval-check-output"]
h, w = x.shape[-2:]
print("padding 1 keeps H x W:", tuple(g1.shape[-2:]) == (h, w), "| padding 2 gives (H+2) x (W+2):",
      tuple(g2.shape[-2:]) == (h + 2, w + 2))
print("inner of padding 2 == padding 1:", torch.equal(g2[..., 1:-1, 1:-1], g1))
ring = torch.sqrt(x[..., 0, :] ** 2 + 1e-6)  # top ring row: |border pixel| (its vertical neighbours are 0 and x)
print("top ring == sqrt(x[0]^2 + 1e-6):", torch.allclose(g2[..., 0, 1:-1], ring), "| corner:", f"{g2[0, 0, 0, 0].item():.4g}")

# %% [markdown]
# ## 5. Comparison with Sobel
#
# The Sobel filter is the same central difference, smoothed with [1, 2, 1] *along* the edge. On a
# long straight edge it is exactly 4× M (divided by 4 below, so the scales match), but it spreads
# small details: a one-pixel dot lights up 4 pixels in M and a ring of 8 in Sobel. SPSR uses the
# unsmoothed difference, which keeps small structures small. On natural images the two maps are
# strongly correlated.

# %% tags=["nbval-check-output"]
from scipy import ndimage


def sobel_map(img: np.ndarray) -> np.ndarray:
    """Per-channel Sobel magnitude / 4 (the scale of M on a straight edge), HxWx3 float."""
    x = img.astype(np.float64) / 255
    return np.stack([np.hypot(ndimage.sobel(x[..., c], 0), ndimage.sobel(x[..., c], 1)) for c in range(3)], -1) / 4


def spsr_map(img: np.ndarray) -> np.ndarray:
    return spsr_lib.gradient_map(to_tensor(img))[0].permute(1, 2, 0).double().numpy()


dot = np.zeros((7, 7, 3), np.uint8)
dot[3, 3] = 255
print("M around a one-pixel dot:\n", np.round(spsr_map(dot)[1:6, 1:6, 0], 2))
print("Sobel / 4 around the dot:\n", np.round(sobel_map(dot)[1:6, 1:6, 0], 2))
edge_ratio = sobel_map(thin)[32, 29, 0] / spsr_map(thin)[32, 29, 0]
print(f"straight line: Sobel / 4 divided by M = {edge_ratio:.3f}")

# %%
spsr_m, sobel_m = spsr_map(hr).mean(-1), sobel_map(hr).mean(-1)
print(f"correlation of M(HR) and Sobel(HR): {np.corrcoef(spsr_m.ravel(), sobel_m.ravel())[0, 1]:.3f}")

# %%
plots.show_images({"M(HR), SPSR": widgets.as_image(spsr_map(hr), vmax=0.5),
                   "Sobel(HR) / 4": widgets.as_image(sobel_map(hr), vmax=0.5)});

# %% [markdown]
# ## 6. HR, bicubic and SR gradient maps, with a slider
#
# An SR network that restores structure should produce an SR image whose gradient map is closer to the HR one
# than the bicubic image's: sharper, thinner, continuous edges. The line under the figure measures how close each
# map is, per photo, so the claim is checked rather than assumed. Here the SR image comes from the kit's demo weights (or
# `SPSR_WEIGHTS=/path/to/spsr.pth`; an untrained network if neither is present, see notebook 00).
# Use the **image** picker for other photos, the **A | B** slider to wipe, and **zoom** with
# **zoom x / zoom y** to inspect a region.

# %%
weights = Path(os.environ.get("SPSR_WEIGHTS", "../data/demo_weights/spsr_demo_x4.safetensors"))
model = spsr_lib.load_generator(weights) if weights.is_file() else spsr_lib.SPSRNet(nf=16, nb=4)
model.eval()
print("model:", weights.name if weights.is_file() else "untrained SPSRNet (no weight file found)")

n = 128 if FAST else 512
top, left = (36, 160) if FAST else (0, 0)
if FAST:
    photos = {"astronaut": data.astronaut()[top:top + n, left:left + n], "camera": hr[:n, :n],
              "chelsea": data.chelsea()[40:40 + n, 120:120 + n]}
else:  # the whole photos (each scene's versions share one size; the scenes need not)
    photos = {"astronaut": data.astronaut(), "camera": hr, "chelsea": data.chelsea()[:, :448]}  # 451 -> 448: a multiple of 4
eyes = (100 - top, 224 - left)  # between the astronaut's eyes
scenes, images = {}, {}
for name, photo in photos.items():
    low = spsr_lib.imresize(photo, 1 / 4)
    versions = {"HR": photo, "bicubic": spsr_lib.imresize(low, 4), "SR": spsr_lib.upscale(low, model, device="cpu")}
    images[name] = versions
    scenes[name] = {f"M({k})": widgets.as_image(spsr_lib.gradient_map(to_tensor(v)), vmax=0.5)
                    for k, v in versions.items()}

# %% tags=["nbval-ignore-output"]
slider = widgets.compare_slider(scenes, left="M(SR)", right="M(HR)", position=0.5)
slider.show()
plots.side_by_side(scenes["astronaut"], center=eyes, size=n // 4);

# %%
# how far each gradient map is from M(HR), per photo (mean absolute difference; computed, not written by hand)
rows = {}
for name, versions in images.items():
    g = {k: spsr_lib.gradient_map(to_tensor(v)) for k, v in versions.items()}
    l1 = {f"M({k})": (g[k] - g["HR"]).abs().mean().item() for k in ("bicubic", "SR")}
    rows[name] = {**{f"|{k} - M(HR)|": v for k, v in l1.items()}, "SR closer?": "yes" if l1["M(SR)"] < l1["M(bicubic)"] else "no"}
display(tables.table(rows, index="photo", caption="gradient maps against M(HR), mean absolute difference"))
closer = sum(r["SR closer?"] == "yes" for r in rows.values())
display(Markdown(f"The SR image's gradient map is closer to M(HR) than the bicubic one's on {closer} of {len(rows)} "
                 "photos. The demo model is small and briefly trained, so the gain is modest: in the crop its edges "
                 "are sharper than bicubic's but not as thin as HR's."))

# %% [markdown]
# ## Exercise: write M(I) yourself
#
# Implement `my_gradient_map(x)` for a `1×3×H×W` tensor with `torch.nn.functional.conv2d`: two 3×3 kernels (the
# horizontal and vertical central differences of section 1), applied to each channel separately (`groups=3`),
# zero padding 1, then `sqrt(Ix² + Iy² + 1e-6)`. The check compares it with `spsr_lib.gradient_map` on the photo of
# section 2. Leave it returning `None` and the check runs the hidden reference solution instead.

# %%
import torch.nn.functional as F  # noqa: E402


def my_gradient_map(x: torch.Tensor) -> torch.Tensor:
    """Your code here: M(x) for a 1x3xHxW tensor, with F.conv2d."""
    return None


# %% tags=["solution"] jupyter={"source_hidden": true}
def gradient_map_solution(x: torch.Tensor) -> torch.Tensor:
    """Reference solution (collapsed: click the three dots to expand it)."""
    kx = torch.tensor([[0, 0, 0], [-1, 0, 1], [0, 0, 0]], dtype=x.dtype)  # I(x+1) - I(x-1), along the width
    ky = kx.t()  # I(y+1) - I(y-1), along the height
    weight = lambda k: k.expand(x.shape[1], 1, 3, 3)  # noqa: E731  one kernel per channel
    ix = F.conv2d(x, weight(kx), padding=1, groups=x.shape[1])
    iy = F.conv2d(x, weight(ky), padding=1, groups=x.shape[1])
    return torch.sqrt(ix ** 2 + iy ** 2 + 1e-6)


# %% tags=["nbval-check-output"]
# check: your M(I) against the kit's (the reference solution when you have not written one)
x = to_tensor(hr)
mine = my_gradient_map(x)
if mine is None:
    print("my_gradient_map returns None: checking the reference solution instead (write yours and rerun)")
    mine = gradient_map_solution(x)
assert mine.shape == x.shape, f"shape {tuple(mine.shape)}, expected {tuple(x.shape)}"
assert torch.allclose(mine, spsr_lib.gradient_map(x), atol=1e-6), "values differ from spsr_lib.gradient_map"
print("checked: equal to spsr_lib.gradient_map on the photo of section 2, every pixel and channel")

# %% [markdown]
# ## Summary
# - M(I) is a per-channel central difference magnitude; flat regions give 1e-3.
# - ×4 downscaling turns thin, strong edges into weak, wide ramps: the LR gradient map cannot show
#   them, which is why SPSR learns an HR gradient map instead of upsampling the LR one.
# - Padding 1 (same size) feeds the branch; padding 2 (+2 px) feeds the gradient losses.
#
# Next: `02_gradient_branch` follows these maps through the network.
