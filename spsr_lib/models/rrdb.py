"""The ESRGAN generator ``RRDBNet`` (Wang et al., ECCV-W 2018): SPSR's backbone and its ablation baseline.

conv_first -> ``nb`` RRDBs -> conv_body, + global residual -> upconvs (nearest + conv + LReLU) ->
conv_hr + LReLU -> conv_last (64 -> 3). This is the official ``RRDBNet`` of ``architecture.py`` that
produced ``RRDB_PSNR_x4.pth`` (the SPSR pretrain). Checkpoints in the old ESRGAN layout (``model.*``,
including RRDB_PSNR_x4), the new one (``conv_first/RRDB_trunk/trunk_conv/upconv1/upconv2/HRconv/conv_last``)
and BasicSR's load through :func:`spsr_lib.io.checkpoint.load_rrdb` (models know nothing about files).

It also implements the gradient-guidance protocol of :mod:`spsr_lib.models.guidance`: ``features(lr)`` returns the
trunk outputs at ``taps`` and the HR feature before ``conv_last``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from spsr_lib.ops.blocks import (
    RRDB,
    Upconv,
    bicubic_base,
    check_residual,
    conv3x3,
    default_taps,
    init_weights,
    rrdb_trunk_features,
    upsample_factors,
)


class RRDBNet(nn.Module):
    """ESRGAN generator; ``taps`` (0-based RRDB indices) only matter for :meth:`features`.

    ``residual="bicubic"`` (a kit option; the official net is "none") adds the bicubic-upsampled LR to the
    output, so the network learns only the missing detail (see :func:`spsr_lib.ops.blocks.bicubic_base`).
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, nf: int = 64, nb: int = 23, gc: int = 32, scale: int = 4,
                 taps: Sequence[int] | None = None, residual: str = "none") -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.nf, self.nb, self.gc, self.scale = in_ch, out_ch, nf, nb, gc, scale
        self.residual = check_residual(residual)
        self.taps = default_taps(nb) if taps is None else tuple(int(t) for t in taps)
        self.feature_channels = nf  # guidance protocol
        self.hr_channels = nf
        self.conv_first = conv3x3(in_ch, nf)
        self.body = nn.ModuleList(RRDB(nf, gc) for _ in range(nb))
        self.conv_body = conv3x3(nf, nf)
        self.upsample = nn.ModuleList(Upconv(nf, f) for f in upsample_factors(scale))
        self.conv_hr = conv3x3(nf, nf)
        self.conv_last = conv3x3(nf, out_ch)
        init_weights(self, 0.1)

    def features(self, lr: Tensor) -> tuple[list[Tensor], Tensor]:
        """``(trunk outputs at self.taps, HR feature before conv_last)``."""
        return rrdb_trunk_features(self, lr)

    def base(self, lr: Tensor) -> Tensor | None:
        """The global residual added to the image (guidance protocol), or None for the official net."""
        return bicubic_base(lr, self.scale) if self.residual == "bicubic" else None

    def forward(self, lr: Tensor) -> Tensor:
        out = self.conv_last(self.features(lr)[1])
        base = self.base(lr)
        return out if base is None else out + base


    def extra_repr(self) -> str:
        extra = f", residual={self.residual}" if self.residual != "none" else ""
        return f"nf={self.nf}, nb={self.nb}, gc={self.gc}, scale={self.scale}{extra}"
