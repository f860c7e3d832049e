"""io/walk.glob_files: glob's matches on a tree without links, a finite walk with each file once over symlink cycles."""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import pytest

from spsr_lib.io.walk import glob_files


def make_tree(root: Path) -> Path:
    for rel in ["a.png", "b.jpg", ".hidden.png", "sub/c.png", "sub/deep/d.png", "sub/deep/e.txt", ".dot/f.png",
                "other/g.png", "other/sub/h.png", "x[1].png"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    return root


PATTERNS = ["*.png", "**/*.png", "**", "sub/**/*.png", "*/deep/*", "s?b/*.png", "[ab].*", "**/deep", ".*", "*/*.png",
            "**/sub/*.png", "nothing/*.png"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_same_matches_as_glob_without_links(tmp_path, pattern):
    root = make_tree(tmp_path / "t")
    want = sorted(Path(p) for p in glob.glob(str(root / pattern), recursive=True) if Path(p) != root)
    assert glob_files(str(root / pattern)) == want


def test_relative_patterns_and_a_plain_path(tmp_path, monkeypatch):
    make_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert glob_files("sub/*.png") == [Path("sub/c.png")]
    assert glob_files("sub/c.png") == [Path("sub/c.png")] and glob_files("sub/zz.png") == []


def test_symlink_cycles_end_and_each_file_comes_once(tmp_path):
    root = make_tree(tmp_path / "t")
    os.symlink(".", root / "s1")  # the loop
    os.symlink("..", root / "sub" / "up")  # a loop through the parent
    os.symlink(root / "sub", root / "other" / "again")  # the same folder by a second route
    os.symlink(root / "a.png", root / "other" / "link_to_a.png")  # the same file by a second name
    t0 = time.perf_counter()
    found = glob_files(str(root / "**" / "*.png"))
    assert time.perf_counter() - t0 < 5
    real = [os.path.realpath(p) for p in found]
    assert len(real) == len(set(real)), "a file came twice"
    assert {Path(p).relative_to(root.resolve()).as_posix() for p in real} == {
        "a.png", "sub/c.png", "sub/deep/d.png", "other/g.png", "other/sub/h.png", "x[1].png"}
    assert root / "a.png" in found and root / "sub" / "c.png" in found  # the shortest route names a file
