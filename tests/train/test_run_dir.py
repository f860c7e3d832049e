"""The run lock with real processes (issue 26 item 1): a second ``spsr train`` or a ``--resume`` of a live run is
refused in one line and touches nothing of the live run (not even its in-flight temporary files); a killed run
frees the folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def tiny_argv(config: Path, run: Path, images: Path, *extra: str) -> list[str]:
    """A stage-1 RRDBNet nf=4 nb=1 on 32 px patches: milliseconds per step."""
    sets = ["stage=psnr", "model.nf=4", "model.nb=1", "model.gc=4", "data.patch_size=32", "data.batch_size=2",
            f"data.train={images}", "data.val=null", "logging.log_freq=1", "logging.tensorboard=false",
            "logging.progress=false", f"output_dir={run}", "runtime.device=cpu", "runtime.num_threads=1", *extra]
    return [sys.executable, "-m", "spsr_lib", "train", str(config), *[a for s in sets for a in ("--set", s)]]


def env() -> dict[str, str]:
    e = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    e.pop("SPSR_DEBUG", None)
    return e


def start_long_run(argv: list[str], run: Path) -> subprocess.Popen:
    """Start ``argv`` (a run of 10^6 steps) and wait until it has saved a checkpoint (any: at tens of steps per
    second the older ones are rotated away faster than a poll sees them)."""
    proc = subprocess.Popen(argv, cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not any((run / "checkpoints").glob("state_*.pt")):
        if proc.poll() is not None:
            raise AssertionError(f"the first run died: {proc.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, "no checkpoint within 180 s"
        time.sleep(0.05)
    return proc


def test_a_second_run_and_a_resume_of_a_live_run_are_refused_touching_nothing(tmp_path, train_images):
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\n")
    run = tmp_path / "run"
    argv = tiny_argv(config, run, train_images, "train.niter=1000000", "logging.save_freq=2", "logging.keep_last=1")
    first = start_long_run(argv, run)
    try:
        # what the refused runs must not touch: a temporary file like the live run's in-flight checkpoint write
        in_flight = run / "checkpoints" / ".state_99999999.pt.tmp.live"
        in_flight.write_bytes(b"half a checkpoint")
        config_before = (run / "config.yaml").read_bytes()
        for extra in ([], ["--resume"]):
            out = subprocess.run([*argv, *extra], cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)
            lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
            assert out.returncode == 2, (extra, out.stderr[-2000:])
            assert len(lines) == 1 and "Traceback" not in out.stderr, lines
            assert f"pid {first.pid}" in lines[0] and "--set output_dir" in lines[0], lines[0]
            assert in_flight.read_bytes() == b"half a checkpoint", f"{extra}: the refused run removed a temp file"
            assert (run / "config.yaml").read_bytes() == config_before, f"{extra}: config.yaml rewritten"
            assert first.poll() is None, "the live run died"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        first.stderr.close()
    # a killed run frees the folder: --resume goes on (and now removes the leftover temp file)
    from spsr_lib.train.state import list_states

    step = list_states(run)[-1][0]
    out = subprocess.run([*argv, "--resume", "--set", f"train.niter={step + 1}"], cwd=REPO, env=env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not in_flight.exists()
    assert not (run / ".spsr.lock").exists(), "a finished run left its lock file"
