"""The static figures show exactly the data they are given (inspected through matplotlib's artists)."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spsr_lib.errors import SPSRError  # noqa: E402
from spsr_lib.notebook import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def trio():
    rng = np.random.default_rng(1)
    hr = rng.random((32, 40, 3), dtype=np.float32)
    sr = np.clip(hr + 0.05 * rng.standard_normal(hr.shape).astype(np.float32), 0, 1)
    bic = np.clip(hr * 0.5 + 0.25, 0, 1).astype(np.float32)
    return {"bicubic": bic, "SR": sr, "HR": hr}


def _shown(ax) -> np.ndarray:
    return np.asarray(ax.get_images()[0].get_array())


def test_show_images_titles_and_pixels(trio, sample_image):
    import torch

    tensor = torch.from_numpy(trio["HR"]).permute(2, 0, 1)[None]  # NCHW, as the library returns
    fig = plots.show_images({"astronaut": sample_image, "HR tensor": tensor})
    axes = fig.axes
    assert [a.get_title() for a in axes] == ["astronaut", "HR tensor"]
    np.testing.assert_allclose(_shown(axes[0]), sample_image / 255.0, atol=1e-6)
    np.testing.assert_allclose(_shown(axes[1]), trio["HR"], atol=1e-6)


def test_side_by_side_marks_and_enlarges_the_same_region(trio):
    fig = plots.side_by_side(trio, center=(10, 12), size=8, zoom=2, notes={"SR": "PSNR 30.00 dB"})
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[0, 1].get_title() == "SR\nPSNR 30.00 dB"
    for col, img in enumerate(trio.values()):
        rect = axes[0, col].patches[0]
        assert (rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()) == (7.5, 5.5, 8, 8)
        crop = _shown(axes[1, col])
        assert crop.shape == (16, 16, 3)
        np.testing.assert_allclose(crop[::2, ::2], img[6:14, 8:16], atol=1e-6)


def test_side_by_side_rejects_mixed_sizes(trio):
    with pytest.raises(SPSRError, match="one size"):
        plots.side_by_side({"LR": trio["HR"][:8, :10], "HR": trio["HR"]})


def test_difference_crops_highlight_where_images_differ(trio):
    hr = trio["HR"]
    changed = hr.copy()
    changed[16, 20] = 1.0 - changed[16, 20]
    fig = plots.difference_crops({"changed": changed, "HR": hr}, reference="HR", center=(16, 20), size=8)
    heat = _shown(fig.axes[2])  # axes order: crops row, then heatmaps row
    assert heat.shape == (8, 8, 3)
    bright = heat.sum(-1)
    assert np.unravel_index(bright.argmax(), bright.shape) == (4, 4)
    assert (bright > 0).sum() == 1


def test_wipe_figure_shows_the_wipe(trio):
    fig = plots.wipe_figure(trio["SR"], trio["HR"], position=0.25, labels=("SR", "HR"))
    shown = _shown(fig.axes[0])
    np.testing.assert_allclose(shown[:, :10], trio["SR"][:, :10], atol=1e-6)
    np.testing.assert_allclose(shown[:, 10:], trio["HR"][:, 10:], atol=1e-6)
    assert fig.axes[0].get_title() == "SR | HR"


def test_ema_matches_tensorboard_smoothing():
    values = [4.0, 2.0, 1.0]
    s = 0.5
    # debiased EMA by hand: a_t = s*a + (1-s)x, divided by 1 - s^t
    expected = [4.0, (0.25 * 4 + 0.5 * 2) / 0.75, (0.125 * 4 + 0.25 * 2 + 0.5 * 1) / 0.875]
    np.testing.assert_allclose(plots.ema(values, s), expected)
    np.testing.assert_array_equal(plots.ema(values, 0.0), values)


def test_loss_curves_from_jsonl_and_runs(tmp_path):
    log = tmp_path / "metrics.jsonl"
    records = [{"step": s, "l_pix": 1.0 / s, "l_gan": 0.1 * s, "lr": 1e-4, "tag": "x"} for s in (1, 2, 3, 4)]
    log.write_text("\n".join(json.dumps(r) for r in records) + '\n{"step": 5, "l_p')  # torn last line
    fig = plots.loss_curves(log)
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    assert titles == ["l_pix", "l_gan"]  # lr and strings are not curves
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(line.get_ydata(), [1.0, 0.5, 1 / 3, 0.25])

    fig = plots.loss_curves({"a": records, "b": records[:2]}, keys=["l_gan"])
    lines = fig.axes[0].get_lines()
    assert [len(ln.get_xdata()) for ln in lines] == [4, 2]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]


def test_loss_curves_keep_one_colour_per_run_across_panels():
    l1_only = [{"step": s, "l_pixel": 1.0} for s in (1, 2)]
    gan = [{"step": s, "l_pixel": 0.5, "l_gan": 0.1} for s in (1, 2)]
    fig = plots.loss_curves({"L1": l1_only, "GAN": gan}, keys=["l_pixel", "l_gan"])
    pixel_ax, gan_ax = fig.axes[:2]
    legend = {t.get_text(): h.get_color() for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles)}
    assert [ln.get_color() for ln in pixel_ax.get_lines()] == [legend["L1"], legend["GAN"]]
    assert [ln.get_color() for ln in gan_ax.get_lines()] == [legend["GAN"]]  # L1 has no l_gan: GAN keeps its colour


def test_loss_curves_errors(tmp_path):
    with pytest.raises(SPSRError, match="not found"):
        plots.loss_curves(tmp_path / "nope.jsonl")
    with pytest.raises(SPSRError, match="no numeric"):
        plots.loss_curves([{"step": 1, "tag": "x"}])


def test_metric_bars_heights_and_direction():
    table = {"L1": {"PSNR": 25.0, "LPIPS": 0.30}, "SPSR": {"PSNR": 24.0, "LPIPS": 0.12, "SSIM": 0.7}}
    fig = plots.metric_bars(table)
    psnr, lpips, ssim = fig.axes
    assert [p.get_height() for p in psnr.patches] == [25.0, 24.0]
    assert [p.get_height() for p in lpips.patches] == pytest.approx([0.30, 0.12])
    assert [p.get_height() for p in ssim.patches] == [0.7]  # L1 has no SSIM: no bar
    assert "higher is better" in psnr.get_title() and "lower is better" in lpips.get_title()
    assert [t.get_text() for t in psnr.get_xticklabels()] == ["L1", "SPSR"]
    assert psnr.get_ylim()[0] == 0 and lpips.get_ylim()[0] == 0  # no truncated axis
    assert [t.get_text() for t in psnr.texts] == ["25.000", "24.000\nΔ -1.000"]  # the difference, written out


def test_metric_bars_titles_are_readable():
    fig = plots.metric_bars({"bicubic": {"psnr_standard": 28.4, "grad_l1": 0.05}})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("PSNR (dB, Y; standard)") and titles[1].startswith("gradient-map L1")
    assert "lower is better" in titles[1]


def test_probe_curves_plot_each_variant_per_metric():
    rec = {"psnr_y": 28.0, "lpips": 0.25}
    result = {"variants": {"a": {"val": [{"step": 0, **rec, "colour_shift": 9.0},
                                         {"step": 50, **rec, "colour_shift": 1.5}]},
                           "b": {"val": [{"step": 0, **rec, "colour_shift": 4.0}]}}}
    fig = plots.probe_curves(result, keys=("psnr_y", "colour_shift"))
    ax_psnr, ax_shift = fig.axes
    assert [ln.get_label() for ln in ax_psnr.get_lines()] == ["a", "b"]
    a_line = ax_shift.get_lines()[0]
    assert list(a_line.get_xdata()) == [0, 50] and list(a_line.get_ydata()) == [9.0, 1.5]
    assert any(list(ln.get_ydata()) == [2.0, 2.0] for ln in ax_shift.get_lines())  # the 2-grey-level mark
