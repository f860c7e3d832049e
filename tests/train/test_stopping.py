"""How a run stops without losing work (issue 26 item 2): SIGTERM from outside (a real process) saves a checkpoint
and exits 143 like Ctrl-C's 130; a truncated training image met mid-run saves the last finished step first; SIGTERM
in another command is one line, exit 143, no temporary file left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests import corpus
from tests.cli.conftest import one_error_line, run_spsr
from tests.train.test_run_dir import env, tiny_argv

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def train_steps(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip().endswith("}")]
    return [r["step"] for r in rows if r.get("kind") == "train"]


def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path, train_images):
    from spsr_lib.train.state import list_states

    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\n")
    run = tmp_path / "run"
    argv = tiny_argv(config, run, train_images, "train.niter=1000000", "logging.save_freq=1000000")
    proc = subprocess.Popen(argv, cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while len(train_steps(run)) < 2:  # well inside fit(), with no checkpoint saved yet
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "no training step within 180 s"
            time.sleep(0.05)
        assert not list_states(run)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 143, err[-2000:]
    assert len(lines) == 1 and "Traceback" not in err, lines
    assert "by SIGTERM" in lines[0] and "checkpoint saved" in lines[0] and "--resume" in lines[0], lines[0]
    step = int(lines[0].split("interrupted at step ")[1].split()[0])
    assert [s for s, _ in list_states(run)] == [step] and step >= 2
    assert (run / "models" / "G_latest.safetensors").is_file()
    assert not list(run.rglob(".*.tmp.*")) and not (run / ".spsr.lock").exists()
    out = subprocess.run([*argv, "--resume", "--set", f"train.niter={step + 1}"], cwd=REPO, env=env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert train_steps(run)[-1] == step + 1


def test_a_truncated_image_met_mid_run_saves_the_last_step_first(tmp_path, capsys, train_images):
    images = tmp_path / "images"
    images.mkdir()
    for p in train_images.iterdir():
        (images / p.name).write_bytes(p.read_bytes())
    corpus.truncated_png(images / "p4.png", side=40)  # a good header: the set is built, the pixels fail when read
    run = tmp_path / "run"
    argv = tiny_argv(tmp_path / "none.yaml", run, images, "train.niter=10", "logging.save_freq=100", "seed=3")
    (tmp_path / "none.yaml").write_text("name: tiny\n")
    res = run_spsr(capsys, *argv[3:])  # seed 3: p4.png is first drawn for step 2
    line = one_error_line(res, "p4.png", "truncated", "checkpoint of step 1 saved", "--resume")
    assert "at step 2" in line
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["state_00000001.pt"]


def test_sigterm_in_another_command_is_one_line_exit_143_and_leaves_no_temp_file(tmp_path, capsys, monkeypatch):
    from PIL import Image

    src = corpus.good_png(tmp_path / "a.png")
    model = corpus.tiny_model_file(tmp_path / "m.safetensors")
    real_save = Image.Image.save

    def save_then_sigterm(self, fp, *args, **kwargs):  # SIGTERM while the output is being written
        real_save(self, fp, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Image.Image, "save", save_then_sigterm)
    before = signal.getsignal(signal.SIGTERM)
    res = run_spsr(capsys, "infer", src, "-o", tmp_path / "out", "--model", model)
    assert res.rc == 143 and len(res.err_lines) == 1 and "SIGTERM" in res.err_lines[0], res.err_lines
    assert not list((tmp_path / "out").iterdir())
    assert signal.getsignal(signal.SIGTERM) is before, "main() left its SIGTERM handler installed"
