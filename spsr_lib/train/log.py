"""What a training run reports: ``metrics.jsonl``, TensorBoard scalars and images, a tqdm bar, a console line.

- ``<run>/metrics.jsonl``: one JSON object per line, ``{"kind": "train"|"val", "step": ..., ...}``, with
  every loss term (weighted, as it enters the sum), the learning rates and the discriminator outputs.
  Notebooks plot loss curves from it. It is rewritten through :mod:`spsr_lib.io.atomic`, so a kill never
  leaves a torn line, and on resume the records past the checkpoint's step are dropped.
- TensorBoard (``<run>/tensorboard``; imported lazily, skipped with one warning when not installed):
  every scalar (the official code never logged ``l_g_pix_grad`` / ``l_g_gan_grad``, §9.10) and image grids
  at validation time.
- Only rank 0 logs; other ranks get a logger whose methods do nothing.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

from spsr_lib.io.atomic import atomic_write_text


class RunLogger:
    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True, progress: bool = True,
                 total: int = 0, initial: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.path = self.run_dir / "metrics.jsonl"
        self.lines: list[str] = []
        self.writer = None
        self.bar = None
        if not enabled:
            return
        self._load_existing(initial)
        if tensorboard:
            self.writer = _open_tensorboard(self.run_dir / "tensorboard", purge_step=initial + 1 if initial else None)
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True, smoothing=0.05)
        self._t0 = time.perf_counter()

    def _load_existing(self, keep_up_to: int) -> None:
        """Keep the records of steps <= ``keep_up_to`` (the resumed step); drop the rest."""
        if not self.path.exists() or keep_up_to == 0:
            return
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():  # a damaged file: skip
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            step = rec.get("step", 0) if isinstance(rec, dict) else None
            if isinstance(step, (int, float)) and step <= keep_up_to:
                self.lines.append(line)

    def _flush(self) -> None:
        atomic_write_text(self.path, "".join(line + "\n" for line in self.lines))

    def scalars(self, step: int, values: dict[str, float], kind: str = "train") -> None:
        if not self.enabled:
            return
        rec: dict[str, Any] = {"kind": kind, "step": step, "time": round(time.time(), 3)}
        rec.update({k: (v if math.isfinite(v) else str(v)) for k, v in values.items()})
        self.lines.append(json.dumps(rec))
        self._flush()
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{kind}/{k}", v, step)
        if self.bar is not None and kind == "train":
            shown = {k: f"{v:.3g}" for k, v in values.items() if k.startswith("l_")}
            self.bar.set_postfix(shown, refresh=False)

    def images(self, step: int, grids: dict[str, Any]) -> None:
        if self.enabled and self.writer is not None:
            for tag, img in grids.items():
                self.writer.add_image(f"val/{tag}", img, step)

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None


def _open_tensorboard(log_dir: Path, purge_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # optional: training must not depend on it
        warnings.warn(f"TensorBoard logging disabled ({exc}); metrics.jsonl is still written", stacklevel=3)
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def read_metrics(path: str | Path, kind: str | None = "train") -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl`` (``kind=None``: all), e.g. to plot loss curves in a notebook."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if kind is None or rec.get("kind") == kind:
            out.append(rec)
    return out
