"""runtime.cuda_graphs: the capture/replay bookkeeping of GraphedTrainStep, checked on CPU with a stand-in graph.

A real CUDA graph only runs on a GPU: ``benchmarks/gpu_graph_check.py`` (called by ``benchmarks/gpu_check.sh``)
compares captured and eager steps there. Here a stand-in records the step function at capture and runs it at
replay, which is what a CUDA graph does with the recorded kernels: so the warm-up count, static inputs, the
values vector, recapture on a new key and the NaN stop are tested exactly, with the eager step as reference.
"""

from __future__ import annotations

import pytest
import torch

from spsr_lib.errors import ConfigError, SPSRError
from spsr_lib.train.config import load_config
from spsr_lib.train.graph_step import GraphedTrainStep, set_capturable
from spsr_lib.train.trainer import Trainer
from tests.train.conftest import tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class RecordingGraph:
    """Capture stores the function without running it; replay runs it (CPU stand-in for torch.cuda.CUDAGraph)."""

    def __init__(self) -> None:
        self.fn = None
        self.replays = 0

    def capture(self, fn) -> None:
        self.fn = fn

    def replay(self) -> None:
        self.replays += 1
        self.fn()


def batches(n: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        hr = torch.rand(2, 3, 32, 32, generator=gen)
        out.append((torch.nn.functional.avg_pool2d(hr, 4), hr))
    return out


def trainers(tmp_path, folder, *extra: str) -> tuple[Trainer, Trainer]:
    """Two identical tiny trainers (no data: the tests feed batches); the second replays a recorded step."""
    eager = Trainer(load_config(None, tiny(tmp_path / "eager", folder, *extra)), build_data=False)
    graphed = Trainer(load_config(None, tiny(tmp_path / "graphed", folder, *extra)), build_data=False)
    graphed.graphed_step = GraphedTrainStep(graphed, warmup=2, graph_factory=RecordingGraph)
    return eager, graphed


@pytest.mark.parametrize("stage", ["spsr", "psnr"])
def test_replayed_steps_match_eager_steps(tmp_path, stage):
    extra = ["stage=psnr", "loss.pixel.weight=1"] if stage == "psnr" else []
    eager, graphed = trainers(tmp_path, tmp_path, *extra)
    for k, (lr, hr) in enumerate(batches(5), start=1):
        eager.step = graphed.step = k
        want, got = eager.train_step(lr, hr), graphed.train_step(lr, hr)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7), k
    gs = graphed.graphed_step
    (rec,) = gs.graphs.values()
    assert gs.captures == 1 and rec.replays == 3  # steps 1-2 warm up, 3 captures and replays, 4-5 replay
    assert rec.lr.data_ptr() != lr.data_ptr()  # inputs are copied into the graph's own tensors
    for a, b in zip(eager.G.parameters(), graphed.G.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_new_learning_rate_or_phase_recaptures(tmp_path):
    eager, graphed = trainers(tmp_path, tmp_path, "train.branch_pretrain.steps=4")
    gs = graphed.graphed_step
    data = batches(12)
    for k, (lr, hr) in enumerate(data, start=1):
        if k == 8:  # a scheduler milestone: Adam's kernels carry the float lr, so the graph must be re-recorded
            for tr in (eager, graphed):
                for group in tr.opt_G.param_groups:
                    group["lr"] *= 0.5
        eager.step = graphed.step = k
        want, got = eager.train_step(lr, hr), graphed.train_step(lr, hr)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7), k
    # steps 1-3 fusion-only phase (warm 1-2, capture at 3); 4-7 full G (warm 4-5, capture 6); lr change at 8
    # (warm 8-9, capture 10)
    assert gs.captures == 3
    (key,) = gs.graphs  # older phases and learning rates were dropped with their memory
    assert key[4] == "full" and key[5][0] == pytest.approx(0.5 * eager.cfg.train.lr_g)


def test_d_update_ratio_alternates_between_two_graphs(tmp_path):
    eager, graphed = trainers(tmp_path, tmp_path, "train.d_update_ratio=2")
    gs = graphed.graphed_step
    for k, (lr, hr) in enumerate(batches(10), start=1):
        eager.step = graphed.step = k
        want, got = eager.train_step(lr, hr), graphed.train_step(lr, hr)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7), k
        assert ("l_g_total" in got) == (k % 2 == 0)  # G updates every second step only
    # odd steps (D only) warm at 1, 3 and capture at 5; even steps (G + D) warm at 2, 4 and capture at 6
    assert gs.captures == 2 and sorted(r.replays for r in gs.graphs.values()) == [3, 3]


def test_nan_in_a_replayed_step_stops_with_the_term(tmp_path):
    _, graphed = trainers(tmp_path, tmp_path)
    data = batches(3)
    for k, (lr, hr) in enumerate(data, start=1):
        graphed.step = k
        graphed.train_step(lr, hr)
    lr, hr = data[0]
    hr = hr.clone()
    hr[0, 0, 0, 0] = float("nan")
    graphed.step = 4
    with pytest.raises(SPSRError, match=r"loss term 'l_pixel' is nan at step 4 \(CUDA-graph step") as e:
        graphed.train_step(lr, hr)
    assert "\n" not in str(e.value) and "resume" in str(e.value)


def test_config_refuses_what_a_graph_cannot_run(tmp_path):
    with pytest.raises(ConfigError, match="runtime.cuda_graphs: needs a CUDA device, this run is on cpu"):
        Trainer(load_config(None, tiny(tmp_path, tmp_path, "runtime.cuda_graphs=true")), build_data=False)
    with pytest.raises(ConfigError, match="runtime.cuda_graphs and runtime.compile: choose one"):
        load_config(None, ["runtime.cuda_graphs=true", "runtime.compile=true"])
    with pytest.raises(ConfigError, match="fp16"):
        load_config(None, ["runtime.cuda_graphs=true", "runtime.amp=fp16"])
    with pytest.raises(ValueError, match="warmup must be >= 1"):
        GraphedTrainStep(Trainer(load_config(None, tiny(tmp_path / "w", tmp_path)), build_data=False), warmup=0)


def test_set_capturable_moves_adam_step_counters(tmp_path):
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    assert opt.state[p]["step"].device.type == "cpu"
    set_capturable(opt, True)
    assert opt.param_groups[0]["capturable"] and opt.state[p]["step"].dtype == torch.float32
    set_capturable(opt, False)
    assert not opt.param_groups[0]["capturable"] and opt.state[p]["step"].item() == 1.0
    set_capturable(None, True)  # absent optimisers (no D) are skipped
