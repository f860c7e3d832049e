"""The public names of ``spsr_lib``: what notebooks, scripts, the README and user code reach through the package.

They are resolved lazily by ``spsr_lib/__init__.py``; the files behind them may move between layers, these
names may not.
"""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import spsr_lib

# spsr_lib.<name>: functions and classes
TOP_LEVEL = [
    "__version__",
    "gradient_map", "GradientMap", "imresize",
    "read_image", "write_image", "ImageReadError",
    "load_generator", "save_generator", "load_discriminator", "save_discriminator", "export_official_state_dict",
    "run_info",
    "RRDBNet", "SPSRNet", "SPSROutput", "GradientGuidedSR", "SRResNet", "VGGDiscriminator",
    "PairedImageDataset", "BenchmarkSet", "load_benchmark_set",
    "upscale", "load_config", "Trainer",
]
# spsr_lib.<module>.<name>: the modules reachable as attributes (``from spsr_lib import widgets``)
MODULE_NAMES = {
    "metrics": ["psnr", "ssim", "psnr_rgb", "psnr_ssim", "lpips", "dists", "niqe", "ma_score", "perceptual_index",
                "gradient_psnr", "gradient_l1", "phase_index", "branch_gradient_l1", "bicubic_gradient_l1",
                "branch_zero_change", "MODES", "MODE_DESCRIPTIONS", "MetricInputError", "rgb_to_y"],
    "widgets": ["compare_slider", "as_image", "wipe", "blend", "crop_box", "crop_zoom", "diff_heatmap"],
    "plots": ["show_images", "side_by_side", "difference_crops", "wipe_figure", "loss_curves", "metric_bars"],
    "tables": ["table", "Table", "format_value"],
    "losses": ["PerceptualLoss", "pixel_loss", "gan_generator_loss", "gan_discriminator_loss"],
    "errors": ["SPSRError", "ConfigError", "CheckpointError", "WeightsUnavailableError"],
}


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_name_resolves(name):
    assert getattr(spsr_lib, name) is not None
    assert name in dir(spsr_lib)


@pytest.mark.parametrize("module", sorted(MODULE_NAMES))
def test_module_attribute_and_its_names(module):
    mod = getattr(spsr_lib, module)
    assert isinstance(mod, types.ModuleType)
    for name in MODULE_NAMES[module]:
        assert getattr(mod, name) is not None, f"spsr_lib.{module}.{name}"


def test_from_imports_as_the_notebooks_write_them():
    from spsr_lib import errors, losses, metrics, plots, widgets  # noqa: F401

    assert callable(widgets.compare_slider) and callable(plots.show_images) and callable(metrics.lpips)


def test_every_listed_export_is_tested_here():
    assert set(spsr_lib._EXPORTS) <= set(TOP_LEVEL)
    assert set(spsr_lib._SUBMODULES) <= set(MODULE_NAMES)


def test_imresize_is_the_function_whatever_was_imported_before():
    code = ("import spsr_lib, spsr_lib.ops.imresize, spsr_lib.data.benchmark_sets; import numpy as np; "
            "print(callable(spsr_lib.imresize), spsr_lib.imresize(np.zeros((8, 8, 3), np.uint8), 0.5).shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.split() == ["True", "(4,", "4,", "3)"], out.stderr[-500:]


def test_the_spsr_entry_point_target():
    from spsr_lib.cli import main

    assert callable(main)
