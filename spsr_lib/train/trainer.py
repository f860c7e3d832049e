"""The training engine: stage 1 (PSNR pre-train of RRDBNet) and stage 2 (SPSR GAN training).

``Trainer(config).fit()`` runs ``config.train.niter`` iterations on CPU, one GPU, or every process of a
``torchrun`` launch (see :mod:`spsr_lib.train.distributed`). The official recipe (``SPSR_REFERENCE.md`` §5):
Adam(1e-4, (0.9, 0.999)) for G, D and D_grad, MultiStepLR [50k, 100k, 200k, 300k] x 0.5 stepped every
iteration, G initialised with kaiming x 0.1 and its SR branch from the stage-1 / ``RRDB_PSNR_x4.pth``
weights (``train.pretrained``), the fusion-only branch pre-train for 4,999 steps (§5.5), and the step of
:mod:`spsr_lib.train.step`. Differences from the official code, all deliberate fixes (§9): it runs on CPU,
resume restores everything (:mod:`spsr_lib.train.state`), every loss term is logged, a NaN stops the run.

Run layout: ``<output_dir>/config.yaml`` (resolved), ``metrics.jsonl``, ``tensorboard/``,
``checkpoints/state_XXXXXXXX.pt`` (full state, last ``keep_last``), ``models/G_XXXXXXXX.safetensors`` and
``models/G_latest.safetensors`` (generator only, EMA weights when EMA is on: what ``spsr infer`` loads).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from spsr_lib.errors import ConfigError, SPSRError
from spsr_lib.train import state as train_state
from spsr_lib.train.config import Config, config_to_dict, dump_config
from spsr_lib.train.d_pause import DPause
from spsr_lib.train.distributed import (
    DistInfo,
    ResumableSampler,
    barrier,
    broadcast_module,
    init_distributed,
    shutdown,
)
from spsr_lib.train.ema import ModelEMA
from spsr_lib.train.graph_step import GraphedTrainStep, check_cuda_graphs_supported, set_capturable
from spsr_lib.train.log import RunLogger
from spsr_lib.train.resume import check_savable, resume_trainer
from spsr_lib.train.run_dir import claim_run_dir, relock
from spsr_lib.train.step import psnr_step, spsr_step
from spsr_lib.train.stopping import SIGNAL_NAMES, BatchFeed, agree_to_stop, defer_stop_signals
from spsr_lib.train.warm_start import load_pretrained


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise SPSRError("--device cuda: no CUDA device is visible to torch; use --device cpu or auto")
    return torch.device(requested)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_generator(cfg: Config) -> nn.Module:
    m = cfg.model
    if cfg.stage == "psnr":
        from spsr_lib.models.rrdb import RRDBNet

        return RRDBNet(m.in_ch, m.out_ch, m.nf, m.nb, m.gc, m.scale, residual=m.residual)
    from spsr_lib.models.spsr_net import SPSRNet

    return SPSRNet(m.in_ch, m.out_ch, m.nf, m.nb, m.gc, m.scale, taps=m.taps, residual=m.residual)


class Trainer:
    """Build everything a config asks for; :meth:`fit` trains, resuming when ``resume`` is set."""

    def __init__(self, config: Config, device: str | None = None, resume: bool = False,
                 build_data: bool = True, generator: Callable[[], nn.Module] | None = None) -> None:
        """``build_data=False`` skips the datasets (benchmarks, notebooks that feed :meth:`step` themselves).

        ``generator``: a function that builds G, weights included, to train any SR network (model-agnostic
        ablations, e.g. :mod:`spsr_lib.train.ablation`) instead of the config's RRDBNet/SPSRNet; it is called
        after the seed is set, and ``train.pretrained`` must then be unset. In stage "spsr" G must return
        :class:`~spsr_lib.models.spsr_net.SPSROutput` and have ``parameter_groups()``.
        """
        self.cfg = cfg = config
        if generator is not None and cfg.train.pretrained:
            raise ConfigError("train.pretrained: set, but the Trainer was given a generator (which brings its own "
                              "weights); unset one of them")
        rt = cfg.runtime
        self.device = resolve_device(device or rt.device)
        if rt.num_threads and self.device.type == "cpu":
            torch.set_num_threads(rt.num_threads)
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.backends.cudnn.benchmark = rt.cudnn_benchmark
        if cfg.data.batch_size % self.dist.world_size:
            raise ConfigError(f"data.batch_size {cfg.data.batch_size} is not divisible by the "
                              f"{self.dist.world_size} processes; the batch size is the global batch")
        self.local_batch = cfg.data.batch_size // self.dist.world_size
        self.run_dir = cfg.out_path
        # before any work: the run lock (a second run is refused having touched nothing), then the kill's leftovers
        self.run_lock = claim_run_dir(self.run_dir, resume, cfg.train.pretrained) if self.dist.is_main else None
        try:
            self._setup(resume, build_data, generator)
        except BaseException:
            self.close()
            raise

    def _setup(self, resume: bool, build_data: bool, generator: Callable[[], nn.Module] | None) -> None:
        cfg, rt = self.cfg, self.cfg.runtime
        self.amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[rt.amp]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=rt.amp == "fp16")
        self.memory_format = torch.channels_last if rt.channels_last else torch.contiguous_format

        if rt.cuda_graphs:
            check_cuda_graphs_supported(self)
        seed_everything(cfg.seed)  # same seed on every rank: identical init, then broadcast for safety
        self.init_note = self._build_models(generator)
        self._build_optimizers()
        self.train_set = None
        self.val_images: list = []
        if build_data:
            self._build_data()
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.g_phase: str | None = None
        self.d_pause = DPause(cfg.train.d_pause.threshold)
        self.stopped_early = False  # set when train.time_limit_s (or a signal) ends fit() before niter
        self.stop_signal: int | None = None  # the first SIGINT/SIGTERM in fit(): the step ends, a checkpoint is saved
        if resume:
            self._resume()
            for opt in (self.opt_G, self.opt_D, self.opt_D_grad):  # load_state_dict restored the saved flag
                set_capturable(opt, rt.cuda_graphs)
        self.graphed_step = GraphedTrainStep(self) if rt.cuda_graphs else None
        self.logger = RunLogger(self.run_dir, enabled=self.dist.is_main, tensorboard=cfg.logging.tensorboard,
                                progress=cfg.logging.progress, total=cfg.train.niter, initial=self.step)
        if self.dist.is_main:
            dump_config(cfg, self.run_dir / "config.yaml")

    # ----------------------------------------------------------------------------------------- building
    def _build_models(self, generator: Callable[[], nn.Module] | None = None) -> str:
        cfg, w = self.cfg, self.cfg.loss
        if generator is not None:
            self.G = generator()
            note = f"G ({type(self.G).__name__}) built and initialised by the caller"
        else:
            self.G = build_generator(cfg)
            note = load_pretrained(cfg, self.G)
        self.D = self.D_grad = self.perceptual = None
        if cfg.stage == "spsr":
            from spsr_lib.models.discriminator import build_discriminator

            size, dc = cfg.data.patch_size, cfg.discriminator
            if w.gan.weight > 0:
                self.D = build_discriminator(dc.kind, cfg.model.out_ch, dc.nf, size, dc.spectral_norm)
            if w.gradient_gan.weight > 0:  # D_grad sees (H+2)x(W+2) padding-2 maps
                self.D_grad = build_discriminator(dc.kind, cfg.model.out_ch, dc.nf, size + 2, dc.spectral_norm)
            if w.perceptual.weight > 0:
                from spsr_lib.io.weights import perceptual_trunk
                from spsr_lib.losses import PerceptualLoss

                feats, taps = perceptual_trunk(w.perceptual)
                self.perceptual = PerceptualLoss(feats, taps=taps).to(self.device, memory_format=self.memory_format)
        for name in ("G", "D", "D_grad"):
            net = getattr(self, name)
            if net is None:
                continue
            if name != "G" and cfg.discriminator.sync_bn and self.dist.enabled:
                if self.device.type != "cuda":
                    raise ConfigError("discriminator.sync_bn: SyncBatchNorm needs CUDA; set it to false on CPU")
                net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
            net = net.to(self.device, memory_format=self.memory_format)
            broadcast_module(net, self.dist)
            setattr(self, name, net)
        self.ema = ModelEMA(self.G, cfg.train.ema.decay) if cfg.train.ema.enabled else None
        self.G_forward = torch.compile(self.G, mode=cfg.runtime.compile_mode) if cfg.runtime.compile else self.G
        return note

    def _build_optimizers(self) -> None:
        t = self.cfg.train

        def adam(net: nn.Module, lr: float, wd: float) -> torch.optim.Adam:
            params = [p for p in net.parameters() if p.requires_grad]
            impl = self.cfg.runtime.adam if self.device.type == "cpu" else None  # CUDA: torch's default
            return torch.optim.Adam(params, lr=lr, betas=tuple(t.betas), weight_decay=wd,
                                    capturable=self.cfg.runtime.cuda_graphs, foreach=impl == "foreach" if impl else None,
                                    fused=impl == "fused" or None)

        def sched(opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.MultiStepLR:
            return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=t.milestones, gamma=t.gamma)

        self.opt_G = adam(self.G, t.lr_g, t.weight_decay_g)
        self.opt_D = adam(self.D, t.lr_d, t.weight_decay_d) if self.D is not None else None
        self.opt_D_grad = adam(self.D_grad, t.lr_d, t.weight_decay_d) if self.D_grad is not None else None
        self.schedulers = {k: sched(o) for k, o in (("G", self.opt_G), ("D", self.opt_D),
                                                     ("D_grad", self.opt_D_grad)) if o is not None}

    def _build_data(self) -> None:
        from spsr_lib.train.data import build_train_set, load_val_images

        d = self.cfg.data
        self.train_set = build_train_set(self.cfg)
        self.sampler = ResumableSampler(self.train_set, self.dist, seed=self.cfg.seed)
        self.loader = torch.utils.data.DataLoader(
            self.train_set, batch_size=self.local_batch, sampler=self.sampler, num_workers=d.num_workers,
            drop_last=True, pin_memory=self.device.type == "cuda", persistent_workers=d.num_workers > 0)
        if len(self.sampler) < self.local_batch:
            raise ConfigError(f"data.train: {len(self.train_set)} training samples give no full batch of "
                              f"{self.local_batch} per process; lower data.batch_size or add images")
        self.val_images = load_val_images(self.cfg) if self.dist.is_main else []

    # ------------------------------------------------------------------------------------------ helpers
    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # a captured CUDA graph must not keep autocast's weight-cast cache alive past the capture
        return torch.autocast(self.device.type, dtype=self.amp_dtype, cache_enabled=not self.cfg.runtime.cuda_graphs)

    def to_model_layout(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=self.memory_format)

    def after_g_update(self) -> None:
        if self.ema is not None and self.step >= self.cfg.train.ema.start_step:
            self.ema.update(self.G)

    def learning_rates(self) -> dict[str, float]:
        return {f"lr_{k}": s.get_last_lr()[0] for k, s in self.schedulers.items()}

    @property
    def export_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.G

    # -------------------------------------------------------------------------------------------- loop
    def fit(self) -> dict[str, float]:
        """Train up to ``train.niter``; returns the last logged values."""
        cfg, log = self.cfg, self.logger
        last: dict[str, float] = {}
        log.message(f"[{cfg.name}] stage {cfg.stage} on {self.device} x{self.dist.world_size}, "
                    f"{self._count(self.G)} G params; {self.init_note}; step {self.step}/{cfg.train.niter}")
        if self.train_set is None:
            raise SPSRError("Trainer(build_data=False) cannot fit(); build it with the training data")
        if getattr(self.train_set, "duplicates_note", ""):  # data.train reached some files twice: dropped
            log.message(f"[{cfg.name}] {self.train_set.duplicates_note}")
        if self.dist.is_main:  # held since __init__; a second fit() takes it again
            self.run_lock = relock(self.run_lock, self.run_dir)
        t_last = t_start = time.perf_counter()
        restore_signals = defer_stop_signals(self)
        try:
            while self.step < cfg.train.niter and not self.stopped_early:
                feed = BatchFeed(self)  # this epoch's batches, one ahead; a data error saves the last step, then stops
                for batch in feed:
                    self.step += 1
                    self.batch_in_epoch += 1
                    self._train_mode()
                    lr = self.to_model_layout(batch["lr"].to(self.device, non_blocking=True))
                    hr = batch["hr"].to(self.device, non_blocking=True)
                    values = self.train_step(lr, hr)
                    if self.step % cfg.logging.log_freq == 0 or self.step == cfg.train.niter:
                        now = time.perf_counter()
                        last = {**values, **self.learning_rates(), "epoch": self.epoch,
                                "sec_per_it": (now - t_last) / cfg.logging.log_freq}
                        t_last = now
                        log.scalars(self.step, last)
                    for s in self.schedulers.values():
                        s.step()
                    log.advance()
                    if self.val_images and (self.step % cfg.logging.val_freq == 0 or self.step == cfg.train.niter):
                        self.validate()
                    out_of_time = self._out_of_time(t_start)
                    if self.step < cfg.train.niter and not out_of_time:
                        feed.fetch()  # batch N+1 before the agreement: torchrun ranks never train a step one lacks
                    agree_to_stop(self, feed)  # torchrun: a signal or bad batch on any rank stops all after this step
                    if self.step % cfg.logging.save_freq == 0 or self.step == cfg.train.niter or out_of_time \
                            or self.interrupted:
                        self.save()
                    if self.interrupted:
                        self.stopped_early = True
                        log.message(f"[{cfg.name}] interrupted at step {self.step} by {SIGNAL_NAMES[self.stop_signal]}: "
                                    "checkpoint saved, "
                                    "--resume continues")
                    elif out_of_time:
                        self.stopped_early = True
                        log.message(f"[{cfg.name}] train.time_limit_s={cfg.train.time_limit_s:g} reached at step "
                                    f"{self.step}: checkpoint saved, --resume continues")
                    if self.step >= cfg.train.niter or self.stopped_early:
                        break
                else:
                    self.epoch += 1
                    self.batch_in_epoch = 0
        finally:
            restore_signals()
            log.close()
            if self.run_lock is not None:  # the run's writing is over: the folder is free
                self.run_lock.release()
        if self.interrupted:
            return last
        log.message(f"[{cfg.name}] done at step {self.step}; generator: {self.run_dir / 'models'}")
        return last

    @property
    def interrupted(self) -> bool:
        """True once SIGINT (Ctrl-C) or SIGTERM stopped fit() (:mod:`spsr_lib.train.stopping`)."""
        return self.stop_signal is not None

    def _out_of_time(self, t_start: float) -> bool:
        """True once ``train.time_limit_s`` has passed (rank 0's clock decides for every rank)."""
        limit = self.cfg.train.time_limit_s
        if limit is None:
            return False
        out = time.perf_counter() - t_start >= limit
        if not self.dist.enabled:  # a plain host check: no device tensor, no sync on the hot path
            return out
        import torch.distributed as dist

        flag = torch.tensor([float(out)], device=self.device)
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    def train_step(self, lr: Tensor, hr: Tensor) -> dict[str, float]:
        """One iteration of the configured stage on a batch already on the device (no scheduler step)."""
        if self.graphed_step is not None:
            return self.graphed_step(lr, hr)
        return (psnr_step if self.cfg.stage == "psnr" else spsr_step)(self, lr, hr)

    def close(self) -> None:
        """End the run: free the process group and the run lock of ``output_dir``."""
        shutdown(self.dist)
        if self.run_lock is not None:
            self.run_lock.release()

    def _train_mode(self) -> None:
        for net in (self.G, self.D, self.D_grad):
            if net is not None:
                net.train()

    @staticmethod
    def _count(net: nn.Module) -> str:
        return f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f}M"

    # ------------------------------------------------------------------------------------- validation
    def validate(self) -> dict[str, float]:
        from spsr_lib.train.data import validate_model

        results, grids = validate_model(self.export_model, self.val_images, self.cfg, self.device)
        self.logger.scalars(self.step, results, kind="val")
        self.logger.images(self.step, grids)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in results.items())
        self.logger.message(f"[{self.cfg.name}] step {self.step}: {shown}")
        return results

    # ------------------------------------------------------------------------------------ checkpoints
    def state_payload(self) -> dict[str, Any]:
        nets = {"G": self.G, "D": self.D, "D_grad": self.D_grad}
        opts = {"G": self.opt_G, "D": self.opt_D, "D_grad": self.opt_D_grad}
        payload: dict[str, Any] = {
            "stage": self.cfg.stage, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "world_size": self.dist.world_size, "config": config_to_dict(self.cfg),
            "scaler": self.scaler.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
        }
        if self.d_pause.enabled:
            payload["d_pause"] = self.d_pause.state_dict()
        for k, net in nets.items():
            if net is not None:
                payload[k] = net.state_dict()
                payload[f"opt_{k}"] = opts[k].state_dict()
                payload[f"sched_{k}"] = train_state.scheduler_state(self.schedulers[k])
        return payload

    def save(self) -> Path | None:
        """Rank 0 writes the full training state and the generator; every rank waits for it."""
        path = None
        if self.dist.is_main:
            check_savable(self)  # never a checkpoint of NaN/Inf or diverged weights
            path = train_state.save_state(self.run_dir, self.step, self.state_payload(), self.cfg.logging.keep_last)
            self._export_generator()
        barrier(self.dist)
        return path

    def _export_generator(self) -> None:
        from spsr_lib.io.checkpoint import save_generator

        models = self.run_dir / "models"
        save_generator(self.export_model, models / f"G_{self.step:08d}.safetensors")
        save_generator(self.export_model, models / "G_latest.safetensors")
        for old in sorted(models.glob("G_[0-9]*.safetensors"))[:-self.cfg.logging.keep_last]:
            old.unlink(missing_ok=True)

    def _resume(self) -> None:
        resume_trainer(self)  # spsr_lib.train.resume: refuses a changed architecture, applies changed lr/betas
