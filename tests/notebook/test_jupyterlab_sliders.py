"""In a real JupyterLab, dragging the compare slider changes the picture (headless Chromium).

Runs ``scripts/check_jupyterlab_sliders.py`` when Chromium, chromedriver and selenium are installed;
otherwise skips and says what is missing (CI images usually lack a browser).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_jupyterlab_sliders.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("check_jupyterlab_sliders", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_check(mode: str, out_dir: Path, cell_timeout: int, timeout: int) -> None:
    """Run the browser check script in ``mode`` (skip, saying why, where no browser is installed)."""
    found = _load_script().find_browser()
    if isinstance(found, str):
        pytest.skip(found)
    out = subprocess.run([sys.executable, str(SCRIPT), mode, "--out", str(out_dir), "--timeout", str(cell_timeout)],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_slider_moves_the_image_in_jupyterlab(tmp_path):
    _run_check("--probe", tmp_path, cell_timeout=180, timeout=400)
    assert (tmp_path / "slider_before.png").stat().st_size > 0
    assert (tmp_path / "slider_after.png").stat().st_size > 0


@pytest.mark.slow
def test_committed_notebooks_draw_their_widgets_in_jupyterlab(tmp_path):
    """Opened without running a cell, every committed notebook draws its sliders from the stored widget state."""
    _run_check("--static-only", tmp_path, cell_timeout=120, timeout=900)
    shots = sorted(p.stem for p in tmp_path.glob("[0-9][0-9]_*.png"))
    assert len(shots) == 6, shots
