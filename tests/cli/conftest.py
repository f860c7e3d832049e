"""Run ``spsr`` in-process (``spsr_lib.cli.main(argv)``) and check the command line's rules on its stderr."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import corpus


@dataclass
class Result:
    rc: int
    out: str
    err_lines: list[str]  # stderr without progress bars and blank lines


def run_spsr(capsys, *argv: str | Path) -> Result:
    from spsr_lib.cli import main

    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        rc = int(exc.code or 0)
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "Traceback" not in cap.out, cap.err
    lines = [ln for ln in re.split(r"[\r\n]", cap.err) if ln.strip() and "it/s]" not in ln and "s/it]" not in ln]
    return Result(rc, cap.out, lines)


def one_error_line(res: Result, *names: str, expect_rc: int = 2) -> str:
    """The single error line of a user error: status ``expect_rc``, names each of ``names``, says what to do."""
    errors = [ln for ln in res.err_lines if "error:" in ln]
    assert res.rc == expect_rc, (res.rc, res.err_lines)
    assert len(errors) == 1, res.err_lines
    line = errors[0]
    for name in names:
        assert str(name) in line, (name, line)
    assert re.search(r"; |: (use|pass|check|choose|give|crop|remove|re-)", line), f"no fix offered: {line}"
    return line


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes: 'nothing partial, nothing overwritten'."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    return corpus.tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def refused(res: Result, *names: str) -> str:
    """A user error of the issue-26 corpus: exit 2 and *exactly one* stderr line (no usage block, no note, no
    progress), naming ``names`` and a fix."""
    line = one_error_line(res, *names)
    assert res.err_lines == [line], res.err_lines
    return line


def unchanged(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under ``folder`` without reading it (a 3 GB sparse file, a FIFO)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink() or not p.exists():
            out[str(p.relative_to(folder))] = (-1, -1)
        else:
            st = p.stat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out
