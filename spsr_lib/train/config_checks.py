"""The value rules of a training config (``train/config.py`` checks keys and types, this file the values).

Every rule raises one :class:`~spsr_lib.errors.ConfigError` line naming the key, the value and what is valid,
before anything is built: a learning rate of -1e-3, ``model.scale=0``, ``data.train=[]``, ``train.betas=[2,3]``
or ``runtime.num_threads=-4`` used to surface as tracebacks (or, for ``train.gamma=-1``, not at all).
"""

from __future__ import annotations

from typing import Any

from spsr_lib.errors import ConfigError

SCALES = (1, 2, 3, 4, 8)  # what the upsampling stages can make (x3: one stage; powers of two: x2 stages)


def _positive(where: str, value: Any, *, zero_ok: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(f"{where}: {value!r} must be {'>= 0' if zero_ok else '> 0'}")


def validate(cfg: Any) -> None:
    """Raise one ConfigError line for the first value no run can use (with the fix when the rule has none)."""
    try:
        _rules(cfg)
    except ConfigError as exc:
        if ";" in str(exc):
            raise
        raise ConfigError(f"{exc}; change it in the config file or with --set KEY=VALUE") from None


def _rules(cfg: Any) -> None:
    m, d, t, rt = cfg.model, cfg.data, cfg.train, cfg.runtime
    if m.scale not in SCALES:
        raise ConfigError(f"model.scale: {m.scale} is not a supported upscale factor; use one of "
                          f"{', '.join(map(str, SCALES))}")
    for key in ("in_ch", "out_ch", "nf", "nb", "gc"):
        if getattr(m, key) < 1:
            raise ConfigError(f"model.{key}: {getattr(m, key)} must be >= 1")
    if m.taps is not None and (not m.taps or any(not 0 <= k < m.nb for k in m.taps) or m.taps != sorted(m.taps)):
        raise ConfigError(f"model.taps: {m.taps} must be non-decreasing RRDB indices in [0, {m.nb - 1}]")
    if m.residual not in ("none", "bicubic"):
        raise ConfigError(f"model.residual: {str(m.residual)[:40]!r} must be none (official) or bicubic")
    if cfg.discriminator.nf < 1:
        raise ConfigError(f"discriminator.nf: {cfg.discriminator.nf} must be >= 1")
    if d.patch_size < 1:
        raise ConfigError(f"data.patch_size: {d.patch_size} must be >= 1 (e.g. 128)")
    if isinstance(d.train, list) and (not d.train or not all(d.train)):
        raise ConfigError(f"data.train: {d.train} names no folder; give one folder or a list of folders")
    if isinstance(d.train, str) and not d.train.strip():
        raise ConfigError("data.train: is empty; give the training image folder")
    _positive("data.num_workers", d.num_workers, zero_ok=True)
    _positive("data.val_max_images", d.val_max_images)
    _positive("train.lr_g", t.lr_g)
    _positive("train.lr_d", t.lr_d)
    _positive("train.gamma", t.gamma)
    _positive("train.weight_decay_g", t.weight_decay_g, zero_ok=True)
    _positive("train.weight_decay_d", t.weight_decay_d, zero_ok=True)
    _positive("train.d_update_ratio", t.d_update_ratio)
    _positive("train.d_init_iters", t.d_init_iters, zero_ok=True)
    _positive("train.branch_pretrain.steps", t.branch_pretrain.steps, zero_ok=True)
    _positive("train.time_limit_s", t.time_limit_s, zero_ok=True)  # 0: one step, then a checkpoint
    _positive("runtime.num_threads", rt.num_threads)
    if len(t.betas) == 2 and not all(0 <= b < 1 for b in t.betas):
        raise ConfigError(f"train.betas: {t.betas} must both be in [0, 1) (Adam's; official [0.9, 0.999])")
    if any(k < 1 for k in t.milestones):
        raise ConfigError(f"train.milestones: {t.milestones} must be steps >= 1")
    if not 0 <= t.ema.decay <= 1:
        raise ConfigError(f"train.ema.decay: {t.ema.decay} must be in [0, 1] (e.g. 0.999)")
    _positive("train.ema.start_step", t.ema.start_step, zero_ok=True)
    _existing_rules(cfg)


def _existing_rules(cfg: Any) -> None:
    rt = cfg.runtime
    if rt.cuda_graphs and rt.compile:
        raise ConfigError("runtime.cuda_graphs and runtime.compile: choose one (for compiled graphs use "
                          "runtime.compile_mode=reduce-overhead)")
    if rt.cuda_graphs and rt.amp == "fp16":
        raise ConfigError("runtime.cuda_graphs: fp16's GradScaler syncs with the host every step; use runtime.amp=bf16")
    if cfg.data.patch_size % cfg.model.scale:
        raise ConfigError(f"data.patch_size: {cfg.data.patch_size} is not a multiple of model.scale "
                          f"{cfg.model.scale}")
    if len(cfg.train.betas) != 2:
        raise ConfigError(f"train.betas: expected two numbers, got {cfg.train.betas}")
    for name in ("log_freq", "val_freq", "save_freq", "keep_last"):
        if getattr(cfg.logging, name) < 1:
            raise ConfigError(f"logging.{name}: must be >= 1")
    if cfg.data.batch_size < 1 or cfg.train.niter < 1:
        raise ConfigError("data.batch_size and train.niter must be >= 1")
    lf = cfg.loss.low_frequency
    if lf.weight < 0 or lf.factor < 1 or cfg.data.patch_size % lf.factor:
        raise ConfigError(f"loss.low_frequency: weight must be >= 0 and factor >= 1 and divide data.patch_size "
                          f"{cfg.data.patch_size} (got weight {lf.weight}, factor {lf.factor})")
    if cfg.train.fusion_init != "official" and (cfg.stage != "spsr" or not cfg.train.pretrained):
        raise ConfigError(f"train.fusion_init: '{cfg.train.fusion_init}' needs stage 'spsr' and train.pretrained set to a stage-1 "
                          "RRDBNet (its conv_last becomes the image head); use 'official' otherwise")
    pe = cfg.loss.phase_energy
    if pe.weight < 0 or pe.period < 2:
        raise ConfigError(f"loss.phase_energy: weight must be >= 0 and period >= 2 (the upscale factor), got weight "
                          f"{pe.weight}, period {pe.period}")
    am = cfg.loss.artifact_map
    if am.weight < 0 or am.window < 3 or am.window % 2 == 0:
        raise ConfigError(f"loss.artifact_map: weight must be >= 0 and window an odd number >= 3 (LDL: 7), "
                          f"got weight {am.weight}, window {am.window}")
    threshold = cfg.train.d_pause.threshold
    if threshold < 0:
        raise ConfigError(f"train.d_pause.threshold: {threshold} must be >= 0 (0 = off; e.g. 0.05)")
    if threshold > 0 and rt.cuda_graphs:
        raise ConfigError("train.d_pause: pausing D is a host decision per step, which a captured CUDA graph cannot "
                          "make; set train.d_pause.threshold=0 or runtime.cuda_graphs=false")
    groups = {"fusion", "gradient_branch", "sr_branch"}
    bad = [g for g in cfg.train.branch_pretrain.train.split("+") if g not in groups]
    if bad:
        raise ConfigError(f"train.branch_pretrain.train: unknown group {bad[0]!r}; use '+'-joined names "
                          f"from {', '.join(sorted(groups))}")
