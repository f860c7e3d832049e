"""Real-ESRGAN's U-Net discriminator (Wang et al., ICCVW 2021, Sec. 3.3, ``UNetDiscriminatorSN``): per-pixel logits.

Not in SPSR (``discriminator.kind: unet``, a small-budget lever of issue 24). Where the VGG discriminator
gives one logit per image, this one gives an N x 1 x H x W logit map, so G is told *where* its output looks
fake (the GAN losses of :mod:`spsr_lib.losses` average over every pixel of the map).

- conv0 3x3 (bias) + LReLU(0.2); three 4x4 stride-2 convs (no bias) to 2nf, 4nf, 8nf, each + LReLU;
- three steps up: bilinear x2 resize to the skip's size, 3x3 conv (no bias) to 4nf, 2nf, nf, LReLU, then the
  skip from the same scale is added (x2, x1, x0);
- two 3x3 convs nf -> nf (no bias) + LReLU, then a 3x3 conv nf -> 1 (bias): the logit map.

Real-ESRGAN resizes by a fixed factor 2 and so needs sides divisible by 8; here each step resizes to the size
of its skip, so D_grad's (H+2)x(W+2) gradient maps work too. ``spectral_norm=True`` (Real-ESRGAN always has
it) puts torch's spectral-norm parametrization on every conv but the first and the last, as Real-ESRGAN does.
PyTorch's default init, as Real-ESRGAN.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from spsr_lib.ops.blocks import NEG_SLOPE


class UNetDiscriminator(nn.Module):
    def __init__(self, in_ch: int = 3, nf: int = 64, spectral_norm: bool = True) -> None:
        super().__init__()
        self.in_ch, self.nf, self.spectral_norm = in_ch, nf, spectral_norm

        def sn(conv: nn.Conv2d) -> nn.Conv2d:
            return nn.utils.parametrizations.spectral_norm(conv) if spectral_norm else conv

        self.conv0 = nn.Conv2d(in_ch, nf, 3, 1, 1)
        self.down = nn.ModuleList(sn(nn.Conv2d(a, b, 4, 2, 1, bias=False))
                                  for a, b in ((nf, 2 * nf), (2 * nf, 4 * nf), (4 * nf, 8 * nf)))
        self.up = nn.ModuleList(sn(nn.Conv2d(a, b, 3, 1, 1, bias=False))
                                for a, b in ((8 * nf, 4 * nf), (4 * nf, 2 * nf), (2 * nf, nf)))
        self.extra = nn.ModuleList(sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False)) for _ in range(2))
        self.conv_last = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        if min(x.shape[-2:]) < 8:
            raise ValueError(f"UNetDiscriminator needs inputs of at least 8x8 (three stride-2 convs), got "
                             f"{tuple(x.shape[-2:])}")
        skips = [F.leaky_relu(self.conv0(x), NEG_SLOPE)]
        for conv in self.down:
            skips.append(F.leaky_relu(conv(skips[-1]), NEG_SLOPE))
        h = skips.pop()
        for conv in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = F.leaky_relu(conv(h), NEG_SLOPE) + skip
        for conv in self.extra:
            h = F.leaky_relu(conv(h), NEG_SLOPE)
        return self.conv_last(h)

    def extra_repr(self) -> str:
        return f"in_ch={self.in_ch}, nf={self.nf}, spectral_norm={self.spectral_norm}"
