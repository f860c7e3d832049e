"""Branch diagnostics: does a gradient-guided model's gradient branch predict structure, and is it used?

SPSR (Ma et al., CVPR 2020, Sec. 3.2) adds a gradient branch that predicts the SR image's gradient map
``grad_sr`` and hands its HR feature to a fusion block that makes the SR image. Two numbers say whether the
branch works, for any gradient-guided model (``SPSRNet``, ``GradientGuidedSR``):

- ``branch_gradient_l1(grad_sr, hr, scale)``: mean ``|grad_sr - M(HR)|``, ``M`` the gradient operator of Eq. 1
  (:func:`spsr_lib.ops.gradient.gradient_map`, padding 1, per RGB channel, on the [0, 1] HR as saved), ``scale``
  px shaved from every side as :func:`spsr_lib.metrics.gradient_l1` does. ``grad_sr`` is the branch's raw output
  (float, not clamped or rounded: it is a prediction of a map, not an image). Its reference is
  ``bicubic_gradient_l1(bicubic_sr, hr, scale)`` = ``gradient_l1``: the same L1 for ``M`` of the bicubic
  upsampled image. A branch that learnt anything beats it. Lower is better.
- ``branch_zero_change(model, lr)``: the mean absolute change of the SR image, in grey levels (0..255, SR
  clamped to [0, 1] as an image is, not rounded), when the branch's HR feature is replaced by zeros before the
  fusion. Near 0 means the fusion ignores the branch; it measures use, not quality.

Reference values (Set5 / Set14, x4, whole images, fp32, ``spsr evaluate --model
data/demo_weights/spsr_demo_x4.safetensors``, the 2026-12 CPU-demo SPSR): branch L1 0.06054 / 0.07066 against
0.04706 / 0.06345 for M(bicubic) (the branch was worse than interpolation), and zeroing its feature changed the SR
by 2.13 / 1.87 grey levels (issue 24 quotes 0.0605 / 0.0693 and "about 2").

:func:`branch_forward` runs the model's parts once (SR branch features, gradient branch, the fusion twice) and
returns the SR image, ``grad_sr`` and the zero-branch SR, each exactly as ``model(lr)`` computes them (tested
against the forward); nothing is patched, so it is safe on a model another thread uses.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from spsr_lib.metrics.color import ImageLike, MetricInputError, as_batch255, check_pair, quantize, shave


class BranchPass(NamedTuple):
    """Raw outputs (N x 3 x sH x sW, unclamped) of one pass of a gradient-guided model."""

    sr: Tensor  # equals model(lr).sr
    grad_sr: Tensor  # equals model(lr).grad_sr
    sr_zero_branch: Tensor  # the SR image with the branch's HR feature replaced by zeros before the fusion


def is_gradient_guided(model: Any) -> bool:
    """True for a model with SPSR's gradient branch and fusion (``SPSRNet``, ``GradientGuidedSR``)."""
    if not all(hasattr(model, a) for a in ("grad_branch", "fusion", "lr_gradient")):
        return False
    return hasattr(getattr(model, "backbone", None), "features") or hasattr(model, "features")


def branch_forward(model: nn.Module, lr: Tensor) -> BranchPass:
    """Run ``model``'s parts on ``lr`` (N x 3 x h x w, on the model's device); see the module docstring.

    ``GradientGuidedSR``: the backbone's features and its optional ``base(lr)`` (added to the image only);
    ``SPSRNet``: its own ``features`` and ``base`` (``residual="bicubic"``: the base is added to the image and
    ``M(base)`` to ``grad_sr``, as its forward does). Call it under ``torch.no_grad`` for evaluation."""
    if not is_gradient_guided(model):
        raise MetricInputError(f"{type(model).__name__} has no gradient branch and fusion; the branch diagnostics "
                               "need a gradient-guided model (SPSRNet or GradientGuidedSR)")
    backbone = getattr(model, "backbone", None)
    if backbone is not None and hasattr(backbone, "features"):  # GradientGuidedSR
        features, base_of, grad_residual = backbone.features, getattr(backbone, "base", None), False
    else:  # SPSRNet: the SR branch is the model itself
        features, base_of, grad_residual = model.features, getattr(model, "base", None), True
        first = getattr(model, "conv_first", None)
        if first is not None and first.weight.is_contiguous(memory_format=torch.channels_last) and lr.dim() == 4:
            lr = lr.contiguous(memory_format=torch.channels_last)  # as SPSRNet.forward
    taps, sr_feature = features(lr)
    grad_lr = model.lr_gradient(lr)
    branch_feature, grad_sr = model.grad_branch(grad_lr, taps)
    sr = model.fusion(branch_feature, sr_feature)
    sr_zero = model.fusion(torch.zeros_like(branch_feature), sr_feature)
    base = base_of(lr) if base_of is not None else None
    if base is not None:
        sr, sr_zero = sr + base, sr_zero + base
        if grad_residual:
            grad_sr = grad_sr + model.lr_gradient(base)
    return BranchPass(sr, grad_sr, sr_zero)


def zero_change(sr: Tensor, sr_zero_branch: Tensor) -> Tensor:
    """``(N,)`` mean |clamp(sr) - clamp(sr_zero_branch)| in grey levels (0..255) of two [0, 1]-scale batches."""
    d = (sr.detach().double().clamp(0, 1) - sr_zero_branch.detach().double().clamp(0, 1)).abs() * 255.0
    return d.flatten(1).mean(1)


def branch_zero_change(model: nn.Module, lr: ImageLike) -> float | Tensor:
    """Mean change of the SR image (grey levels) when the gradient branch's HR feature is zeroed before the fusion.

    ``lr``: one uint8 HxWx3 image (-> float) or an Nx3xhxw float batch in [0, 1] (-> (N,) tensor). The whole
    image goes through the model at once, on the model's device, in its dtype."""
    x, from_numpy = as_batch255(lr, "LR image")
    p = next(model.parameters(), None)
    x = (x / 255.0).to(device=p.device if p is not None else "cpu", dtype=p.dtype if p is not None else torch.float32)
    with torch.no_grad():
        out = branch_forward(model, x)
    v = zero_change(out.sr.float(), out.sr_zero_branch.float()).cpu()
    return float(v[0]) if from_numpy else v


def _grad_batch(grad_sr: ImageLike) -> Tensor:
    """A raw gradient map: an Nx3xHxW (or 3xHxW) float tensor, or an HxWx3 float numpy array, as float64."""
    if isinstance(grad_sr, np.ndarray):
        if grad_sr.ndim != 3 or grad_sr.shape[2] != 3 or not np.issubdtype(grad_sr.dtype, np.floating):
            raise MetricInputError(f"grad_sr: expected a float HxWx3 array (the branch's raw output), got "
                                   f"{grad_sr.dtype} {tuple(grad_sr.shape)}")
        return torch.from_numpy(grad_sr.astype(np.float64)).permute(2, 0, 1)[None]
    if not isinstance(grad_sr, torch.Tensor) or not grad_sr.is_floating_point():
        raise MetricInputError("grad_sr: expected the branch's raw float output (an Nx3xHxW tensor), got "
                               f"{type(grad_sr).__name__}")
    g = grad_sr[None] if grad_sr.ndim == 3 else grad_sr
    if g.ndim != 4 or g.shape[1] != 3:
        raise MetricInputError(f"grad_sr: expected an Nx3xHxW tensor, got shape {tuple(grad_sr.shape)}")
    return g.detach().double()


def branch_gradient_l1(grad_sr: ImageLike, hr: ImageLike, scale: int = 4) -> float | Tensor:
    """Mean |grad_sr - M(HR)| on the [0, 1] scale, ``scale`` px shaved (lower is better; module docstring).

    ``hr``: uint8 HxWx3 (-> float) or an Nx3xHxW float batch in [0, 1] (-> (N,) tensor), rounded to uint8 levels
    like every metric here."""
    from spsr_lib.ops.gradient import gradient_map

    b, from_numpy = as_batch255(hr, "HR image")
    g = _grad_batch(grad_sr)
    check_pair(g, b)
    target = gradient_map(quantize(b.to(g.device)) / 255.0, padding=1)
    v = (shave(g, scale) - shave(target, scale)).abs().flatten(1).mean(1)
    return float(v[0]) if from_numpy else v


def bicubic_gradient_l1(bicubic_sr: ImageLike, hr: ImageLike, scale: int = 4) -> float | Tensor:
    """The reference for :func:`branch_gradient_l1`: mean |M(bicubic) - M(HR)| (= ``gradient_l1``)."""
    from spsr_lib.metrics.structure import gradient_l1

    return gradient_l1(bicubic_sr, hr, scale)
