"""One pass of a gradient-guided model that yields the SR image and both branch diagnostics, tiled like ``upscale``.

:func:`spsr_lib.metrics.branch.branch_forward` runs the model's parts once per tile (SR-branch features, gradient
branch, the fusion twice: with the branch's HR feature and with zeros); :func:`upscale_branch` blends the three
outputs over the tiles with the machinery of :func:`~spsr_lib.inference.infer.upscale`
(:func:`~spsr_lib.inference.infer.run_model`: same tiles, device, bf16), so

- ``sr`` is bit for bit what ``upscale(lr, model, ...)`` returns for the same arguments (the parts pass equals the
  forward; ``tests/metrics/test_branch.py``), and evaluation gets it without a second forward;
- ``grad_sr`` is the branch's raw prediction of M(SR) (float, not clamped), the ``--save-gradients`` map;
- ``zero_change`` is the mean |SR - SR with the branch feature zeroed| in grey levels over the whole image.

:func:`branch_scores` turns one pass into the per-image values the reports use: ``branch_grad_l1`` (grad_sr vs
M(HR)), ``bicubic_grad_l1`` (its reference, M(bicubic) vs M(HR)) and ``branch_zero_change``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from spsr_lib.inference.infer import DEFAULT_OVERLAP, _from_nchw, _to_nchw, run_model

BRANCH_KEYS = ("branch_grad_l1", "bicubic_grad_l1", "branch_zero_change")


class BranchUpscale(NamedTuple):
    sr: Any  # the SR image in the input's kind (uint8 HxWx3 for a uint8 image), exactly upscale()'s result
    grad_sr: torch.Tensor  # 1 x 3 x sH x sW float32, the branch's raw output
    zero_change: float  # grey levels


def upscale_branch(image: Any, model: torch.nn.Module, *, tile: int | str | None = None,
                   overlap: int = DEFAULT_OVERLAP, device: str | torch.device = "auto", bf16: bool = False,
                   progress: bool = False, self_ensemble: bool = False) -> BranchUpscale:
    """Super-resolve ``image`` with a gradient-guided ``model`` and measure its branch (module docstring);
    ``self_ensemble``: the three outputs are x8 self-ensemble averages (``upscale(..., self_ensemble=True)``'s SR)."""
    from spsr_lib.metrics.branch import branch_forward, is_gradient_guided, zero_change

    if not is_gradient_guided(model):
        from spsr_lib.errors import SPSRError

        raise SPSRError(f"{type(model).__name__} has no gradient branch; the branch diagnostics need SPSRNet or "
                        "GradientGuidedSR (leave branch_grad_l1 / branch_zero_change out for other models)")
    x, how = _to_nchw(image)
    outs = run_model(x, model, lambda net, t: list(branch_forward(net, t)), n_outputs=3, tile=tile,
                     overlap=overlap, device=device, bf16=bf16, progress=progress, self_ensemble=self_ensemble)
    sr, grad_sr, sr_zero = outs
    return BranchUpscale(_from_nchw(sr, how, clamp=True), grad_sr, float(zero_change(sr, sr_zero)[0]))


def branch_scores(result: BranchUpscale, lr: np.ndarray, hr: np.ndarray, scale: int) -> dict[str, float]:
    """``branch_grad_l1``, ``bicubic_grad_l1`` (MATLAB-bicubic upscaling of ``lr``) and ``branch_zero_change``."""
    from spsr_lib.metrics.branch import bicubic_gradient_l1, branch_gradient_l1
    from spsr_lib.ops.imresize import imresize

    return {"branch_grad_l1": float(branch_gradient_l1(result.grad_sr, hr, scale)),
            "bicubic_grad_l1": float(bicubic_gradient_l1(imresize(lr, float(scale), mode="matlab"), hr, scale)),
            "branch_zero_change": result.zero_change}
