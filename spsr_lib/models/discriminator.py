"""The VGG-style discriminator of ESRGAN/SPSR (official ``Discriminator_VGG_128``, SPSR_REFERENCE.md Sec. 3).

SPSR uses two identical copies: ``D`` on 128x128 images and ``D_grad`` on 130x130 padding-2 gradient maps.

- features: conv0 3x3 (no norm) + LReLU, then conv1..conv9 alternating 4x4 stride 2 and 3x3 stride 1,
  each Conv(bias) -> BatchNorm2d -> LReLU(0.2); channels nf, nf, 2nf, 2nf, 4nf, 4nf, 8nf, 8nf, 8nf, 8nf.
- classifier: flatten (NCHW order) -> Linear(8nf * s * s, 100) -> LReLU(0.2) -> Linear(100, 1): raw logits.

Five stride-2 convs floor the size five times, so ``s = input_size // 32`` (4 for 128..159: this is why
130x130 gradient maps work). The official code hard-codes ``Linear(512*4*4, 100)``, i.e. nf=64 and s=4;
here it is computed from ``nf`` and ``input_size``. Module indices match the official state dict keys
(``features.N`` / ``classifier.N``, 69 keys), so official checkpoints load as they are.

``spectral_norm=True`` (not the paper; ``discriminator.spectral_norm``, a small-budget lever of issue 24) puts
torch's spectral-norm parametrization on every conv and linear after the init, BatchNorm kept: each weight is
divided by its largest singular value (one power iteration per train-mode forward), which bounds how fast D
can run ahead of G. The state dict then holds ``<layer>.parametrizations.weight.original`` and the power
iteration's ``_u``/``_v`` instead of ``<layer>.weight`` (training checkpoints save and resume it; the official
key layout and ``load_discriminator`` are for the plain D).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spsr_lib.ops.blocks import NEG_SLOPE, init_weights


def _conv_bn_lrelu(in_ch: int, out_ch: int, kernel: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel, stride, 1, bias=True), nn.BatchNorm2d(out_ch),
            nn.LeakyReLU(NEG_SLOPE, inplace=True)]


def build_discriminator(kind: str = "vgg", in_ch: int = 3, nf: int = 64, input_size: int = 128,
                        spectral_norm: bool = False) -> nn.Module:
    """``vgg``: :class:`VGGDiscriminator` (SPSR, one logit per image); ``unet``: Real-ESRGAN's per-pixel
    :class:`~spsr_lib.models.discriminator_unet.UNetDiscriminator` (any input size; ``input_size`` unused)."""
    if kind == "vgg":
        return VGGDiscriminator(in_ch, nf, input_size=input_size, spectral_norm=spectral_norm)
    if kind == "unet":
        from spsr_lib.models.discriminator_unet import UNetDiscriminator

        return UNetDiscriminator(in_ch, nf, spectral_norm=spectral_norm)
    raise ValueError(f"unknown discriminator kind {kind!r}; expected vgg or unet")


class VGGDiscriminator(nn.Module):
    """``Discriminator_VGG_128`` for ``input_size`` in [32 * s, 32 * s + 31] (s = final map size)."""

    def __init__(self, in_ch: int = 3, nf: int = 64, input_size: int = 128, spectral_norm: bool = False) -> None:
        super().__init__()
        if input_size < 32:
            raise ValueError(f"VGGDiscriminator needs input_size >= 32 (five stride-2 convs), got {input_size}")
        self.in_ch, self.nf, self.input_size, self.spectral_norm = in_ch, nf, input_size, spectral_norm
        self.final_size = input_size // 32
        chans = [nf, nf, 2 * nf, 2 * nf, 4 * nf, 4 * nf, 8 * nf, 8 * nf, 8 * nf, 8 * nf]
        layers: list[nn.Module] = [nn.Conv2d(in_ch, nf, 3, 1, 1, bias=True), nn.LeakyReLU(NEG_SLOPE, inplace=True)]
        for i in range(1, 10):
            kernel, stride = (4, 2) if i % 2 == 1 else (3, 1)
            layers += _conv_bn_lrelu(chans[i - 1], chans[i], kernel, stride)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(8 * nf * self.final_size**2, 100), nn.LeakyReLU(NEG_SLOPE, inplace=True), nn.Linear(100, 1)
        )
        init_weights(self, 1.0)
        if spectral_norm:
            for layer in [*self.features, *self.classifier]:
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    nn.utils.parametrizations.spectral_norm(layer)

    def forward(self, x: Tensor) -> Tensor:
        f = self.features(x)
        if f.shape[-2:] != (self.final_size, self.final_size):
            raise ValueError(
                f"VGGDiscriminator(input_size={self.input_size}) got a {tuple(x.shape[-2:])} input whose final map is "
                f"{tuple(f.shape[-2:])}, expected {self.final_size}x{self.final_size}; build it with the input size"
            )
        return self.classifier(torch.flatten(f, 1))

    def extra_repr(self) -> str:
        sn = ", spectral_norm=True" if self.spectral_norm else ""
        return f"in_ch={self.in_ch}, nf={self.nf}, input_size={self.input_size}{sn}"
