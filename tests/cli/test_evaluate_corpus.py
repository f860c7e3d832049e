"""``spsr evaluate`` on the hostile corpus (issue 19): arguments and outputs checked before the work, one line each."""

from __future__ import annotations

import json

import pytest

from tests import corpus
from tests.cli.conftest import one_error_line, run_spsr, tree

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = ["--metrics", "psnr", "ssim", "--mode", "standard", "--no-progress", "--device", "cpu"]


def _hr_set(folder, *bad):
    folder.mkdir()
    corpus.good_png(folder / "a.png", side=40)
    corpus.good_png(folder / "b.png", side=44, seed=1)
    for make, name in bad:
        make(folder / name)
    return folder


def test_good_set_writes_strict_json(tmp_path, capsys, model_file):
    hr = _hr_set(tmp_path / "hr")
    sr = tmp_path / "sr"
    sr.mkdir()
    for p in hr.iterdir():  # SR identical to HR: PSNR is +inf, which strict JSON cannot hold
        (sr / p.name).write_bytes(p.read_bytes())
    res = run_spsr(capsys, "evaluate", "--sets", hr, "--sr-dir", sr, "--out", tmp_path / "out", *FAST)
    assert res.rc == 0, res.err_lines
    text = (tmp_path / "out" / "results.json").read_text()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert "null_values" in data and "+inf" in data["null_values"]
    assert data["methods"][1]["mean"]["hr"]["psnr_standard"] is None


def test_structure_metrics_of_a_gradient_guided_model(tmp_path, capsys, model_file):
    """--metrics phase_index branch_grad_l1 branch_zero_change: the HR row, the branch rows, the JSON keys."""
    hr = _hr_set(tmp_path / "hr")
    res = run_spsr(capsys, "evaluate", "--sets", hr, "--model", model_file, "--out", tmp_path / "out",
                   "--metrics", "psnr", "phase_index", "branch_grad_l1", "branch_zero_change", *FAST[3:])
    assert res.rc == 0, res.err_lines
    for row in ("| HR | Phase index |", "| Bicubic | Phase index |", "| tiny | Phase index |",
                "| tiny | Branch gradL1/Bicubic GradL1 |", "| tiny | Branch zero change |"):
        assert row in res.out, row
    assert "| Bicubic | Branch" not in res.out
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    tiny = data["methods"][1]["mean"]["hr"]
    assert {"phase_index", "branch_grad_l1", "bicubic_grad_l1", "branch_zero_change"} <= set(tiny)
    assert not {"branch_grad_l1", "branch_zero_change"} & set(data["methods"][0]["mean"]["hr"])  # Bicubic
    assert tiny["branch_grad_l1"] > 0 and tiny["branch_zero_change"] >= 0
    assert data["reference"]["mean"]["hr"]["phase_index"] >= 1.0


def _cases(tmp_path, model_file):
    good = _hr_set(tmp_path / "good")
    sr_file = corpus.a_regular_file(tmp_path / "sr.txt")
    return [
        ("bomb_in_hr_set", ["--sets", _hr_set(tmp_path / "s1", (corpus.bomb_png, "c.png")), "--model", model_file],
         ["c.png", "decompression bomb"]),
        ("truncated_in_hr_set", ["--sets", _hr_set(tmp_path / "s2", (corpus.truncated_png, "c.png")),
                                 "--model", model_file], ["c.png", "truncated"]),
        ("five_px_hr", ["--sets", _hr_set(tmp_path / "s3", (lambda p: corpus.good_png(p, side=5), "c.png")),
                        "--model", model_file], ["c.png", "remove it from the set"]),
        ("bomb_in_sr_dir", ["--sets", good, "--sr-dir", _sr_dir_with_bomb(tmp_path)], ["a.png", "decompression bomb"]),
        ("tile_text", ["--sets", good, "--model", model_file, "--tile", "abc"], ["'abc'", "not a number"]),
        ("tile_negative", ["--sets", good, "--model", model_file, "--tile", "-3"], ["-3", "--tile"]),
        ("sr_dir_missing", ["--sets", good, "--sr-dir", tmp_path / "nowhere"], ["nowhere", "no such folder"]),
        ("sr_dir_is_a_file", ["--sets", good, "--sr-dir", sr_file], ["sr.txt", "not a folder"]),
        ("out_is_a_file", ["--sets", good, "--model", model_file, "--out", corpus.a_regular_file(tmp_path / "o.txt")],
         ["o.txt", "--out"]),
        ("out_under_a_file", ["--sets", good, "--model", model_file, "--out", corpus.under_a_file(tmp_path)],
         ["is under", "--out"]),
        ("nan_model", ["--sets", good, "--model", corpus.bad_weights_model(tmp_path / "n.safetensors", "nan")],
         ["n.safetensors", "NaN"]),
        ("bad_metadata", ["--sets", good, "--model", corpus.bad_metadata_model(tmp_path / "m.safetensors",
                                                                               "arch_not_json")], ["m.safetensors"]),
    ]


def _sr_dir_with_bomb(tmp_path):
    sr = tmp_path / "sr_bomb"
    sr.mkdir()
    corpus.bomb_png(sr / "a.png")
    corpus.good_png(sr / "b.png", side=44)
    return sr


def test_user_errors_are_one_line_and_write_nothing(tmp_path, capsys, model_file):
    for name, argv, names in _cases(tmp_path, model_file):
        before = tree(tmp_path)
        out = [] if "--out" in map(str, argv) else ["--out", tmp_path / f"out_{name}"]
        res = run_spsr(capsys, "evaluate", *argv, *out, *FAST)
        try:
            one_error_line(res, *map(str, names))
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert tree(tmp_path) == before, f"case {name}: wrote or changed files"


def test_no_bicubic_leaves_out_the_bicubic_row(tmp_path, capsys, model_file):
    hr = _hr_set(tmp_path / "hr")
    res = run_spsr(capsys, "evaluate", "--sets", hr, "--model", model_file, "--out", tmp_path / "out", "--no-bicubic",
                   *FAST)
    assert res.rc == 0, res.err_lines
    names = [m["name"] for m in json.loads((tmp_path / "out" / "results.json").read_text())["methods"]]
    assert names and "Bicubic" not in names


def test_tables_never_replace_a_file_no_evaluate_run_wrote(tmp_path, capsys):
    """(issue 26) A user's results.json / results_standard.md in --out: refused before the work, untouched; the
    kit's own tables from an earlier run are replaced."""
    hr = _hr_set(tmp_path / "hr")
    for name in ("results.json", "results_standard.md", "results_standard.csv"):
        out = tmp_path / f"out_{name}"
        users = corpus.a_regular_file(out / name) if out.mkdir() is None else None
        res = run_spsr(capsys, "evaluate", "--sets", hr, "--out", out, *FAST)
        one_error_line(res, name, "was not written by spsr evaluate")
        assert tree(out) == {name: users.read_bytes()} and users.read_text().startswith("the user's own file")
    out = tmp_path / "out"
    assert run_spsr(capsys, "evaluate", "--sets", hr, "--out", out, *FAST).rc == 0
    assert run_spsr(capsys, "evaluate", "--sets", hr, "--out", out, *FAST).rc == 0  # its own tables: replaced
    assert sorted(tree(out)) == ["results.json", "results_standard.csv", "results_standard.md"]
