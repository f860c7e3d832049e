"""Model-agnostic gradient guidance (Ma et al., CVPR 2020, Sec. 3.2 and Sec. 4.4: "the gradient branch can
be easily incorporated into other SR networks").

:class:`GradientGuidedSR` wraps **any** SR backbone that follows this small protocol and adds SPSR's
gradient branch and fusion block (the same :class:`~spsr_lib.models.spsr_net.GradientBranch` /
:class:`~spsr_lib.models.spsr_net.Fusion` modules SPSRNet uses):

====================================  =====================================================================
``backbone.features(lr)``             returns ``(taps, hr_feature)``: ``taps`` a list of LR-resolution
                                      feature maps taken along the trunk (SPSR: after RRDBs 5/10/15/20),
                                      ``hr_feature`` the HR feature the backbone would map to RGB with its
                                      last conv (that conv is not used by the guided model)
``backbone.feature_channels``         channels of every tap
``backbone.hr_channels``              channels of ``hr_feature``
``backbone.scale``                    upscale factor (2, 3 or 4)
``backbone.taps``                     the tap positions (only ``len`` is used: one branch block per tap)
``backbone.in_ch`` (optional, 3)      input channels
``backbone.base(lr)`` (optional)      a global residual the backbone adds to its image (SRResNet: the
                                      bilinear upsampled LR); the guided model adds it to the fused image
====================================  =====================================================================

:class:`~spsr_lib.models.rrdb.RRDBNet` (ESRGAN), :class:`SRResNet` (below, a light SRResNet/EDSR-style net) and
:class:`~spsr_lib.models.spsr_net.SPSRNet` itself implement it. ``GradientGuidedSR(RRDBNet())`` is SPSR minus the
SR branch's ``HR_conv1_new`` conv; ``GradientGuidedSR(spsr_net)`` with SPSRNet's branch weights reproduces
SPSRNet exactly (tested). ``forward`` returns the same :class:`~spsr_lib.models.spsr_net.SPSROutput`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from spsr_lib.models.spsr_net import Fusion, GradientBranch, SPSROutput
from spsr_lib.ops.blocks import default_taps, init_weights, upsample_factors
from spsr_lib.ops.gradient import GradientMap


class GradientGuidedSR(nn.Module):
    """Backbone (SR branch) + SPSR gradient branch + fusion. ``nf``: branch width (default: tap channels)."""

    def __init__(self, backbone: nn.Module, out_ch: int = 3, nf: int | None = None, gc: int = 32) -> None:
        super().__init__()
        missing = [a for a in ("features", "feature_channels", "hr_channels", "scale", "taps")
                   if not hasattr(backbone, a)]
        if missing:
            raise TypeError(f"{type(backbone).__name__} lacks the guidance protocol attribute(s) {missing}; see "
                            "spsr_lib.models.guidance")
        in_ch = getattr(backbone, "in_ch", 3)
        nf = nf or backbone.feature_channels
        self.backbone = backbone
        self.scale = backbone.scale
        self.lr_gradient = GradientMap(padding=1)
        self.grad_branch = GradientBranch(in_ch, out_ch, nf, backbone.feature_channels, len(backbone.taps), gc,
                                          backbone.scale)
        self.fusion = Fusion(nf, backbone.hr_channels, nf, out_ch, gc)
        init_weights(self.grad_branch, 0.1)  # the backbone keeps its (possibly pretrained) weights
        init_weights(self.fusion, 0.1)

    def forward(self, lr: Tensor) -> SPSROutput:
        taps, hr_feature = self.backbone.features(lr)
        grad_lr = self.lr_gradient(lr)
        branch_feature, grad_sr = self.grad_branch(grad_lr, taps)
        sr = self.fusion(branch_feature, hr_feature)
        base = self.backbone.base(lr) if hasattr(self.backbone, "base") else None
        if base is not None:  # the backbone's global residual stays part of the image
            sr = sr + base
        return SPSROutput(sr, grad_sr, grad_lr)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Same groups as :meth:`SPSRNet.parameter_groups`; the backbone is the ``sr_branch``."""
        return {"sr_branch": list(self.backbone.parameters()), "gradient_branch": list(self.grad_branch.parameters()),
                "fusion": list(self.fusion.parameters())}


class ResidualBlockNoBN(nn.Module):
    """EDSR/SRResNet residual block without BatchNorm: ``x + res_scale * conv(relu(conv(x)))``."""

    def __init__(self, nf: int = 64, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x)))


class SRResNet(nn.Module):
    """A light SRResNet (BasicSR ``MSRResNet``): residual blocks without BN, pixel-shuffle upsampling,
    output added to the bilinear upsampled input. About 1.5 M parameters at the defaults (RRDBNet: 16.7 M).
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, nf: int = 64, nb: int = 16, scale: int = 4,
                 taps: Sequence[int] | None = None) -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.nf, self.nb, self.scale = in_ch, out_ch, nf, nb, scale
        self.taps = default_taps(nb) if taps is None else tuple(int(t) for t in taps)
        self.feature_channels = self.hr_channels = nf  # guidance protocol
        self.conv_first = nn.Conv2d(in_ch, nf, 3, 1, 1)
        self.body = nn.ModuleList(ResidualBlockNoBN(nf) for _ in range(nb))
        self.upsample = nn.ModuleList(
            nn.Sequential(nn.Conv2d(nf, nf * f * f, 3, 1, 1), nn.PixelShuffle(f)) for f in upsample_factors(scale)
        )
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, out_ch, 3, 1, 1)
        init_weights(self, 0.1)

    def features(self, lr: Tensor) -> tuple[list[Tensor], Tensor]:
        x = F.leaky_relu(self.conv_first(lr), 0.1)
        taps = []
        for i, block in enumerate(self.body):
            x = block(x)
            taps.extend(x for t in self.taps if t == i)
        for up in self.upsample:
            x = F.leaky_relu(up(x), 0.1)
        return taps, F.leaky_relu(self.conv_hr(x), 0.1)

    def base(self, lr: Tensor) -> Tensor:
        """The global residual: the bilinear upsampled LR (the network learns the difference to it)."""
        return F.interpolate(lr, scale_factor=self.scale, mode="bilinear", align_corners=False)

    def forward(self, lr: Tensor) -> Tensor:
        return self.conv_last(self.features(lr)[1]) + self.base(lr)
