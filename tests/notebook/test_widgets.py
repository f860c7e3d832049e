"""Compositing functions (pure numpy) and the slider widget's wiring, without a kernel."""

from __future__ import annotations

import io

import numpy as np
import pytest

from spsr_lib.errors import SPSRError
from spsr_lib.notebook.widgets import (
    as_image,
    blend,
    compare_slider,
    crop_box,
    crop_zoom,
    diff_heatmap,
    to_float,
    to_uint8,
    wipe,
)


def _decode(png) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    return a, b


# ---------------------------------------------------------------------------------------------- wipe
@pytest.mark.parametrize("position,cols", [(0.0, 0), (0.2, 6), (0.5, 15), (1.0, 30)])
def test_wipe_columns(pair, position, cols):
    a, b = pair
    out = wipe(a, b, position)
    assert out.dtype == np.uint8 and out.shape == a.shape
    assert np.array_equal(out[:, :cols], a[:, :cols])
    assert np.array_equal(out[:, cols:], b[:, cols:])


def test_wipe_vertical_rows_and_inputs_untouched(pair):
    a, b = pair
    a0, b0 = a.copy(), b.copy()
    out = wipe(a, b, 0.25, vertical=True)
    assert np.array_equal(out[:5], a[:5]) and np.array_equal(out[5:], b[5:])
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


def test_wipe_float_and_clamped_position(pair):
    a, b = (x.astype(np.float32) / 255 for x in pair)
    assert np.array_equal(wipe(a, b, 7.0), a) and np.array_equal(wipe(a, b, -1), b)
    assert wipe(a, b, 0.5).dtype == np.float32


def test_wipe_rejects_mismatched_shapes(pair):
    a, _ = pair
    with pytest.raises(SPSRError, match="same size"):
        wipe(a, a[:10], 0.5)
    with pytest.raises(SPSRError, match="HxWx3"):
        wipe(a[..., :2], a[..., :2], 0.5)


# --------------------------------------------------------------------------------------------- blend
def test_blend_matches_formula(pair):
    a, b = pair
    for alpha in (0.0, 0.3, 1.0):
        expected = np.round((1 - alpha) * a.astype(np.float64) + alpha * b ).astype(np.uint8)
        got = blend(a, b, alpha)
        assert got.dtype == np.uint8
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1  # float32 rounding
    assert np.array_equal(blend(a, b, 0.0), a) and np.array_equal(blend(a, b, 1.0), b)


def test_blend_float(pair):
    a, b = (x.astype(np.float32) / 255 for x in pair)
    np.testing.assert_allclose(blend(a, b, 0.25), 0.75 * a + 0.25 * b, atol=1e-6)


# ------------------------------------------------------------------------------------------ crop_zoom
def test_crop_zoom_is_nearest_neighbour_of_the_window(pair):
    a, _ = pair
    out = crop_zoom(a, center=(10, 15), size=4, zoom=3)
    window = a[8:12, 13:17]
    assert out.shape == (12, 12, 3)
    assert np.array_equal(out, np.kron(window, np.ones((3, 3, 1), dtype=np.uint8)))


def test_crop_window_is_shifted_inside_the_image():
    assert crop_box((20, 30), (0, 0), 6) == (0, 0, 6, 6)
    assert crop_box((20, 30), (19, 29), 6) == (14, 24, 6, 6)
    assert crop_box((20, 30), (10, 15), (40, 8)) == (0, 11, 20, 8)  # too tall: clipped to the image


def test_crop_zoom_rejects_bad_zoom(pair):
    with pytest.raises(SPSRError, match="zoom"):
        crop_zoom(pair[0], (5, 5), 4, zoom=0)


# --------------------------------------------------------------------------------------- diff heatmap
def test_diff_heatmap_zero_where_equal_and_white_at_max(pair):
    a, _ = pair
    b = a.copy()
    b[3, 4] = 255 - b[3, 4]
    heat = diff_heatmap(a, b)
    assert heat.dtype == np.uint8 and heat.shape == a.shape
    mask = np.ones(a.shape[:2], bool)
    mask[3, 4] = False
    assert heat[mask].max() == 0
    assert tuple(heat[3, 4]) == (255, 255, 255)


def test_diff_heatmap_is_monotonic_and_respects_scale():
    a = np.zeros((1, 11, 3), np.float32)
    b = np.tile(np.linspace(0, 1, 11, dtype=np.float32)[None, :, None], (1, 1, 3))
    heat = diff_heatmap(a, b).astype(int).sum(-1)[0]
    assert np.all(np.diff(heat) >= 0) and heat[0] == 0 and heat[-1] == 3 * 255
    # with a fixed scale of 2, the largest difference (1.0) is only half-way up the ramp
    half = diff_heatmap(a, b, scale=2.0)
    assert tuple(half[0, -1]) == (255, 128, 0)


def test_conversions_round_trip(pair):
    a, _ = pair
    assert np.array_equal(to_uint8(to_float(a)), a)
    gray = a[..., 0]
    assert to_float(gray).shape == a.shape


# ------------------------------------------------------------------------------------- widget wiring
def test_slider_shows_the_wipe_and_follows_the_position(pair):
    a, b = pair
    s = compare_slider({"SR": a, "HR": b}, position=0.5)
    shown = _decode(s.view.value)
    assert np.array_equal(shown, wipe(a, b, 0.5))
    before = bytes(s.view.value)
    s.position.value = 0.1
    assert bytes(s.view.value) != before
    shown = _decode(s.view.value)
    assert np.array_equal(shown[:, :3], a[:, :3]) and np.array_equal(shown[:, 3:], b[:, 3:])


def test_slider_blend_mode_and_pickers(pair):
    a, b = pair
    c = 255 - a
    s = compare_slider({"SR": a, "HR": b, "bicubic": c}, mode="blend", position=0.0)
    assert np.array_equal(_decode(s.view.value), a)
    s.left.value = "bicubic"
    assert np.array_equal(_decode(s.view.value), c)
    s.position.value = 1.0
    assert np.array_equal(_decode(s.view.value), b)
    s.mode.value = "wipe"
    s.position.value = 0.0
    assert np.array_equal(_decode(s.view.value), b)


def test_slider_zoom_shows_an_enlarged_window(pair):
    a, b = pair
    s = compare_slider({"SR": a, "HR": b}, position=1.0)  # whole of "SR"
    s.zoom.value = 2
    s.center_x.value, s.center_y.value = 0.0, 0.0
    shown = _decode(s.view.value)
    assert shown.shape == (20, 30, 3)  # same display size
    assert np.array_equal(shown, np.kron(a[:10, :15], np.ones((2, 2, 1), np.uint8)))
    s.center_x.value, s.center_y.value = 1.0, 1.0
    assert np.array_equal(_decode(s.view.value)[::2, ::2], a[10:, 15:])


def test_slider_scene_picker_switches_image_sets(pair):
    a, b = pair
    small = {"SR": a[:8, :8], "HR": b[:8, :8]}
    s = compare_slider({"one": {"SR": a, "HR": b}, "two": small}, position=1.0)
    assert s.scene in s.widget.children[0].children  # picker shown for several scenes
    s.scene.value = "two"
    assert np.array_equal(_decode(s.view.value), a[:8, :8])


def test_slider_rejects_unknown_names(pair):
    with pytest.raises(SPSRError, match="no image named"):
        compare_slider({"SR": pair[0], "HR": pair[1]}, left="GT")
    with pytest.raises(SPSRError):
        compare_slider({})


def test_as_image_accepts_tensors_and_scales(pair):
    import torch

    a, _ = pair
    chw = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    np.testing.assert_allclose(as_image(chw[None]), a / 255.0, atol=1e-6)
    np.testing.assert_allclose(as_image(a), a / 255.0, atol=1e-6)
    grad = torch.full((1, 3, 4, 5), 0.25)
    np.testing.assert_allclose(as_image(grad, vmax=0.5), 0.5)
    assert as_image(torch.ones(1, 1, 4, 5)).shape == (4, 5, 3)
    with pytest.raises(SPSRError, match="batch"):
        as_image(torch.zeros(2, 3, 4, 4))


def test_importing_widgets_and_plots_stays_light():
    import subprocess
    import sys

    code = ("import sys, spsr_lib.notebook.widgets, spsr_lib.notebook.plots; "
            "print(','.join(m for m in ('ipywidgets', 'matplotlib', 'PIL', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at module level: {out.stdout}"
