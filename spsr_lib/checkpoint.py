"""Checkpoints: the authors' ``spsr.pth`` / ESRGAN layouts, this kit's own files, and safe reading.

Official behaviour (SPSR_REFERENCE.md Sec. 2.7, 9.12) and what this module does instead:

- The official SPSR state dict has 884 keys: ``HR_conv0_new.0.*`` and ``model.8.*`` are the *same*
  Parameter registered twice, and the fixed gradient kernels ``get_g_nopadding.weight_h/_v`` are stored
  too. Here both alias keys are accepted and must be equal; the kernels must be the fixed ones.
- The official loader is non-strict: a file with another layout silently loads nothing. Every loader here
  is **strict** and raises :class:`~spsr_lib.errors.CheckpointError` naming the missing / unexpected keys.
- Files are read only with ``torch.load(weights_only=True)`` or safetensors: a checkpoint cannot run code.
- ``module.`` (DataParallel) prefixes are stripped; a training checkpoint dict is unwrapped (``generator``
  entry); nf / nb / gc / in_ch / out_ch are inferred from tensor shapes. One x3 and one x2 upconv stage
  have the same weights, so a single-stage file loads as x2 unless ``scale=3`` is given (safetensors
  files written by :func:`save_generator` store the full architecture in their metadata).
- ``export_official_state_dict`` gives the exact official key set, order and shapes (x4: 884 keys).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from spsr_lib.atomic_io import atomic_path
from spsr_lib.errors import CheckpointError

StateDict = dict[str, Tensor]
Source = str | os.PathLike | Mapping[str, Any]
FORMAT_TAG = "spsr-kit"
GENERATOR_ENTRIES = ("generator", "netG", "params_ema", "params", "state_dict", "model_state_dict")
DISCRIMINATOR_ENTRIES = ("discriminator", "netD", "state_dict")
KERNEL_KEYS = ("weight_h", "weight_v")


# ---------------------------------------------------------------------------------------------- reading
def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def _is_safetensors(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(9)
    return path.suffix == ".safetensors" or (len(head) == 9 and head[8:9] == b"{" and
                                              int.from_bytes(head[:8], "little") < 100_000_000)


def read_checkpoint(source: Source, entries: Iterable[str] = GENERATOR_ENTRIES) -> tuple[StateDict, dict[str, str], str]:
    """Return ``(state dict, safetensors metadata, name for messages)`` from a path or a mapping."""
    if isinstance(source, Mapping):
        return _unwrap(source, entries, "<state dict>"), {}, "<state dict>"
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; check the path")
    if _is_safetensors(path):
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
                sd = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
        except Exception as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({_short(exc)}); re-save or "
                                  "re-download it") from None
        return _unwrap(sd, entries, str(path)), meta, str(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot be read as a weights-only PyTorch checkpoint ({_short(exc)}); it "
                              "is corrupt or contains code: re-download it or convert it with a trusted tool") from None
    return _unwrap(obj, entries, str(path)), {}, str(path)


def _unwrap(obj: Any, entries: Iterable[str], name: str) -> StateDict:
    """Find the state dict inside a training checkpoint and strip ``module.`` prefixes."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: holds a {type(obj).__name__}, not a state dict; pass a model checkpoint")
    if not all(isinstance(v, Tensor) for v in obj.values()):
        entry = next((e for e in entries if isinstance(obj.get(e), Mapping)), None)
        if entry is None:
            raise CheckpointError(f"{name}: no state dict found (top-level keys: {few_keys(list(obj))}); expected a "
                                  f"state dict or one of the entries {', '.join(entries)}")
        obj = obj[entry]
        if not all(isinstance(v, Tensor) for v in obj.values()):
            raise CheckpointError(f"{name}: entry '{entry}' is not a flat state dict of tensors")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def few_keys(keys: list[str], n: int = 4) -> str:
    if not keys:
        return "none"
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _count(sd: Mapping[str, Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return sum(1 for k in sd if rx.fullmatch(k))


def load_strict(model: nn.Module, sd: Mapping[str, Tensor], name: str, what: str) -> nn.Module:
    """``load_state_dict(strict=True)`` with a one-line CheckpointError naming every kind of mismatch."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{name}: does not match {what}: missing keys: {few_keys(missing)}; unexpected keys: {few_keys(unexpected)}; "
            f"shape mismatches: {few_keys(shapes, 2)}; pass the matching architecture or the right file"
        )
    model.load_state_dict(sd, strict=True)
    return model


# ------------------------------------------------------------------------------------ layout tables
def _rrdb_pairs(src: str, dst: str, official: bool) -> list[tuple[str, str]]:
    """Conv prefixes of one RRDB: official ``RDBk.convj.0`` (new ESRGAN: no ``.0``) -> kit ``rdbk.convj``."""
    tail = ".0" if official else ""
    return [(f"{src}.RDB{k}.conv{j}{tail}", f"{dst}.rdb{k}.conv{j}") for k in (1, 2, 3) for j in range(1, 6)]


def _old_esrgan_pairs(nb: int, n_up: int) -> list[tuple[str, str]]:
    """Old ESRGAN / SPSR SR-branch ``model.*`` Sequential indices (B.sequential flattens conv+act pairs)."""
    pairs = [("model.0", "conv_first")]
    for i in range(nb):
        pairs += _rrdb_pairs(f"model.1.sub.{i}", f"body.{i}", True)
    pairs.append((f"model.1.sub.{nb}", "conv_body"))
    pairs += [(f"model.{3 + 3 * i}", f"upsample.{i}.conv") for i in range(n_up)]
    pairs.append((f"model.{2 + 3 * n_up}", "conv_hr"))
    return pairs


def official_spsr_pairs(nb: int, n_up: int, n_taps: int) -> list[tuple[str, str]]:
    """(official conv prefix, kit conv prefix) for SPSRNet, in official state-dict order (incl. the alias)."""
    hr0 = 3 * n_up  # b_module: [up, conv, act] * n_up, HR_conv0 conv, act, HR_conv1 conv
    pairs = [("HR_conv0_new.0", "conv_hr"), ("HR_conv1_new.0", "conv_hr_feat")]
    pairs += _old_esrgan_pairs(nb, n_up)
    pairs.append(("b_fea_conv.0", "grad_branch.conv_first"))
    for k in range(n_taps):
        pairs.append((f"b_concat_{k + 1}.0", f"grad_branch.concats.{k}"))
        pairs += _rrdb_pairs(f"b_block_{k + 1}", f"grad_branch.blocks.{k}", True)
    pairs.append(("b_LR_conv.0", "grad_branch.conv_body"))
    pairs += [(f"b_module.{1 + 3 * i}", f"grad_branch.upsample.{i}.conv") for i in range(n_up)]
    pairs += [(f"b_module.{hr0}", "grad_branch.conv_hr"), (f"b_module.{hr0 + 2}", "grad_branch.conv_hr_feat")]
    pairs += [("conv_w.0", "grad_branch.conv_out"), ("f_concat.0", "fusion.concat")]
    pairs += _rrdb_pairs("f_block", "fusion.block", True)
    pairs += [("f_HR_conv0.0", "fusion.conv_hr"), ("f_HR_conv1.0", "fusion.conv_last")]
    return pairs


def _rename(sd: Mapping[str, Tensor], pairs: list[tuple[str, str]]) -> tuple[StateDict, list[str]]:
    """Map ``<prefix>.weight/bias`` keys through ``pairs``; return (renamed, keys with no mapping)."""
    table = dict(pairs)
    out: StateDict = {}
    unmapped = []
    for key, value in sd.items():
        prefix, _, param = key.rpartition(".")
        if prefix in table and param in ("weight", "bias"):
            out[f"{table[prefix]}.{param}"] = value
        else:
            unmapped.append(key)
    return out, unmapped


# ------------------------------------------------------------------------------------------- SPSRNet
def is_official_spsr(sd: Mapping[str, Tensor]) -> bool:
    return "b_fea_conv.0.weight" in sd or "f_HR_conv1.0.weight" in sd


def is_kit_spsr(sd: Mapping[str, Tensor]) -> bool:
    return "grad_branch.conv_first.weight" in sd or "fusion.conv_last.weight" in sd


def official_to_kit(sd: Mapping[str, Tensor], name: str = "<state dict>") -> StateDict:
    """Official SPSR keys -> kit keys; checks the HR_conv0 alias and the fixed gradient kernels."""
    from spsr_lib.gradient import GradientMap

    nb = _count(sd, r"model\.1\.sub\.\d+\.RDB1\.conv1\.0\.weight")
    n_up = _count(sd, r"b_module\.\d+\.weight") - 2
    n_taps = _count(sd, r"b_block_\d+\.RDB1\.conv1\.0\.weight")
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
    kit, unmapped = _rename(rest, pairs)
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


def infer_spsr_arch(sd: Mapping[str, Tensor], meta: Mapping[str, str] | None = None, **arch: Any) -> dict[str, Any]:
    """Architecture of a kit-layout SPSRNet state dict: explicit args > file metadata > tensor shapes."""
    from spsr_lib.blocks import default_taps

    stored = json.loads(meta["arch"]) if meta and "arch" in meta else {}
    found: dict[str, Any] = {}
    if "conv_first.weight" in sd:
        found["nf"], found["in_ch"] = sd["conv_first.weight"].shape[:2]
    if "body.0.rdb1.conv1.weight" in sd:
        found["gc"] = sd["body.0.rdb1.conv1.weight"].shape[0]
    if "fusion.conv_last.weight" in sd:
        found["out_ch"] = sd["fusion.conv_last.weight"].shape[0]
    found["nb"] = _count(sd, r"body\.\d+\.rdb1\.conv1\.weight") or 1
    n_up = _count(sd, r"upsample\.\d+\.conv\.weight")
    found["scale"] = {0: 1, 1: 2}.get(n_up, 2**n_up)
    n_taps = _count(sd, r"grad_branch\.blocks\.\d+\.rdb1\.conv1\.weight") or 4
    out = {**found, **stored, **arch}
    if out.get("scale") == 3 and n_up != 1:
        raise CheckpointError(f"scale=3 needs a single upconv stage but the checkpoint has {n_up}")
    if "taps" not in stored and "taps" not in arch:
        out["taps"] = default_taps(int(out["nb"]), n_taps)
    return {k: (int(v) if k != "taps" else tuple(int(t) for t in v)) for k, v in out.items()}


def load_generator(source: Source, **arch: Any):
    """Load an SPSRNet from the official ``spsr.pth`` layout, a kit training checkpoint or ``.safetensors``.

    ``arch`` (in_ch, out_ch, nf, nb, gc, scale, taps) overrides what is inferred; loading is strict.
    """
    from spsr_lib.spsr_net import SPSRNet

    sd, meta, name = read_checkpoint(source, GENERATOR_ENTRIES)
    if meta.get("kind") not in (None, "SPSRNet"):
        raise CheckpointError(f"{name}: holds a {meta['kind']}, not an SPSRNet; use the matching loader")
    if is_official_spsr(sd):
        sd = official_to_kit(sd, name)
    elif not is_kit_spsr(sd):
        hint = ("it is an ESRGAN/RRDBNet generator: use RRDBNet.from_checkpoint or SPSRNet.load_sr_branch_from_rrdb"
                if rrdb_layout(sd) else "pass an SPSR generator checkpoint")
        raise CheckpointError(f"{name}: not an SPSR generator (first keys: {few_keys(list(sd), 3)}); {hint}")
    cfg = infer_spsr_arch(sd, meta, **arch)
    model = SPSRNet(**cfg)
    kernels = {f"lr_gradient.{k}" for k in KERNEL_KEYS}
    sd = {**{k: v for k, v in model.state_dict().items() if k in kernels}, **sd}  # kernels are optional
    return load_strict(model, sd, name, f"SPSRNet({', '.join(f'{k}={v}' for k, v in cfg.items())})")


def export_official_state_dict(model: nn.Module) -> StateDict:
    """The official key layout (SPSRNet: 884 keys for nb=23, x4; RRDBNet: old ESRGAN ``model.*``)."""
    from spsr_lib.rrdb import RRDBNet
    from spsr_lib.spsr_net import SPSRNet

    own = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    if isinstance(model, SPSRNet):
        pairs = official_spsr_pairs(model.nb, len(model.upsample), len(model.taps))
    elif isinstance(model, RRDBNet):
        pairs = _old_esrgan_pairs(model.nb, len(model.upsample)) + [(f"model.{4 + 3 * len(model.upsample)}",
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


def arch_of(model: nn.Module) -> dict[str, Any]:
    keys = ("in_ch", "out_ch", "nf", "nb", "gc", "scale", "taps", "input_size")
    return {k: (list(v) if isinstance(v, tuple) else v) for k in keys if (v := getattr(model, k, None)) is not None}


def _save_safetensors(model: nn.Module, path: str | os.PathLike) -> None:
    from safetensors.torch import save_file

    meta = {"format": FORMAT_TAG, "kind": type(model).__name__, "arch": json.dumps(arch_of(model))}
    sd = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(sd, str(tmp), metadata=meta)


def save_generator(model: nn.Module, path: str | os.PathLike) -> None:
    """Write ``model`` (SPSRNet or RRDBNet) as safetensors with its architecture in the metadata, atomically."""
    _save_safetensors(model, path)


def load_sr_model(source: Source):
    """Any super-resolution generator the kit knows, for inference and evaluation: an SPSRNet when the file
    holds one (official ``spsr.pth``, kit files), else an ESRGAN/RRDBNet (``RRDB_PSNR_x4.pth``, a stage-1 run)."""
    sd, meta, name = read_checkpoint(source, GENERATOR_ENTRIES)
    if meta.get("kind") == "RRDBNet" or (meta.get("kind") is None and not is_official_spsr(sd)
                                         and not is_kit_spsr(sd) and rrdb_layout(sd)):
        return load_rrdb(source)
    return load_generator(source)


# ----------------------------------------------------------------------------------------- RRDBNet
def rrdb_layout(sd: Mapping[str, Tensor]) -> str | None:
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
        nb = _count(sd, r"model\.1\.sub\.\d+\.RDB1\.conv1\.0\.weight")
        n_up = max(_count(sd, r"model\.\d+\.weight") - 3, 0)  # model.0, upconvs, HR_conv0, last conv
        pairs = _old_esrgan_pairs(nb, n_up) + [(f"model.{4 + 3 * n_up}", "conv_last")]
    elif layout == "new":
        nb = _count(sd, r"RRDB_trunk\.\d+\.RDB1\.conv1\.weight")
        n_up = _count(sd, r"upconv\d+\.weight")
        pairs = [("conv_first", "conv_first"), ("trunk_conv", "conv_body"), ("HRconv", "conv_hr"),
                 ("conv_last", "conv_last")] + [(f"upconv{i + 1}", f"upsample.{i}.conv") for i in range(n_up)]
        for i in range(nb):
            pairs += _rrdb_pairs(f"RRDB_trunk.{i}", f"body.{i}", False)
    else:
        raise CheckpointError(f"{name}: not an ESRGAN/RRDBNet checkpoint (first keys: {few_keys(list(sd), 3)}); "
                              "expected the old model.* or the new conv_first/RRDB_trunk layout")
    kit, unmapped = _rename(sd, pairs)
    kit.update({k: sd[k] for k in unmapped})
    return kit


def load_rrdb(source: Source, **arch: Any):
    """Load an RRDBNet (ESRGAN) from any of its layouts, strictly; ``arch`` overrides inferred values."""
    from spsr_lib.rrdb import RRDBNet

    sd, meta, name = read_checkpoint(source, GENERATOR_ENTRIES)
    sd = rrdb_to_kit(sd, name)
    cfg = {k: v for k, v in infer_spsr_arch(sd, meta).items() if k not in ("taps",)}
    if "conv_last.weight" in sd:
        cfg["out_ch"] = int(sd["conv_last.weight"].shape[0])
    cfg.update(arch)
    return load_strict(RRDBNet(**cfg), sd, name, f"RRDBNet({', '.join(f'{k}={v}' for k, v in cfg.items())})")


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
    missing = [k for k in wanted if k not in sd]
    unexpected = [k for k in sd if k not in wanted]
    shapes = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in wanted if k in sd
              and sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{name}: does not fit the SR branch of {type(model).__name__}(nf={model.nf}, nb={model.nb}, "
            f"gc={model.gc}): missing keys: {few_keys(missing)}; unexpected keys: {few_keys(unexpected)}; shape mismatches: "
            f"{few_keys(shapes, 2)}; use an RRDBNet checkpoint with the same nf/nb/gc/scale"
        )
    with torch.no_grad():
        for k in wanted:
            own[k].copy_(sd[k])
    return wanted


# ----------------------------------------------------------------------------------- discriminator
def load_discriminator(source: Source, entry: str | None = None, **arch: Any):
    """Load a VGGDiscriminator (official ``Discriminator_VGG_128`` keys or kit safetensors), strictly.

    ``entry`` picks a state dict inside a training checkpoint (default: ``discriminator``).
    """
    from spsr_lib.discriminator import VGGDiscriminator

    sd, meta, name = read_checkpoint(source, (entry,) if entry else DISCRIMINATOR_ENTRIES)
    if "features.0.weight" not in sd or "classifier.0.weight" not in sd:
        raise CheckpointError(f"{name}: not a VGG discriminator (first keys: {few_keys(list(sd), 3)}); pass a "
                              "Discriminator_VGG_128 checkpoint")
    nf, in_ch = (int(s) for s in sd["features.0.weight"].shape[:2])
    final = round((int(sd["classifier.0.weight"].shape[1]) / (8 * nf)) ** 0.5)
    cfg = {"in_ch": in_ch, "nf": nf, "input_size": 32 * max(final, 1)}
    cfg.update(json.loads(meta["arch"]) if "arch" in meta else {})
    cfg.update(arch)
    return load_strict(VGGDiscriminator(**cfg), sd, name,
                       f"VGGDiscriminator({', '.join(f'{k}={v}' for k, v in cfg.items())})")


def save_discriminator(model: nn.Module, path: str | os.PathLike) -> None:
    """Write a VGGDiscriminator (incl. BN running stats) as safetensors with its architecture, atomically."""
    _save_safetensors(model, path)
