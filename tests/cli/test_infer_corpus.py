"""``spsr infer`` on the hostile corpus (issue 19): every bad input is one line, the good ones are still written."""

from __future__ import annotations

import pytest
import torch

from tests import corpus
from tests.cli.conftest import one_error_line, run_spsr, tree

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# a bad file between two good ones: exit 1 (the batch went on), one error line naming it, both good ones written
BAD_FILES = {
    "bomb.png": corpus.bomb_png,
    "truncated.png": corpus.truncated_png,
    "empty.png": corpus.empty_file,
    "text.png": corpus.not_an_image,
    "nan_float.tif": corpus.float_tiff,  # issue 26: one NaN blacked out 94 % of the output, exit 0
    "inf_float.tif": lambda path: corpus.float_tiff(path, bad=float("inf")),
    "int32.tif": corpus.int32_tiff,  # values beyond 16 bits wrapped silently
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_in_a_batch(tmp_path, capsys, model_file, name):
    good1, good2 = corpus.good_png(tmp_path / "good1.png"), corpus.good_png(tmp_path / "good2.png", seed=1)
    bad = BAD_FILES[name](tmp_path / name)
    out = tmp_path / "out"
    res = run_spsr(capsys, "infer", good1, bad, good2, "-o", out, "--model", model_file, "--device", "cpu")
    one_error_line(res, bad, expect_rc=1)
    assert sorted(tree(out)) == ["good1.png", "good2.png"]  # nothing for the bad one, no temp file left


def test_bomb_sorting_first_in_a_folder(tmp_path, capsys, model_file):
    src = tmp_path / "in"
    src.mkdir()
    corpus.bomb_png(src / "a_bomb.png")
    corpus.good_png(src / "b_good.png")
    res = run_spsr(capsys, "infer", src, "-o", tmp_path / "out", "--model", model_file, "--device", "cpu")
    one_error_line(res, "a_bomb.png", "decompression bomb", expect_rc=1)
    assert sorted(tree(tmp_path / "out")) == ["b_good.png"]


def test_output_too_large_is_refused_before_the_work(tmp_path, capsys, model_file, monkeypatch):
    import spsr_lib.inference.infer as infer

    big = corpus.good_png(tmp_path / "big.png", side=128)  # x4: 512x512, output buffers ~4 MB
    small = corpus.good_png(tmp_path / "small.png")
    monkeypatch.setattr(infer, "_available_memory", lambda device: 2 * 2**20)
    res = run_spsr(capsys, "infer", big, small, "-o", tmp_path / "out", "--model", model_file, "--tile", "32")
    line = one_error_line(res, big, "512x512", "--tile does not help", expect_rc=1)
    assert "crop or downscale" in line
    assert sorted(tree(tmp_path / "out")) == ["small.png"]


def test_odd_modes_and_tiny_images_are_processed(tmp_path, capsys, model_file):
    files = corpus.odd_mode_images(tmp_path / "in")
    files.append(corpus.good_png(tmp_path / "in" / "one_px.png", side=1))
    res = run_spsr(capsys, "infer", tmp_path / "in", "-o", tmp_path / "out", "--model", model_file)
    assert res.rc == 0, res.err_lines
    assert [ln for ln in res.err_lines if "error" in ln] == []
    assert sorted(tree(tmp_path / "out")) == sorted(f"{p.stem}.png" for p in files)


def test_colliding_outputs_keep_the_first_and_never_touch_an_input(tmp_path, capsys, model_file):
    corpus.good_png(tmp_path / "x.png")
    corpus.good_png(tmp_path / "x.jpg".replace(".jpg", ".bmp"), seed=2)
    before = tree(tmp_path)
    res = run_spsr(capsys, "infer", tmp_path / "x.png", tmp_path / "x.bmp", "-o", tmp_path / "out",
                   "--model", model_file)
    one_error_line(res, "x.bmp", "already the result of", expect_rc=1)
    assert sorted(tree(tmp_path / "out")) == ["x.png"]
    # -o onto the inputs' own folder: x.png would be overwritten by its own result
    res = run_spsr(capsys, "infer", tmp_path / "x.png", "-o", tmp_path, "--model", model_file)
    one_error_line(res, "x.png", "would overwrite an input", expect_rc=1)
    assert {k: v for k, v in tree(tmp_path).items() if not k.startswith("out/")} == before


def _command_cases(tmp_path):
    """(name, extra argv, names the error line must hold) for errors that stop the whole command up front."""
    cases = [
        ("tile_negative", ["--tile", "-5"], ["-5", "--tile"]),
        ("tile_text", ["--tile", "abc"], ["'abc'", "not a number"]),
        ("output_under_a_file", ["-o", corpus.under_a_file(tmp_path)], ["is under", "-o"]),
        ("output_is_a_file", ["-o", corpus.a_regular_file(tmp_path / "taken.txt")], ["taken.txt", "-o"]),
        ("model_missing", ["--model", tmp_path / "nope.safetensors"], ["nope.safetensors"]),
    ]
    if not torch.cuda.is_available():
        cases.append(("device_cuda_without_gpu", ["--device", "cuda"], ["cuda", "not available"]))
    for case in sorted(corpus.BAD_ARCH_METADATA):
        path = corpus.bad_metadata_model(tmp_path / f"{case}.safetensors", case)
        cases.append((case, ["--model", path], [path, "'arch' metadata"]))
    for case in sorted(corpus.BAD_WEIGHTS):
        path = corpus.bad_weights_model(tmp_path / f"{case}.safetensors", case)
        cases.append((case, ["--model", path], [path, "conv_first.weight", "earlier checkpoint"]))
    return cases


def test_command_level_errors_are_one_line_before_any_image(tmp_path, capsys, model_file):
    good = corpus.good_png(tmp_path / "good.png")
    cases = _command_cases(tmp_path)
    assert len(cases) >= 13
    for name, extra, names in cases:
        argv = ["infer", good, "-o", tmp_path / f"out_{name}", "--model", model_file, "--device", "cpu", *extra]
        before = tree(tmp_path)
        res = run_spsr(capsys, *argv)
        try:
            one_error_line(res, *map(str, names))
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert tree(tmp_path) == before, f"case {name}: wrote or changed files"


def test_a_recursive_glob_over_a_symlink_loop_ends_and_takes_each_image_once(tmp_path, model_file):
    """(issue 26) ``spsr infer 'dir/**/*.png'`` with ``dir/s1 -> .``: a real process, done in seconds, one output per
    image (before: glob followed the loop for ever)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = tmp_path / "dir"
    (src / "sub").mkdir(parents=True)
    corpus.good_png(src / "a.png")
    corpus.good_png(src / "sub" / "b.png", seed=1)
    os.symlink(".", src / "s1")
    os.symlink("..", src / "sub" / "s2")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "spsr_lib", "infer", str(src / "**" / "*.png"), "-o",
                          str(tmp_path / "out"), "--model", str(model_file), "--device", "cpu"],
                         cwd=repo, env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "wrote 2 of 2 image(s)" in out.stdout
    assert sorted(tree(tmp_path / "out")) == ["a.png", "b.png"]


def test_no_output_overwrites_an_input_or_a_file_no_run_wrote(tmp_path, capsys, model_file):
    """(issue 26) Every output path is checked, the gradient maps too: ``photos/a.png`` + ``photos/a_SR_grad_sr.png``
    with ``-o photos --suffix _SR --save-gradients`` replaced the second input, then super-resolved the replaced file.
    A file in -o that no spsr infer run wrote (a user's a.png) is never replaced; the kit's own outputs are."""
    photos = tmp_path / "photos"
    photos.mkdir()
    corpus.good_png(photos / "a.png")
    corpus.good_png(photos / "a_SR_grad_sr.png", seed=1)
    before = tree(photos)
    res = run_spsr(capsys, "infer", photos, "-o", photos, "--suffix", "_SR", "--save-gradients", "--model", model_file)
    line = one_error_line(res, "a.png", "a_SR_grad_sr.png", "would overwrite an input", expect_rc=1)
    assert f"error: {photos / 'a.png'}: output {photos / 'a_SR_grad_sr.png'} would overwrite an input" in line
    assert {k: v for k, v in tree(photos).items() if k in before} == before, "an input was replaced"
    assert sorted(set(tree(photos)) - set(before)) == ["a_SR_grad_sr_SR.png", "a_SR_grad_sr_SR_grad_lr.png",
                                                       "a_SR_grad_sr_SR_grad_sr.png"]

    out = tmp_path / "out"
    out.mkdir()
    src = tmp_path / "in"
    src.mkdir()
    corpus.good_png(src / "a.png")
    corpus.good_png(src / "b.png", seed=1)
    users = corpus.a_regular_file(out / "a_grad_lr.png")  # the user's file where a's gradient map would go
    res = run_spsr(capsys, "infer", src, "-o", out, "--save-gradients", "--model", model_file)
    one_error_line(res, "a_grad_lr.png", "was not written by spsr infer", expect_rc=1)
    assert users.read_text() == "the user's own file: must survive\n"
    assert sorted(tree(out)) == ["a_grad_lr.png", "b.png", "b_grad_lr.png", "b_grad_sr.png"]
    first = tree(out)
    res = run_spsr(capsys, "infer", src / "b.png", "-o", out, "--save-gradients", "--model", model_file)
    assert res.rc == 0, res.err_lines  # the kit's own earlier outputs are replaced
    assert tree(out) == first


def test_precision_and_colour_facts_are_said_once_per_run(tmp_path, capsys, model_file):
    """(issue 26) 16-bit input written as 8-bit, alpha dropped, colour profile not carried over: one stderr note each
    per run, however many files have them (before: nothing on stdout or stderr for 16-bit)."""
    import shutil

    src = tmp_path / "in"
    corpus.odd_mode_images(src)
    shutil.copy(src / "sixteen.png", src / "sixteen2.png")
    shutil.copy(src / "rgba.png", src / "rgba2.png")
    corpus.icc_png(src / "icc1.png")
    corpus.icc_png(src / "icc2.png", seed=1)
    for run in ("first", "second"):  # said again in the next run: once per run, not once per process
        res = run_spsr(capsys, "infer", src, "-o", tmp_path / "out", "--model", model_file)
        assert res.rc == 0, res.err_lines
        notes = [ln for ln in res.err_lines if ln.startswith("spsr infer: note: ")]
        for fact in ("16-bit image", "alpha channel", "colour profile"):
            assert len([ln for ln in notes if fact in ln]) == 1, (run, fact, notes)
        assert len(notes) == 3, notes
        assert "8-bit" in next(ln for ln in notes if "16-bit" in ln)
        assert "carry no profile" in next(ln for ln in notes if "colour profile" in ln)
