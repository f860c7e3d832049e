"""The committed notebooks are clean, executed, generated from their sources, and follow the course rules.

nbval (``make test``) re-runs them in fast mode; these checks cover what nbval does not: metadata that breaks
other machines (absolute paths, kernel names), outputs that were never produced or come from fast mode (the
committed outputs are the laptop mode's, ``scripts/build_notebooks.py --execute``), widget outputs whose state is
not stored (JupyterLab would show ``VBox(children=...`` instead of the slider), widget cells without a static
figure, and notebooks edited by hand instead of through ``scripts/build_notebooks.py``.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
COURSE = ["00_quickstart", "01_gradient_maps", "02_gradient_branch", "03_loss_ablations",
          "04_gan_training_gpu", "05_evaluation"]
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
ABS_PATH = re.compile(r"(?<![\w.])(/work/|/home/|/root/|/tmp/|/Users/|[A-Z]:\\\\)")
RUN_INFO = re.compile(r"^spsr-kit \S+ \| torch \S+ \| (\w+) mode \| .*\| whole notebook [\d.]+ (s|min) ", re.M)


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", REPO / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_the_six_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == COURSE


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_metadata_is_clean(path):
    nb = _nb(path)
    assert nb["metadata"]["kernelspec"] == {"display_name": "Python 3", "language": "python", "name": "python3"}
    assert set(nb["metadata"]) <= {"kernelspec", "language_info", "widgets", "jupytext"}, "extra metadata left in"
    assert nb["metadata"]["jupytext"] == {"formats": "ipynb,src//py:percent"}, "not paired with its source"
    for cell in nb["cells"]:
        assert not set(cell.get("metadata", {})) & {"execution", "collapsed", "scrolled"}, cell.get("id")
    for model in nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {}).values():
        for buf in model.get("buffers", []):
            buf["data"] = ""  # base64 image data: '+/tmp/' can occur in it by chance
    leaks = ABS_PATH.findall(json.dumps(nb, indent=1))
    assert not leaks, f"absolute paths in {path.name}: {leaks[:3]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_widget_output_has_its_stored_state(path):
    """JupyterLab draws a widget from the file only when its model and every model it refers to are stored."""
    builder = _load_builder()
    nb = _nb(path)
    views = builder.widget_views(nb)
    assert views, f"{path.name}: no widget output (every notebook shows a slider)"
    needed, missing = builder.reachable_models(nb)
    assert not missing, f"{path.name}: widget state missing for {len(missing)} of {len(needed)} models; " \
                        "execute with scripts/build_notebooks.py --execute (store_widget_state)"
    models = builder.widget_models(nb)
    images = [m for k, m in models.items() if k in needed and m["model_name"] == "ImageModel"]
    assert images, f"{path.name}: the slider's image model is not stored"
    for m in images:  # the picture itself travels as a base64 buffer of the 'value' trait
        assert any(b["path"] == ["value"] and len(b["data"]) > 1000 for b in m.get("buffers", [])), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_come_from_laptop_or_full_mode(path):
    """The run-info line names the mode (never fast: a reader sees the committed outputs) and the wall time."""
    stored = "".join(_text(o.get("text", "")) for c in _code_cells(_nb(path)) for o in c["outputs"])
    modes = RUN_INFO.findall(stored)
    assert modes, f"{path.name}: no run-info line with mode and wall time; run scripts/build_notebooks.py --execute"
    assert modes[0][0] in ("laptop", "full"), f"{path.name}: outputs from {modes[0][0]} mode; re-execute in laptop mode"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_with_outputs_and_no_errors(path):
    cells = _code_cells(_nb(path))
    assert cells and all(c["execution_count"] is not None for c in cells), "run scripts/build_notebooks.py --execute"
    counts = [c["execution_count"] for c in cells]
    assert counts == sorted(counts), "cells were not run top to bottom"
    for c in cells:
        assert not [o for o in c["outputs"] if o["output_type"] == "error"], _src(c)[:80]
        errors = [o for o in c["outputs"] if o["output_type"] == "stream" and o.get("name") == "stderr"
                  and re.search(r"Traceback|Error:", str(o.get("text", "")))]
        assert not errors, f"{path.name}: an error on stderr in {_src(c)[:60]!r}"


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_course_conventions(path):
    nb = _nb(path)
    banner, intro = _src(nb["cells"][0]), _src(nb["cells"][1])
    assert nb["cells"][0]["cell_type"] == "markdown" and f"notebooks/src/{path.stem}.py" in banner, "no source banner"
    assert nb["cells"][1]["cell_type"] == "markdown" and "What you will learn" in intro and "Paper" in intro
    about = [c for c in nb["cells"] if c["cell_type"] == "markdown" and "<summary>About this notebook" in _src(c)]
    assert len(about) == 1 and "<details>" in _src(about[0]), "one collapsed 'About this notebook' cell"
    code = [_src(c) for c in _code_cells(nb)]
    assert any('os.environ.get("SPSR_FAST")' in s or "training_run.course_mode()" in s for s in code), \
        "fast mode switch missing"
    assert any("nbval-check-output" in _tags(c) for c in _code_cells(nb)), "no deterministic checked cell"
    assert not any("NBVAL_" in s for s in code), "nbval markers belong in cell tags, not in the student's code"
    assert any(c["cell_type"] == "markdown" and "Exercise" in _src(c) for c in nb["cells"]), "no exercise"
    solutions = [c for c in _code_cells(nb) if "solution" in _tags(c)]
    assert solutions and all(c["metadata"].get("jupyter", {}).get("source_hidden") for c in solutions), \
        "every exercise has its solution in a collapsed cell (tag 'solution')"
    for cell, src in zip(_code_cells(nb), code):
        mimes = [m for o in cell["outputs"] for m in o.get("data", {})]
        if WIDGET_MIME in mimes or "compare_slider(" in src:
            assert "nbval-ignore-output" in _tags(cell), f"widget cell not ignored: {src[:60]}"
            assert "image/png" in mimes, f"widget cell without its static figure: {src[:60]}"
            shown = "".join(_text(o.get("data", {}).get("text/markdown", "")) + _text(o.get("text", ""))
                            for o in cell["outputs"])
            assert "stored picture" in shown, f"widget without its line on the stored picture: {src[:60]}"
        # notebooks use the public API only: no private modules, no path hacks into the repository
        assert not re.search(r"spsr_lib(\.\w+)*\._(?!_)|sys\.path", src), src[:80]
    assert "../shared" not in json.dumps(nb["cells"]), "users have no ../shared: data comes via `spsr data`"


def test_notebooks_match_their_sources(capsys):
    builder = _load_builder()
    assert builder.check(builder.sources([])) == 0, capsys.readouterr().out


def test_jupytext_sources_keep_cell_tags_and_collapsed_cells(tmp_path):
    """A marker such as ``# %% tags=[...]`` starts a cell with those tags (the hand parser merged it into the
    previous cell); ``jupyter={"source_hidden": true}`` collapses it; the banner comes first."""
    builder = _load_builder()
    src = tmp_path / "notebooks" / "src" / "07_x.py"
    src.parent.mkdir(parents=True)
    src.write_text('# %% [markdown]\n# banner\n\n# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\n'
                   '# %% tags=["nbval-check-output"]\nprint(x)\n\n# %% tags=["solution"] jupyter={"source_hidden": true}'
                   '\ny = 2\n', encoding="utf-8")
    nb = builder.build(src)
    assert [(c.cell_type, c.source) for c in nb.cells] == [("markdown", "banner"), ("markdown", "# Title\n\ntext"),
                                                          ("code", "x = 1"), ("code", "print(x)"), ("code", "y = 2")]
    assert nb.cells[3].metadata["tags"] == ["nbval-check-output"]
    assert nb.cells[4].metadata["jupyter"] == {"source_hidden": True} and nb.cells[4].metadata["tags"] == ["solution"]
    assert [c.id for c in nb.cells] == [f"nb07-{i:02d}" for i in range(5)]


def test_check_wants_outputs_and_the_banner(tmp_path, monkeypatch, capsys):
    import nbformat

    builder = _load_builder()
    monkeypatch.setattr(builder, "NB_DIR", tmp_path)
    monkeypatch.setattr(builder, "REPO", tmp_path)
    src = tmp_path / "src" / "07_x.py"
    src.parent.mkdir()
    src.write_text("# %% [markdown]\n# built from notebooks/src/07_x.py\n\n# %%\n# run info\nprint(1)\n")
    nb = builder.build(src)
    nbformat.write(nb, tmp_path / "07_x.ipynb")
    assert builder.check([src]) == 1 and "without outputs" in capsys.readouterr().out
    nb.cells[1].execution_count = 1
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                  text="spsr-kit 0 | laptop mode | x | whole notebook 3 s\n")]
    nbformat.write(nb, tmp_path / "07_x.ipynb")
    assert builder.check([src]) == 0, capsys.readouterr().out
    nb.cells[0].source = "a banner naming nothing"
    nbformat.write(nb, tmp_path / "07_x.ipynb")
    assert builder.check([src]) == 1


def test_public_imresize_stays_a_function_after_its_module_is_imported():
    """Notebooks call ``spsr_lib.imresize(...)`` after ``load_benchmark_set`` imported the module of that name."""
    import subprocess
    import sys

    code = ("import spsr_lib, spsr_lib.data.benchmark_sets, spsr_lib.ops.imresize; "
            "import numpy as np; print(spsr_lib.imresize(np.zeros((8, 8, 3), np.uint8), 0.5).shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "(4, 4, 3)", out.stderr[-500:]


def test_committed_ablation_results_are_complete():
    """03_loss_ablations reads this file: one finished run of six variants x three seeds on three sets, how it was
    made, and the crops of every variant's median seed (scripts/make_ablation_results.py --jobs 2)."""
    path = REPO / "data" / "ablation_results" / "ablation_results.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    variants = ["l1", "esrgan", "grad_loss", "spsr", "srresnet_esrgan", "srresnet_guided"]
    sets = ["Set5", "Set14", "BSD100-first20"]
    metrics = {"psnr_standard", "ssim_standard", "psnr_spsr", "ssim_spsr", "lpips", "colour_shift", "grad_psnr",
               "grad_l1"}
    assert doc["profile"] == "cpu" and doc["complete"] is True
    assert len(doc["seeds"]) == 3 and doc["pairs_done"] == doc["pairs_total"] == 6 * 3
    assert doc["command"].startswith("python scripts/make_ablation_results.py") and "--fast" not in doc["command"]
    assert doc["machine"].startswith("spsr-kit ") and doc["steps"] > 0 and f"{doc['steps']} " in doc["budget"]
    assert doc["wall_seconds"] > 0 and doc["train_seconds_total"] > 0
    assert doc["evaluation"]["sets"] == sets and "BSD100" in doc["evaluation"]["note"]
    assert all(metrics <= set(doc["bicubic"][s]) for s in sets)
    assert list(doc["results"]) == variants
    for name, r in doc["results"].items():
        assert r["label"].startswith(f"({'abcdef'[variants.index(name)]})"), name
        assert set(r["seeds"]) == {str(seed) for seed in doc["seeds"]} == set(r["train_seconds"]), name
        assert all(metrics <= set(r["seeds"][seed][s]) for seed in r["seeds"] for s in sets), name
        for s in sets:  # mean and seed std of every metric on every set
            assert metrics <= set(r["mean"][s]), (name, s)
            assert all(r["std"][s].get(m) is not None for m in metrics), (name, s)
        assert r["median_seed"] in r["seeds"], name
        # same budget: every (variant, seed) logged up to the same last step
        assert all(c["step"][-1] == doc["steps"] for c in r["curves"].values()) and set(r["curves"]) == set(r["seeds"])
    res = doc["results"]
    assert res["spsr"]["gradient_branch"] and res["srresnet_guided"]["gradient_branch"]
    assert not res["esrgan"]["gradient_branch"] and res["srresnet_esrgan"]["backbone"] == "srresnet"
    assert {"butterfly", "zebra"} <= set(doc["crops"]["names"])
    for variant in ["HR", "bicubic", *variants]:
        for image in doc["crops"]["names"]:
            crop = path.parent / doc["crops"]["pattern"].format(variant=variant, image=image)
            assert crop.is_file(), crop.relative_to(REPO)
    assert not ABS_PATH.findall(path.read_text(encoding="utf-8"))


def test_builder_keeps_the_widget_state_the_outputs_need_and_stamps_the_run_time():
    import nbformat

    builder = _load_builder()
    nb = nbformat.v4.new_notebook()
    info = nbformat.v4.new_code_cell("# run info\nprint(spsr_lib.run_info(mode=MODE))")
    info.outputs = [nbformat.v4.new_output("stream", name="stdout", text="spsr-kit 0.1.0 | torch 2 | laptop mode | x\n")]
    view = nbformat.v4.new_code_cell("display(slider.widget)")
    view.outputs = [nbformat.v4.new_output("display_data", data={WIDGET_MIME: {"model_id": "box"}, "text/plain": "VBox"})]
    nb.cells = [info, view]
    model = {"model_name": "VBoxModel", "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0"}
    state = {"box": dict(model, state={"children": ["IPY_MODEL_img"]}), "img": dict(model, state={}),
             "orphan": dict(model, state={})}
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    assert builder.reachable_models(nb) == ({"box", "img"}, set())
    assert builder.clean(nb) == []
    assert set(builder.widget_models(nb)) == {"box", "img"}  # the orphan is pruned, the rest kept
    del nb.metadata["widgets"][WIDGET_STATE]["state"]["img"]
    assert builder.reachable_models(nb)[1] == {"img"}  # what test_every_widget_output_has_its_stored_state catches
    assert builder.stamp_run_time(nb, 185.0)
    assert RUN_INFO.findall(info.outputs[0]["text"]) == [("laptop", "min")]
