"""SIGTERM under torchrun (issue 26): every rank stops after the same step, rank 0 saves, ``--resume`` goes on.

Real processes: ``torchrun --nproc_per_node 2`` (gloo on CPU) on the tiny stage-1 run of ``test_run_dir``. Before the
fix each rank re-raised SIGTERM at once: exit 143, no checkpoint, every step since the last save lost.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spsr_lib.train.state import list_states
from tests.train.test_run_dir import env, tiny_argv
from tests.train.test_stopping import train_steps

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(argv: list[str]) -> list[str]:
    """``tiny_argv``'s ``python -m spsr_lib train ...`` as 2 gloo workers under torchrun."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
            "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *argv[1:]]


def _workers(pid: int) -> list[int]:
    """The torchrun agent's worker processes (its children)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def _sigterm_mid_run(tmp_path: Path, images: Path, target: str) -> tuple[Path, int, str, subprocess.Popen]:
    """Start a 10^6-step DDP run, wait for 2 logged steps (no checkpoint yet), SIGTERM the agent or rank 1 only."""
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\n")
    run = tmp_path / "run"
    argv = tiny_argv(config, run, images, "train.niter=1000000", "logging.save_freq=1000000")
    proc = subprocess.Popen(torchrun(argv), cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(train_steps(run)) < 2:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "no DDP training step within 120 s"
            time.sleep(0.05)
        assert not list_states(run)
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        os.kill(proc.pid if target == "agent" else max(workers), signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return run, proc.returncode, out, proc


@pytest.mark.parametrize("target", ["agent", "rank1"])
def test_sigterm_under_torchrun_saves_a_checkpoint_and_resume_goes_on(tmp_path, train_images, target):
    """SIGTERM to the torchrun agent (what ``docker stop`` / systemd reach), or to one worker only: all ranks stop
    after one step, one 'interrupted' line, one checkpoint of that step; a torchrun ``--resume`` goes on from it."""
    run, rc, out, _ = _sigterm_mid_run(tmp_path, train_images, target)
    said = [ln for ln in out.splitlines() if ln.startswith("spsr train: interrupted at step ")]
    assert len(said) == 1, out[-3000:]  # rank 0's line only
    assert "by SIGTERM" in said[0] and "checkpoint saved" in said[0] and "--resume" in said[0], said[0]
    step = int(said[0].split("interrupted at step ")[1].split()[0])
    assert [s for s, _ in list_states(run)] == [step] and step >= 2, (rc, out[-3000:])
    assert (run / "models" / "G_latest.safetensors").is_file()
    assert "spsr_lib" not in "".join(ln for ln in out.splitlines() if "Traceback" in ln)
    assert not list(run.rglob(".*.tmp.*")) and not (run / ".spsr.lock").exists()

    config = tmp_path / "tiny.yaml"
    argv = tiny_argv(config, run, train_images, "train.niter=1000000", "logging.save_freq=1000000")
    resumed = subprocess.run([*torchrun(argv), "--resume", "--set", f"train.niter={step + 1}"], cwd=REPO, env=env(),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert train_steps(run)[-1] == step + 1
    assert [s for s, _ in list_states(run)] == [step, step + 1]
