#!/usr/bin/env python
"""The README's picture: LR / bicubic / SPSR / HR crops (top) and their gradient maps M(I) (bottom).

    python scripts/make_readme_figure.py                       # docs/figures/readme_crops.png, shipped weights
    python scripts/make_readme_figure.py --image astronaut --top 84 --left 188 --out /tmp/face.png

The photo is scikit-image's (``skimage.data``: shippable, no download). The whole photo is the HR; its LR is
MATLAB-bicubic ``imresize(hr, 1/4)``; the LR is super-resolved whole (so the crop has its real context, no tile
border) with the shipped demo weights (``spsr_lib.io.demo_weights.default_demo_weights_path()``, or ``--model``),
and bicubic is ``imresize(lr, 4)``. Then the same ``--size`` x ``--size`` HR-pixel window is cut from each
(``--size / 4`` LR pixels from the LR, shown enlarged by nearest neighbour). The bottom row is the paper's gradient
operator (``spsr_lib.gradient_map``, channel mean), one grey scale for the three HR-size maps; the LR map has its
own. The SPSR column's map is M(SR) of the output image; the branch's own prediction ``grad_sr`` is drawn as a fifth
column with ``--branch``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "docs" / "figures" / "readme_crops.png"
SCALE = 4


def _grad(img: np.ndarray) -> np.ndarray:
    """Channel-mean gradient magnitude of an HxWx3 uint8 image (the paper's M(I) on [0, 1])."""
    import spsr_lib

    t = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    return spsr_lib.gradient_map(t, padding=1)[0].mean(0).numpy()


def make_panels(image: str, top: int, left: int, size: int, model_path: Path | None, branch: bool):
    from skimage import data

    import spsr_lib
    from spsr_lib.io.checkpoint import load_sr_model
    from spsr_lib.io.demo_weights import default_demo_weights_path

    if top % SCALE or left % SCALE or size % SCALE:
        raise SystemExit(f"make_readme_figure: --top, --left and --size must be multiples of {SCALE}")
    hr = np.ascontiguousarray(np.asarray(getattr(data, image)())[..., :3])
    h, w = hr.shape[:2]
    hr = hr[: h - h % SCALE, : w - w % SCALE]  # whole LR pixels, so the crop windows align
    if top + size > hr.shape[0] or left + size > hr.shape[1]:
        raise SystemExit(f"make_readme_figure: the {size}px window at ({top}, {left}) leaves the "
                         f"{hr.shape[1]}x{hr.shape[0]} photo")
    lr = spsr_lib.imresize(hr, 1.0 / SCALE)
    bicubic = spsr_lib.imresize(lr, float(SCALE))
    path = model_path or default_demo_weights_path()
    model = load_sr_model(path)
    with torch.inference_mode():
        out = spsr_lib.upscale(lr, model, device="cpu", return_gradients=True)
    sr = out.sr
    grad_sr = out.grad_sr  # uint8 HxWx3, as the input
    crop = (slice(top, top + size), slice(left, left + size))
    lcrop = (slice(top // SCALE, (top + size) // SCALE), slice(left // SCALE, (left + size) // SCALE))
    lr_c = lr[lcrop]
    panels = [
        (f"LR input ({size // SCALE}x{size // SCALE}, nearest x{SCALE})",
         np.repeat(np.repeat(lr_c, SCALE, 0), SCALE, 1), np.repeat(np.repeat(_grad(lr)[lcrop], SCALE, 0), SCALE, 1),
         "M(LR): the branch's input"),
        ("bicubic x4", bicubic[crop], _grad(bicubic)[crop], "M(bicubic)"),
        ("SPSR (kit demo weights)", sr[crop], _grad(sr)[crop], "M(SR)"),
        ("HR (ground truth)", hr[crop], _grad(hr)[crop], "M(HR)"),
    ]
    if branch:
        g = np.asarray(grad_sr, dtype=np.float32) / 255.0
        panels.insert(3, ("", None, g.mean(-1)[crop], "grad_sr: the branch's map"))
    return panels, path


def draw(panels, out: Path, image: str, dpi: int) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    vmax = float(np.percentile(panels[-1][2], 99.5)) or 1.0  # the HR map's scale for every HR-size map
    lr_vmax = float(np.percentile(panels[0][2], 99.5)) or 1.0
    n = len(panels)
    fig = Figure(figsize=(2.1 * n, 4.55), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, n, squeeze=False)
    for col, (title, rgb, grad, grad_title) in enumerate(panels):
        if rgb is not None:
            axes[0, col].imshow(rgb, interpolation="nearest")
        axes[0, col].set_title(title, fontsize=8)
        axes[1, col].imshow(grad, cmap="gray", vmin=0, vmax=lr_vmax if col == 0 else vmax, interpolation="nearest")
        axes[1, col].set_title(grad_title, fontsize=8)
        for row in (0, 1):
            axes[row, col].set_axis_off()
    fig.suptitle(f"x4, scikit-image data.{image}(): crops (top) and gradient maps M(I) (bottom)", fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.01, wspace=0.04, hspace=0.16)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fig.savefig(tmp, format="png", metadata={"Software": None})
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default="chelsea", help="a skimage.data photo (default: chelsea)")
    p.add_argument("--top", type=int, default=72, help="HR row of the crop (multiple of 4; default 72: the eye)")
    p.add_argument("--left", type=int, default=128, help="HR column of the crop (multiple of 4)")
    p.add_argument("--size", type=int, default=96, help="HR crop size in pixels (multiple of 4)")
    p.add_argument("--model", type=Path, help="generator file (default: the shipped demo weights)")
    p.add_argument("--branch", action="store_true", help="also draw the gradient branch's grad_sr")
    p.add_argument("--dpi", type=int, default=100)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    torch.manual_seed(0)
    panels, path = make_panels(a.image, a.top, a.left, a.size, a.model, a.branch)
    draw(panels, a.out, a.image, a.dpi)
    print(f"{a.out} ({a.out.stat().st_size / 1024:.0f} KB) from {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
