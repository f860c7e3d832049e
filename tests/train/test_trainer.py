"""The training engine in-process: both stages, branch pre-train, switchable terms, NaN stop, checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spsr_lib.errors import SPSRError
from spsr_lib.train.config import load_config
from spsr_lib.train.state import list_states, load_state
from spsr_lib.train.trainer import Trainer
from tests.train.conftest import tiny

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_threads():
    """The tiny configs run single-threaded (tiny convs are far slower with 2 threads on a busy machine)."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_stage1_then_stage2_smoke(tmp_path, image_folder):
    t1 = Trainer(load_config(None, tiny(tmp_path / "s1", image_folder, "stage=psnr", "loss.pixel.weight=1")))
    out1 = t1.fit()
    assert set(out1) >= {"l_pixel", "lr_G"} and out1["l_pixel"] > 0
    g1 = tmp_path / "s1" / "models" / "G_latest.safetensors"
    assert g1.is_file() and [s for s, _ in list_states(tmp_path / "s1")] == [2, 4]

    cfg2 = load_config(None, tiny(tmp_path / "s2", image_folder, f"train.pretrained={g1}"))
    t2 = Trainer(cfg2)
    # the SR branch starts from stage 1; the rest of G keeps its init
    assert torch.equal(t2.G.conv_first.weight, t1.G.conv_first.weight)
    assert torch.equal(t2.G.body[1].rdb3.conv5.weight, t1.G.body[1].rdb3.conv5.weight)
    out2 = t2.fit()
    for term in ("l_pixel", "l_gan", "l_gradient_pixel", "l_gradient_gan", "l_branch_pixel", "l_d", "l_d_grad",
                 "lr_G", "lr_D", "lr_D_grad"):
        assert term in out2, term
    records = [json.loads(line) for line in (tmp_path / "s2" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert (tmp_path / "s2" / "config.yaml").is_file()


def test_branch_pretrain_trains_only_the_fusion_block(tmp_path, image_folder):
    cfg = load_config(None, tiny(tmp_path, image_folder, "train.branch_pretrain.steps=2"))
    tr = Trainer(cfg)
    batch = next(iter(tr.loader))
    groups = {k: [p.detach().clone() for p in v] for k, v in tr.G.parameter_groups().items()}

    def changed(name: str) -> bool:
        return any(not torch.equal(a, b) for a, b in zip(groups[name], tr.G.parameter_groups()[name]))

    tr.step = 1  # steps 1 .. steps-1: fusion only (official Branch_pretrain, SPSR_REFERENCE §5.5)
    tr.train_step(batch["lr"], batch["hr"])
    assert changed("fusion") and not changed("sr_branch") and not changed("gradient_branch")
    groups = {k: [p.detach().clone() for p in v] for k, v in tr.G.parameter_groups().items()}
    tr.step = 2  # from `steps` on, the whole G trains
    tr.train_step(batch["lr"], batch["hr"])
    assert changed("fusion") and changed("sr_branch") and changed("gradient_branch")


def test_zero_weight_skips_term_and_network(tmp_path, image_folder):
    cfg = load_config(None, tiny(tmp_path, image_folder, "loss.gradient_gan.weight=0", "loss.gan.weight=0",
                                 "loss.branch_pixel.weight=0"))
    tr = Trainer(cfg)
    assert tr.D is None and tr.D_grad is None and tr.perceptual is None and set(tr.schedulers) == {"G"}
    batch = next(iter(tr.loader))
    tr.step = 1
    values = tr.train_step(batch["lr"], batch["hr"])
    assert set(values) == {"l_pixel", "l_gradient_pixel", "l_g_total"}
    assert values["l_g_total"] == pytest.approx(values["l_pixel"] + values["l_gradient_pixel"], rel=1e-6)


def test_nan_stops_with_term_and_step_and_keeps_checkpoint(tmp_path, image_folder):
    tr = Trainer(load_config(None, tiny(tmp_path, image_folder)))
    tr.cfg.train.niter = 2
    tr.fit()
    good = list_states(tmp_path)[-1][1]
    before_file = good.read_bytes()
    before = snapshot(tr.G)
    batch = next(iter(tr.loader))
    hr = batch["hr"].clone()
    hr[0, 0, 0, 0] = float("nan")
    tr.step = 3
    with pytest.raises(SPSRError, match=r"loss term 'l_pixel' is nan at step 3.*state_00000002\.pt is intact") as e:
        tr.train_step(batch["lr"], hr)
    assert "\n" not in str(e.value)
    assert all(torch.equal(before[k], v) for k, v in tr.G.state_dict().items())  # no update happened
    assert good.read_bytes() == before_file


def test_checkpoint_holds_everything_and_prunes(tmp_path, image_folder):
    cfg = load_config(None, tiny(tmp_path, image_folder, "train.niter=6", "logging.save_freq=1",
                                 "logging.keep_last=2", "train.ema.enabled=true", "train.ema.decay=0.5"))
    Trainer(cfg).fit()
    states = list_states(tmp_path)
    assert [s for s, _ in states] == [5, 6]
    assert len(list((tmp_path / "models").glob("G_0*.safetensors"))) == 2
    state = load_state(states[-1][1])  # loads with weights_only=True
    for key in ("G", "D", "D_grad", "opt_G", "opt_D", "opt_D_grad", "sched_G", "sched_D", "sched_D_grad",
                "scaler", "ema", "rng", "step", "epoch", "batch_in_epoch", "config"):
        assert key in state, key
    assert state["step"] == 6 and (state["epoch"], state["batch_in_epoch"]) == (1, 3)
    assert set(state["rng"]) >= {"python", "numpy", "torch"}


def test_existing_run_needs_resume(tmp_path, image_folder):
    cfg = load_config(None, tiny(tmp_path, image_folder, "train.niter=2"))
    Trainer(cfg).fit()
    with pytest.raises(SPSRError, match="pass --resume"):
        Trainer(cfg)
    with pytest.raises(SPSRError, match="no checkpoints"):
        Trainer(load_config(None, tiny(tmp_path / "fresh", image_folder)), resume=True)


def test_cli_reports_unknown_key_in_one_line(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("loss:\n  pixle: {weight: 1}\n")
    out = subprocess.run([sys.executable, "-m", "spsr_lib", "train", str(cfg)], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "loss.pixle: unknown key" in out.stderr


def test_persistent_workers_and_several_folders_keep_the_data_order(tmp_path, image_folder):
    """num_workers 0 and 1 (persistent, never sees set_epoch) train on the same samples across epochs."""
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for k, f in enumerate(sorted(image_folder.iterdir())):
        shutil.copy(f, (a if k % 2 else b) / f.name)
    losses = []
    for workers in (0, 1):
        cfg = load_config(None, tiny(tmp_path / f"w{workers}", image_folder, f"data.train=[{a}, {b}]",
                                     f"data.num_workers={workers}", "train.niter=5", "loss.gan.weight=0",
                                     "loss.gradient_gan.weight=0"))
        Trainer(cfg).fit()
        recs = (tmp_path / f"w{workers}" / "metrics.jsonl").read_text().splitlines()
        losses.append([json.loads(r)["l_pixel"] for r in recs])
    assert len(losses[0]) == 5 and losses[0] == losses[1]


def test_validation_logs_metrics_images_and_finetunes_a_full_generator(tmp_path, image_folder):
    first = Trainer(load_config(None, tiny(tmp_path / "a", image_folder, "train.niter=1", "logging.save_freq=1")))
    first.fit()
    g = tmp_path / "a" / "models" / "G_latest.safetensors"
    cfg = load_config(None, tiny(tmp_path / "b", image_folder, f"train.pretrained={g}", f"data.val={image_folder}",
                                 "data.val_max_images=2", "logging.val_freq=2", "logging.tensorboard=true",
                                 "logging.val_lpips=false", "logging.val_dists=false",
                                 "train.niter=2"))
    tr = Trainer(cfg)
    assert "all of SPSRNet" in tr.init_note
    assert all(torch.equal(v, first.G.state_dict()[k]) for k, v in tr.G.state_dict().items())
    tr.fit()
    val = [json.loads(r) for r in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
           if json.loads(r)["kind"] == "val"]
    assert len(val) == 1 and val[0]["step"] == 2
    assert 0 < val[0]["psnr_y"] < 60 and 0 < val[0]["ssim_y"] <= 1 and "psnr_rgb" in val[0]
    # structure (issue 24): the phase index, and the branch diagnostics of the SPSR stage's generator
    assert val[0]["phase_index"] >= 1.0 and val[0]["branch_grad_l1"] > 0 and val[0]["branch_zero_change"] >= 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "b" / "tensorboard")).Reload()
    tags = events.Tags()
    assert {"train/l_gradient_pixel", "train/l_gradient_gan", "train/lr_G", "val/psnr_y", "val/phase_index",
            "val/branch_grad_l1", "val/branch_zero_change"} <= set(tags["scalars"])
    assert {"val/lr_sr_hr", "val/gradient_maps_lr_sr_hr", "val/branch_grad_sr"} <= set(tags["images"])


@pytest.mark.parametrize("amp,channels_last", [("bf16", True), ("fp16", False)])
def test_mixed_precision_paths_train(tmp_path, image_folder, amp, channels_last):
    cfg = load_config(None, tiny(tmp_path, image_folder, f"runtime.amp={amp}",
                                 f"runtime.channels_last={str(channels_last).lower()}"))
    tr = Trainer(cfg)
    assert tr.scaler.is_enabled() == (amp == "fp16")
    before = snapshot(tr.G)
    batch = next(iter(tr.loader))
    tr.step = 1
    values = tr.train_step(tr.to_model_layout(batch["lr"]), batch["hr"])
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())
    assert any(not torch.equal(before[k], v) for k, v in tr.G.state_dict().items())


def test_ema_is_an_exponential_average():
    from spsr_lib.train.ema import ModelEMA

    net = torch.nn.Linear(2, 2)
    ema = ModelEMA(net, decay=0.75)
    w0 = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    torch.testing.assert_close(ema.module.weight, 0.75 * w0 + 0.25 * (w0 + 1.0))
    again = ModelEMA(torch.nn.Linear(2, 2), decay=0.5)
    again.load_state_dict(ema.state_dict())
    assert again.decay == 0.75 and again.num_updates == 1 and torch.equal(again.module.weight, ema.module.weight)
