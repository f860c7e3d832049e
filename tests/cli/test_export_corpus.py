"""``spsr export`` and ONNX files in ``spsr infer`` / ``spsr evaluate``: bad inputs one line, up front, nothing written."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tests import corpus  # noqa: E402
from tests.cli.conftest import one_error_line, refused, run_spsr, tree, unchanged  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lively_file(tmp_path_factory):
    """A tiny SPSRNet with an image-like output, as kit safetensors, and its ONNX export by the command."""
    from spsr_lib.io.checkpoint import save_generator
    from tests.io.test_onnx_export import make

    folder = tmp_path_factory.mktemp("lively")
    save_generator(make("SPSRNet"), folder / "tiny.safetensors")
    return folder / "tiny.safetensors"


def test_export_prints_the_tolerance_and_the_measured_errors(tmp_path, capsys, lively_file):
    res = run_spsr(capsys, "export", lively_file, tmp_path / "tiny.onnx")
    assert res.rc == 0, res.err_lines
    assert f"wrote {tmp_path / 'tiny.onnx'} (SPSRNet(" in res.out and "fp32, opset 17, outputs sr, grad_sr" in res.out
    assert "onnxruntime vs PyTorch fp32, tolerance max |diff| <= 1e-04:" in res.out
    assert res.out.count(": sr max ") == 2 and res.out.count(": grad_sr max ") == 2 and "astronaut 64x64" in res.out
    res = run_spsr(capsys, "export", lively_file, tmp_path / "half.onnx", "--fp16", "--opset", "13")
    assert res.rc == 0, res.err_lines
    assert "fp16, opset 13" in res.out and "tolerance max |diff| <= 2e-02, mean <= 2e-03" in res.out


def _cases(tmp_path, lively_file):
    folder = tmp_path / "a_folder.onnx"
    folder.mkdir()
    onnx_file = tmp_path / "already.onnx"
    onnx_file.write_bytes(b"x")
    return [
        ("model_not_a_model", [corpus.not_an_image(tmp_path / "notes.pth"), tmp_path / "o.onnx"], ["notes.pth"]),
        ("model_truncated", [corpus.truncated_checkpoint(tmp_path / "cut.pth"), tmp_path / "o.onnx"], ["cut.pth"]),
        ("model_missing", [tmp_path / "nope.pth", tmp_path / "o.onnx"], ["nope.pth", "not found"]),
        ("model_is_onnx", [onnx_file, tmp_path / "o.onnx"], ["already.onnx", "already an ONNX file"]),
        ("out_under_a_file", [lively_file, corpus.under_a_file(tmp_path, "x.onnx")], ["is under", "OUT"]),
        ("out_is_a_folder", [lively_file, folder], ["a_folder.onnx", "is a folder"]),
        ("out_not_onnx", [lively_file, tmp_path / "o.safetensors"], ["o.safetensors", "ends with .onnx"]),
        ("opset_too_low", [lively_file, tmp_path / "o.onnx", "--opset", "9"], ["--opset 9", "11..20"]),
    ]


def test_user_errors_are_one_line_and_write_nothing(tmp_path, capsys, lively_file):
    for name, argv, names in _cases(tmp_path, lively_file):
        before = tree(tmp_path)
        res = run_spsr(capsys, "export", *argv)
        try:
            one_error_line(res, *map(str, names))
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert tree(tmp_path) == before, f"case {name}: wrote or changed files"


def test_a_mismatch_is_exit_2_and_the_previous_file_stays(tmp_path, capsys, lively_file, monkeypatch):
    from spsr_lib.io import onnx_export

    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous")
    monkeypatch.setitem(onnx_export.TOLERANCE, "fp32", 1e-30)
    monkeypatch.setitem(onnx_export.MEAN_TOLERANCE, "fp32", 1e-30)
    before = tree(tmp_path)
    line = one_error_line(run_spsr(capsys, "export", lively_file, out, "--force"), out, "differs from PyTorch's",
                          "not written")
    assert "over the fp32 tolerance" in line and tree(tmp_path) == before


def test_without_onnxruntime_one_line_says_what_to_install(tmp_path, capsys, lively_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    one_error_line(run_spsr(capsys, "export", lively_file, tmp_path / "o.onnx"), "pip install onnx onnxruntime")
    assert not (tmp_path / "o.onnx").exists()


def test_infer_runs_an_onnx_file_like_its_weights(tmp_path, capsys, lively_file):
    from spsr_lib.io.images import read_image_uint8

    assert run_spsr(capsys, "export", lively_file, tmp_path / "tiny.onnx").rc == 0
    img = corpus.good_png(tmp_path / "in" / "a.png", side=30)
    common = ["--device", "cpu", "--tile", "12", "--overlap", "4", "--self-ensemble", "--save-gradients"]
    for name, model in (("torch", lively_file), ("onnx", tmp_path / "tiny.onnx")):
        res = run_spsr(capsys, "infer", img, "-o", tmp_path / name, "--model", model, *common)
        assert res.rc == 0, res.err_lines
    for file, side in (("a.png", 120), ("a_grad_sr.png", 120), ("a_grad_lr.png", 30)):
        want, got = (read_image_uint8(tmp_path / n / file).astype(int) for n in ("torch", "onnx"))
        assert want.shape == got.shape == (side, side, 3) and np.abs(want - got).max() <= 1, file
    one_error_line(run_spsr(capsys, "infer", img, "-o", tmp_path / "bf", "--model", tmp_path / "tiny.onnx",
                            "--bf16", "--device", "cpu"), "tiny.onnx", "--bf16")
    (tmp_path / "junk.onnx").write_text("junk\n")
    one_error_line(run_spsr(capsys, "infer", img, "-o", tmp_path / "j", "--model", tmp_path / "junk.onnx",
                            "--device", "cpu"), "junk.onnx", "onnxruntime cannot load it")
    assert not (tmp_path / "bf").exists() and not (tmp_path / "j").exists()


def test_evaluate_runs_an_onnx_file_and_says_so(tmp_path, capsys, lively_file):
    import json

    assert run_spsr(capsys, "export", lively_file, tmp_path / "tiny.onnx").rc == 0
    hr = tmp_path / "hr"
    hr.mkdir()
    corpus.good_png(hr / "a.png", side=40)
    fast = ["--metrics", "psnr", "ssim", "--mode", "standard", "--no-progress", "--device", "cpu"]
    for name, model in (("torch", lively_file), ("onnx", tmp_path / "tiny.onnx")):
        res = run_spsr(capsys, "evaluate", "--sets", hr, "--model", model, "--out", tmp_path / name,
                       "--self-ensemble", *fast)
        assert res.rc == 0, res.err_lines
        assert "| tiny (x8) | PSNR/SSIM |" in res.out and "- self-ensemble: x8" in res.out
    assert "- runtime: ONNX file tiny.onnx run by onnxruntime" in res.out
    psnr = [json.loads((tmp_path / n / "results.json").read_text())["methods"][1]["mean"]["hr"]["psnr_standard"]
            for n in ("torch", "onnx")]
    assert abs(psnr[0] - psnr[1]) < 1e-3
    one_error_line(run_spsr(capsys, "evaluate", "--sets", hr, "--sr-dir", hr, "--self-ensemble",
                            "--out", tmp_path / "x", *fast), "--self-ensemble", "give --model")


def test_out_never_replaces_a_file_the_run_did_not_create(tmp_path, capsys, lively_file):
    """(issue 26) An existing OUT (a user's file, a link, a pipe) is refused in one line before the export and left
    as it was; --force replaces it by a file that passed. Before: any existing OUT was silently replaced."""
    work = tmp_path / "work"
    work.mkdir()
    outs = {"users_file": corpus.a_regular_file(work / "mine.onnx"),
            "dangling_link": corpus.dangling_symlink(work / "dangling.onnx"),
            "symlink_loop": corpus.symlink_loop(work / "loop.onnx"),
            "fifo": corpus.fifo(work / "pipe.onnx")}
    for name, out in outs.items():
        before = unchanged(work)
        res = run_spsr(capsys, "export", lively_file, out)
        try:
            refused(res, out, "already exists", "--force")
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert unchanged(work) == before, f"case {name}: changed files"
    res = run_spsr(capsys, "export", lively_file, outs["users_file"], "--force")
    assert res.rc == 0, res.err_lines
    import onnx

    onnx.checker.check_model(onnx.load(str(outs["users_file"])))
    assert sorted(p.name for p in work.iterdir()) == sorted(p.name for p in outs.values())  # no temporary left


def test_models_that_are_not_weight_files_are_one_line(tmp_path, capsys):
    """(issue 26) UTF-16 text, binary junk, an empty file, a folder, a symlink loop, a dangling link, a FIFO and a 3 GB
    sparse file as MODEL; an over-long --opset value."""
    junk = {**corpus.junk_inputs(tmp_path / "pth", ".pth"),
            **{f"{k}_st": v for k, v in corpus.junk_inputs(tmp_path / "st", ".safetensors").items()}}
    for name, src in junk.items():
        before = unchanged(tmp_path)
        res = run_spsr(capsys, "export", src, tmp_path / "out.onnx")
        try:
            refused(res, src.name)
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert unchanged(tmp_path) == before, f"case {name}: wrote or changed files"
    line = refused(run_spsr(capsys, "export", junk["binary"], tmp_path / "o.onnx", "--opset", "9" * 5000), "--opset")
    assert len(line) < 300
