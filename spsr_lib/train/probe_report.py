"""Reading a stage-2 probe (``scripts/stage2_probe.py``): its table, its curves' data, its verdict lines.

The probe trains named variants of the GAN stage from one stage-1 generator with the same seed and batches and
validates each every K steps (and at step 0). Its ``probe.json`` holds, per variant, the overrides and the
validation records (``step``, ``psnr_y``, ``ssim_y``, ``lpips``, ``colour_shift``, ``grad_psnr``, ``phase_index``,
and for gradient-guided generators ``branch_grad_l1`` and ``branch_zero_change``: see ``spsr_lib.train.data``).
These pure functions turn it into what the script prints and notebook 04 shows; nothing here imports torch.
The structure columns (phase index, branch gradL1, branch zero change) appear when some record has them, so a
probe written before they existed keeps its old table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from spsr_lib.errors import SPSRError

# (record key, column title, format)
COLUMNS = (("psnr_y", "PSNR (dB)", "{:.2f}"), ("ssim_y", "SSIM", "{:.4f}"), ("lpips", "LPIPS", "{:.4f}"),
           ("colour_shift", "colour shift", "{:.2f}"), ("grad_psnr", "GradPSNR (dB)", "{:.2f}"),
           ("phase_index", "phase index", "{:.2f}"), ("branch_grad_l1", "branch gradL1", "{:.4f}"),
           ("branch_zero_change", "branch zero change", "{:.2f}"))
OPTIONAL = frozenset(("phase_index", "branch_grad_l1", "branch_zero_change"))  # shown when some record has them


def columns(result: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """The table's columns for ``result``: every fixed one, the optional ones some validation record holds."""
    present = {k for v in result["variants"].values() for r in v["val"] for k in r if r.get(k) is not None}
    return tuple(c for c in COLUMNS if c[0] not in OPTIONAL or c[0] in present)


def read_probe(path: str | os.PathLike) -> dict[str, Any]:
    """``probe.json`` as a dict; a missing or malformed file is one :class:`SPSRError` line."""
    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SPSRError(f"{path}: cannot read the probe results ({exc}); run scripts/stage2_probe.py") from None
    if not isinstance(result, dict) or not isinstance(result.get("variants"), dict):
        raise SPSRError(f"{path}: not a stage-2 probe result (no 'variants' mapping)")
    return result


def probe_table(result: dict[str, Any], steps: list[int] | None = None) -> str:
    """Markdown, one row per variant and validation step (only ``steps`` when given)."""
    cols = columns(result)
    lines = ["| variant | step | " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for name, v in result["variants"].items():
        rows = [r for r in v["val"] if steps is None or r["step"] in steps]
        for r in rows:
            cells = [fmt.format(r[k]) if r.get(k) is not None else "n/a" for k, _, fmt in cols]
            lines.append(f"| {name} | {r['step']} | " + " | ".join(cells) + " |")
        if not rows:
            lines.append(f"| {name} | not run | " + " | ".join("" for _ in cols) + " |")
    return "\n".join(lines)


def series(result: dict[str, Any], key: str) -> dict[str, tuple[list[int], list[float]]]:
    """``{variant: (steps, values)}`` of one validation metric, for plotting."""
    out = {}
    for name, v in result["variants"].items():
        pts = [(r["step"], r[key]) for r in v["val"] if r.get(key) is not None]
        out[name] = ([s for s, _ in pts], [x for _, x in pts])
    return out


def last_records(result: dict[str, Any], step: int | None = None) -> dict[str, dict[str, Any]]:
    """Each variant's record at ``step`` (default: its last one); variants without it are left out."""
    out = {}
    for name, v in result["variants"].items():
        recs = [r for r in v["val"] if step is None or r["step"] == step]
        if recs:
            out[name] = recs[-1]
    return out
