"""How the generator starts: ``train.pretrained`` (:func:`load_pretrained`) and the identity-initialised fusion.

:func:`init_fusion_as_identity` starts SPSRNet *exactly* as the stage-1 RRDBNet (a kit option, not the paper's).

Why. The official stage 2 loads ``RRDB_PSNR_x4.pth`` into the SR branch only; the fusion block, which
alone produces the image (paper Sec. 3.2, Fig. 2), starts from random weights and is trained alone for
5,000 of 500,000 iterations (``SPSR_REFERENCE.md`` §5.5). On a long GPU schedule that costs 1 % of the
run. On a short budget it does not converge: the fusion still gets colours wrong when the GAN terms
switch on, the pixel term (weight 1e-2) is too weak to pull them back, and the run collapses (measured
on the CPU ablation: Set5 27.4 dB after a 300-step L1 warm-up, 18 dB after 40 more GAN steps).

What. With ``train.fusion_init: identity`` the generator's first output equals the RRDBNet output bit for
bit (up to float rounding), and the gradient branch starts where the official code starts it:

- ``conv_hr_feat`` (SR branch, nf -> nf) is the identity, so the SR feature is RRDBNet's ``h``, the
  LReLU output that feeds its ``conv_last``;
- every dense block of the fusion RRDB ends in a zero conv, so the RRDB maps ``x`` to ``1.2 x``;
- the fusion ``concat`` conv keeps the SR half divided by 1.2 and gives the branch half weight 0
  (it learns to use the gradient branch from there);
- the fusion ``conv_hr`` computes ``+conv_last(h)`` in channels 0-2 and ``-conv_last(h)`` in 3-5, and
  ``conv_last`` undoes the LReLU between them: ``(lrelu(a) - lrelu(-a)) / 1.2 = a`` for every ``a``.

Zero-initialised residual branches still receive gradients (the standard zero-init residual trick), so
nothing is frozen: the fusion departs from the identity as soon as the losses ask for it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spsr_lib.errors import ConfigError, SPSRError
from spsr_lib.ops.blocks import NEG_SLOPE, RESIDUAL_SCALE, init_weights

if TYPE_CHECKING:
    from spsr_lib.train.config import Config


def _dirac_(conv: nn.Conv2d, scale: float = 1.0, in_offset: int = 0) -> None:
    """conv(x)[c] = scale * x[in_offset + c] for the first min(out, in - offset) channels, others 0."""
    conv.weight.zero_()
    conv.bias.zero_()
    k = conv.kernel_size[0] // 2
    for c in range(min(conv.out_channels, conv.in_channels - in_offset)):
        conv.weight[c, in_offset + c, k, k] = scale


def _fusion_as_head(fusion: nn.Module, head: nn.Conv2d, branch_ch: int, out_ch: int,
                    random_branch: bool = False) -> None:
    """Make ``fusion(branch, h)`` compute ``head(h)`` exactly, whatever the branch feature (see above).

    ``random_branch``: the ``concat`` weights that read the branch feature get the official random init
    (kaiming x 0.1) instead of 0, so the image depends on the branch from the first step (``identity_branch``).
    """
    nf = fusion.concat.out_channels
    if nf < 2 * out_ch or nf < fusion.concat.in_channels - branch_ch:
        raise ValueError(f"identity fusion init needs a fusion width >= {2 * out_ch} and >= the SR feature "
                         f"channels, got {nf}")
    for rdb in (fusion.block.rdb1, fusion.block.rdb2, fusion.block.rdb3):
        rdb.conv5.weight.zero_()
        rdb.conv5.bias.zero_()
    # cat((branch, sr)) -> RRDB gives 1.2 * cat: keep the SR half (channels branch_ch..) / 1.2
    _dirac_(fusion.concat, scale=1.0 / (1.0 + RESIDUAL_SCALE), in_offset=branch_ch)
    if random_branch:
        fresh = init_weights(nn.Conv2d(fusion.concat.in_channels, nf, fusion.concat.kernel_size), 0.1)
        fusion.concat.weight[:, :branch_ch] = fresh.weight[:, :branch_ch].to(fusion.concat.weight)
    fusion.conv_hr.weight.zero_()
    fusion.conv_hr.bias.zero_()
    sr_ch = head.in_channels  # the concat put the SR feature in channels 0..sr_ch (the rest are 0)
    fusion.conv_hr.weight[:out_ch, :sr_ch] = head.weight
    fusion.conv_hr.bias[:out_ch] = head.bias
    fusion.conv_hr.weight[out_ch:2 * out_ch, :sr_ch] = -head.weight
    fusion.conv_hr.bias[out_ch:2 * out_ch] = -head.bias
    # (lrelu(a) - lrelu(-a)) = (1 + slope) * a for both signs of a
    fusion.conv_last.weight.zero_()
    fusion.conv_last.bias.zero_()
    k = fusion.conv_last.kernel_size[0] // 2
    for c in range(out_ch):
        fusion.conv_last.weight[c, c, k, k] = 1.0 / (1.0 + NEG_SLOPE)
        fusion.conv_last.weight[c, out_ch + c, k, k] = -1.0 / (1.0 + NEG_SLOPE)


@torch.no_grad()
def init_fusion_as_identity(spsr: nn.Module, rrdb: nn.Module, random_branch: bool = False) -> nn.Module:
    """Make ``spsr`` (SPSRNet, SR branch already loaded from ``rrdb``) output exactly what ``rrdb`` outputs.

    ``rrdb`` is the stage-1 RRDBNet whose ``conv_last`` (dropped by the official SR-branch load) becomes
    the image head. Needs ``nf >= 2 * out_ch``. Returns ``spsr``.
    """
    if spsr.nf < 2 * spsr.out_ch:
        raise ValueError(f"identity fusion init needs nf >= {2 * spsr.out_ch}, got nf={spsr.nf}")
    _dirac_(spsr.conv_hr_feat)
    _fusion_as_head(spsr.fusion, rrdb.conv_last, spsr.nf, spsr.out_ch, random_branch)
    if getattr(spsr, "residual", "none") == "bicubic":
        # grad_sr = conv_out(feature) + M(bicubic): a zero conv_out starts the branch at the bicubic image's
        # gradient map (its weights still get gradients, the zero-init residual trick), not at random noise
        nn.init.zeros_(spsr.grad_branch.conv_out.weight)
        nn.init.zeros_(spsr.grad_branch.conv_out.bias)
    return spsr


@torch.no_grad()
def init_guided_fusion_as_identity(guided: nn.Module) -> nn.Module:
    """Make a :class:`~spsr_lib.models.guidance.GradientGuidedSR` output exactly what its (pre-trained)
    backbone outputs: the fusion computes the backbone's ``conv_last`` of its HR feature (the guided model
    adds the backbone's ``base`` itself). The same kit option as :func:`init_fusion_as_identity`, for any
    backbone with a ``conv_last`` image head. Returns ``guided``."""
    head = getattr(guided.backbone, "conv_last", None)
    if not isinstance(head, nn.Conv2d):
        raise ValueError(f"{type(guided.backbone).__name__} has no conv_last image head to start the fusion from")
    _fusion_as_head(guided.fusion, head, guided.grad_branch.conv_hr_feat.out_channels, head.out_channels)
    return guided


def load_pretrained(cfg: Config, G: nn.Module) -> str:
    """Initialise G from ``train.pretrained``; returns a note for the log.

    Stage "psnr": the whole RRDBNet. Stage "spsr": an RRDBNet file (stage 1, or the official
    ``RRDB_PSNR_x4.pth``) fills only the SR branch, as the official code does (§2.7); a complete SPSR
    generator (``spsr.pth`` or a kit file) loads entirely, to fine-tune it. Loading is strict.
    """
    path = cfg.train.pretrained
    if not path:
        return "G from scratch (kaiming x 0.1)"
    if not Path(path).is_file():
        raise ConfigError(f"train.pretrained: {path} not found; give the stage-1 models/G_latest.safetensors "
                          "or the official RRDB_PSNR_x4.pth")
    from spsr_lib.io.checkpoint import (
        generator_from_state,
        is_kit_spsr,
        is_official_spsr,
        load_sr_branch_from_rrdb,
        read_checkpoint,
        rrdb_from_state,
    )

    m = cfg.model
    arch = dict(nf=m.nf, nb=m.nb, gc=m.gc, scale=m.scale, in_ch=m.in_ch, out_ch=m.out_ch)
    source: Any = path
    if path.endswith(".pt"):  # a kit training state: take its generator
        with contextlib.suppress(SPSRError):
            from spsr_lib.train.state import load_state

            source = load_state(Path(path))["G"]
    ckpt = read_checkpoint(source)  # once: the layout decides the loader
    if cfg.stage == "spsr":
        sd = ckpt[0]
        if is_official_spsr(sd) or is_kit_spsr(sd):
            if cfg.train.fusion_init != "official":
                raise ConfigError(f"train.fusion_init: '{cfg.train.fusion_init}' needs an RRDBNet in train.pretrained, but {path} "
                                  "is a whole SPSR generator; set train.fusion_init=official to fine-tune it")
            whole = generator_from_state(ckpt, **arch, taps=G.taps)
            if whole.residual != m.residual:
                raise ConfigError(f"model.residual: {m.residual} but train.pretrained {path} was trained with "
                                  f"residual={whole.residual}; set model.residual={whole.residual}")
            G.load_state_dict(whole.state_dict())
            return f"G (all of SPSRNet) initialised from {path}"
    rrdb = rrdb_from_state(ckpt, **arch)
    if rrdb.residual != m.residual:  # the weights only mean the same image with the same global residual
        raise ConfigError(f"model.residual: {m.residual} but train.pretrained {path} was trained with residual="
                          f"{rrdb.residual}; set model.residual={rrdb.residual}")
    if cfg.stage == "psnr":
        G.load_state_dict(rrdb.state_dict())
        return f"G initialised from {path}"
    load_sr_branch_from_rrdb(G, rrdb)
    if cfg.train.fusion_init in ("identity", "identity_branch"):
        init_fusion_as_identity(G, rrdb, random_branch=cfg.train.fusion_init == "identity_branch")
        if cfg.train.fusion_init == "identity_branch":
            return (f"SR branch initialised from {path}, fusion as identity on the SR feature and the official "
                    "random init on the branch feature (G starts near that RRDBNet, already reading the branch)")
        return f"SR branch initialised from {path}, fusion as identity (G starts as that RRDBNet)"
    return f"SR branch initialised from {path}"
