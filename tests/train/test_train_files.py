"""Overlapping ``data.train`` folders count each real file once (issue 26): the same folder twice, a set and its HR
subfolder, a symlinked folder, symlinked and hard-linked files. Before, each route added the image again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import corpus
from tests.cli.conftest import run_spsr
from tests.cli.test_train_corpus import tiny_args

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def overlapping(tmp_path) -> tuple[list[Path], int, int]:
    """(data.train folders, distinct images, duplicates)."""
    hr = tmp_path / "set" / "HR"
    hr.mkdir(parents=True)
    for k in range(3):
        corpus.good_png(hr / f"a{k}.png", side=40, seed=k)
    os.symlink(hr, tmp_path / "linked_set")
    other = tmp_path / "other"
    other.mkdir()
    corpus.good_png(other / "b.png", side=40, seed=7)
    os.symlink(hr / "a0.png", other / "link_to_a0.png")  # a symlinked file
    os.link(hr / "a1.png", other / "hardlink_to_a1.png")  # the same inode under another name
    os.symlink("b.png", other / "b_again.png")  # a link within its own folder
    # set -> set/HR (3 dup), set/HR again (3), linked_set (3), other: 3 of its 4 files are dups
    folders = [tmp_path / "set", hr, tmp_path / "set", tmp_path / "linked_set", other]
    return folders, 4, 12


def test_each_real_file_counts_once(overlapping):
    from spsr_lib.train.config import load_config
    from spsr_lib.train.data import build_train_set

    folders, distinct, dups = overlapping
    cfg = load_config(None, ["data.patch_size=32", "model.scale=4",
                             f"data.train=[{', '.join(str(f) for f in folders)}]"])
    train_set = build_train_set(cfg)
    assert len(train_set) == distinct
    assert f"{dups} duplicate image(s) dropped" in train_set.duplicates_note
    cfg = load_config(None, ["data.patch_size=32", f"data.train={folders[1]}"])
    assert build_train_set(cfg).duplicates_note == ""  # nothing doubled: nothing said


def test_the_training_log_says_how_many_were_dropped(tmp_path, capsys, overlapping):
    folders, _, dups = overlapping
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\n")
    res = run_spsr(capsys, *tiny_args(config, tmp_path / "run", folders[0], "train.niter=1",
                                      f"data.train=[{', '.join(str(f) for f in folders)}]"))
    assert res.rc == 0, res.err_lines
    said = [ln for ln in res.out.splitlines() if "duplicate image(s) dropped" in ln]
    assert said == [f"[tiny] data.train: {dups} duplicate image(s) dropped (the same file reached through another "
                    "listed folder, a link, or a folder listed twice); each image is used once"], res.out
