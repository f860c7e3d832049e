"""The stage-2 step's optional levers (issue 24): LDL's artifact-map term and the D pause rule."""

from __future__ import annotations

import json

import pytest
import torch

from spsr_lib.train.config import load_config
from spsr_lib.train.trainer import Trainer
from tests.train.conftest import tiny


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _params(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.named_parameters()}


def _same(net: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(before[k], v) for k, v in net.named_parameters())


def _count_forwards(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("weight", [0.0, 2.0])
def test_artifact_term_uses_the_ema_output_and_is_skipped_at_weight_zero(tmp_path, image_folder, weight):
    cfg = load_config(None, tiny(tmp_path, image_folder, f"loss.artifact_map.weight={weight}",
                                 "train.ema.enabled=true"))
    tr = Trainer(cfg)
    ema_calls = _count_forwards(tr.ema.module)
    batch = next(iter(tr.loader))
    tr.step = 1
    values = tr.train_step(batch["lr"], batch["hr"])
    if weight == 0:
        assert "l_artifact" not in values and ema_calls[0] == 0  # no extra forward, no term
    else:
        assert values["l_artifact"] > 0 and ema_calls[0] == 1
        others = sum(v for k, v in values.items() if k.startswith("l_") and k not in ("l_g_total", "l_d", "l_d_grad"))
        assert values["l_g_total"] == pytest.approx(others, rel=1e-5)


def test_artifact_term_without_ema_uses_the_plain_map(tmp_path, image_folder):
    tr = Trainer(load_config(None, tiny(tmp_path, image_folder, "loss.artifact_map.weight=1",
                                        "loss.artifact_map.window=3")))
    assert tr.ema is None
    batch = next(iter(tr.loader))
    tr.step = 1
    assert tr.train_step(batch["lr"], batch["hr"])["l_artifact"] > 0


def test_d_pause_skips_each_discriminator_by_its_own_last_loss(tmp_path, image_folder):
    tr = Trainer(load_config(None, tiny(tmp_path, image_folder, "train.d_pause.threshold=0.5")))
    batch = next(iter(tr.loader))
    tr.step = 1
    d0, dg0 = _params(tr.D), _params(tr.D_grad)
    first = tr.train_step(batch["lr"], batch["hr"])  # no previous loss: both train
    assert not _same(tr.D, d0) and not _same(tr.D_grad, dg0)
    assert (first["d_paused"], first["d_grad_paused"]) == (0, 0)

    tr.d_pause.last.update(d=0.01, d_grad=0.9)  # D far ahead, D_grad not
    d1, dg1, g1 = _params(tr.D), _params(tr.D_grad), _params(tr.G)
    tr.step = 2
    second = tr.train_step(batch["lr"], batch["hr"])
    assert _same(tr.D, d1) and not _same(tr.D_grad, dg1) and not _same(tr.G, g1)
    assert (second["d_paused"], second["d_grad_paused"]) == (1, 0)
    assert "l_d" in second and tr.d_pause.last["d"] == second["l_d"]  # still measured while paused
    assert all(p.grad is None for p in tr.D.parameters())  # no backward into the paused D


def test_d_pause_off_logs_nothing_new_and_resumes_its_counters(tmp_path, image_folder):
    off = Trainer(load_config(None, tiny(tmp_path / "off", image_folder, "train.niter=1")))
    assert not any(k.endswith("_paused") for k in off.fit())

    args = tiny(tmp_path / "on", image_folder, "train.d_pause.threshold=100", "discriminator.spectral_norm=true",
                "loss.artifact_map.weight=1", "train.ema.enabled=true", "train.niter=2")
    out = Trainer(load_config(None, args)).fit()  # threshold 100: paused from step 2 on
    assert (out["d_paused"], out["d_grad_paused"]) == (1, 1)
    tr = Trainer(load_config(None, [*args, "train.niter=4"]), resume=True)
    assert tr.step == 2 and tr.d_pause.paused_steps == {"d": 1, "d_grad": 1}
    assert any("parametrizations" in k for k in tr.D.state_dict())  # the spectral-normed D came back
    out = tr.fit()
    assert (out["d_paused"], out["d_grad_paused"]) == (3, 3)
    last = json.loads((tmp_path / "on" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["d_paused"] == 3 and "l_artifact" in last


def test_unet_discriminators_train_on_logit_maps(tmp_path, image_folder):
    tr = Trainer(load_config(None, tiny(tmp_path, image_folder, "discriminator.kind=unet",
                                        "discriminator.spectral_norm=true")))
    assert type(tr.D).__name__ == type(tr.D_grad).__name__ == "UNetDiscriminator"
    batch = next(iter(tr.loader))
    d0, dg0 = _params(tr.D), _params(tr.D_grad)
    tr.step = 1
    values = tr.train_step(batch["lr"], batch["hr"])
    assert all(values[k] > 0 for k in ("l_gan", "l_gradient_gan", "l_d", "l_d_grad"))
    assert not _same(tr.D, d0) and not _same(tr.D_grad, dg0)
