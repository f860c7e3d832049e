"""The shape of ``spsr_lib``, read with ``ast`` (no module is imported): layers, no import cycles, small files.

Every ``import`` / ``from ... import`` anywhere in a module counts: at the top, inside functions (lazy
imports) and under ``if TYPE_CHECKING:``. ``from spsr_lib.x import y`` is an edge to ``spsr_lib.x.y``
when that is a module, else to ``spsr_lib.x``. Imports by string (``importlib.import_module``: the lazy
names of ``spsr_lib/__init__.py``, the subcommands of ``spsr_lib.cli.app``) are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "spsr_lib"

# The layer order, lowest first: a module may import its own layer and the layers before it, never a later
# one. A layer is named by the first part below ``spsr_lib`` (a subpackage, or a root module that is a layer
# of its own); ``spsr_lib/__init__.py`` and ``__main__.py`` are the face above everything.
LAYERS: list[tuple[str, ...]] = [
    ("version", "errors", "run_info"),  # base: no imports from spsr_lib but each other
    ("ops",),  # gradient maps, MATLAB imresize, conv blocks
    ("models",),  # RRDBNet, SPSRNet, GradientGuidedSR, VGGDiscriminator
    ("io",),  # image and checkpoint files, pretrained trunks, atomic writes
    ("data",),  # paired datasets, benchmark sets, download
    ("losses", "losses_phase", "metrics"),
    ("inference",),  # upscale, tiling, demo, evaluate
    ("train",),  # config, Trainer, steps, state, log, distributed, EMA, warm start
    ("notebook",),  # widgets, plots
    ("cli",),  # the spsr command
    ("__init__", "__main__"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
ROOT_FILES = {f"{name}.py" for name in RANK if (PACKAGE / f"{name}.py").is_file()}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = ["spsr_lib", *path.relative_to(PACKAGE).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = all_modules()


def layer_of(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    assert key in RANK, f"{module}: not in any layer of LAYERS (tests/test_layers.py); place it there"
    return RANK[key]


def imports_of(module: str, path: Path) -> set[str]:
    """The spsr_lib modules that ``module`` imports (anywhere in the file)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    targets = set()
    for name in out:
        while name and name not in MODULES and name.startswith("spsr_lib."):
            name = name.rsplit(".", 1)[0]  # ``import spsr_lib.io.images as x`` etc.: the module itself
        if name in MODULES and name != "spsr_lib":
            targets.add(name)
    return targets - {module}


GRAPH = {m: imports_of(m, p) for m, p in MODULES.items()}


def test_the_walk_sees_the_package():
    assert {"spsr_lib", "spsr_lib.ops.imresize", "spsr_lib.io.checkpoint", "spsr_lib.train.trainer"} <= set(MODULES)
    assert "spsr_lib.io.checkpoint_esrgan" in GRAPH["spsr_lib.io.checkpoint"]
    assert "spsr_lib.models.spsr_net" in GRAPH["spsr_lib.io.checkpoint"]  # a lazy import inside a function


def test_imports_point_down_the_layers():
    bad = [f"{m} (layer {LAYERS[layer_of(m)]}) imports {t} (layer {LAYERS[layer_of(t)]})"
           for m, targets in GRAPH.items() for t in sorted(targets) if layer_of(t) > layer_of(m)]
    assert not bad, "imports from a lower layer to a higher one:\n" + "\n".join(bad)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_package_root_holds_only_the_face_and_the_layers_of_their_own():
    root = {p.name for p in PACKAGE.glob("*.py")}
    assert root == ROOT_FILES, f"unexpected modules at the package root: {sorted(root - ROOT_FILES)}"
    for d in PACKAGE.iterdir():
        if d.is_dir() and d.name != "__pycache__":
            assert d.name in RANK, f"spsr_lib/{d.name}/ is not a layer of LAYERS"


def test_every_subpackage_says_what_it_holds_and_may_import():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, f"{init.relative_to(PACKAGE.parent)}: docstring lacks 'May import: ...'"


def test_no_module_over_400_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by concept): {long}"
