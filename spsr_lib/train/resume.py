"""``--resume`` and the checks around every checkpoint write.

- :func:`resume_trainer` restores a :class:`~spsr_lib.train.trainer.Trainer` from its run's latest state. A
  changed architecture (``model.*``, ``discriminator.*``) is refused in one line naming the keys (it used to
  be a 100-line ``load_state_dict`` traceback); changed optimiser / scheduler values (``train.lr_g``,
  ``lr_d``, ``betas``, ``weight_decay_*``, ``milestones``, ``gamma``) are **applied** to the restored Adam and
  MultiStepLR states (the lr is the new base lr times gamma for every milestone already passed) and printed,
  so lowering ``train.lr_g`` after a NaN has the effect the NaN message promises. Unchanged values are left
  bit for bit as saved (an exact resume stays exact).
- :func:`check_savable` refuses to write a checkpoint of a model with NaN/Inf or diverged weights, naming
  the last good checkpoint (``train.lr_g=1e30`` used to be saved as one).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from spsr_lib.errors import CheckpointError, ConfigError, SPSRError
from spsr_lib.io.checkpoint_files import key_mismatches, weight_problem
from spsr_lib.train import state as train_state
from spsr_lib.train.config import config_to_dict
from spsr_lib.train.step import apply_branch_pretrain

OPTIMISER_KEYS = ("lr_g", "lr_d", "betas", "weight_decay_g", "weight_decay_d", "milestones", "gamma")
ARCH_SECTIONS = ("model", "discriminator")


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def changed_keys(saved: dict, now: dict) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (saved value, current value)}`` for every value that differs."""
    a, b = _flat(saved), _flat(now)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _apply_optimiser_settings(tr) -> None:
    t = tr.cfg.train
    for k, opt in (("G", tr.opt_G), ("D", tr.opt_D), ("D_grad", tr.opt_D_grad)):
        if opt is None:
            continue
        lr, wd = (t.lr_g, t.weight_decay_g) if k == "G" else (t.lr_d, t.weight_decay_d)
        sched = tr.schedulers[k]
        sched.milestones, sched.gamma = Counter(t.milestones), t.gamma
        factor = t.gamma ** sum(1 for m in t.milestones if m <= sched.last_epoch)
        sched.base_lrs = [lr for _ in opt.param_groups]
        for group in opt.param_groups:
            group.update(initial_lr=lr, lr=lr * factor, betas=tuple(t.betas), weight_decay=wd)
        sched._last_lr = [group["lr"] for group in opt.param_groups]


def resume_trainer(tr) -> None:
    """Load the latest training state of ``tr.run_dir`` into ``tr`` (nets, optimisers, schedulers, RNG, step)."""
    path = train_state.latest_state(tr.run_dir)
    if path is None:
        raise SPSRError(f"{tr.run_dir}: no checkpoints/state_*.pt to resume from; run without --resume")
    state = train_state.load_state(path, map_location="cpu")  # RNG states must stay CPU tensors
    if state.get("stage") != tr.cfg.stage:
        raise SPSRError(f"{path}: is a '{state.get('stage')}' stage checkpoint but the config says "
                        f"'{tr.cfg.stage}'; use the run's own config.yaml")
    saved, now = state.get("config") or {}, config_to_dict(tr.cfg)
    changed = changed_keys(saved, now) if saved else {}
    arch = [k for k in changed if k.split(".")[0] in ARCH_SECTIONS]
    if arch:
        shown = ", ".join(f"{k} {changed[k][0]} -> {changed[k][1]}" for k in arch[:4])
        raise ConfigError(f"{path}: the run was trained with another architecture ({shown}); a resumed run keeps "
                          "its architecture: drop those --set values, or start a new run with --set output_dir=...")
    for k, opt in (("G", tr.opt_G), ("D", tr.opt_D), ("D_grad", tr.opt_D_grad)):
        net = getattr(tr, k)
        if net is None:
            continue
        if k not in state:
            raise SPSRError(f"{path}: has no {k} but the config builds one; resume with the run's config.yaml")
        problem = key_mismatches(net.state_dict(), state[k])
        if problem:
            raise CheckpointError(f"{path}: {k} does not match the config's network ({problem}); resume with the "
                                  "run's config.yaml")
        net.load_state_dict(state[k])
        opt.load_state_dict(state[f"opt_{k}"])
        train_state.load_scheduler(tr.schedulers[k], state[f"sched_{k}"])
    tr.scaler.load_state_dict(state["scaler"])
    if tr.ema is not None and state.get("ema"):
        tr.ema.load_state_dict(state["ema"])
    if state.get("d_pause"):
        tr.d_pause.load_state_dict(state["d_pause"])
    tr.step, tr.epoch, tr.batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
    if any(k.removeprefix("train.") in OPTIMISER_KEYS for k in changed):
        _apply_optimiser_settings(tr)
    if changed and tr.dist.is_main:
        shown = "; ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
        print(f"note: resuming {path.name} with changed settings, applied from step {tr.step + 1}: {shown}")
    if int(state.get("world_size", 1)) != tr.dist.world_size and tr.dist.is_main:
        print(f"note: {path} was written by {state['world_size']} processes, resuming with "
              f"{tr.dist.world_size}: the data order of the current epoch changes")
    train_state.restore_rng(state["rng"])
    apply_branch_pretrain(tr, tr.step + 1)


def check_savable(tr) -> None:
    """One SPSRError line, and nothing written, when a network holds NaN/Inf or diverged weights."""
    nets = {"G": tr.G, "D": tr.D, "D_grad": tr.D_grad, "EMA of G": tr.ema.module if tr.ema is not None else None}
    for name, net in nets.items():
        problem = weight_problem(net.state_dict()) if net is not None else None
        if problem:
            last = train_state.latest_state(tr.run_dir)
            raise SPSRError(f"step {tr.step}: {name}: {problem}, so training diverged and no checkpoint was written; "
                            f"the last good checkpoint is {last or 'none (nothing saved yet)'}: lower train.lr_g "
                            "(or train.lr_d) and --resume")
