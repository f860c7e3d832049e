#!/usr/bin/env python
"""Build the course notebooks from their sources, optionally execute them, and keep them clean.

The notebooks in ``notebooks/`` are generated from percent-format sources in ``notebooks/src/``
(``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell whose lines start with ``#``; the
format jupytext and VS Code read), so they are reviewed and edited as plain Python.

    python scripts/build_notebooks.py                 # rebuild all notebooks (no outputs)
    python scripts/build_notebooks.py --execute       # rebuild and run them in fast mode (SPSR_FAST=1)
    python scripts/build_notebooks.py --execute 03    # only notebooks whose name starts with 03
    python scripts/build_notebooks.py --check         # do the committed notebooks match their sources?

Executed notebooks are cleaned before they are written: kernelspec ``python3``, no widget state or
timing metadata, and an error if an output contains an absolute path of this machine.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
SRC_DIR = NB_DIR / "src"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
CELL_MARK = re.compile(r"^# %%(?:\s*\[(markdown|md)\])?\s*$")


def parse_source(text: str) -> list[tuple[str, str]]:
    """``[(kind, source)]`` from a percent-format file; text before the first marker is ignored."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        m = CELL_MARK.match(line)
        if m:
            cells.append(("markdown" if m.group(1) else "code", []))
        elif cells:
            cells[-1][1].append(line)
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [re.sub(r"^# ?", "", ln) for ln in lines]
        src = "\n".join(lines).strip("\n")
        if src.strip():
            out.append((kind, src))
    return out


def build(src: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    stem = src.stem[:2]
    for i, (kind, text) in enumerate(parse_source(src.read_text(encoding="utf-8"))):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(text, id=f"nb{stem}-{i:02d}"))  # stable ids: clean diffs on rebuild
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nb


def _abs_path_patterns() -> list[str]:
    pats = {str(REPO), str(REPO.parent), str(Path.home()), os.environ.get("TMPDIR", "/tmp")}
    pats.update({"/tmp/", sys.prefix})
    return sorted(p for p in pats if p and p != "/")


def clean(nb: nbformat.NotebookNode) -> list[str]:
    """Drop machine-specific metadata; return the outputs that leak this machine's absolute paths."""
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    leaks = []
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        for out in cell.get("outputs", []):
            out.get("metadata", {}).pop("execution", None)
            text = str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
            text += "".join(out.get("traceback", []))
            leaks += [f"{cell.id}: {p}" for p in _abs_path_patterns() if p in text]
    return sorted(set(leaks))


def execute(nb: nbformat.NotebookNode, name: str, fast: bool, timeout: int) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    env_backup = dict(os.environ)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    if fast:
        os.environ["SPSR_FAST"] = "1"
    else:
        os.environ.pop("SPSR_FAST", None)
    try:
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(NB_DIR)}}).execute()
        print(f"{name}: executed in {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    return nb


def sources(prefixes: list[str]) -> list[Path]:
    found = sorted(SRC_DIR.glob("[0-9][0-9]_*.py"))
    return [p for p in found if not prefixes or any(p.stem.startswith(x) for x in prefixes)]


def check(paths: list[Path]) -> int:
    """0 when every notebook's cells equal its source's cells (outputs are not compared)."""
    bad = 0
    for src in paths:
        target = NB_DIR / f"{src.stem}.ipynb"
        if not target.exists():
            print(f"{target.relative_to(REPO)}: missing; run scripts/build_notebooks.py --execute")
            bad += 1
            continue
        have = [(c.cell_type, c.source) for c in nbformat.read(target, as_version=4).cells]
        want = parse_source(src.read_text(encoding="utf-8"))
        if have != want:
            print(f"{target.relative_to(REPO)}: out of date with {src.relative_to(REPO)}; rebuild it")
            bad += 1
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("only", nargs="*", help="notebook name prefixes, e.g. 00 03")
    ap.add_argument("--execute", action="store_true", help="run the notebooks and store their outputs")
    ap.add_argument("--full", action="store_true", help="with --execute: full mode (no SPSR_FAST)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    ap.add_argument("--check", action="store_true", help="only check that notebooks match their sources")
    args = ap.parse_args(argv)
    paths = sources(args.only)
    if not paths:
        print(f"no sources match {args.only} in {SRC_DIR.relative_to(REPO)}")
        return 1
    if args.check:
        return check(paths)
    from spsr_lib.io.atomic import atomic_write_text

    failed = 0
    for src in paths:
        name = f"{src.stem}.ipynb"
        nb = build(src)
        leaks = clean(execute(nb, name, fast=not args.full, timeout=args.timeout)) if args.execute else []
        nbformat.validate(nb)
        atomic_write_text(NB_DIR / name, nbformat.writes(nb) + "\n")
        print(f"wrote notebooks/{name} ({len(nb.cells)} cells)", flush=True)
        if leaks:  # written anyway, so the offending output can be inspected; do not commit it
            print(f"{name}: outputs contain absolute paths ({'; '.join(leaks[:5])}); print relative paths")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
