"""Build hook: the wheel carries the files the installed commands need (all metadata is in pyproject.toml).

The demo weights, their model card and the dataset registry have one copy in the repository, under
``data/``, where users of a checkout find them.  ``build_py`` copies them into the built package as
``spsr_lib/_data/`` (``spsr_lib.io.shipped`` finds them there through ``importlib.resources``), and lists
them as sources so that the sdist carries them too and a wheel built from the sdist has them.  Editable
installs copy nothing: they read the checkout's ``data/``.
"""

from __future__ import annotations

import os
from glob import glob

from setuptools import setup
from setuptools.command.build_py import build_py

# (pattern in the repository, folder inside the package); every pattern must match a file
SHIPPED = (
    ("data/demo_weights/*.safetensors", "spsr_lib/_data/demo_weights"),
    ("data/demo_weights/MODEL_CARD.md", "spsr_lib/_data/demo_weights"),
    ("data/datasets.json", "spsr_lib/_data"),
)


def shipped_files() -> list[tuple[str, str]]:
    """[(source path, destination path inside the package)] for every shipped file."""
    out = []
    for pattern, dest in SHIPPED:
        matches = sorted(glob(pattern))
        if not matches:
            raise SystemExit(f"setup.py: {pattern} matches no file; the wheel would miss it (run from a full checkout)")
        out += [(src, f"{dest}/{os.path.basename(src)}") for src in matches]
    return out


class build_py_with_shipped_data(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for src, dest in shipped_files():
            target = os.path.join(self.build_lib, *dest.split("/"))
            self.mkpath(os.path.dirname(target))
            self.copy_file(src, target, preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        extra = [] if self.editable_mode else [os.path.join(self.build_lib, *d.split("/")) for _, d in shipped_files()]
        return super().get_outputs(include_bytecode) + extra

    def get_source_files(self) -> list[str]:
        return super().get_source_files() + [src for src, _ in shipped_files()]


setup(cmdclass={"build_py": build_py_with_shipped_data})
