"""The ``spsr demo`` report folder: it never overwrites a file that an earlier demo run did not write.

Before anything is computed, :func:`claim_report_dir` lists the files the report will write (``index.html``,
``metrics.json``, ``metrics.md`` and ``<name>.png`` / ``<name>_sr.png`` per image) and refuses, in one line,
when two images would write the same file (``x`` and ``x_sr``) or when a planned file already exists and is
not recorded in the folder's ``.spsr_demo.json`` (the list of files demo runs wrote there; a report folder of
an older kit is recognised by its ``index.html`` title). The record is updated *before* the files are written,
so a run killed half-way can be repeated into the same folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from spsr_lib.errors import SPSRError
from spsr_lib.io.atomic import atomic_write_text, check_output_dir

RECORD = ".spsr_demo.json"
REPORT_FILES = ("index.html", "metrics.json", "metrics.md")
_TITLE = "<title>spsr demo report</title>"


def report_files(names: list[str]) -> list[str]:
    """The files a report on images ``names`` writes; one SPSRError line when two of them collide."""
    owner: dict[str, str] = {f: "the report" for f in REPORT_FILES}
    for name in names:
        for f in (f"{name}.png", f"{name}_sr.png"):
            if f in owner:
                raise SPSRError(f"{f}: both {owner[f]} and image '{name}' would write this report file; rename one "
                                "of the --image files")
            owner[f] = f"image '{name}'"
    return list(owner)


def _written_before(out: Path) -> set[str]:
    """Files earlier demo runs wrote in ``out`` (its record, or an older kit's report recognised by its title)."""
    record = out / RECORD
    if record.is_file():
        try:
            return set(json.loads(record.read_text(encoding="utf-8"))["files"])
        except (OSError, ValueError, KeyError, TypeError):
            return set()
    index = out / "index.html"
    try:
        legacy = index.is_file() and _TITLE in index.read_text(encoding="utf-8", errors="replace")[:400]
        if legacy:
            meta = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            return {*REPORT_FILES, *(f for im in meta["images"] for f in (im["figure"], im["sr_png"]))}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return set()


def claim_report_dir(out_dir: str | os.PathLike, names: list[str], option: str = "--out") -> Path:
    """Check ``out_dir`` before the work, record the files this run will write there, and return it."""
    out = check_output_dir(out_dir, option)
    files = report_files(names)
    if out.is_dir():
        ours = _written_before(out)
        foreign = [f for f in files if (out / f).exists() and f not in ours]
        if foreign:
            raise SPSRError(f"{out / foreign[0]}: exists and was not written by an earlier spsr demo run, so the "
                            f"report would overwrite it; choose another {option} (a new or empty folder)")
    else:
        ours = set()
    atomic_write_text(out / RECORD, json.dumps({"files": sorted(ours | set(files))}, indent=1) + "\n")
    return out
