"""The loss ablation of SPSR (Ma et al., CVPR 2020, Sec. 4.4) as six small variations of one recipe.

The paper's Table 3 / Fig. 8 compare, at a comparable PSNR, what each part of SPSR adds to ESRGAN:

(a) ``l1``               RRDBNet, L1 only: the PSNR-oriented model every GAN variant starts from, trained on;
(b) ``esrgan``           RRDBNet, pixel + perceptual + RaGAN (ESRGAN's objective, Eq. 9 first three terms);
(c) ``grad_loss``        (b) + gradient-map pixel loss + gradient-map GAN (Eq. 9 terms 4-5), no branch;
(d) ``spsr``             SPSRNet: (c) + the gradient branch and its pixel loss (Eq. 9 term 6): full SPSR.

and, for the paper's remark that the gradient branch "can be easily incorporated into other SR networks"
(Sec. 3.2), which the official code never released:

(e) ``srresnet_esrgan``  SRResNet with (b)'s losses;
(f) ``srresnet_guided``  :class:`~spsr_lib.models.guidance.GradientGuidedSR` around the same SRResNet, (d)'s losses.

Each variant is a set of loss-weight overrides (everything else off) plus how its generator is built from the
stage-1 network of its backbone. The GAN variants wrap networks without a gradient branch so that the stage-2
step can train them (:class:`BranchlessRRDB`, :class:`BranchlessSRResNet`: their "branch output" is M(SR),
weight 0), and the branch variants start with an identity fusion (:mod:`spsr_lib.train.warm_start`), so all
variants of one backbone start from exactly the same image. ``Backbones.residual`` ("bicubic": the structure
lineage's stage 1, ``configs/structure_x4_psnr.yaml``) builds every RRDBNet-family generator with the same global
residual as its stage 1; ``Backbones.fusion_init`` "identity_branch" (the recipe of ``configs/structure_x4.yaml``)
gives (d)'s fusion the official random weights on the branch half, so (d) starts *near* (c) instead of exactly on
it (:func:`same_start` measures how near). The experiment itself (seeds, budget, evaluation,
results file) is ``scripts/make_ablation_results.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from spsr_lib.models.guidance import GradientGuidedSR, SRResNet
from spsr_lib.models.rrdb import RRDBNet
from spsr_lib.models.spsr_net import SPSRNet, SPSROutput
from spsr_lib.ops.gradient import gradient_map

ESRGAN = ("loss.pixel.weight=1e-2", "loss.perceptual.weight=1.0", "loss.gan.weight=5e-3")
GRADIENT = ("loss.gradient_pixel.weight=1e-2", "loss.gradient_gan.weight=5e-3")
BRANCH = ("loss.branch_pixel.weight=0.5",)
TERMS = ("pixel", "perceptual", "gan", "gradient_pixel", "gradient_gan", "branch_pixel")
ALL_OFF = tuple(f"loss.{t}.weight=0" for t in TERMS)


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: a backbone, with or without the gradient branch, and its loss terms."""

    name: str
    label: str
    backbone: str  # "rrdb" or "srresnet"
    branch: bool  # the gradient branch + fusion (SPSRNet / GradientGuidedSR)
    stage: str  # "psnr" (L1 only) or "spsr" (the GAN stage)
    losses: tuple[str, ...]

    def overrides(self) -> list[str]:
        """Config overrides: every generator term off, then this variant's weights (later ones win)."""
        return [f"stage={self.stage}", *ALL_OFF, *self.losses]


VARIANTS: tuple[Variant, ...] = (
    Variant("l1", "(a) L1 only", "rrdb", False, "psnr", ("loss.pixel.weight=1.0",)),
    Variant("esrgan", "(b) pixel + perceptual + GAN", "rrdb", False, "spsr", ESRGAN),
    Variant("grad_loss", "(c) (b) + gradient losses", "rrdb", False, "spsr", ESRGAN + GRADIENT),
    Variant("spsr", "(d) full SPSR", "rrdb", True, "spsr", ESRGAN + GRADIENT + BRANCH),
    Variant("srresnet_esrgan", "(e) SRResNet, ESRGAN losses", "srresnet", False, "spsr", ESRGAN),
    Variant("srresnet_guided", "(f) SRResNet + gradient guidance, SPSR losses", "srresnet", True, "spsr",
            ESRGAN + GRADIENT + BRANCH),
)
BY_NAME = {v.name: v for v in VARIANTS}


class _AnswersLikeSPSR:
    """Mixin: a network without a gradient branch that answers like SPSRNet, so stage 2 can train it."""

    def forward(self, lr: Tensor) -> SPSROutput:
        sr = super().forward(lr)  # type: ignore[misc]
        return SPSROutput(sr, gradient_map(sr, padding=1), gradient_map(lr, padding=1))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"sr_branch": list(self.parameters()), "gradient_branch": [], "fusion": []}  # type: ignore[attr-defined]


class BranchlessRRDB(_AnswersLikeSPSR, RRDBNet):
    """RRDBNet for the GAN stage (variants b, c); same state-dict keys as RRDBNet, saved as one."""

    checkpoint_kind = "RRDBNet"  # its files load with load_sr_model / spsr evaluate like any RRDBNet


class BranchlessSRResNet(_AnswersLikeSPSR, SRResNet):
    """SRResNet for the GAN stage (variant e); same state-dict keys as SRResNet, saved as one."""

    checkpoint_kind = "SRResNet"


@dataclass(frozen=True)
class Backbones:
    """The stage-1 architectures: RRDBNet ``rrdb`` = (nf, nb, gc), SRResNet ``srresnet`` = (nf, nb)."""

    rrdb: tuple[int, int, int] = (24, 6, 12)
    srresnet: tuple[int, int] = (32, 8)
    scale: int = 4
    residual: str = "none"  # RRDBNet / SPSRNet global residual; must match the stage-1 file's
    fusion_init: str = "identity"  # (d)'s fusion: "identity" (exact start) or "identity_branch" (the recipe's)

    def stage1(self, backbone: str) -> nn.Module:
        """A fresh stage-1 network (what the L1 pre-train trains)."""
        if backbone == "rrdb":
            nf, nb, gc = self.rrdb
            return RRDBNet(3, 3, nf, nb, gc, self.scale, residual=self.residual)
        nf, nb = self.srresnet
        return SRResNet(3, 3, nf, nb, self.scale)


def build_generator(variant: Variant, stage1: nn.Module, arch: Backbones) -> nn.Module:
    """The generator ``variant`` trains, initialised so that its first output equals ``stage1``'s.

    ``stage1``: the pre-trained RRDBNet / SRResNet of the variant's backbone (it is not modified).
    """
    from spsr_lib.io.checkpoint import load_sr_branch_from_rrdb
    from spsr_lib.train.warm_start import init_fusion_as_identity, init_guided_fusion_as_identity

    state = stage1.state_dict()
    if variant.backbone == "rrdb":
        nf, nb, gc = arch.rrdb
        res = getattr(stage1, "residual", "none")
        if res != arch.residual:  # the same weights give another image under another global residual
            raise ValueError(f"stage-1 RRDBNet has residual={res}, the ablation's Backbones.residual={arch.residual}")
        if variant.stage == "psnr":
            model: nn.Module = RRDBNet(3, 3, nf, nb, gc, arch.scale, residual=res)
        elif not variant.branch:
            model = BranchlessRRDB(3, 3, nf, nb, gc, arch.scale, residual=res)
        else:
            spsr = SPSRNet(3, 3, nf, nb, gc, arch.scale, residual=res)
            load_sr_branch_from_rrdb(spsr, stage1)
            return init_fusion_as_identity(spsr, stage1, random_branch=arch.fusion_init == "identity_branch")
        model.load_state_dict(state)
        return model
    nf, nb = arch.srresnet
    if not variant.branch:
        model = BranchlessSRResNet(3, 3, nf, nb, arch.scale) if variant.stage == "spsr" else SRResNet(3, 3, nf, nb, arch.scale)
        model.load_state_dict(state)
        return model
    backbone = SRResNet(3, 3, nf, nb, arch.scale)
    backbone.load_state_dict(state)
    return init_guided_fusion_as_identity(GradientGuidedSR(backbone, gc=arch.rrdb[2]))


def generator_factory(variant: Variant, stage1: nn.Module, arch: Backbones) -> Callable[[], nn.Module]:
    """For :class:`spsr_lib.Trainer` ``(generator=...)``: builds the variant's G after the Trainer seeded torch
    (the gradient branch's random init then depends on the run's seed, like everything else)."""
    return lambda: build_generator(variant, stage1, arch)


def sr_image(model: nn.Module, lr: Tensor) -> Tensor:
    """The SR image of any of the six generators (SPSROutput or a plain tensor)."""
    out = model(lr)
    return out.sr if isinstance(out, SPSROutput) else out


@torch.no_grad()
def same_start(variant: Variant, stage1: nn.Module, arch: Backbones, lr: Tensor) -> float:
    """Largest |G(lr) - stage1(lr)| of the freshly built generator (0 up to float rounding): a check."""
    g = build_generator(variant, stage1, arch).eval()
    return float((sr_image(g, lr) - stage1.eval()(lr)).abs().max())
