"""``spsr convert`` on the hostile corpus (issue 19): bad inputs and bad output locations are one line, up front."""

from __future__ import annotations

import pytest

from tests import corpus
from tests.cli.conftest import one_error_line, run_spsr, tree

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_round_trip_still_works(tmp_path, capsys, model_file):
    res = run_spsr(capsys, "convert", model_file, tmp_path / "official.pth")
    assert res.rc == 0, res.err_lines
    res = run_spsr(capsys, "convert", tmp_path / "official.pth", tmp_path / "back.safetensors")
    assert res.rc == 0, res.err_lines


def _cases(tmp_path, model_file):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    cases = [
        ("out_under_a_file", [model_file, corpus.under_a_file(tmp_path, "x.safetensors")], ["is under", "OUT"]),
        ("out_is_a_folder", [model_file, folder], ["a_folder", "is a folder"]),
        ("out_is_the_input", [model_file, model_file], ["the input file itself"]),
        ("input_missing", [tmp_path / "nope.pth", tmp_path / "o.safetensors"], ["nope.pth", "check the path"]),
        ("input_truncated", [corpus.truncated_checkpoint(tmp_path / "cut.pth"), tmp_path / "o.safetensors"], ["cut.pth"]),
    ]
    for case in sorted(corpus.BAD_ARCH_METADATA):
        src = corpus.bad_metadata_model(tmp_path / f"{case}.safetensors", case)
        cases.append((case, [src, tmp_path / f"{case}.pth"], [src, "'arch' metadata"]))
    for case in sorted(corpus.BAD_WEIGHTS):
        src = corpus.bad_weights_model(tmp_path / f"{case}.safetensors", case)
        cases.append((case, [src, tmp_path / f"{case}.pth"], [src, "earlier checkpoint"]))
    return cases


def test_user_errors_are_one_line_and_write_nothing(tmp_path, capsys, model_file):
    for name, argv, names in _cases(tmp_path, model_file):
        before = tree(tmp_path)
        res = run_spsr(capsys, "convert", *argv)
        try:
            one_error_line(res, *map(str, names))
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert tree(tmp_path) == before, f"case {name}: wrote or changed files"
