"""The kit as a package (issue 20): the built wheel works outside the checkout.

``python -m build`` makes the sdist and, from it, the wheel, in a clean copy of the working tree (the files
git would commit: tracked plus untracked-but-not-ignored; no ``.venv``, ``build/`` or ``../shared``).  The
wheel is installed with ``--no-deps`` into a fresh virtualenv; the dependencies come from this interpreter's
site-packages, added as plain folders by a ``.pth`` file, so the checkout's editable install (its finder is
activated only by a ``.pth`` inside those folders, which a plain folder entry never runs) stays out.  From an
empty folder it then runs ``spsr --version``, ``spsr demo``, ``spsr infer`` without ``--model`` and
``spsr_lib.load_generator`` on the shipped weights, and checks that every file came from the new virtualenv.
The shipped files are compared with the copies the build read, not with checksums written here (the demo
weights get retrained under the same names).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from spsr_lib.io.demo_weights import DEMO_WEIGHTS_NAME, MODEL_CARD_NAME
from spsr_lib.version import __version__

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="venv layout of POSIX")]

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_WHEEL_BYTES = 15 * 2**20
DIST_INFO = f"spsr_kit-{__version__}.dist-info/"
# files the build copies from the repository's data/ into spsr_lib/_data/ (setup.py's SHIPPED)
SHIPPED_GLOBS = ("demo_weights/*.safetensors", f"demo_weights/{MODEL_CARD_NAME}", "datasets.json")
FORBIDDEN_PARTS = ("tests/", "notebooks/", ".ipynb", "shared/", "__pycache__", ".pyc", "benchmarks/", "ablation_results")


def run(cmd, *, timeout=300, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} -> {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def clean_copy(dest: Path) -> Path:
    """The working tree as a fresh clone would hold it once committed: no ignored files, no .git."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("needs a git checkout to make a clean copy of the tree")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO_ROOT / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def base_env() -> dict[str, str]:
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "SPSR_DEMO_WEIGHTS", "SPSR_DATASETS_JSON", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(MPLBACKEND="Agg", PYTHONNOUSERSITE="1", OMP_NUM_THREADS="2", SPSR_OFFLINE="1")
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(source copy, sdist, wheel) built by `python -m build` (sdist first, the wheel from the sdist)."""
    tmp = tmp_path_factory.mktemp("packaging")
    src = clean_copy(tmp / "src")
    dist = tmp / "dist"
    # --no-isolation: the dev extra provides build and setuptools, so nothing is downloaded
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, src], cwd=tmp, env=base_env())
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return src, sdist, wheel


@pytest.fixture(scope="module")
def venv(built, tmp_path_factory):
    """A fresh virtualenv holding only the wheel; dependencies are this interpreter's site-packages."""
    _, _, wheel = built
    root = tmp_path_factory.mktemp("venv") / "env"
    run([sys.executable, "-m", "venv", "--without-pip", root])
    python = root / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", wheel], env=base_env())
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        deps.append(site.getusersitepackages())
    # plain folder lines: appended to sys.path after the venv's own site-packages; their .pth files never run
    (purelib / "_spsr_test_dependencies.pth").write_text("".join(f"{p}\n" for p in deps if Path(p) != purelib))
    return root


def test_wheel_and_sdist_carry_the_shipped_files_and_nothing_else(built):
    src, sdist, wheel = built
    assert wheel.name == f"spsr_kit-{__version__}-py3-none-any.whl"
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, f"{wheel.name}: {wheel.stat().st_size / 2**20:.1f} MB"
    shipped = sorted(p.relative_to(src / "data").as_posix() for g in SHIPPED_GLOBS for p in (src / "data").glob(g))
    assert f"demo_weights/{DEMO_WEIGHTS_NAME}" in shipped and "datasets.json" in shipped, shipped
    assert len([s for s in shipped if s.endswith(".safetensors")]) >= 2, shipped  # SPSR and stage-1 RRDBNet

    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        outside = [n for n in names if not n.startswith(("spsr_lib/", DIST_INFO))]
        assert not outside, f"files outside the package: {outside}"
        bad = [n for n in names if any(part in n for part in FORBIDDEN_PARTS)]
        assert not bad, f"test data, notebooks or shared files in the wheel: {bad}"
        data = sorted(n.removeprefix("spsr_lib/_data/") for n in names if n.startswith("spsr_lib/_data/"))
        assert data == shipped
        for rel in shipped:  # byte-identical to the files the build read (no second copy in the repository)
            assert sha256(z.read(f"spsr_lib/_data/{rel}")) == sha256((src / "data" / rel).read_bytes()), rel
        assert "spsr = spsr_lib.cli:main" in z.read(f"{DIST_INFO}entry_points.txt").decode()
        meta = z.read(f"{DIST_INFO}METADATA").decode()
    for field in (f"Version: {__version__}", "Summary: Structure-Preserving", "License-Expression: Apache-2.0",
                  "Requires-Python: >=3.10", "Classifier: ", "Requires-Dist: torch"):
        assert field in meta, field
    assert f"{DIST_INFO}licenses/LICENSE" in names
    assert not (src / "spsr_lib" / "_data").exists(), "spsr_lib/_data must not be committed: the build makes it"

    with tarfile.open(sdist) as t:
        members = [m.split("/", 1)[1] for m in t.getnames() if "/" in m]
    for needed in ("setup.py", "pyproject.toml", "LICENSE", "README.md", *(f"data/{s}" for s in shipped)):
        assert needed in members, f"sdist misses {needed}"
    assert not [m for m in members if "notebooks/" in m or "shared/" in m or m.startswith(".venv")]


def test_installed_wheel_runs_outside_the_checkout(venv, built, tmp_path):
    from tests.inference.test_demo import check_report_folder

    _, _, wheel = built
    bin_dir = venv / "bin"
    env = base_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    work = tmp_path / "empty"
    work.mkdir()

    def in_venv(*args, extra_env=None, timeout=300):
        return run(args, cwd=work, env={**env, **(extra_env or {})}, timeout=timeout)

    assert in_venv(bin_dir / "spsr", "--version").stdout.strip() == f"spsr-kit {__version__}"

    probe = """if True:
        import json, sys
        import spsr_lib
        from spsr_lib.data.download import load_registry
        from spsr_lib.io.demo_weights import default_demo_weights_path, demo_weights_file, model_card_path
        weights = default_demo_weights_path()
        model = spsr_lib.load_generator(weights)
        print(json.dumps({
            "module": spsr_lib.__file__, "weights": str(weights), "card": str(model_card_path()),
            "stage1": str(demo_weights_file("rrdb_psnr_demo_x4.safetensors")),
            "model": type(model).__name__, "scale": model.scale, "sets": len(load_registry()),
            "sys_path": sys.path, "finders": [type(f).__module__ for f in sys.meta_path],
        }))
    """
    info = json.loads(in_venv(bin_dir / "python", "-c", probe).stdout.splitlines()[-1])
    inside = str(venv.resolve()) + os.sep
    for key in ("module", "weights", "card", "stage1"):
        assert str(Path(info[key]).resolve()).startswith(inside), (key, info[key])
    for key in ("weights", "card", "stage1"):
        assert Path(info[key]).is_file(), info[key]
    assert info["model"] == "SPSRNet" and info["scale"] == 4 and info["sets"] > 0, info
    assert str(REPO_ROOT) not in info["sys_path"], info["sys_path"]  # ('' is the empty folder)
    assert not [f for f in info["finders"] if "editable" in f], info["finders"]

    # zip-safe: imported straight from the wheel file, the weights are found (and extracted) by importlib.resources
    zipped = in_venv(bin_dir / "python", "-c", "import spsr_lib; from spsr_lib.io.demo_weights import "
                     "default_demo_weights_path as d; p = d(); print(spsr_lib.__file__); print(p); "
                     "print(type(spsr_lib.load_generator(p)).__name__)", extra_env={"PYTHONPATH": str(wheel)})
    module, weights, name = zipped.stdout.splitlines()[-3:]
    assert module.startswith(str(wheel)) and name == "SPSRNet" and not weights.startswith(str(REPO_ROOT))

    demo = in_venv(bin_dir / "spsr", "demo", "--size", "64", "--device", "cpu", "--out", "report")
    assert str(Path(info["weights"])) in demo.stdout, demo.stdout
    report = check_report_folder(work / "report")
    assert "SPSR" in report["mean"], report["mean"]

    from PIL import Image
    from skimage import data

    Image.fromarray(data.chelsea()[100:140, 200:248]).save(work / "photo.png")
    in_venv(bin_dir / "spsr", "infer", "photo.png", "-o", "out", "--device", "cpu")
    with Image.open(work / "out" / "photo.png") as sr:
        assert sr.size == (48 * 4, 40 * 4)
    leftovers = sorted(p.name for p in work.iterdir())
    assert leftovers == ["out", "photo.png", "report"], leftovers
