"""Checkpoints: the authors' ``spsr.pth`` / ESRGAN layouts, this kit's own files, and safe reading.

Official behaviour (SPSR_REFERENCE.md Sec. 2.7, 9.12) and what this module does instead:

- The official SPSR state dict has 884 keys: ``HR_conv0_new.0.*`` and ``model.8.*`` are the *same*
  Parameter registered twice, and the fixed gradient kernels ``get_g_nopadding.weight_h/_v`` are stored
  too. Here both alias keys are accepted and must be equal; the kernels must be the fixed ones.
- The official loader is non-strict: a file with another layout silently loads nothing. Every loader here
  is **strict** and raises :class:`~spsr_lib.errors.CheckpointError` naming the missing / unexpected keys.
- Files are read only with ``torch.load(weights_only=True)`` or safetensors (:mod:`spsr_lib.io.checkpoint_files`);
  nf / nb / gc / in_ch / out_ch are inferred from tensor shapes. One x3 and one x2 upconv stage
  have the same weights, so a single-stage file loads as x2 unless ``scale=3`` is given (safetensors
  files written by :func:`save_generator` store the full architecture in their metadata).
- ``export_official_state_dict`` gives the exact official key set, order and shapes (x4: 884 keys).
- ESRGAN / RRDBNet files and the stage-2 warm start live in :mod:`spsr_lib.io.checkpoint_esrgan`; their public
  names are importable from here too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from spsr_lib.errors import CheckpointError
from spsr_lib.io.checkpoint_esrgan import (  # noqa: F401  (re-exported: one import place for every loader)
    SR_BRANCH_FROM_RRDB,
    load_rrdb,
    load_sr_branch_from_rrdb,
    old_esrgan_pairs,
    rrdb_from_state,
    rrdb_layout,
    rrdb_pairs,
    rrdb_to_kit,
)
from spsr_lib.io.checkpoint_files import (  # noqa: F401  (re-exported)
    DISCRIMINATOR_ENTRIES,
    FORMAT_TAG,
    GENERATOR_ENTRIES,
    Checkpoint,
    Source,
    StateDict,
    arch_of,
    check_arch_against_shapes,
    check_weights,
    count_keys,
    few_keys,
    infer_spsr_arch,
    load_strict,
    read_checkpoint,
    rename_keys,
    save_safetensors,
    stored_arch,
    weight_problem,
)

KERNEL_KEYS = ("weight_h", "weight_v")


def official_spsr_pairs(nb: int, n_up: int, n_taps: int) -> list[tuple[str, str]]:
    """(official conv prefix, kit conv prefix) for SPSRNet, in official state-dict order (incl. the alias)."""
    hr0 = 3 * n_up  # b_module: [up, conv, act] * n_up, HR_conv0 conv, act, HR_conv1 conv
    pairs = [("HR_conv0_new.0", "conv_hr"), ("HR_conv1_new.0", "conv_hr_feat")]
    pairs += old_esrgan_pairs(nb, n_up)
    pairs.append(("b_fea_conv.0", "grad_branch.conv_first"))
    for k in range(n_taps):
        pairs.append((f"b_concat_{k + 1}.0", f"grad_branch.concats.{k}"))
        pairs += rrdb_pairs(f"b_block_{k + 1}", f"grad_branch.blocks.{k}", True)
    pairs.append(("b_LR_conv.0", "grad_branch.conv_body"))
    pairs += [(f"b_module.{1 + 3 * i}", f"grad_branch.upsample.{i}.conv") for i in range(n_up)]
    pairs += [(f"b_module.{hr0}", "grad_branch.conv_hr"), (f"b_module.{hr0 + 2}", "grad_branch.conv_hr_feat")]
    pairs += [("conv_w.0", "grad_branch.conv_out"), ("f_concat.0", "fusion.concat")]
    pairs += rrdb_pairs("f_block", "fusion.block", True)
    pairs += [("f_HR_conv0.0", "fusion.conv_hr"), ("f_HR_conv1.0", "fusion.conv_last")]
    return pairs


def is_official_spsr(sd: Mapping[str, Tensor]) -> bool:
    return "b_fea_conv.0.weight" in sd or "f_HR_conv1.0.weight" in sd


def is_kit_spsr(sd: Mapping[str, Tensor]) -> bool:
    return "grad_branch.conv_first.weight" in sd or "fusion.conv_last.weight" in sd


def official_to_kit(sd: Mapping[str, Tensor], name: str = "<state dict>") -> StateDict:
    """Official SPSR keys -> kit keys; checks the HR_conv0 alias and the fixed gradient kernels."""
    from spsr_lib.ops.gradient import GradientMap

    nb = count_keys(sd, r"model\.1\.sub\.\d+\.RDB1\.conv1\.0\.weight")
    n_up = count_keys(sd, r"b_module\.\d+\.weight") - 2
    n_taps = count_keys(sd, r"b_block_\d+\.RDB1\.conv1\.0\.weight")
    n_up = max(n_up, 0)
    alias_src = f"model.{2 + 3 * n_up}"
    for param in ("weight", "bias"):
        a, b = sd.get(f"HR_conv0_new.0.{param}"), sd.get(f"{alias_src}.{param}")
        if a is not None and b is not None and (a.shape != b.shape or not torch.equal(a, b)):
            raise CheckpointError(f"{name}: HR_conv0_new.0.{param} and its alias {alias_src}.{param} differ; "
                                  "the file was edited inconsistently: re-export it from the model")
    pairs = [p for p in official_spsr_pairs(nb, n_up, n_taps) if p[0] != "HR_conv0_new.0"]
    rest = {k: v for k, v in sd.items() if not k.startswith("HR_conv0_new.0.")}
    if f"{alias_src}.weight" not in sd:  # only the HR_conv0_new copy is present: still loadable
        rest.update({f"{alias_src}.{p}": sd[f"HR_conv0_new.0.{p}"] for p in ("weight", "bias")
                     if f"HR_conv0_new.0.{p}" in sd})
    kit, unmapped = rename_keys(rest, pairs)
    fixed = GradientMap()
    for kernel in KERNEL_KEYS:
        key = f"get_g_nopadding.{kernel}"
        if key in unmapped:
            unmapped.remove(key)
            if not torch.equal(sd[key].float().reshape(-1), getattr(fixed, kernel).reshape(-1)):
                raise CheckpointError(f"{name}: {key} is not the fixed official gradient kernel; the file is not an "
                                      "SPSR generator or was modified")
        kit[f"lr_gradient.{kernel}"] = getattr(fixed, kernel).clone()
    kit.update({k: sd[k] for k in unmapped})  # left for the strict check to report as unexpected
    return kit


def generator_from_state(ckpt: Checkpoint, **arch: Any):
    """An SPSRNet from an already-read :func:`~spsr_lib.io.checkpoint_files.read_checkpoint` result, strictly."""
    from spsr_lib.models.spsr_net import SPSRNet

    sd, meta, name = ckpt
    if meta.get("kind") not in (None, "SPSRNet"):
        raise CheckpointError(f"{name}: holds a {meta['kind']}, not an SPSRNet; use the matching loader")
    if is_official_spsr(sd):
        sd = official_to_kit(sd, name)
    elif not is_kit_spsr(sd):
        hint = ("it is an ESRGAN/RRDBNet generator: use load_rrdb or load_sr_branch_from_rrdb"
                if rrdb_layout(sd) else "pass an SPSR generator checkpoint")
        raise CheckpointError(f"{name}: not an SPSR generator (first keys: {few_keys(list(sd), 3)}); {hint}")
    cfg = infer_spsr_arch(sd, meta, name, **arch)
    model = SPSRNet(**cfg)
    kernels = {f"lr_gradient.{k}" for k in KERNEL_KEYS}
    sd = {**{k: v for k, v in model.state_dict().items() if k in kernels}, **sd}  # kernels are optional
    return load_strict(model, sd, name, f"SPSRNet({', '.join(f'{k}={v}' for k, v in cfg.items())})")


def load_generator(source: Source, **arch: Any):
    """Load an SPSRNet from the official ``spsr.pth`` layout, a kit training checkpoint or ``.safetensors``.

    ``arch`` (in_ch, out_ch, nf, nb, gc, scale, taps) overrides what is inferred; loading is strict.
    """
    return generator_from_state(read_checkpoint(source, GENERATOR_ENTRIES), **arch)


def export_official_state_dict(model: nn.Module) -> StateDict:
    """The official key layout (SPSRNet: 884 keys for nb=23, x4; RRDBNet: old ESRGAN ``model.*``)."""
    from spsr_lib.models.rrdb import RRDBNet
    from spsr_lib.models.spsr_net import SPSRNet

    own = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    if isinstance(model, SPSRNet):
        pairs = official_spsr_pairs(model.nb, len(model.upsample), len(model.taps))
    elif isinstance(model, RRDBNet):
        pairs = old_esrgan_pairs(model.nb, len(model.upsample)) + [(f"model.{4 + 3 * len(model.upsample)}",
                                                                      "conv_last")]
    else:
        raise TypeError(f"export_official_state_dict supports SPSRNet and RRDBNet, not {type(model).__name__}")
    out: StateDict = {}
    for off, kit in pairs:
        for param in ("weight", "bias"):
            out[f"{off}.{param}"] = own[f"{kit}.{param}"]
        if isinstance(model, SPSRNet) and off.startswith("model.") and kit == "conv_hr":
            out.update({f"get_g_nopadding.{k}": own[f"lr_gradient.{k}"] for k in KERNEL_KEYS})
    return out


def save_generator(model: nn.Module, path: str | os.PathLike) -> None:
    """Write ``model`` (SPSRNet or RRDBNet) as safetensors with its architecture in the metadata, atomically."""
    save_safetensors(model, path)


def load_sr_model(source: Source):
    """Any super-resolution generator the kit knows, for inference and evaluation: an SPSRNet when the file
    holds one (official ``spsr.pth``, kit files), else an ESRGAN/RRDBNet (``RRDB_PSNR_x4.pth``, a stage-1 run).
    The file is read once."""
    ckpt = read_checkpoint(source, GENERATOR_ENTRIES)
    sd, meta, _ = ckpt
    if meta.get("kind") == "RRDBNet" or (meta.get("kind") is None and not is_official_spsr(sd)
                                         and not is_kit_spsr(sd) and rrdb_layout(sd)):
        return rrdb_from_state(ckpt)
    return generator_from_state(ckpt)


# ----------------------------------------------------------------------------------- discriminator
def load_discriminator(source: Source, entry: str | None = None, **arch: Any):
    """Load a VGGDiscriminator (official ``Discriminator_VGG_128`` keys or kit safetensors), strictly.

    ``entry`` picks a state dict inside a training checkpoint (default: ``discriminator``).
    """
    from spsr_lib.models.discriminator import VGGDiscriminator

    sd, meta, name = read_checkpoint(source, (entry,) if entry else DISCRIMINATOR_ENTRIES)
    if "features.0.weight" not in sd or "classifier.0.weight" not in sd:
        raise CheckpointError(f"{name}: not a VGG discriminator (first keys: {few_keys(list(sd), 3)}); pass a "
                              "Discriminator_VGG_128 checkpoint")
    nf, in_ch = (int(s) for s in sd["features.0.weight"].shape[:2])
    final = round((int(sd["classifier.0.weight"].shape[1]) / (8 * nf)) ** 0.5)
    cfg = {"in_ch": in_ch, "nf": nf, "input_size": 32 * max(final, 1)}
    stored = stored_arch(meta, name, ("in_ch", "nf", "input_size"))
    check_arch_against_shapes({**stored, "input_size": stored.get("input_size", cfg["input_size"]) // 32 * 32},
                              cfg, name)
    cfg.update(stored)
    cfg.update(arch)
    return load_strict(VGGDiscriminator(**cfg), sd, name,
                       f"VGGDiscriminator({', '.join(f'{k}={v}' for k, v in cfg.items())})")


def save_discriminator(model: nn.Module, path: str | os.PathLike) -> None:
    """Write a VGGDiscriminator (incl. BN running stats) as safetensors with its architecture, atomically."""
    save_safetensors(model, path)
