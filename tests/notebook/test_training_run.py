"""Notebook 04's training run: the four modes' stages, paths from the repository root, the DIV2K error, and a CPU
dry run of the gpu-short code path (its two configs on a tiny network, stage 2 started from stage 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spsr_lib.notebook import training_run as tr

REPO = Path(__file__).resolve().parents[2]


def test_mode_from_the_environment():
    assert tr.course_mode({}) == "laptop"
    assert tr.course_mode({"SPSR_FAST": "1", "SPSR_GPU_SHORT": "1"}) == "fast"
    assert tr.course_mode({"SPSR_GPU_SHORT": "1"}) == "gpu-short"
    assert tr.course_mode({"SPSR_FULL": "1"}) == "full"


def test_repo_root_from_the_notebooks_folder_and_from_the_root():
    assert tr.repo_root(REPO / "notebooks") == REPO == tr.repo_root(REPO)


def test_missing_div2k_is_one_line_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.delenv("SPSR_DATA", raising=False)
    for mode in ("gpu-short", "full"):
        with pytest.raises(tr.DataMissing, match="spsr data download DIV2K-train") as err:
            tr.training_data(mode, tmp_path, tmp_path / "photos")
        assert err.value._render_traceback_() == [f"DataMissing: {err.value}"] and "\n" not in str(err.value)
    (tmp_path / "datasets" / "DIV2K800_sub" / "HR").mkdir(parents=True)
    (tmp_path / "datasets" / "DIV2K800_sub" / "HR" / "0001_s001.png").write_bytes(b"")
    assert tr.training_data("full", tmp_path, tmp_path / "photos")[0].name == "HR"


def test_full_mode_chains_the_paper_stages_and_resolves_paths_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO / "notebooks")
    stages = tr.stages("full", REPO, tmp_path, REPO / "runs")
    assert [s.cfg.name for s in stages] == ["psnr_x4", "paper_x4"] and not any(s.trains for s in stages)
    assert stages[1].cfg.train.pretrained == "../runs/psnr_x4/models/G_latest.safetensors"
    script = tr.full_run_script(stages, REPO)
    assert script.count("--resume") == 2 and "cd .." in script and "configs/paper_x4.yaml" in script
    assert "--set train.pretrained=runs/psnr_x4/models/G_latest.safetensors" in script


def test_gpu_short_stages_are_the_gpu_short_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s1, s2 = tr.stages("gpu-short", REPO, tmp_path, tmp_path / "runs")
    assert (s1.cfg.name, s2.cfg.name) == ("gpu_short_x4_psnr", "gpu_short_x4")
    assert s1.budget_s + s2.budget_s <= 600 and s1.cfg.runtime.device == "auto" and s2.cfg.runtime.amp == "bf16"
    assert s2.cfg.train.pretrained == str(Path(s1.cfg.output_dir) / "models" / "G_latest.safetensors")


def test_cpu_dry_run_of_the_gpu_short_path(tmp_path, monkeypatch):
    """What fast mode (and so nbval) runs: both gpu-short configs, tiny, on CPU; stage 2 starts from stage 1."""
    import numpy as np

    monkeypatch.chdir(tmp_path)
    train_dir, what = tr.training_data("fast", REPO, tmp_path / "photos")
    assert "scikit-image" in what
    stages = tr.stages("fast", REPO, train_dir, tmp_path / "runs")
    assert [s.cfg.name for s in stages] == ["gpu_short_x4_psnr", "gpu_short_x4"]
    drawn = []

    def sample(step):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        drawn.append(step)
        return plt.figure()

    for st in stages:
        tr.perceptual_trunk(st.cfg, download=False)
        out = tr.train_stage(st, sample)
        assert out["step"] == st.cfg.train.niter and np.isfinite(out.get("l_pixel", 0.0))
    assert (Path(stages[1].cfg.output_dir) / "models" / "G_latest.safetensors").is_file()
    assert drawn == [2, 3, 2, 4]  # one sample grid per checkpoint (save_freq 2), both stages
