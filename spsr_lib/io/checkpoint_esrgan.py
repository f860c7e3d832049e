"""ESRGAN / RRDBNet checkpoints: the old ``model.*`` layout (``RRDB_PSNR_x4.pth``, SPSR's SR branch), the
new ``conv_first`` / ``RRDB_trunk`` layout and the kit's own, and the official stage-2 warm start.

Official behaviour (SPSR_REFERENCE.md Sec. 5.4): ``pretrain_model_G`` loads ``RRDB_PSNR_x4.pth`` non-strictly
into SPSRNet, so only the keys the two share (trunk, upconvs, HR_conv0) take values and the last conv is
dropped. :func:`load_sr_branch_from_rrdb` does exactly that, strictly: every SR-branch key must come from
the file with the right shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from spsr_lib.errors import CheckpointError
from spsr_lib.io.checkpoint_files import (
    GENERATOR_ENTRIES,
    Checkpoint,
    Source,
    StateDict,
    check_weights,
    count_keys,
    few_keys,
    infer_spsr_arch,
    key_mismatches,
    load_strict,
    read_checkpoint,
    rename_keys,
)


def rrdb_pairs(src: str, dst: str, official: bool) -> list[tuple[str, str]]:
    """Conv prefixes of one RRDB: official ``RDBk.convj.0`` (new ESRGAN: no ``.0``) -> kit ``rdbk.convj``."""
    tail = ".0" if official else ""
    return [(f"{src}.RDB{k}.conv{j}{tail}", f"{dst}.rdb{k}.conv{j}") for k in (1, 2, 3) for j in range(1, 6)]


def old_esrgan_pairs(nb: int, n_up: int) -> list[tuple[str, str]]:
    """Old ESRGAN / SPSR SR-branch ``model.*`` Sequential indices (B.sequential flattens conv+act pairs)."""
    pairs = [("model.0", "conv_first")]
    for i in range(nb):
        pairs += rrdb_pairs(f"model.1.sub.{i}", f"body.{i}", True)
    pairs.append((f"model.1.sub.{nb}", "conv_body"))
    pairs += [(f"model.{3 + 3 * i}", f"upsample.{i}.conv") for i in range(n_up)]
    pairs.append((f"model.{2 + 3 * n_up}", "conv_hr"))
    return pairs


def rrdb_layout(sd: Mapping[str, Tensor]) -> str | None:
    """``old`` / ``new`` ESRGAN key layout, ``kit``, or None for anything else."""
    if "model.0.weight" in sd and "model.1.sub.0.RDB1.conv1.0.weight" in sd:
        return "old"
    if "RRDB_trunk.0.RDB1.conv1.weight" in sd:
        return "new"
    if "body.0.rdb1.conv1.weight" in sd and "conv_last.weight" in sd:
        return "kit"
    return None


def rrdb_to_kit(sd: Mapping[str, Tensor], name: str = "<state dict>") -> StateDict:
    """Any ESRGAN layout (old ``model.*`` incl. RRDB_PSNR_x4, new ``RRDB_trunk``, kit) -> kit RRDBNet keys."""
    layout = rrdb_layout(sd)
    if layout == "kit":
        return dict(sd)
    if layout == "old":
        nb = count_keys(sd, r"model\.1\.sub\.\d+\.RDB1\.conv1\.0\.weight")
        n_up = max(count_keys(sd, r"model\.\d+\.weight") - 3, 0)  # model.0, upconvs, HR_conv0, last conv
        pairs = old_esrgan_pairs(nb, n_up) + [(f"model.{4 + 3 * n_up}", "conv_last")]
    elif layout == "new":
        nb = count_keys(sd, r"RRDB_trunk\.\d+\.RDB1\.conv1\.weight")
        n_up = count_keys(sd, r"upconv\d+\.weight")
        pairs = [("conv_first", "conv_first"), ("trunk_conv", "conv_body"), ("HRconv", "conv_hr"),
                 ("conv_last", "conv_last")] + [(f"upconv{i + 1}", f"upsample.{i}.conv") for i in range(n_up)]
        for i in range(nb):
            pairs += rrdb_pairs(f"RRDB_trunk.{i}", f"body.{i}", False)
    else:
        raise CheckpointError(f"{name}: not an ESRGAN/RRDBNet checkpoint (first keys: {few_keys(list(sd), 3)}); "
                              "expected the old model.* or the new conv_first/RRDB_trunk layout")
    kit, unmapped = rename_keys(sd, pairs)
    kit.update({k: sd[k] for k in unmapped})
    return kit


def rrdb_from_state(ckpt: Checkpoint, **arch: Any):
    """An RRDBNet from an already-read :func:`~spsr_lib.io.checkpoint_files.read_checkpoint` result, strictly."""
    from spsr_lib.models.rrdb import RRDBNet

    sd, meta, name = ckpt
    sd = rrdb_to_kit(sd, name)
    cfg = {k: v for k, v in infer_spsr_arch(sd, meta, name).items() if k not in ("taps",)}
    if "conv_last.weight" in sd:
        cfg["out_ch"] = int(sd["conv_last.weight"].shape[0])
    cfg.update(arch)
    return load_strict(RRDBNet(**cfg), sd, name, f"RRDBNet({', '.join(f'{k}={v}' for k, v in cfg.items())})")


def load_rrdb(source: Source, **arch: Any):
    """Load an RRDBNet (ESRGAN) from any of its layouts, strictly; ``arch`` overrides inferred values."""
    return rrdb_from_state(read_checkpoint(source, GENERATOR_ENTRIES), **arch)


SR_BRANCH_FROM_RRDB = ("conv_first.", "body.", "conv_body.", "upsample.", "conv_hr.")


def load_sr_branch_from_rrdb(model: nn.Module, rrdb: nn.Module | Source) -> list[str]:
    """Official pretrain load: ESRGAN trunk, upconvs and HR_conv0 into SPSRNet's SR branch, strictly.

    ESRGAN's last conv (``model.10`` / ``conv_last``) is dropped; ``conv_hr_feat`` (HR_conv1_new), the
    gradient branch and the fusion keep their init. Returns the filled keys.
    """
    if isinstance(rrdb, nn.Module):
        sd, name = dict(rrdb.state_dict()), type(rrdb).__name__
    else:
        sd, _, name = read_checkpoint(rrdb, GENERATOR_ENTRIES)
    sd = rrdb_to_kit(sd, name)
    sd.pop("conv_last.weight", None)
    sd.pop("conv_last.bias", None)
    own = model.state_dict()
    wanted = [k for k in own if k.startswith(SR_BRANCH_FROM_RRDB)]
    problem = key_mismatches({k: own[k] for k in wanted}, sd)
    if not problem:
        check_weights({k: sd[k] for k in wanted}, name)
    if problem:
        raise CheckpointError(
            f"{name}: does not fit the SR branch of {type(model).__name__}(nf={model.nf}, nb={model.nb}, "
            f"gc={model.gc}): {problem}; use an RRDBNet checkpoint with the same nf/nb/gc/scale"
        )
    with torch.no_grad():
        for k in wanted:
            own[k].copy_(sd[k])
    return wanted
