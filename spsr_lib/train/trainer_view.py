"""What one training step needs of the :class:`~spsr_lib.train.trainer.Trainer`: its networks, optimizers
and a few helpers, as a structural type.

:mod:`spsr_lib.train.step` and :mod:`spsr_lib.train.graph_step` type their ``tr`` argument with
:class:`TrainerView`, so they never import the trainer module that imports them (no cycle, not even under
``TYPE_CHECKING``). ``Trainer`` satisfies it by having these attributes; nothing subclasses it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from spsr_lib.train.config import Config
from spsr_lib.train.distributed import DistInfo


class TrainerView(Protocol):
    cfg: Config
    device: torch.device
    dist: DistInfo
    run_dir: Path
    step: int
    g_phase: str | None
    G: nn.Module
    G_forward: Any  # G itself or its torch.compile wrapper
    D: nn.Module | None
    D_grad: nn.Module | None
    perceptual: nn.Module | None
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer | None
    opt_D_grad: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler
    ema: Any  # spsr_lib.train.ema.ModelEMA or None
    d_pause: Any  # spsr_lib.train.d_pause.DPause

    def autocast(self) -> contextlib.AbstractContextManager: ...

    def to_model_layout(self, x: Tensor) -> Tensor: ...

    def after_g_update(self) -> None: ...
