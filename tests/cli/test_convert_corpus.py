"""``spsr convert`` on the hostile corpus (issue 19): bad inputs and bad output locations are one line, up front."""

from __future__ import annotations

import pytest

from tests import corpus
from tests.cli.conftest import one_error_line, refused, run_spsr, tree, unchanged

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


def test_out_never_replaces_a_file_the_run_did_not_create(tmp_path, capsys, model_file):
    """(issue 26) OUT that exists (a user's file, a link, a pipe) is refused in one line and left as it was; --force
    replaces a user's file, by a complete one. Before: any existing OUT was silently replaced."""
    work = tmp_path / "work"
    work.mkdir()
    outs = {"users_pth": corpus.a_regular_file(work / "mine.pth"),
            "users_safetensors": corpus.a_regular_file(work / "mine.safetensors"),
            "dangling_link": corpus.dangling_symlink(work / "dangling.safetensors"),
            "symlink_loop": corpus.symlink_loop(work / "loop.pth"),
            "fifo": corpus.fifo(work / "pipe.pth")}
    for name, out in outs.items():
        before = unchanged(work)
        res = run_spsr(capsys, "convert", model_file, out)
        try:
            refused(res, out, "already exists", "--force")
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert unchanged(work) == before, f"case {name}: changed files"
    res = run_spsr(capsys, "convert", model_file, outs["users_pth"], "--force")
    assert res.rc == 0, res.err_lines
    assert outs["users_pth"].read_bytes()[:2] == b"PK"  # a whole torch zip checkpoint now
    assert sorted(p.name for p in work.iterdir()) == sorted(p.name for p in outs.values())  # no temporary left


def test_a_failed_write_leaves_no_partial_output(tmp_path, capsys, model_file, monkeypatch):
    """A disk that fills during the write: one line, exit 2, no OUT and no temporary file; with --force the old OUT
    stays whole."""
    import errno

    import torch

    def full_disk(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    work = tmp_path / "work"
    work.mkdir()
    refused(run_spsr(capsys, "convert", model_file, work / "new.pth"), "new.pth", "writing failed")
    assert list(work.iterdir()) == []
    old = corpus.a_regular_file(work / "old.pth")
    refused(run_spsr(capsys, "convert", model_file, old, "--force"), "old.pth", "writing failed")
    assert [p.name for p in work.iterdir()] == ["old.pth"] and old.read_text().startswith("the user's own file")


def test_inputs_that_are_not_checkpoint_files_are_one_line(tmp_path, capsys):
    """(issue 26) UTF-16 text, binary junk, an empty file, a folder, a symlink loop, a dangling link, a FIFO (a read
    would wait for ever) and a 3 GB sparse file, as .pth and as .safetensors; and an over-long --kind value."""
    junk = {**corpus.junk_inputs(tmp_path / "pth", ".pth"), **{f"{k}_st": v for k, v in
                                                                corpus.junk_inputs(tmp_path / "st", ".safetensors").items()}}
    for name, src in junk.items():
        before = unchanged(tmp_path)
        res = run_spsr(capsys, "convert", src, tmp_path / "out.pth")
        try:
            refused(res, src.name)
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert unchanged(tmp_path) == before, f"case {name}: wrote or changed files"
    line = refused(run_spsr(capsys, "convert", junk["binary"], tmp_path / "o.pth", "--kind", "x" * 5000), "--kind")
    assert len(line) < 300 and "--help" in line
