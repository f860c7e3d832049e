"""Whole-iteration CUDA graphs (``runtime.cuda_graphs: true``): capture one training step, replay it.

Why: at the paper's per-GPU batch (15-16 patches of 128 px) the stage-2 iteration is launch-bound, not
compute-bound. It issues thousands of small kernels (345 trunk convolutions of 32-192 channels on 32x32 maps,
their activations and dense-block concatenations, forward and backward, two discriminators called four times,
the VGG trunk, three Adam steps) and the GPU waits on Python between them: on an H200 the kernels of an eager
bf16 + channels_last step at batch 16 take 22-27 % of its wall time, and eager bf16 is slower than fp32. A CUDA
graph records the kernels of one iteration once; each later step is one ``replay()`` call (PyTorch docs, "CUDA
Graphs", whole-network capture). Measured (docs/PERFORMANCE.md): bf16 + channels_last + graph 2.4-2.9x faster
than fp32 eager, and bit-identical to the eager step in strict fp32 (``benchmarks/gpu_graph_check.py``).

What the graph fixes, and how this module keeps the step correct:

* Shapes, the branch pre-train phase, whether G updates this step (``d_update_ratio``/``d_init_iters``) and the
  learning rates (Adam bakes a float lr into its kernels) decide the kernels. They form the graph's key; a new
  key warms up eagerly and is captured, and graphs of keys that cannot return (an old learning rate after a
  scheduler milestone, the fusion-only phase, other shapes) are dropped with their memory. Every call does
  exactly one real training step.
* Batches are copied into static input tensors; the loss terms land in one static device vector that is read
  back once per step (the only sync), then checked for NaN/Inf like the eager step. The optimiser steps are
  inside the graph, so a non-finite step has already updated the in-memory weights: the run stops before any
  checkpoint is written, and the message says to resume from the last one.
* Adam runs with ``capturable=True`` (its step counters live on the GPU); autocast runs without its weight-cast
  cache (a cache entry would outlive the capture). fp16 (GradScaler syncs), ``torch.compile`` and multi-process
  runs are refused with a config error: use one of them or graphs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from spsr_lib.errors import ConfigError, SPSRError
from spsr_lib.train.step import psnr_backward, psnr_update, spsr_backward, spsr_update, step_plan
from spsr_lib.train.trainer_view import TrainerView


def check_cuda_graphs_supported(tr: TrainerView) -> None:
    """Refuse the combinations a captured step cannot run, in one line each (the rest: config._validate)."""
    if tr.device.type != "cuda":
        raise ConfigError(f"runtime.cuda_graphs: needs a CUDA device, this run is on {tr.device.type}; "
                          "set runtime.cuda_graphs=false")
    if tr.dist.enabled:
        raise ConfigError(f"runtime.cuda_graphs: single-process runs only (this launch has {tr.dist.world_size} "
                          "processes); set runtime.cuda_graphs=false for torchrun")


def set_capturable(optimizer: torch.optim.Optimizer | None, flag: bool) -> None:
    """Switch Adam's ``capturable`` and move its step counters to match (GPU when capturable, else CPU).

    Needed after ``load_state_dict``: it restores the saved groups' flags, so a checkpoint written without
    graphs would otherwise refuse capture (and one written with graphs would keep device counters on CPU runs).
    """
    if optimizer is None:
        return
    for group in optimizer.param_groups:
        group["capturable"] = flag
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            step = state.get("step")
            if isinstance(step, Tensor):
                state["step"] = step.to(p.device if flag else "cpu", torch.float32)


@dataclass
class RecordedStep:
    """One captured iteration: the graph, its static inputs and the device vector its loss terms land in."""

    graph: Any
    lr: Tensor
    hr: Tensor
    values: Tensor
    names: list[str]
    replays: int = 0


class GraphedTrainStep:
    """``__call__(lr, hr) -> values``, the drop-in for the eager step of :class:`spsr_lib.train.trainer.Trainer`.

    ``warmup`` eager steps (on a side stream, as capture requires) precede each capture: they let cuDNN pick
    its algorithms and Adam create its state outside the graph. Graphs are kept per key; capturing a key drops
    the graphs that differ from it in anything but ``update_g`` (old learning rates, the pre-train phase, other
    shapes never come back), so ``d_update_ratio > 1`` alternates between two graphs instead of re-recording.
    ``graph_factory`` exists for tests on machines without CUDA; it must return an object with
    ``capture(fn)`` and ``replay()``.
    """

    def __init__(self, tr: TrainerView, warmup: int = 3, graph_factory: Callable[[], Any] | None = None) -> None:
        if warmup < 1:
            raise ValueError("GraphedTrainStep: warmup must be >= 1 (the capture needs the names of the loss terms)")
        self.tr, self.warmup = tr, warmup
        self.graph_factory = graph_factory or CudaGraph
        self.stream = torch.cuda.Stream(tr.device) if tr.device.type == "cuda" else None
        self.graphs: dict[tuple, RecordedStep] = {}
        self.warm_left: dict[tuple, int] = {}
        self.names: dict[tuple, list[str]] = {}  # loss-term names per key, from its warm-up
        self.captures = 0  # how many graphs were recorded (tests and logs)

    def _key(self, lr: Tensor, hr: Tensor) -> tuple:
        """``(shapes and strides, (phase, update_g), learning rates)``: what fixes the recorded kernels."""
        tr = self.tr
        rates = tuple(g["lr"] for opt in (tr.opt_G, tr.opt_D, tr.opt_D_grad) if opt is not None
                      for g in opt.param_groups)
        phase, update_g = step_plan(tr, tr.step)
        return (tuple(lr.shape), lr.stride(), tuple(hr.shape), hr.stride(), phase, rates, update_g)

    def _device_step(self, lr: Tensor, hr: Tensor) -> tuple[list[str], Tensor]:
        """The whole iteration without a host sync; returns the loss terms' names and values (one device vector)."""
        tr = self.tr
        if tr.cfg.stage == "psnr":
            terms = psnr_backward(tr, lr, hr)
            psnr_update(tr)
        else:
            terms = spsr_backward(tr, lr, hr)
            spsr_update(tr, terms)
        return list(terms), torch.stack([t.detach().float().reshape(()) for t in terms.values()])

    def __call__(self, lr: Tensor, hr: Tensor) -> dict[str, float]:
        key = self._key(lr, hr)
        rec = self.graphs.get(key)
        if rec is None and self.warm_left.setdefault(key, self.warmup) > 0:
            self.warm_left[key] -= 1
            names, values = self._eager_on_side_stream(lr, hr)
            self.names[key] = names
        else:
            if rec is None:
                rec = self._capture(key, lr, hr)
            rec.lr.copy_(lr)
            rec.hr.copy_(hr)
            rec.graph.replay()
            rec.replays += 1
            names, values = rec.names, rec.values
        host = values.cpu().tolist()  # the one sync of the step
        bad = [(k, v) for k, v in zip(names, host) if not math.isfinite(v)]
        if bad:
            raise SPSRError(f"loss term '{bad[0][0]}' is {bad[0][1]} at step {self.tr.step} (CUDA-graph step: the "
                            "in-memory weights took this update, no checkpoint was written); resume from the last "
                            "checkpoint with a lower train.lr_g/lr_d, or check the data")
        if key[-1]:  # update_g
            self.tr.after_g_update()
        return dict(zip(names, host))

    def _eager_on_side_stream(self, lr: Tensor, hr: Tensor) -> tuple[list[str], Tensor]:
        with warnings.catch_warnings():  # capturable Adam warns when it runs uncaptured: the warm-up does so on purpose
            warnings.filterwarnings("ignore", message=".*capturable=True.*graph capture")
            if self.stream is None:
                return self._device_step(lr, hr)
            current = torch.cuda.current_stream(self.tr.device)
            self.stream.wait_stream(current)
            with torch.cuda.stream(self.stream):
                out = self._device_step(lr, hr)
            current.wait_stream(self.stream)
            return out

    def _capture(self, key: tuple, lr: Tensor, hr: Tensor) -> RecordedStep:
        # keys that differ from this one in more than update_g (the last item) never return: forget them, and
        # dropping their graphs frees those memory pools
        self.graphs, self.warm_left, self.names = ({k: v for k, v in d.items() if k[:-1] == key[:-1]}
                                                   for d in (self.graphs, self.warm_left, self.names))
        rec = RecordedStep(graph=self.graph_factory(), lr=torch.empty_like(lr).copy_(lr),  # keeps channels_last
                           hr=torch.empty_like(hr).copy_(hr), values=torch.empty(len(self.names[key]), device=lr.device),
                           names=self.names[key])
        for opt in (self.tr.opt_G, self.tr.opt_D, self.tr.opt_D_grad):
            if opt is not None:  # the graph allocates .grad in its own pool during the recorded backward
                opt.zero_grad(set_to_none=True)
        rec.graph.capture(lambda: rec.values.copy_(self._device_step(rec.lr, rec.hr)[1]))
        self.graphs[key] = rec
        self.captures += 1
        return rec


class CudaGraph:
    """``torch.cuda.CUDAGraph`` behind the two calls :class:`GraphedTrainStep` uses."""

    def __init__(self) -> None:
        self.graph = torch.cuda.CUDAGraph()

    def capture(self, fn: Callable[[], Any]) -> None:
        # thread_local: the DataLoader's pin-memory thread may touch CUDA while the main thread records
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            fn()

    def replay(self) -> None:
        self.graph.replay()
