#!/usr/bin/env python
"""Build the course notebooks from their jupytext sources, optionally execute them, and keep them clean.

Every notebook in ``notebooks/`` is paired (jupytext) with a percent-format source in ``notebooks/src/``: a
jupytext header, then ``# %%`` for a code cell and ``# %% [markdown]`` for a markdown cell; cell metadata goes on
the marker, e.g. ``# %% tags=["nbval-ignore-output"]`` or ``# %% jupyter={"source_hidden": true}`` (a collapsed
cell). The first cell of every source is a banner naming the source file. Edit the source (or the notebook in a
JupyterLab with jupytext, which saves both; ``jupytext --sync notebooks/NN_*.ipynb`` pairs them by hand), then
rebuild:

    python scripts/build_notebooks.py                 # rebuild all notebooks (no outputs)
    python scripts/build_notebooks.py --execute       # rebuild and run them in laptop mode (the committed outputs)
    python scripts/build_notebooks.py --execute 03    # only notebooks whose name starts with 03
    python scripts/build_notebooks.py --execute --fast   # SPSR_FAST=1 (what nbval runs; do not commit these)
    python scripts/build_notebooks.py --execute --full   # SPSR_FULL=1 (the paper's config, the full ablation)
    python scripts/build_notebooks.py --check         # cells equal their sources', banner present, outputs stored

The modes are stated in every notebook's collapsed "About this notebook" cell: fast (``SPSR_FAST=1``, CI,
seconds), laptop (the default: real-size images, the shipped demo weights and the committed ablation results,
minutes on a 2-core CPU) and full (``SPSR_FULL=1``); notebook 04 adds gpu-short (``SPSR_GPU_SHORT=1``). The
committed outputs come from the laptop mode.

Executed notebooks are cleaned before they are written: kernelspec ``python3``, no timing metadata, the
widget state kept (nbclient's ``store_widget_state``, pruned to the widgets the outputs show) so JupyterLab
draws the sliders from the file, the notebook's wall time appended to its run-info line, and an error if an
output contains an absolute path of this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
SRC_DIR = NB_DIR / "src"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
PAIRING = "ipynb,src//py:percent"  # notebooks/NN.ipynb <-> notebooks/src/NN.py
KEEP_CELL_METADATA = ("tags", "jupyter", "lines_to_next_cell")  # what jupytext writes on a cell marker


def banner(src: Path) -> str:
    """The first markdown cell of every notebook: where its source is."""
    rel = src.relative_to(NB_DIR).as_posix()
    return (f"*This notebook is built from [`notebooks/{rel}`]({rel}) (jupytext, percent format) by "
            "`scripts/build_notebooks.py`; edit the source, or this notebook in a JupyterLab with jupytext (it "
            "saves both), and rebuild.*")


def read_source(src: Path) -> nbformat.NotebookNode:
    """The notebook a percent-format source describes (jupytext), with stable cell ids and the kit's metadata."""
    import jupytext

    nb = jupytext.read(src, fmt="py:percent")
    nb = nbformat.from_dict(nb)
    stem = src.stem[:2]
    for i, cell in enumerate(nb.cells):
        cell.id = f"nb{stem}-{i:02d}"  # stable ids: clean diffs on rebuild
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEEP_CELL_METADATA}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def cell_key(cell) -> tuple:
    """What a notebook cell must share with its source cell: kind, text, tags and collapsed state."""
    meta = cell.get("metadata", {})
    return (cell["cell_type"], cell["source"], tuple(meta.get("tags", ())), json.dumps(meta.get("jupyter", {})))


def build(src: Path) -> nbformat.NotebookNode:
    nb = read_source(src)
    nb.metadata = notebook_metadata()
    return nb


def notebook_metadata() -> dict:
    return {"jupytext": {"formats": PAIRING}, "kernelspec": dict(KERNELSPEC),
            "language_info": {"name": "python", "pygments_lexer": "ipython3"}}


def _abs_path_patterns() -> list[str]:
    pats = {str(REPO), str(REPO.parent), str(Path.home()), os.environ.get("TMPDIR", "/tmp")}
    pats.update({"/tmp/", sys.prefix})
    return sorted(p for p in pats if p and p != "/")


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")
RUN_INFO_CELL = "# run info"
MODES = {"fast": {"SPSR_FAST": "1"}, "laptop": {}, "full": {"SPSR_FULL": "1"}}


def widget_views(nb) -> list[str]:
    """The model ids of every widget output in the notebook, in order."""
    return [out["data"][WIDGET_VIEW]["model_id"] for cell in nb["cells"] for out in cell.get("outputs", [])
            if WIDGET_VIEW in out.get("data", {})]


def widget_models(nb) -> dict:
    """The stored widget state: model id -> {model_name, model_module, state, buffers?}."""
    return nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _references(value) -> list[str]:
    if isinstance(value, str):
        return [value[len("IPY_MODEL_"):]] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, dict):
        return [r for v in value.values() for r in _references(v)]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _references(v)]
    return []


def reachable_models(nb) -> tuple[set[str], set[str]]:
    """(model ids the widget outputs need, the ones among them missing from the stored state)."""
    models, seen, missing = widget_models(nb), set(), set()
    todo = list(widget_views(nb))
    while todo:
        mid = todo.pop()
        if mid in seen:
            continue
        seen.add(mid)
        if mid not in models:
            missing.add(mid)
            continue
        todo += _references(models[mid].get("state", {}))
    return seen, missing


def _output_text(out) -> str:
    data = out.get("data", {})
    text = str(out.get("text", "")) + "".join(str(data.get(m, "")) for m in TEXT_MIMES)
    return text + "".join(out.get("traceback", []))


def clean(nb: nbformat.NotebookNode) -> list[str]:
    """Drop machine-specific metadata (the widget state stays, pruned to what the outputs show); return the
    outputs that leak this machine's absolute paths."""
    widgets = nb.metadata.get("widgets")
    if widgets:
        keep, _ = reachable_models(nb)
        state = widgets[WIDGET_STATE]
        state["state"] = {k: v for k, v in state["state"].items() if k in keep}
    nb.metadata = notebook_metadata()
    if widgets and widgets[WIDGET_STATE]["state"]:
        nb.metadata["widgets"] = widgets
    leaks = []
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        for out in cell.get("outputs", []):
            out.get("metadata", {}).pop("execution", None)
            leaks += [f"{cell.id}: {p}" for p in _abs_path_patterns() if p in _output_text(out)]
    for mid, model in widget_models(nb).items():  # descriptions, options, labels (not the image buffers)
        text = str({k: v for k, v in model.get("state", {}).items() if isinstance(v, (str, list, tuple))})
        leaks += [f"widget {mid}: {p}" for p in _abs_path_patterns() if p in text]
    return sorted(set(leaks))


def stamp_run_time(nb: nbformat.NotebookNode, seconds: float) -> bool:
    """Append the notebook's wall time to its run-info line (the output of the ``# run info`` cell)."""
    took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith(RUN_INFO_CELL):
            for out in cell.outputs:
                if out.get("output_type") == "stream" and " mode | " in out.get("text", ""):
                    lines = out["text"].rstrip("\n").split("\n")
                    lines[0] += f" | whole notebook {took} (scripts/build_notebooks.py --execute)"
                    out["text"] = "\n".join(lines) + "\n"
                    return True
    return False


def execute(nb: nbformat.NotebookNode, name: str, mode: str, timeout: int) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    env_backup = dict(os.environ)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    for var in ("SPSR_FAST", "SPSR_FULL"):
        os.environ.pop(var, None)
    os.environ.update(MODES[mode])
    try:
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                       resources={"metadata": {"path": str(NB_DIR)}}).execute()
        took = time.perf_counter() - t0
        print(f"{name}: executed in {mode} mode in {took:.0f} s", flush=True)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    if not stamp_run_time(nb, took):
        print(f"{name}: no run-info line (a '{RUN_INFO_CELL}' cell printing spsr_lib.run_info(mode=...))", flush=True)
    return nb


def sources(prefixes: list[str]) -> list[Path]:
    found = sorted(SRC_DIR.glob("[0-9][0-9]_*.py"))
    return [p for p in found if not prefixes or any(p.stem.startswith(x) for x in prefixes)]


def check(paths: list[Path]) -> int:
    """0 when every notebook's cells equal its source's (kind, text, tags, collapsed state), its first cell names
    its source, and it was executed (every code cell run, the run-info line stamped)."""
    bad = 0
    for src in paths:
        target = NB_DIR / f"{src.stem}.ipynb"
        if not target.exists():
            print(f"{target.relative_to(REPO)}: missing; run scripts/build_notebooks.py --execute")
            bad += 1
            continue
        nb = nbformat.read(target, as_version=4)
        problems = []
        if [cell_key(c) for c in nb.cells] != [cell_key(c) for c in read_source(src).cells]:
            problems.append(f"out of date with {src.relative_to(REPO)}; rebuild it")
        first = nb.cells[0] if nb.cells else {}
        if first.get("cell_type") != "markdown" or f"notebooks/src/{src.name}" not in first.get("source", ""):
            problems.append(f"its first cell is not the banner naming notebooks/src/{src.name}")
        code = [c for c in nb.cells if c.cell_type == "code"]
        if not code or any(c.execution_count is None for c in code):
            problems.append("has cells without outputs; run scripts/build_notebooks.py --execute")
        elif not any(" mode | " in o.get("text", "") and "whole notebook" in o.get("text", "")
                     for c in code for o in c.outputs):
            problems.append("no stamped run-info line; run scripts/build_notebooks.py --execute")
        if nb.metadata.get("jupytext", {}).get("formats") != PAIRING:
            problems.append(f"not paired with its source (metadata jupytext.formats != {PAIRING!r})")
        for p in problems:
            print(f"{target.relative_to(REPO)}: {p}")
        bad += bool(problems)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("only", nargs="*", help="notebook name prefixes, e.g. 00 03")
    ap.add_argument("--execute", action="store_true",
                    help="run the notebooks (laptop mode unless --fast/--full) and store their outputs")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--fast", action="store_true", help="with --execute: fast mode (SPSR_FAST=1, CI)")
    group.add_argument("--full", action="store_true", help="with --execute: full mode (SPSR_FULL=1, heavy)")
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
        mode = "fast" if args.fast else "full" if args.full else "laptop"
        leaks = clean(execute(nb, name, mode=mode, timeout=args.timeout)) if args.execute else []
        nbformat.validate(nb)
        atomic_write_text(NB_DIR / name, nbformat.writes(nb) + "\n")
        print(f"wrote notebooks/{name} ({len(nb.cells)} cells)", flush=True)
        if leaks:  # written anyway, so the offending output can be inspected; do not commit it
            print(f"{name}: outputs contain absolute paths ({'; '.join(leaks[:5])}); print relative paths")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
