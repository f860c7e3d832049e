"""``spsr train`` on the hostile corpus (issue 19): bad values, bad places, bad images, divergence, resume, Ctrl-C.

All in-process on a tiny stage-1 RRDBNet (nf=4, nb=1, 8 px LR patches); the kill test is the one subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import corpus
from tests.cli.conftest import one_error_line, run_spsr, tree

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[2]


def tiny_args(config: Path, run: Path, images: Path, *extra: str) -> list[str]:
    sets = ["stage=psnr", "model.nf=4", "model.nb=1", "model.gc=4", "data.patch_size=32", "data.batch_size=2",
            f"data.train={images}", "data.val=null", "train.niter=4", "logging.log_freq=1", "logging.save_freq=2",
            "logging.tensorboard=false", "logging.progress=false", f"output_dir={run}", "runtime.device=cpu",
            "runtime.num_threads=1", "train.lr_g=1e-3", *extra]
    return ["train", str(config), *[a for s in sets for a in ("--set", s)]]


@pytest.fixture()
def config(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\n")
    return path


def lr_log(run: Path) -> list[float]:
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    return [r["lr_G"] for r in rows if "lr_G" in r]


def test_bad_config_values_are_one_line_naming_the_key(tmp_path, capsys, config, train_images):
    assert len(corpus.BAD_CONFIG_VALUES) >= 12
    for override, key in corpus.BAD_CONFIG_VALUES:
        run = tmp_path / "run"
        res = run_spsr(capsys, *tiny_args(config, run, train_images, override))
        try:
            one_error_line(res, key)
        except AssertionError as exc:
            raise AssertionError(f"--set {override}: {exc}") from None
        assert not run.exists(), f"--set {override}: created the run folder"


def test_bad_places_and_images_are_one_line(tmp_path, capsys, config, train_images):
    bomb_set = tmp_path / "bombs"
    bomb_set.mkdir()
    corpus.bomb_png(bomb_set / "a.png")
    corpus.good_png(bomb_set / "b.png", side=40)
    cases = [
        ("output_under_a_file", [f"output_dir={corpus.under_a_file(tmp_path)}"], ["is under", "output_dir"]),
        ("bomb_in_train_set", [f"data.train={bomb_set}"], ["a.png", "decompression bomb"]),
    ]
    for name, extra, names in cases:
        before = tree(tmp_path)
        res = run_spsr(capsys, *tiny_args(config, tmp_path / f"run_{name}", train_images, *extra))
        try:
            one_error_line(res, *names)
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert tree(tmp_path) == before, f"case {name}: wrote files"


def test_diverged_weights_are_never_saved(tmp_path, capsys, config, train_images):
    run = tmp_path / "run"
    res = run_spsr(capsys, *tiny_args(config, run, train_images, "train.lr_g=1e30", "logging.save_freq=1"))
    line = one_error_line(res, "no checkpoint was written", "train.lr_g")
    assert "step 1" in line
    assert not list(run.glob("checkpoints/*")) and not list(run.glob("models/*"))


def test_resume_applies_changed_optimiser_settings_and_refuses_a_changed_architecture(tmp_path, capsys, config,
                                                                                   train_images):
    run = tmp_path / "run"
    assert run_spsr(capsys, *tiny_args(config, run, train_images)).rc == 0
    assert lr_log(run) == [1e-3] * 4
    saved = tree(run / "checkpoints")
    res = run_spsr(capsys, *tiny_args(config, run, train_images, "model.nf=8"), "--resume")
    one_error_line(res, "model.nf 4 -> 8", "another architecture")
    assert tree(run / "checkpoints") == saved
    res = run_spsr(capsys, *tiny_args(config, run, train_images, "train.niter=6", "train.lr_g=1e-5"), "--resume")
    assert res.rc == 0, res.err_lines
    assert "train.lr_g 0.001 -> 1e-05" in res.out
    assert lr_log(run)[-2:] == [1e-5, 1e-5]


def test_ctrl_c_saves_a_checkpoint_then_exits_130(tmp_path, capsys, config, train_images, monkeypatch):
    from spsr_lib.train.trainer import Trainer

    real = Trainer.train_step

    def step_then_ctrl_c(self, lr, hr):
        out = real(self, lr, hr)
        if self.step == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(Trainer, "train_step", step_then_ctrl_c)
    run = tmp_path / "run"
    res = run_spsr(capsys, *tiny_args(config, run, train_images, "train.niter=10", "logging.save_freq=100"))
    assert res.rc == 130
    assert [ln for ln in res.err_lines if "interrupted at step 3" in ln and "--resume" in ln]
    assert sorted(tree(run / "checkpoints")) == ["state_00000003.pt"]


KILLER = textwrap.dedent("""
    import os, signal, sys, torch
    real, calls = torch.save, []

    def dying_save(obj, f, *args, **kwargs):  # the second training state: half written, then SIGKILL
        calls.append(f)
        if len(calls) == 2:
            with open(f, "wb") as fh:
                fh.write(b"x" * 65536)
                fh.flush()
                os.fsync(fh.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        return real(obj, f, *args, **kwargs)

    torch.save = dying_save
    from spsr_lib.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_kill_during_a_checkpoint_write_leaves_temps_that_the_next_run_removes(tmp_path, capsys, config,
                                                                                   train_images):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", KILLER, *tiny_args(config, run, train_images)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    temps = list((run / "checkpoints").glob(".state_*.tmp.*"))
    assert len(temps) == 1 and temps[0].stat().st_size == 65536  # what the kill left
    assert sorted(p.name for p in (run / "checkpoints").glob("state_*.pt")) == ["state_00000002.pt"]
    res = run_spsr(capsys, *tiny_args(config, run, train_images), "--resume")
    assert res.rc == 0, res.err_lines
    assert "removed 1 temporary file(s)" in res.out
    assert not [p for p in run.rglob(".*.tmp.*")], "temporary files survived the next run"
    assert sorted(p.name for p in (run / "checkpoints").glob("state_*.pt")) == ["state_00000002.pt",
                                                                                   "state_00000004.pt"]


def test_config_files_that_are_not_utf8_yaml_text_or_explode_are_one_short_line(tmp_path, capsys):
    """(issue 26) UTF-16/32, Latin-1, binary, huge, deeply nested and alias-bomb configs: exit 2, one line of at most
    300 characters naming the file, nothing created; a bomb is refused before any traversal (fast, small)."""
    import time

    cases = corpus.bad_config_files(tmp_path)
    cases["alias_bomb"] = (corpus.alias_bomb_yaml(tmp_path / "bomb.yaml", levels=6), "aliases")
    run = tmp_path / "run"
    for case, (path, word) in cases.items():
        t0 = time.perf_counter()
        res = run_spsr(capsys, "train", path, "--set", f"output_dir={run}")
        try:
            line = one_error_line(res, path.name, word)
        except AssertionError as exc:
            raise AssertionError(f"case {case}: {exc}") from None
        assert len(line) < 300, (case, len(line))
        assert time.perf_counter() - t0 < 10, case
        assert not run.exists(), case


def test_values_in_config_errors_are_shortened(tmp_path, capsys, config, train_images):
    """A 5,000-character value, a 200-deep list or an alias-bomb --set value is quoted in at most ~80 characters."""
    run = tmp_path / "run"
    deep = "[" * 200 + "]" * 200
    bomb = "[" + ", ".join(["&a0 [x, x, x, x, x, x, x, x, x]"] + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]"
                                                                     for i in range(1, 7)]) + "]"
    for override, key in [("train.niter=" + "9x" * 2500, "train.niter"), (f"data.patch_size={deep}",
                                                                          "data.patch_size"),
                          ("model.residual=" + "b" * 5000, "model.residual"), (f"data.train={bomb}", "data.train"),
                          ("train." + "k" * 3000 + "=1", "unknown key")]:
        res = run_spsr(capsys, *tiny_args(config, run, train_images, override))
        assert res.rc == 2 and len(res.err_lines) == 1 and key in res.err_lines[0], (key, res.err_lines)
        assert len(res.err_lines[0]) < 600, (key, len(res.err_lines[0]))
        assert not run.exists()


def test_a_run_never_replaces_a_file_no_run_wrote_nor_its_pretrained_input(tmp_path, capsys, config, train_images):
    """(issue 26) A new run into a folder with the user's config.yaml / metrics.jsonl, or whose train.pretrained lies
    in the models/ folder the run rewrites: one line, exit 2, every file as it was."""
    for name in ("config.yaml", "metrics.jsonl"):
        run = tmp_path / f"user_{name}"
        run.mkdir()
        users = corpus.a_regular_file(run / name)
        res = run_spsr(capsys, *tiny_args(config, run, train_images))
        one_error_line(res, name, "was not written by spsr train")
        assert tree(run) == {name: users.read_bytes()}
    run = tmp_path / "run"
    assert run_spsr(capsys, *tiny_args(config, run, train_images, "train.niter=2")).rc == 0
    weights = run / "models" / "G_latest.safetensors"
    saved = tree(run)
    res = run_spsr(capsys, *tiny_args(config, run, train_images, "train.niter=4", f"train.pretrained={weights}"),
                   "--resume")
    one_error_line(res, "train.pretrained", "which this run rewrites")
    assert tree(run) == saved
    again = tmp_path / "again"  # a kit-written config.yaml and metrics.jsonl without checkpoints: a new run may go
    again.mkdir()
    for name in ("config.yaml", "metrics.jsonl"):
        (again / name).write_bytes(saved[name])
    assert run_spsr(capsys, *tiny_args(config, again, train_images, "train.niter=2")).rc == 0


def test_resume_over_a_damaged_metrics_file_keeps_its_good_records(tmp_path, capsys, config, train_images):
    """(issue 26) Binary bytes and non-record JSON lines in metrics.jsonl: --resume keeps the good records (before: a
    UnicodeDecodeError or AttributeError traceback)."""
    run = tmp_path / "run"
    assert run_spsr(capsys, *tiny_args(config, run, train_images)).rc == 0
    metrics = run / "metrics.jsonl"
    metrics.write_bytes(metrics.read_bytes() + b'\xff\xfe\x00garbage\n5\n[1, 2]\n{"step": "x"}\n')
    res = run_spsr(capsys, *tiny_args(config, run, train_images, "train.niter=6"), "--resume")
    assert res.rc == 0, res.err_lines
    assert lr_log(run) == [1e-3] * 6
