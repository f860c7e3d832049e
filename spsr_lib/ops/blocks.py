"""Convolutional building blocks of ESRGAN / SPSR (official ``code/models/modules/block.py``).

- ``ResidualDenseBlock`` (``ResidualDenseBlock_5C``): five 3x3 convs with dense connections,
  ``conv_k`` sees ``cat([x, x1, ..., x_{k-1}])``; conv1-4 are followed by LeakyReLU(0.2), conv5 is not;
  output ``0.2 * x5 + x``.
- ``RRDB`` (Residual-in-Residual Dense Block, ESRGAN Sec. 3.1): three dense blocks, output ``0.2 * out + x``.
- ``Upconv``: nearest-neighbour upsampling, 3x3 conv, LeakyReLU(0.2) (``upconv_blcok``; x2 per stage,
  one x3 stage for scale 3).
- ``init_weights``: the official train-mode init (``weights_init_kaiming``): kaiming_normal (fan_in, a=0)
  scaled by ``scale`` (0.1 for G, 1 for D), biases 0, BatchNorm weight 1 / bias 0.

Module names follow BasicSR (``rdb1.conv1``); :mod:`spsr_lib.io.checkpoint` maps them to and from the
official ``RDB1.conv1.0`` keys. Generator convs carry no norm layer, all activations are LeakyReLU(0.2).

Speed notes (measured, 1 CPU thread): convolutions are ~96% of the time. Writing the dense features into
one preallocated buffer and convolving channel slices of it (instead of re-concatenating) gave no
consistent gain (-20%..+15% per block, slower with channels_last, and autograd forbids it anyway: a later
slice write bumps the version of a tensor saved for backward), so the plain ``torch.cat`` form is kept.
LeakyReLU runs in place on fresh conv outputs; the 0.2 residual scalings run in place too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NEG_SLOPE = 0.2  # every LeakyReLU in SPSR/ESRGAN
RESIDUAL_SCALE = 0.2  # the 0.2 residual scaling of the dense block and of the RRDB


def conv3x3(in_ch: int, out_ch: int) -> nn.Conv2d:
    """3x3 conv with bias and zero padding 1 (official ``conv_block`` without norm/activation)."""
    return nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=True)


def lrelu(x: Tensor) -> Tensor:
    """LeakyReLU(0.2) in place: the input is always a fresh conv output that nothing else holds."""
    return F.leaky_relu_(x, NEG_SLOPE)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs (``ResidualDenseBlock_5C``); ``gc`` is the growth channel."""

    def __init__(self, nf: int = 64, gc: int = 32) -> None:
        super().__init__()
        self.nf, self.gc = nf, gc
        self.conv1 = conv3x3(nf, gc)
        self.conv2 = conv3x3(nf + gc, gc)
        self.conv3 = conv3x3(nf + 2 * gc, gc)
        self.conv4 = conv3x3(nf + 3 * gc, gc)
        self.conv5 = conv3x3(nf + 4 * gc, nf)

    def forward(self, x: Tensor) -> Tensor:
        x1 = lrelu(self.conv1(x))
        x2 = lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5.mul_(RESIDUAL_SCALE).add_(x)


class RRDB(nn.Module):
    """Residual in Residual Dense Block: three dense blocks and a 0.2-scaled residual."""

    def __init__(self, nf: int = 64, gc: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(nf, gc)
        self.rdb2 = ResidualDenseBlock(nf, gc)
        self.rdb3 = ResidualDenseBlock(nf, gc)

    def forward(self, x: Tensor) -> Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out.mul_(RESIDUAL_SCALE).add_(x)


class Upconv(nn.Module):
    """Nearest upsampling by ``factor`` then 3x3 conv and LeakyReLU (official ``upconv_blcok``)."""

    def __init__(self, nf: int = 64, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.conv = conv3x3(nf, nf)

    def forward(self, x: Tensor) -> Tensor:
        return lrelu(self.conv(F.interpolate(x, scale_factor=self.factor, mode="nearest")))

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


def upsample_factors(scale: int) -> list[int]:
    """The official upsampler stages: log2(scale) x2 stages, or a single x3 stage for scale 3."""
    if scale == 3:
        return [3]
    if scale in (1, 2, 4, 8, 16):
        return [2] * (scale.bit_length() - 1)
    raise ValueError(f"scale must be 1, 2, 3, 4, 8 or 16, got {scale}")


def default_taps(nb: int, n_taps: int = 4) -> tuple[int, ...]:
    """Gradient-branch taps: every ``nb // n_taps``-th RRDB (the official 4, 9, 14, 19 for nb = 20..23)."""
    if nb < 1:
        raise ValueError(f"nb must be >= 1, got {nb}")
    step = nb // n_taps
    if step == 0:  # fewer blocks than taps: reuse the last block's output
        return tuple(min(k, nb - 1) for k in range(n_taps))
    return tuple((k + 1) * step - 1 for k in range(n_taps))


def init_weights(module: nn.Module, scale: float = 1.0) -> nn.Module:
    """Official train-mode init: kaiming_normal(fan_in, a=0) * ``scale`` for Conv2d/Linear, bias 0, BN 1/0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            with torch.no_grad():
                m.weight.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def rrdb_trunk_features(net: nn.Module, lr: Tensor) -> tuple[list[Tensor], Tensor]:
    """The ESRGAN trunk shared by ``RRDBNet`` and SPSR's SR branch: ``(outputs of the RRDBs at net.taps,
    lrelu(conv_hr(upsampled trunk)))``. ``net`` has ``conv_first, body, conv_body, upsample, conv_hr, taps``."""
    f0 = net.conv_first(lr)
    x, taps = f0, []
    for i, block in enumerate(net.body):
        x = block(x)
        taps.extend(x for t in net.taps if t == i)
    x = net.conv_body(x) + f0  # global residual
    for up in net.upsample:
        x = up(x)
    return taps, lrelu(net.conv_hr(x))


RESIDUALS = ("none", "bicubic")


def check_residual(residual: str) -> str:
    """``residual`` names the image a generator adds its output to: "none" (the official SPSR/ESRGAN nets) or
    "bicubic" (the bicubic-upsampled LR, VDSR-style global residual learning; a kit option, not the paper's)."""
    if residual not in RESIDUALS:
        raise ValueError(f"residual must be one of {', '.join(RESIDUALS)}, got {residual!r}")
    return residual


def bicubic_base(lr: Tensor, scale: int) -> Tensor:
    """The bicubic-upsampled LR (PyTorch's a = -0.75 kernel, edge-clamped) that a ``residual="bicubic"`` net adds
    to its output: the net then learns only the detail bicubic misses, which a short CPU budget can afford.

    Under CPU autocast ``interpolate`` keeps the input's dtype, so the base is as precise as the LR it gets."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
