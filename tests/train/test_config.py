"""YAML configs: strict keys, type checks, --set overrides, and the shipped configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from spsr_lib.errors import ConfigError
from spsr_lib.train.config import Config, config_from_dict, dump_config, load_config, parse_override

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_unknown_key_is_named_with_its_path(tmp_path):
    p = _write(tmp_path, "train:\n  branch_pretrain:\n    stpes: 10\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert "train.branch_pretrain.stpes: unknown key" in msg and "steps" in msg and str(p) in msg
    assert "\n" not in msg


def test_unknown_top_level_section(tmp_path):
    with pytest.raises(ConfigError, match=r"optimiser: unknown key"):
        load_config(_write(tmp_path, "optimiser: {lr: 1}\n"))


@pytest.mark.parametrize("text,fragment", [
    ("data:\n  batch_size: many\n", "data.batch_size: expected a number"),
    ("train:\n  niter: 2.5\n", "train.niter: expected an integer"),
    ("runtime:\n  amp: fp8\n", "runtime.amp: 'fp8' is not one of"),
    ("runtime:\n  compile_mode: fastest\n", "runtime.compile_mode: 'fastest' is not one of"),
    ("logging:\n  tensorboard: 1\n", "logging.tensorboard: expected true/false"),
    ("train:\n  milestones: 5\n", "train.milestones: expected a list"),
    ("model: 3\n", "model: expected a mapping"),
    ("data:\n  patch_size: 30\n", "not a multiple of model.scale"),
    ("train:\n  branch_pretrain: {train: fusion+trunk}\n", "unknown group 'trunk'"),
])
def test_type_errors(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("+", r"\+").replace(".", r"\.")):
        load_config(_write(tmp_path, text))


def test_yaml11_numeric_strings_are_numbers(tmp_path):
    cfg = load_config(_write(tmp_path, "train:\n  lr_g: 1e-4\n  niter: 5e5\n"))
    assert cfg.train.lr_g == 1e-4 and cfg.train.niter == 500_000 and isinstance(cfg.train.niter, int)


def test_overrides_use_yaml_scalars(tmp_path):
    p = _write(tmp_path, "name: x\n")
    cfg = load_config(p, ["train.lr_g=2e-4", "loss.gan.weight=0", "data.val=null", "model.taps=[1, 2, 3, 4]",
                          "runtime.channels_last=true", "data.train=[a, b]", "name=run 2"])
    assert cfg.train.lr_g == 2e-4 and cfg.loss.gan.weight == 0.0 and cfg.data.val is None
    assert cfg.model.taps == [1, 2, 3, 4] and cfg.runtime.channels_last is True
    assert cfg.data.train == ["a", "b"] and cfg.name == "run 2"
    with pytest.raises(ConfigError, match=r"--set loss\.gan\.wieght=1.*loss\.gan\.wieght: unknown key.*weight"):
        load_config(p, ["loss.gan.wieght=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("train.niter")


def test_defaults_are_the_paper_recipe():
    cfg = load_config(None)
    t = cfg.train
    assert (cfg.data.batch_size, cfg.data.patch_size, t.niter, cfg.seed) == (30, 128, 500_000, 9)
    assert t.milestones == [50_000, 100_000, 200_000, 300_000] and t.gamma == 0.5
    assert (t.lr_g, t.lr_d, t.betas) == (1e-4, 1e-4, [0.9, 0.999])
    assert (t.branch_pretrain.steps, t.branch_pretrain.train) == (5000, "fusion")
    assert (cfg.logging.val_freq, cfg.logging.save_freq) == (5000, 5000)
    assert cfg.loss.perceptual.arch == "vgg19" and (cfg.model.nf, cfg.model.nb, cfg.model.gc) == (64, 23, 32)


def test_paper_config_spells_out_the_defaults():
    paper = load_config(CONFIGS / "paper_x4.yaml")
    default = load_config(None)
    for section in ("loss", "train", "discriminator"):
        assert getattr(paper, section) == getattr(default, section), section
    assert paper.model.taps == [4, 9, 14, 19] and paper.stage == "spsr"
    assert (paper.data.batch_size, paper.data.patch_size, paper.seed) == (30, 128, 9)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_round_trip(path, tmp_path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    dump_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(tmp_path / "resolved.yaml")
    assert dataclasses.asdict(again) == dataclasses.asdict(cfg)


def test_output_dir_uses_the_run_name():
    cfg = config_from_dict({"name": "abc"})
    assert cfg.out_path == Path("runs/abc")


def test_bad_yaml_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d") as info:
        load_config(_write(tmp_path, "a: 1\nb: [unclosed\n"))
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")


def test_stage2_levers_default_off_and_paper_config_unchanged():
    """issue 24 levers: off by default, so the empty config and paper_x4.yaml stay the official recipe."""
    cfg = load_config(CONFIGS / "paper_x4.yaml")
    assert cfg.loss.artifact_map.weight == 0.0 and cfg.loss.artifact_map.window == 7
    assert cfg.discriminator.spectral_norm is False and cfg.train.d_pause.threshold == 0.0


@pytest.mark.parametrize("override, fragment", [
    ("loss.artifact_map.weight=-1", "loss.artifact_map: weight must be >= 0"),
    ("loss.artifact_map.window=1", "window an odd number >= 3"),
    ("loss.artifact_map.window=6", "got weight 0.0, window 6"),
    ("train.d_pause.threshold=-0.1", "train.d_pause.threshold: -0.1 must be >= 0"),
    ("discriminator.spectral_norm=yes please", "discriminator.spectral_norm: expected true/false"),
    ("loss.artifact_map.size=7", "loss.artifact_map.size: unknown key"),
])
def test_stage2_lever_values_are_one_line_errors(override, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")) as info:
        load_config(None, [override])
    assert "\n" not in str(info.value)


def test_d_pause_refuses_cuda_graphs():
    with pytest.raises(ConfigError, match="host decision per step"):
        load_config(None, ["train.d_pause.threshold=0.05", "runtime.cuda_graphs=true"])
    assert load_config(None, ["train.d_pause.threshold=0.05", "loss.artifact_map.weight=1",
                              "discriminator.spectral_norm=true"]).train.d_pause.threshold == 0.05


def test_discriminator_kind_is_vgg_or_unet():
    assert load_config(None).discriminator.kind == "vgg"
    with pytest.raises(ConfigError, match=r"discriminator\.kind: 'patch' is not one of vgg, unet"):
        load_config(None, ["discriminator.kind=patch"])
