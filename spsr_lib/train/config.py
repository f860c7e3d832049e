"""Training configuration: nested dataclasses loaded from YAML, strict keys, ``--set a.b=c`` overrides.

The defaults of every field are the official SPSR hyper-parameters (``train_spsr.json`` of Maclory/SPSR,
see ``SPSR_REFERENCE.md`` §5): batch 30, HR patch 128, 5e5 iterations, Adam 1e-4 (0.9, 0.999),
MultiStepLR [50k, 100k, 200k, 300k] x 0.5, seed 9, validation/checkpoint every 5e3 iterations, loss
weights 1e-2 / 1 / 5e-3 / 1e-2 / 5e-3 / 0.5 and the 5,000-step fusion-only branch pre-train (§5.5).
So an empty YAML file *is* the paper configuration.

Rules: an unknown key is an error naming the key and its path (``loss.gann: unknown key``); values are
type checked; YAML 1.1 reads ``1e-4`` as a string, so numeric strings are accepted for numeric fields.
Overrides use YAML scalars: ``--set train.lr_g=2e-4 --set loss.gan.weight=0 --set data.train=[a,b]``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

from spsr_lib.errors import ConfigError, short_repr, short_text
from spsr_lib.train.config_checks import validate


@dataclass
class ModelConfig:
    """Generator architecture (SPSR_REFERENCE §2): ``SPSRNet`` for stage "spsr", ``RRDBNet`` for "psnr"."""

    in_ch: int = 3
    out_ch: int = 3
    nf: int = 64
    nb: int = 23
    gc: int = 32
    scale: int = 4
    taps: Optional[list[int]] = None  # RRDB indices feeding the gradient branch; None = official 4/9/14/19
    # "bicubic": the nets add the bicubic-upsampled LR to their output (kit option, spsr_lib.ops.blocks.bicubic_base)
    residual: str = "none"


@dataclass
class DiscriminatorConfig:
    """``VGGDiscriminator`` (§3); the gradient discriminator D_grad has the same architecture."""

    # not the paper: "unet" = Real-ESRGAN's U-Net D with per-pixel logits (spsr_lib.models.discriminator_unet), for
    # D and D_grad; Real-ESRGAN pairs it with spectral_norm: true. "vgg" = the official Discriminator_VGG_128
    kind: Literal["vgg", "unet"] = "vgg"
    nf: int = 64
    sync_bn: bool = False  # SyncBatchNorm across ranks (CUDA only); official: per-GPU BN statistics
    # not the paper: spectral norm (torch parametrization) on every conv/linear of D and D_grad, BN kept; a small-budget
    # lever against a D that wins at once (issue 24). Changes the state-dict keys: a resumed run keeps its setting
    spectral_norm: bool = False


@dataclass
class DataConfig:
    train: Union[str, list[str]] = "../shared/data/train/T91"
    val: Optional[str] = "../shared/data/benchmarks/Set14"
    patch_size: int = 128  # HR patch; LR patch = patch_size / scale
    batch_size: int = 30  # global batch: split evenly over DDP ranks
    num_workers: int = 0
    augment: bool = True  # hflip, vflip, transpose (§5.7)
    val_max_images: Optional[int] = None  # validate on the first N images only (fast CPU runs)


@dataclass
class PixelLossConfig:
    weight: float = 1e-2
    kind: Literal["l1", "mse", "charbonnier"] = "l1"


@dataclass
class PerceptualLossConfig:
    weight: float = 1.0
    arch: Literal["vgg19", "vgg16"] = "vgg19"  # vgg19 conv5_4 (paper) or vgg16 conv5_3, before ReLU
    weights: Optional[str] = None  # explicit .pth; otherwise torchvision cache, then the offline source
    # not the paper: {layer name: weight}, e.g. {conv3_3: 0.5, conv5_3: 1}; None = the arch's last conv alone
    layers: Optional[dict[str, float]] = None


@dataclass
class GANLossConfig:
    weight: float = 5e-3
    kind: Literal["ragan", "vanilla", "lsgan", "hinge"] = "ragan"  # official: always RaGAN with BCE


@dataclass
class WeightOnly:
    weight: float = 0.0


def _w(value: float) -> Any:
    return field(default_factory=lambda: WeightOnly(value))


@dataclass
class LowFrequencyLossConfig:
    """Not in the paper (weight 0 = off): L1 between ``factor``-fold box-downscaled SR and HR (colour anchor)."""

    weight: float = 0.0
    factor: int = 4


@dataclass
class ArtifactMapLossConfig:
    """Not in the paper (weight 0 = off): LDL's artifact-map loss (Liang et al., CVPR 2022), see
    ``spsr_lib.losses.artifact_map``: L1(M * SR, M * HR) with M the local variance of |HR - SR|."""

    weight: float = 0.0
    window: int = 7  # odd side of the local-variance window (LDL: 7)


@dataclass
class PhaseEnergyLossConfig:
    """Not in the paper (weight 0 = off): ``spsr_lib.losses_phase``: the SR's high-pass energy per phase of the
    ``period``-px LR cell, as a profile, pulled to the HR's (against the GAN stage's 4-px grid)."""

    weight: float = 0.0
    period: int = 4  # the upscale factor


@dataclass
class LossConfig:
    """Generator loss terms (§5.1). A weight of 0 skips the term and the network it needs."""

    pixel: PixelLossConfig = field(default_factory=PixelLossConfig)
    perceptual: PerceptualLossConfig = field(default_factory=PerceptualLossConfig)
    gan: GANLossConfig = field(default_factory=GANLossConfig)
    gradient_pixel: WeightOnly = _w(1e-2)  # MSE between padding-2 gradient maps of SR and HR
    gradient_gan: GANLossConfig = field(default_factory=GANLossConfig)  # D_grad on those maps
    branch_pixel: WeightOnly = _w(0.5)  # L1 between grad_sr and the padding-1 HR gradient map
    low_frequency: LowFrequencyLossConfig = field(default_factory=LowFrequencyLossConfig)
    artifact_map: ArtifactMapLossConfig = field(default_factory=ArtifactMapLossConfig)  # stage 2 only
    phase_energy: PhaseEnergyLossConfig = field(default_factory=PhaseEnergyLossConfig)  # stage 2 only


@dataclass
class BranchPretrainConfig:
    """§5.5: for steps 1 .. steps-1 only the named parameter groups of G train.

    The official code trains only the fusion block (``f_*``) during these steps (``train: fusion``);
    ``train: fusion+gradient_branch`` follows the paper's description instead; ``steps: 0`` disables it.
    """

    steps: int = 5000
    train: str = "fusion"


@dataclass
class EMAConfig:
    enabled: bool = False
    decay: float = 0.999
    start_step: int = 0


@dataclass
class DPauseConfig:
    """Not in the paper (threshold 0 = off): skip D's optimiser step when its previous step's loss was below
    ``threshold`` (D far ahead); D_grad is paused by its own loss. See ``spsr_lib.train.d_pause``."""

    threshold: float = 0.0


@dataclass
class TrainConfig:
    niter: int = 500_000
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay_g: float = 0.0
    weight_decay_d: float = 0.0
    milestones: list[int] = field(default_factory=lambda: [50_000, 100_000, 200_000, 300_000])
    gamma: float = 0.5
    d_update_ratio: int = 1  # G is updated when step % ratio == 0 and step > d_init_iters (§5.3)
    d_init_iters: int = 0
    branch_pretrain: BranchPretrainConfig = field(default_factory=BranchPretrainConfig)
    pretrained: Optional[str] = None  # stage 1 checkpoint or official RRDB_PSNR_x4.pth (SR branch only)
    # "official": the fusion starts from random weights (paper); "identity": SPSRNet starts as the stage-1
    # RRDBNet, output for output (spsr_lib.train.warm_start; for short budgets, needs an RRDBNet `pretrained`)
    # identity_branch: identity on the SR feature, official random init on the branch feature (warm_start.py)
    fusion_init: Literal["official", "identity", "identity_branch"] = "official"
    # wall-clock budget of one fit() call in seconds: stop early with a checkpoint and the exported generator
    # (a later --resume goes on); None = run to niter
    time_limit_s: Optional[float] = None
    ema: EMAConfig = field(default_factory=EMAConfig)
    d_pause: DPauseConfig = field(default_factory=DPauseConfig)


@dataclass
class RuntimeConfig:
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["none", "bf16", "fp16"] = "none"  # autocast dtype; fp16 adds a GradScaler
    channels_last: bool = False
    compile: bool = False  # torch.compile the generator
    # torch.compile mode: "reduce-overhead" adds CUDA graphs (for launch-bound steps, e.g. small per-GPU batches)
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "default"
    # capture the whole training step as one CUDA graph and replay it (single GPU; see spsr_lib.train.graph_step)
    cuda_graphs: bool = False
    cudnn_benchmark: bool = True
    # one D(real) + one D(fake) forward per discriminator serve G's and D's loss (not with spectral norm or
    # cuda_graphs: spsr_lib.train.step.shares_d_forward); false = four forwards per D, as the official step
    share_d_forward: bool = True
    # CPU Adam: "foreach" (same arithmetic as "loop", torch's CPU default), "fused" (one pass per tensor; rounding
    # differs, docs/PERFORMANCE.md); CUDA keeps torch's own choice whatever this says
    adam: Literal["loop", "foreach", "fused"] = "foreach"
    num_threads: Optional[int] = None  # torch.set_num_threads on CPU


@dataclass
class LoggingConfig:
    log_freq: int = 100  # metrics.jsonl / TensorBoard scalars every N steps
    val_freq: int = 5000
    save_freq: int = 5000
    keep_last: int = 3  # full training checkpoints kept on disk
    tensorboard: bool = True
    progress: bool = True  # tqdm bar
    val_lpips: bool = True  # LPIPS at validation (when its trunk weights are on this machine)
    val_dists: bool = True  # DISTS at validation (when its weights are here: `spsr weights fetch dists`)


@dataclass
class Config:
    name: str = "spsr_x4"
    stage: Literal["psnr", "spsr"] = "spsr"
    seed: int = 9
    output_dir: str = "runs/${name}"  # ${name} is replaced by the run name
    model: ModelConfig = field(default_factory=ModelConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    @property
    def out_path(self) -> Path:
        return Path(self.output_dir.replace("${name}", self.name))


# ---------------------------------------------------------------------------------------------- parsing
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; returns the converted value or raises ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[-1] if len(errors) == 1 else
                          f"{where}: {short_repr(value)} is not a valid {' or '.join(_type_name(a) for a in args)}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{where}: {short_repr(value)} is not one of {', '.join(map(str, choices))}")
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {short_repr(value)}")
        return [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_tp, item_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {short_repr(value)}")
        return {_convert(k, key_tp, where): _convert(v, item_tp, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {short_repr(value)}")
        return _build(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {short_repr(value)}")
    if tp in (int, float):
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 and 5e5 as strings
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {short_repr(value)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {short_repr(value)}")
        if tp is int:
            if float(value) != int(value):
                raise ConfigError(f"{where}: expected an integer, got {short_repr(value)}")
            return int(value)
        return float(value)
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {short_repr(value)}")
    raise TypeError(f"unsupported config annotation {tp!r} at {where}")  # a bug in this file, not user error


def _build(cls: type, raw: dict, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=2)
            hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
            raise ConfigError(f"{short_text(path)}: unknown key{hint}; valid keys here: {', '.join(sorted(names))}")
        kwargs[key] = _convert(value, hints[key], path)
    return cls(**kwargs)


def config_from_dict(raw: dict, source: str = "<dict>") -> Config:
    """Build a :class:`Config` from a nested dict; errors name ``source`` and the key path."""
    try:
        cfg = _build(Config, raw or {}, "")
        validate(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` -> (["a", "b"], 3); the value is read as a YAML scalar (or flow list)."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. --set train.niter=1000")
    key, _, value = text.partition("=")
    path = [p for p in key.strip().split(".")]
    if not all(path):
        raise ConfigError(f"--set {text}: empty key component")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except (yaml.YAMLError, RecursionError):
        parsed = value
    from spsr_lib.train.config_file import MAX_VALUES, count_values

    if count_values(parsed) > MAX_VALUES:
        raise ConfigError(f"--set {short_text(key, 80)}: the value's YAML aliases expand to more than {MAX_VALUES} "
                          "values; write the value out")
    return path, parsed


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``--set`` overrides to a raw (not yet validated) config dict, in place."""
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: {part} is not a section")
            node = child
        node[path[-1]] = value
    return raw


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (None: the paper defaults), apply ``--set`` overrides and validate it."""
    from spsr_lib.train.config_file import read_config_file

    raw: dict = {} if path is None else read_config_file(path)  # UTF-8 text, no alias bomb: config_file.py
    source = "<defaults>" if path is None else str(path)
    apply_overrides(raw, list(overrides))
    if overrides:
        source += " (with --set " + short_text(" ".join(overrides), 200) + ")"
    return config_from_dict(raw, source)


def config_to_dict(cfg: Any) -> dict:
    """Plain nested dict (YAML/JSON serialisable), e.g. to store in checkpoints."""
    return dataclasses.asdict(cfg)


def dump_config(cfg: Config, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (atomically), so a run records exactly what it used."""
    import yaml

    from spsr_lib.io.atomic import atomic_write_text

    atomic_write_text(path, DUMP_HEADER + yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


DUMP_HEADER = "# spsr train: the resolved config of this run (every value it used)\n"  # marks the kit's own file
