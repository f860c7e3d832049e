"""spsr_lib.notebook.ablation_crops: the tiles where two variants differ most in gradient-map L1, by rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spsr_lib.io.images import write_image
from spsr_lib.notebook.ablation_crops import (
    gradient_of,
    load_rule_crops,
    pick_tiles,
    tile_grad_l1,
    write_rule_crops,
)

SIZE = 16


def _hr(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((72, 104, 3)) * 240).astype(np.uint8)  # room for the +3 shift below


@pytest.fixture
def sr_dirs(tmp_path):
    """Two images; (b) equals HR but for noise; (d) is blurred in one tile of img_027 only."""
    hrs = {"img_026": _hr(0), "img_027": _hr(1)}
    dirs = {v: tmp_path / v for v in ("esrgan", "grad_loss", "spsr")}
    for name, hr in hrs.items():
        for v, d in dirs.items():
            sr = hr.copy()
            if v == "spsr" and name == "img_027":  # flatten the tile at row 1, col 2 (after the 4-px shave)
                t, left = 4 + SIZE, 4 + 2 * SIZE
                sr[t:t + SIZE, left:left + SIZE] = sr[t:t + SIZE, left:left + SIZE].mean(axis=(0, 1)).astype(np.uint8)
            if v == "grad_loss":
                sr = np.clip(sr.astype(int) + 3, 0, 255).astype(np.uint8)  # a flat shift: the same gradients
            write_image(d / f"{name}.png", sr)
    return hrs, dirs


def test_tile_grad_l1_is_zero_for_the_same_image_and_locates_a_change():
    hr = _hr(0)
    assert tile_grad_l1(hr, hr, SIZE).shape == ((72 - 8) // SIZE, (104 - 8) // SIZE)
    assert np.all(tile_grad_l1(hr, hr, SIZE) == 0)
    assert gradient_of(hr).shape == (72, 104, 3)


def test_pick_tiles_finds_the_changed_tile_and_says_who_is_better(sr_dirs):
    hrs, dirs = sr_dirs
    tiles = pick_tiles(hrs.__getitem__, dirs, "esrgan", "spsr", size=SIZE, k=1)
    (t,) = tiles
    assert (t.image, t.top, t.left, t.size) == ("img_027", 4 + SIZE, 4 + 2 * SIZE, SIZE)
    assert t.better == "esrgan" and t.grad_l1["esrgan"] == 0 and t.grad_l1["spsr"] > 0.01
    assert t.score == pytest.approx(t.grad_l1["spsr"]) and t.grad_l1["grad_loss"] < 1e-6
    both = pick_tiles(hrs.__getitem__, dirs, "esrgan", "spsr", size=SIZE, k=5)
    assert [x.image for x in both] == ["img_027", "img_026"]  # at most one per image, largest gap first


def test_write_and_load_rule_crops(sr_dirs, tmp_path):
    hrs, dirs = sr_dirs
    index = write_rule_crops(hrs.__getitem__, dirs, tmp_path / "out", size=SIZE, k=1,
                             labels={"esrgan": "(b)", "spsr": "(d)"})
    assert "ranked by |gradient-map L1 of esrgan - that of spsr|" in index["rule"]
    saved = json.loads((tmp_path / "out" / "rule_crops.json").read_text())
    assert saved["tiles"][0]["files"]["HR"]["image"] == "img_027_20_36_HR.png"
    (crop,) = load_rule_crops(tmp_path / "out", who=("HR", "esrgan", "spsr"))
    assert set(crop["images"]) == {"HR", "esrgan", "spsr"} and crop["images"]["HR"].shape[:2] == (SIZE, SIZE)
    np.testing.assert_array_equal(crop["images"]["HR"], hrs["img_027"][20:36, 36:52])
    assert crop["gradients"]["spsr"].shape[:2] == (SIZE, SIZE) and crop["better"] == "esrgan"
    assert load_rule_crops(tmp_path / "nothing") == []
