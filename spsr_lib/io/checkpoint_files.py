"""Reading and writing checkpoint files safely; what every layout module shares.

- Files are read only with ``torch.load(weights_only=True)`` or safetensors: a checkpoint cannot run code.
- ``module.`` (DataParallel) prefixes are stripped; a training checkpoint dict is unwrapped (its ``generator``
  / ``netG`` / ... entry).
- Loading is strict: :func:`load_strict` raises one :class:`~spsr_lib.errors.CheckpointError` line naming the
  missing / unexpected keys and the shape mismatches, where ``load_state_dict`` would list them over pages
  (and the official loader, being non-strict, would silently load nothing).
- nf / nb / gc / in_ch / out_ch / scale are inferred from tensor shapes (:func:`infer_spsr_arch`); the
  safetensors files this kit writes also carry the architecture in their metadata, which is checked (JSON,
  known keys, integers) and must agree with the shapes before any model is built.
- NaN/Inf (or diverged, above :data:`MAX_ABS_WEIGHT`) weights are refused when loading and when saving.

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

from spsr_lib.errors import CheckpointError, short_repr
from spsr_lib.io.atomic import atomic_path

StateDict = dict[str, Tensor]
Source = str | os.PathLike | Mapping[str, Any]
Checkpoint = tuple[StateDict, dict[str, str], str]  # (state dict, safetensors metadata, name for messages)
FORMAT_TAG = "spsr-kit"
GENERATOR_ENTRIES = ("generator", "netG", "params_ema", "params", "state_dict", "model_state_dict")
DISCRIMINATOR_ENTRIES = ("discriminator", "netD", "state_dict")
ARCH_KEYS = ("in_ch", "out_ch", "nf", "nb", "gc", "scale", "taps", "input_size", "residual")
RESIDUAL_VALUES = ("none", "bicubic")  # spsr_lib.ops.blocks.RESIDUALS (io must not import the models)
# a weight above this is a diverged run, not a model (trained SR / VGG weights stay below ~100)
MAX_ABS_WEIGHT = 1e6


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def _is_safetensors(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(9)
    return path.suffix == ".safetensors" or (len(head) == 9 and head[8:9] == b"{" and
                                              int.from_bytes(head[:8], "little") < 100_000_000)


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a checkpoint file, and the fix (a folder, a dangling link or a pipe, which a
    read would wait on for ever, are not 'no such file')."""
    if path.is_dir():
        return "is a folder, not a checkpoint file; pass the weights file inside it"
    if path.is_symlink():
        return "is a symbolic link to nothing (or a link loop); check the path"
    if path.exists():
        return "is not a regular file (a pipe or device); pass a checkpoint file"
    return "no such checkpoint file; check the path"


def read_checkpoint(source: Source, entries: Iterable[str] = GENERATOR_ENTRIES) -> Checkpoint:
    """Return ``(state dict, safetensors metadata, name for messages)`` from a path or a mapping."""
    if isinstance(source, Mapping):
        return _unwrap(source, entries, "<state dict>"), {}, "<state dict>"
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"{path}: {_not_a_file(path)}")
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
    check_weights(sd, name)
    model.load_state_dict(sd, strict=True)
    return model


def weight_problem(tensors: Mapping[str, Tensor]) -> str | None:
    """None when every floating-point tensor is finite and below :data:`MAX_ABS_WEIGHT` (BatchNorm running
    statistics exempt from the bound); else what is wrong with the first one that is not."""
    for key, value in tensors.items():
        if not value.is_floating_point() or not value.numel():
            continue
        if not bool(torch.isfinite(value).all()):
            return f"{key} holds NaN/Inf values"
        if "running_" not in key and float(value.abs().max()) > MAX_ABS_WEIGHT:
            return f"{key} holds values up to {float(value.abs().max()):.3g} (more than {MAX_ABS_WEIGHT:g})"
    return None


def check_weights(tensors: Mapping[str, Tensor], name: str) -> None:
    """Raise one CheckpointError line when :func:`weight_problem` finds a non-finite or diverged tensor."""
    problem = weight_problem(tensors)
    if problem:
        raise CheckpointError(f"{name}: {problem}, so the model is unusable (its training diverged or the file is "
                              "corrupt); use an earlier checkpoint")


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


def stored_arch(meta: Mapping[str, str] | None, name: str, allowed: Iterable[str] = ARCH_KEYS) -> dict[str, Any]:
    """The ``arch`` metadata of a safetensors file, checked: a JSON object of known keys with positive integers
    (``taps``: a list of integers >= 0). Anything else is one CheckpointError line: a crafted or damaged file
    must not pick the architecture (the loaders then check it against the tensor shapes)."""
    if not meta or "arch" not in meta:
        return {}
    fix = "re-save the file with `spsr convert` or save_generator"
    try:
        stored = json.loads(meta["arch"])
    except (TypeError, ValueError):
        raise CheckpointError(f"{name}: the 'arch' metadata is not valid JSON; {fix}") from None
    if not isinstance(stored, dict):
        raise CheckpointError(f"{name}: the 'arch' metadata is not a JSON object; {fix}")
    allowed = tuple(allowed)
    for key, value in stored.items():
        if key not in allowed:
            raise CheckpointError(f"{name}: unknown key {short_repr(key)} in the 'arch' metadata (expected "
                                  f"{', '.join(allowed)}); {fix}")
        if key == "residual":
            ok, want = value in RESIDUAL_VALUES, f"one of {', '.join(RESIDUAL_VALUES)}"
        elif key == "taps":
            ok, want = isinstance(value, list) and all(type(t) is int and t >= 0 for t in value), "a list of block indices"
        else:
            ok, want = type(value) is int and value >= 1, "a positive integer"
        if not ok:
            raise CheckpointError(f"{name}: 'arch' metadata {key}={str(value)[:40]!r} is not {want}; {fix}")
    return stored


def check_arch_against_shapes(stored: Mapping[str, Any], found: Mapping[str, Any], name: str) -> None:
    """Metadata that disagrees with what the tensor shapes say is refused before any model is built."""
    for key, value in found.items():
        if key in stored and stored[key] != value:
            raise CheckpointError(f"{name}: the 'arch' metadata says {key}={stored[key]} but the tensors say "
                                  f"{key}={value}; the metadata is wrong: re-save the file with `spsr convert`")


def infer_spsr_arch(sd: Mapping[str, Tensor], meta: Mapping[str, str] | None = None, name: str = "<state dict>",
                    **arch: Any) -> dict[str, Any]:
    """Architecture of a kit-layout SPSRNet state dict: explicit args > file metadata > tensor shapes.

    RRDBNet shares the SR branch's keys, so its loader uses this too (and drops ``taps``). Metadata must agree
    with the shapes (:func:`stored_arch`, :func:`check_arch_against_shapes`).
    """
    from spsr_lib.ops.blocks import default_taps

    stored = stored_arch(meta, name, tuple(k for k in ARCH_KEYS if k != "input_size"))
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
    shapes = {k: int(v) for k, v in found.items() if not (k == "scale" and n_up == 1 and stored.get(k) == 3)}
    check_arch_against_shapes(stored, shapes, name)
    taps = stored.get("taps")
    if taps is not None and (len(taps) != n_taps or any(t >= found["nb"] for t in taps) or taps != sorted(taps)):
        raise CheckpointError(f"{name}: the 'arch' metadata taps={taps} do not fit {n_taps} gradient-branch blocks "
                              f"and {found['nb']} RRDB blocks; re-save the file with `spsr convert`")
    out = {**found, **stored, **arch}
    if out.get("scale") == 3 and n_up != 1:
        raise CheckpointError(f"scale=3 needs a single upconv stage but the checkpoint has {n_up}")
    if "taps" not in stored and "taps" not in arch:
        out["taps"] = default_taps(int(out["nb"]), n_taps)
    return {k: (tuple(int(t) for t in v) if k == "taps" else v if k == "residual" else int(v)) for k, v in out.items()}


def arch_of(model: nn.Module) -> dict[str, Any]:
    """The constructor arguments a saved file records in its metadata."""
    keys = ("in_ch", "out_ch", "nf", "nb", "gc", "scale", "taps", "input_size", "residual")
    # "residual" is recorded only when it is not the official "none", so official-style files stay as they were
    return {k: (list(v) if isinstance(v, tuple) else v) for k in keys
            if (v := getattr(model, k, None)) is not None and not (k == "residual" and v == "none")}


def save_safetensors(model: nn.Module, path: str | os.PathLike) -> None:
    """Write ``model`` as safetensors with its kind and architecture in the metadata, atomically."""
    from safetensors.torch import save_file

    # a subclass that only changes what forward returns (spsr_lib.train.ablation) is saved as its base network
    kind = getattr(model, "checkpoint_kind", type(model).__name__)
    meta = {"format": FORMAT_TAG, "kind": kind, "arch": json.dumps(arch_of(model))}
    sd = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    problem = weight_problem(sd)
    if problem:
        raise CheckpointError(f"{path}: not written: {problem} (a diverged model); keep the previous file")
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(sd, str(tmp), metadata=meta)
