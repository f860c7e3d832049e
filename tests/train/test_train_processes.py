"""Training across process boundaries: exact resume after a real SIGKILL, and DDP (gloo, 2 CPU processes).

Both compare runs through what a user sees: ``metrics.jsonl`` (every loss term at every step) and the
final training state (G, D, D_grad, optimisers, schedulers, EMA).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from spsr_lib.train.state import list_states, load_state
from tests.train.conftest import write_crops

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, sample_image) -> Path:
    return write_crops(tmp_path_factory.mktemp("hr"), sample_image, 8, per_row=4, x0=120)


def write_config(path: Path, run_dir: Path, data_dir: Path, **sections) -> Path:
    cfg = {
        "name": "t", "stage": "spsr", "seed": 3, "output_dir": str(run_dir),
        "model": {"nf": 4, "nb": 2, "gc": 4}, "discriminator": {"nf": 4},
        "data": {"train": str(data_dir), "val": None, "patch_size": 32, "batch_size": 2},
        "loss": {"perceptual": {"weight": 0}},
        "train": {"niter": 8, "milestones": [3, 6], "branch_pretrain": {"steps": 6, "train": "fusion"}},
        "runtime": {"device": "cpu", "num_threads": 1},
        "logging": {"log_freq": 1, "save_freq": 4, "keep_last": 5, "tensorboard": False, "progress": False},
    }
    for key, value in sections.items():
        cfg[key].update(value)
    path.write_text(yaml.safe_dump(cfg))
    return path


def env() -> dict[str, str]:
    e = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    e.pop("SPSR_DEBUG", None)
    return e


def spsr_train(*args: str, timeout: int = 300) -> None:
    out = subprocess.run([sys.executable, "-m", "spsr_lib", "train", *args], cwd=REPO, env=env(),
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]


def train_records(run_dir: Path) -> dict[int, dict]:
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: {k: v for k, v in r.items() if k not in ("time", "sec_per_it")}
            for r in recs if r["kind"] == "train"}


def final_state(run_dir: Path) -> dict:
    return load_state(list_states(run_dir)[-1][1])


def assert_same_tree(a, b, where: str = "", exact: bool = True, atol: float = 0.0) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape, where
        if exact:
            assert torch.equal(a, b), f"{where} differs (max {float((a.double() - b.double()).abs().max())})"
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=atol, msg=where)
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            assert_same_tree(a[k], b[k], f"{where}.{k}", exact, atol)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{where}[{i}]", exact, atol)
    else:
        assert a == b, where


def test_resume_after_sigkill_is_exact(tmp_path, image_folder):
    """8 straight steps == 4 steps, SIGKILL, --resume, 4 more: identical losses and bit-identical weights.

    The run to be killed is given niter 1000 so the kill surely lands while it is training; the resumed
    run gets niter 8 back with --set. The data order (8 images, batch 2: the kill and resume happen at
    epoch boundaries and mid-epoch), the branch pre-train switch (step 6), the LR milestones (3, 6) and
    the EMA all cross the resume point.
    """
    common = {"train": {"ema": {"enabled": True, "decay": 0.9}}}
    straight = tmp_path / "straight"
    spsr_train(str(write_config(tmp_path / "a.yaml", straight, image_folder, **common)))

    killed = tmp_path / "killed"
    cfg = write_config(tmp_path / "b.yaml", killed, image_folder, **common)
    proc = subprocess.Popen([sys.executable, "-m", "spsr_lib", "train", str(cfg), "--set", "train.niter=1000"],
                            cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    target = killed / "checkpoints" / "state_00000004.pt"
    deadline = time.monotonic() + 300
    while not target.exists():
        assert proc.poll() is None, f"training died before step 4: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint of step 4 within 300 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    for step, path in list_states(killed):  # resume from step N/2, whatever the run reached before dying
        if step > 4:
            path.unlink()

    spsr_train(str(cfg), "--resume")
    a, b = train_records(straight), train_records(killed)
    assert sorted(a) == sorted(b) == list(range(1, 9))
    for step in range(1, 9):
        assert a[step] == b[step], f"step {step}: {a[step]} != {b[step]}"
    sa, sb = final_state(straight), final_state(killed)
    assert sa["step"] == sb["step"] == 8
    for key in ("G", "D", "D_grad", "opt_G", "opt_D", "opt_D_grad", "sched_G", "ema", "epoch", "batch_in_epoch"):
        assert_same_tree(sa[key], sb[key], key)
    from safetensors.torch import load_file

    exported = [load_file(str(run / "models" / "G_latest.safetensors")) for run in (straight, killed)]
    assert_same_tree(exported[0], exported[1], "exported EMA generator")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_gloo_processes_match_one_process(tmp_path, image_folder):
    """2 ranks x batch 2 == 1 process x batch 4 (same global batch, same samples per step).

    The discriminators are off: their BatchNorm and the RaGAN batch means are per-rank statistics (as in the
    official per-GPU DataParallel replicas), so only per-sample losses can match a single process exactly.
    """
    sections = {"data": {"batch_size": 4}, "train": {"niter": 4, "branch_pretrain": {"steps": 2}},
                "loss": {"perceptual": {"weight": 0}, "gan": {"weight": 0}, "gradient_gan": {"weight": 0}}}
    one = tmp_path / "one"
    spsr_train(str(write_config(tmp_path / "one.yaml", one, image_folder, **sections)))
    two = tmp_path / "two"
    cfg = write_config(tmp_path / "two.yaml", two, image_folder, **sections)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "spsr_lib", "train", str(cfg)]
    out = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    a, b = train_records(one), train_records(two)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    for step in a:
        for term in ("l_pixel", "l_gradient_pixel", "l_branch_pixel", "l_g_total"):
            assert b[step][term] == pytest.approx(a[step][term], rel=1e-5, abs=1e-7), (step, term)
    sa, sb = final_state(one), final_state(two)
    assert sb["world_size"] == 2
    assert_same_tree(sa["G"], sb["G"], "G", exact=False, atol=1e-5)
