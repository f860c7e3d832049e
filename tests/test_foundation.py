"""The skeleton: package import stays light, CLI basics, environment.yml, atomic writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spsr_lib.io.atomic import atomic_path, atomic_write_text

REPO = Path(__file__).resolve().parents[1]


def test_import_is_light():
    code = (
        "import sys, spsr_lib; heavy = [m for m in ('lpips', 'tensorboard', 'ipywidgets', 'matplotlib', "
        "'torch.utils.tensorboard', 'skimage', 'scipy') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import spsr_lib pulled in: {out.stdout}"


def test_version_and_help():
    import spsr_lib

    out = subprocess.run([sys.executable, "-m", "spsr_lib", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and spsr_lib.__version__ in out.stdout
    out = subprocess.run([sys.executable, "-m", "spsr_lib", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for cmd in ("demo", "infer", "train", "evaluate", "convert", "data"):
        assert cmd in out.stdout


def test_unknown_public_name_raises():
    import spsr_lib

    with pytest.raises(AttributeError):
        spsr_lib.does_not_exist  # noqa: B018


def test_every_exported_name_resolves():
    import spsr_lib

    for name in spsr_lib._EXPORTS:
        assert getattr(spsr_lib, name) is not None, name


def test_environment_yml_names_pyproject_extras():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    deps = env["dependencies"]
    assert any(str(d).startswith("python") for d in deps) and "pip" in deps
    pip_lines = next(d["pip"] for d in deps if isinstance(d, dict))
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python >= 3.11")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert pip_lines == ["-e .[dev]"] and "dev" in extras


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "exec make test" in ci


def test_atomic_write_leaves_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
