"""Reading and writing checkpoint files safely; what every layout module shares.

- Files are read only with ``torch.load(weights_only=True)`` or safetensors: a checkpoint cannot run code.
- ``module.`` (DataParallel) prefixes are stripped; a training checkpoint dict is unwrapped (its ``generator``
  / ``netG`` / ... entry).
- Loading is strict: :func:`load_strict` raises one :class:`~spsr_lib.errors.CheckpointError` line naming the
  missing / unexpected keys and the shape mismatches, where ``load_state_dict`` would list them over pages
  (and the official loader, being non-strict, would silently load nothing).
- nf / nb / gc / in_ch / out_ch / scale are inferred from tensor shapes (:func:`infer_spsr_arch`); the
  safetensors files this kit writes also carry the architecture in their metadata.

The layouts themselves: :mod:`spsr_lib.io.checkpoint` (SPSR, discriminator) and
:mod:`spsr_lib.io.checkpoint_esrgan` (ESRGAN / RRDBNet).
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

from spsr_lib.errors import CheckpointError
from spsr_lib.io.atomic import atomic_path

StateDict = dict[str, Tensor]
Source = str | os.PathLike | Mapping[str, Any]
Checkpoint = tuple[StateDict, dict[str, str], str]  # (state dict, safetensors metadata, name for messages)
FORMAT_TAG = "spsr-kit"
GENERATOR_ENTRIES = ("generator", "netG", "params_ema", "params", "state_dict", "model_state_dict")
DISCRIMINATOR_ENTRIES = ("discriminator", "netD", "state_dict")


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def _is_safetensors(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(9)
    return path.suffix == ".safetensors" or (len(head) == 9 and head[8:9] == b"{" and
                                              int.from_bytes(head[:8], "little") < 100_000_000)


def read_checkpoint(source: Source, entries: Iterable[str] = GENERATOR_ENTRIES) -> Checkpoint:
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


def count_keys(sd: Mapping[str, Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return sum(1 for k in sd if rx.fullmatch(k))


def key_mismatches(expected: Mapping[str, Tensor], sd: Mapping[str, Tensor]) -> str | None:
    """None when ``sd`` has exactly the keys and shapes of ``expected``; else one line naming the missing keys,
    the unexpected keys and the shape mismatches."""
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in sd and sd[k].shape != v.shape]
    if not (missing or unexpected or shapes):
        return None
    return (f"missing keys: {few_keys(missing)}; unexpected keys: {few_keys(unexpected)}; "
            f"shape mismatches: {few_keys(shapes, 2)}")


def load_strict(model: nn.Module, sd: Mapping[str, Tensor], name: str, what: str) -> nn.Module:
    """``load_state_dict(strict=True)`` with a one-line CheckpointError naming every kind of mismatch."""
    problem = key_mismatches(model.state_dict(), sd)
    if problem:
        raise CheckpointError(f"{name}: does not match {what}: {problem}; pass the matching architecture or the right file")
    model.load_state_dict(sd, strict=True)
    return model


def rename_keys(sd: Mapping[str, Tensor], pairs: list[tuple[str, str]]) -> tuple[StateDict, list[str]]:
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


def infer_spsr_arch(sd: Mapping[str, Tensor], meta: Mapping[str, str] | None = None, **arch: Any) -> dict[str, Any]:
    """Architecture of a kit-layout SPSRNet state dict: explicit args > file metadata > tensor shapes.

    RRDBNet shares the SR branch's keys, so its loader uses this too (and drops ``taps``).
    """
    from spsr_lib.ops.blocks import default_taps

    stored = json.loads(meta["arch"]) if meta and "arch" in meta else {}
    found: dict[str, Any] = {}
    if "conv_first.weight" in sd:
        found["nf"], found["in_ch"] = sd["conv_first.weight"].shape[:2]
    if "body.0.rdb1.conv1.weight" in sd:
        found["gc"] = sd["body.0.rdb1.conv1.weight"].shape[0]
    if "fusion.conv_last.weight" in sd:
        found["out_ch"] = sd["fusion.conv_last.weight"].shape[0]
    found["nb"] = count_keys(sd, r"body\.\d+\.rdb1\.conv1\.weight") or 1
    n_up = count_keys(sd, r"upsample\.\d+\.conv\.weight")
    found["scale"] = {0: 1, 1: 2}.get(n_up, 2**n_up)
    n_taps = count_keys(sd, r"grad_branch\.blocks\.\d+\.rdb1\.conv1\.weight") or 4
    out = {**found, **stored, **arch}
    if out.get("scale") == 3 and n_up != 1:
        raise CheckpointError(f"scale=3 needs a single upconv stage but the checkpoint has {n_up}")
    if "taps" not in stored and "taps" not in arch:
        out["taps"] = default_taps(int(out["nb"]), n_taps)
    return {k: (int(v) if k != "taps" else tuple(int(t) for t in v)) for k, v in out.items()}


def arch_of(model: nn.Module) -> dict[str, Any]:
    """The constructor arguments a saved file records in its metadata."""
    keys = ("in_ch", "out_ch", "nf", "nb", "gc", "scale", "taps", "input_size")
    return {k: (list(v) if isinstance(v, tuple) else v) for k in keys if (v := getattr(model, k, None)) is not None}


def save_safetensors(model: nn.Module, path: str | os.PathLike) -> None:
    """Write ``model`` as safetensors with its kind and architecture in the metadata, atomically."""
    from safetensors.torch import save_file

    meta = {"format": FORMAT_TAG, "kind": type(model).__name__, "arch": json.dumps(arch_of(model))}
    sd = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(sd, str(tmp), metadata=meta)
