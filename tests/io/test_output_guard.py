"""io/output_guard: an owner's outputs are refused when one is an input, taken, or a file the kit did not write."""

from __future__ import annotations

import os

import numpy as np

from spsr_lib.io.images import write_image
from spsr_lib.io.output_guard import KIT_SOFTWARE, OutputPlan, kit_png, starts_with


def test_kit_pngs_are_recognised_by_their_software_chunk(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    assert kit_png(write_image(tmp_path / "k.png", img, software=KIT_SOFTWARE))
    assert not kit_png(write_image(tmp_path / "u.png", img))
    assert not kit_png(write_image(tmp_path / "k.bmp", img, software=KIT_SOFTWARE))
    (tmp_path / "t.png").write_text("not an image")
    assert not kit_png(tmp_path / "t.png")


def test_inputs_through_a_symlink_taken_names_and_foreign_files(tmp_path):
    src = write_image(tmp_path / "in.png", np.zeros((4, 4, 3), np.uint8))
    os.symlink(src, tmp_path / "link.png")
    (tmp_path / "user.png").write_bytes(b"x")
    plan = OutputPlan([src], kit_png, "spsr infer")
    assert "would overwrite an input" in plan.problem("a", [tmp_path / "new.png", tmp_path / "link.png"])
    assert plan.problem("a", [tmp_path / "new.png"]) is None  # nothing was taken by the refused claim before
    assert "already the result of a" in plan.problem("b", [tmp_path / "new.png"])
    assert "was not written by spsr infer" in plan.problem("c", [tmp_path / "user.png"])
    assert "share a name" in plan.problem("d", [tmp_path / "x.png", tmp_path / "x.png"])
    (tmp_path / "r.md").write_text("### SPSR-style evaluation\n")
    assert OutputPlan([], starts_with("### SPSR"), "e").problem("e", [tmp_path / "r.md"]) is None
