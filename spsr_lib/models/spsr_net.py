"""The SPSR generator (Ma et al., CVPR 2020, Sec. 3.2 and Fig. 2): SR branch + gradient branch + fusion.

Behaviour follows the official ``SPSRNet`` (``code/models/modules/architecture.py``, see
``SPSR_REFERENCE.md`` Sec. 2), with its hard-coded limits lifted (``gc`` is honoured, the taps are an
argument, any ``nb >= 1``, scale 2/3/4):

- **SR branch** (ESRGAN without its last conv): ``conv_first`` -> ``nb`` RRDBs (``body``) -> ``conv_body``,
  plus the global residual -> upconvs -> ``conv_hr`` + LReLU -> ``conv_hr_feat`` (no activation). It ends
  in a 64-channel HR *feature*, never an RGB image. The outputs of the RRDBs listed in ``taps`` (official:
  the 5th, 10th, 15th, 20th, i.e. 0-based 4, 9, 14, 19) feed the gradient branch.
- **Gradient branch** (:class:`GradientBranch`): the LR gradient map ``M(I_LR)`` -> conv -> for each tap
  ``cat([branch, tap])`` -> RRDB(2nf) -> conv 2nf->nf; then conv + residual, upconvs, two HR convs. A 1x1
  conv (``conv_out``, official ``conv_w``) maps the HR branch feature to the SR gradient map.
- **Fusion** (:class:`Fusion`): ``cat([branch HR feature, SR HR feature])`` -> RRDB(2nf) -> conv 2nf->nf ->
  conv + LReLU -> conv nf->3: the SR image. It fuses the 64-channel branch feature, not the 3-channel map.

``forward(lr)`` returns :class:`SPSROutput` ``(sr, grad_sr, grad_lr)``; note that the official forward
returns ``(grad_sr, sr, grad_lr)`` (``spsr_lib.io.checkpoint`` handles the official weight layout).
Module names here are readable (BasicSR style); ``spsr_lib.io.checkpoint.export_official_state_dict`` gives
the 884 official keys.

CPU fast path (``benchmarks/bench_model.py``, default model, LR 1x3x32x32, forward+backward, ratios
against fp32 eager in the same run): ``model.to(memory_format=torch.channels_last)`` together with
``torch.autocast("cpu", dtype=torch.bfloat16)`` is the fastest variant, about 2.1-2.2x (oneDNN bf16
convolutions on avx512_bf16; channels_last alone 1.1-1.3x). Its SR output differs from fp32 by ~1.5e-2
relative L2 and comes out as bfloat16 (call ``.float()``). Both work with no change to the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from spsr_lib.ops.blocks import (
    RRDB,
    Upconv,
    bicubic_base,
    check_residual,
    conv3x3,
    default_taps,
    init_weights,
    lrelu,
    rrdb_trunk_features,
    upsample_factors,
)
from spsr_lib.ops.gradient import GradientMap

OFFICIAL_TAPS = (4, 9, 14, 19)


class SPSROutput(NamedTuple):
    """The generator's three outputs: ``sr`` and ``grad_sr`` are N x 3 x sH x sW, ``grad_lr`` N x 3 x H x W."""

    sr: Tensor  # the super-resolved image, unclamped (official output index 1)
    grad_sr: Tensor  # gradient-branch prediction of the SR gradient map (official index 0)
    grad_lr: Tensor  # gradient map of the LR input, padding 1 (official index 2)


class GradientBranch(nn.Module):
    """The gradient branch (paper Sec. 3.2): LR gradient map + SR-branch taps -> HR branch feature, SR grad map.

    ``tap_ch`` is the channel count of the SR-branch tap features, ``nf`` the branch width; one
    RRDB(nf + tap_ch) and one conv (nf + tap_ch -> nf) per tap.
    """

    def __init__(self, in_ch: int, out_ch: int, nf: int, tap_ch: int, n_taps: int, gc: int, scale: int) -> None:
        super().__init__()
        self.conv_first = conv3x3(in_ch, nf)
        self.blocks = nn.ModuleList(RRDB(nf + tap_ch, gc) for _ in range(n_taps))
        self.concats = nn.ModuleList(conv3x3(nf + tap_ch, nf) for _ in range(n_taps))
        self.conv_body = conv3x3(nf, nf)
        self.upsample = nn.ModuleList(Upconv(nf, f) for f in upsample_factors(scale))
        self.conv_hr = conv3x3(nf, nf)
        self.conv_hr_feat = conv3x3(nf, nf)
        self.conv_out = nn.Conv2d(nf, out_ch, 1)

    def forward(self, grad_lr: Tensor, taps: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """Return ``(hr_feature, grad_sr)``."""
        if len(taps) != len(self.blocks):
            raise ValueError(f"gradient branch expects {len(self.blocks)} tap features, got {len(taps)}")
        b0 = self.conv_first(grad_lr)
        b = b0
        for block, concat, tap in zip(self.blocks, self.concats, taps):
            b = concat(block(torch.cat((b, tap), 1)))  # branch first, SR tap second (official order)
        b = self.conv_body(b) + b0
        for up in self.upsample:
            b = up(b)
        feat = self.conv_hr_feat(lrelu(self.conv_hr(b)))
        return feat, self.conv_out(feat)


class Fusion(nn.Module):
    """The fusion block (paper Sec. 3.2): cat([branch feature, SR feature]) -> RRDB -> convs -> image."""

    def __init__(self, branch_ch: int, sr_ch: int, nf: int, out_ch: int, gc: int) -> None:
        super().__init__()
        self.block = RRDB(branch_ch + sr_ch, gc)
        self.concat = conv3x3(branch_ch + sr_ch, nf)
        self.conv_hr = conv3x3(nf, nf)
        self.conv_last = conv3x3(nf, out_ch)

    def forward(self, branch_feature: Tensor, sr_feature: Tensor) -> Tensor:
        x = self.concat(self.block(torch.cat((branch_feature, sr_feature), 1)))
        return self.conv_last(lrelu(self.conv_hr(x)))


class SPSRNet(nn.Module):
    """SPSR generator. ``taps``: 0-based RRDB indices whose outputs feed the gradient branch.

    ``residual="bicubic"`` (a kit option for short budgets; the official net is "none"): both outputs become
    residuals over the bicubic-upsampled LR ``B``: ``sr = fusion(...) + B`` and ``grad_sr = conv_out(...) + M(B)``.
    The SR branch then learns the detail bicubic misses, and the gradient branch the correction to the bicubic
    image's gradient map, so neither has to rebuild what interpolation already gives (VDSR-style residual learning).
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, nf: int = 64, nb: int = 23, gc: int = 32, scale: int = 4,
                 taps: Sequence[int] | None = None, residual: str = "none") -> None:
        super().__init__()
        taps = default_taps(nb) if taps is None else tuple(int(t) for t in taps)  # nb=23: OFFICIAL_TAPS
        if not taps or any(not 0 <= t < nb for t in taps) or list(taps) != sorted(taps):
            raise ValueError(f"taps must be non-decreasing RRDB indices in [0, {nb - 1}], got {taps}")
        self.in_ch, self.out_ch, self.nf, self.nb, self.gc, self.scale = in_ch, out_ch, nf, nb, gc, scale
        self.taps = taps
        self.residual = check_residual(residual)
        # guidance protocol (see spsr_lib.models.guidance): channel counts of features()
        self.feature_channels = nf
        self.hr_channels = nf

        # SR branch
        self.conv_first = conv3x3(in_ch, nf)
        self.body = nn.ModuleList(RRDB(nf, gc) for _ in range(nb))
        self.conv_body = conv3x3(nf, nf)
        self.upsample = nn.ModuleList(Upconv(nf, f) for f in upsample_factors(scale))
        self.conv_hr = conv3x3(nf, nf)
        self.conv_hr_feat = conv3x3(nf, nf)
        # gradient branch and fusion
        self.lr_gradient = GradientMap(padding=1)
        self.grad_branch = GradientBranch(in_ch, out_ch, nf, nf, len(taps), gc, scale)
        self.fusion = Fusion(nf, nf, nf, out_ch, gc)
        init_weights(self, 0.1)

    def features(self, lr: Tensor) -> tuple[list[Tensor], Tensor]:
        """SR branch only: ``(tap features at LR resolution, 64-ch HR feature)`` (guidance protocol)."""
        taps, hr = rrdb_trunk_features(self, lr)
        return taps, self.conv_hr_feat(hr)

    def forward(self, lr: Tensor) -> SPSROutput:
        if self.conv_first.weight.is_contiguous(memory_format=torch.channels_last) and lr.dim() == 4:
            lr = lr.contiguous(memory_format=torch.channels_last)
        taps, sr_feature = self.features(lr)
        grad_lr = self.lr_gradient(lr)
        branch_feature, grad_sr = self.grad_branch(grad_lr, taps)
        sr = self.fusion(branch_feature, sr_feature)
        base = self.base(lr)
        if base is not None:
            sr = sr + base
            grad_sr = grad_sr + self.lr_gradient(base)  # same operator (padding 1) on the HR-size base
        return SPSROutput(sr, grad_sr, grad_lr)

    def base(self, lr: Tensor) -> Tensor | None:
        """The global residual of ``residual="bicubic"`` (guidance protocol), or None for the official net."""
        return bicubic_base(lr, self.scale) if self.residual == "bicubic" else None

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable tensors by part: ``sr_branch``, ``gradient_branch``, ``fusion`` (official ``f_*``).

        The official branch-pretrain phase (``Branch_pretrain``, first 4999 iterations) trains only the
        parameters whose name contains ``f_``, which is exactly the ``fusion`` group.
        """
        branch = list(self.grad_branch.parameters())
        fusion = list(self.fusion.parameters())
        taken = {id(p) for p in branch + fusion}
        sr = [p for p in self.parameters() if id(p) not in taken]
        return {"sr_branch": sr, "gradient_branch": branch, "fusion": fusion}


    def extra_repr(self) -> str:
        extra = f", residual={self.residual}" if self.residual != "none" else ""
        return f"nf={self.nf}, nb={self.nb}, gc={self.gc}, scale={self.scale}, taps={self.taps}{extra}"
