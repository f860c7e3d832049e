"""The trainer's view of the data: training pairs, validation images, and the validation pass.

Training pairs come from :class:`spsr_lib.data.paired.PairedImageDataset` (random aligned crops, the official
flip / flip / transpose augmentation, LR made on the fly; deterministic given seed, epoch and index, so
DDP ranks and a resumed run see exactly the samples they should). Validation uses the
same dataset class in ``phase="val"`` (whole images, HR mod-cropped, LR by MATLAB-exact uint8 bicubic: the
standard benchmark LR) and reports PSNR / SSIM on the Y channel (standard protocol, ``scale``
px shaved), LPIPS and DISTS when their weights are on this machine, and the paper's own validation number
(RGB PSNR, §7) as ``psnr_rgb``. The official validation (Set14, every 5k iterations) computed only that.
Structure (issue 24): ``phase_index`` of the SR image (``spsr_lib.metrics.phase``; ~1.1 for natural images, a
grid at the x4 period reads higher), and for a gradient-guided generator (the SPSR stage) ``branch_grad_l1``
(its branch's raw ``grad_sr`` vs M(HR), lower is better; M(bicubic) gives about 0.047 on Set5) and
``branch_zero_change`` (grey levels the SR moves when the branch feature is zeroed before the fusion), both
from the same pass that makes the SR image (:func:`spsr_lib.metrics.branch.branch_forward`).
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spsr_lib.errors import ConfigError, SPSRError
from spsr_lib.train.config import Config


def _hr_folder(path: str, key: str = "data.train") -> str:
    """Accept a dataset folder or its ``HR`` subfolder (the layout of ``../shared/data``)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"{key}: {p} does not exist (relative paths are relative to the working "
                          f"directory {Path.cwd()}); point it at a folder of HR images")
    return str(p / "HR") if (p / "HR").is_dir() else str(p)


class _ConcatWithEpoch(torch.utils.data.ConcatDataset):
    """Several training folders; accepts the ``(epoch, index)`` indices of the trainer's sampler."""

    def set_epoch(self, epoch: int) -> None:
        for ds in self.datasets:
            ds.set_epoch(epoch)

    def __getitem__(self, index):
        epoch, i = index if isinstance(index, tuple) else (None, index)
        k = bisect.bisect_right(self.cumulative_sizes, i)
        local = i - (self.cumulative_sizes[k - 1] if k else 0)
        return self.datasets[k][(epoch, local) if epoch is not None else local]


def build_train_set(cfg: Config) -> Any:
    """The training pairs of ``data.train``, each real file once (``spsr_lib.train.train_files``); the set's
    ``duplicates_note`` says how many duplicates were dropped ('' for none), for the training log."""
    from spsr_lib.data.paired import PairedImageDataset
    from spsr_lib.train.train_files import unique_training_files

    folders = [cfg.data.train] if isinstance(cfg.data.train, str) else list(cfg.data.train)
    files = unique_training_files([_hr_folder(f) for f in folders])
    sets = [PairedImageDataset(src, scale=cfg.model.scale, patch_size=cfg.data.patch_size,
                               augment=cfg.data.augment, seed=cfg.seed, cache_images=True) for src in files.sources]
    train_set = sets[0] if len(sets) == 1 else _ConcatWithEpoch(sets)
    train_set.duplicates_note = files.note()
    return train_set


def load_val_images(cfg: Config) -> list[dict[str, Any]]:
    """``[{"name", "lr", "hr"}]`` as 1x3xHxW tensors in [0,1] (HR mod-cropped, MATLAB uint8 LR), or []."""
    if not cfg.data.val:
        return []
    from spsr_lib.data.paired import PairedImageDataset

    ds = PairedImageDataset(_hr_folder(cfg.data.val, "data.val"), scale=cfg.model.scale, phase="val", augment=False)
    n = min(len(ds), cfg.data.val_max_images or len(ds))
    return [{"name": it["name"], "lr": it["lr"][None], "hr": it["hr"][None]} for it in (ds[i] for i in range(n))]


def _image_grid(lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor, grad_sr: torch.Tensor | None) -> dict:
    """LR (nearest-upsampled), SR, HR and their gradient maps, as CHW images for TensorBoard."""
    from spsr_lib.ops.gradient import gradient_map

    up = nn.functional.interpolate(lr, size=hr.shape[-2:], mode="nearest")
    row = torch.cat([up, sr, hr], dim=-1)[0].clamp(0, 1)
    grads = [gradient_map(t, padding=1) for t in (up, sr, hr)]
    grad_row = torch.cat(grads, dim=-1)[0].clamp(0, 1)
    out = {"lr_sr_hr": row, "gradient_maps_lr_sr_hr": grad_row}
    if grad_sr is not None:
        out["branch_grad_sr"] = grad_sr[0].clamp(0, 1)
    return out


@torch.no_grad()
def validate_model(model: nn.Module, images: list[dict[str, Any]], cfg: Config,
                   device: torch.device) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Mean PSNR/SSIM (Y, standard), RGB PSNR (official validation), colour shift, gradient-map PSNR, phase index,
    LPIPS, DISTS; for a gradient-guided model also branch_grad_l1 and branch_zero_change (module docstring)."""
    from spsr_lib import metrics
    from spsr_lib.metrics.branch import branch_forward, is_gradient_guided, zero_change

    was_training = model.training
    model.eval()
    scale = cfg.model.scale
    sums: dict[str, float] = {}
    grids: dict[str, torch.Tensor] = {}
    lpips_ok = cfg.logging.val_lpips
    dists_ok = cfg.logging.val_dists
    guided = is_gradient_guided(model)
    for i, item in enumerate(images):
        branch: dict[str, float] = {}
        if guided:  # one pass gives the SR image, grad_sr and the SR without the branch feature
            out = branch_forward(model, item["lr"].to(device))
            sr_zero = out.sr_zero_branch.float().cpu()
            branch = {"branch_grad_l1": float(metrics.branch_gradient_l1(out.grad_sr.float().cpu(), item["hr"],
                                                                         scale=scale)),
                      "branch_zero_change": float(zero_change(out.sr.float().cpu(), sr_zero)[0])}
        else:
            out = model(item["lr"].to(device))
        sr_raw = out.sr if hasattr(out, "sr") else out
        sr = sr_raw.float().clamp(0, 1).cpu()
        hr = item["hr"]
        # metrics of the saved PNG: round to uint8 like the official tensor2img
        sr_q = (sr * 255).round() / 255
        vals = {"psnr_y": float(metrics.psnr(sr_q, hr, scale=scale)),
                "ssim_y": float(metrics.ssim(sr_q, hr, scale=scale)),
                "psnr_rgb": float(metrics.psnr_rgb(sr_q, hr, scale=scale)),
                # a drift in mean colour shows here while it happens (LPIPS hardly sees it)
                "colour_shift": float(metrics.colour_shift(sr_q, hr, scale=scale)),
                "grad_psnr": float(metrics.gradient_psnr(sr_q, hr, scale=scale)),
                # a grid at the x4 period (needs 20 px a side; SSIM above already needs 19 at x4)
                "phase_index": float(metrics.phase_index(sr_q)), **branch}
        if lpips_ok:
            try:
                vals["lpips"] = float(metrics.lpips(sr_q, hr))
            except SPSRError:  # trunk weights not on this machine: skip, never invent a number
                lpips_ok = False
        if dists_ok:
            try:
                vals["dists"] = float(metrics.dists(sr_q, hr))
            except SPSRError:  # alpha/beta or the VGG16 trunk not here: skip, never random weights
                dists_ok = False
        for k, v in vals.items():
            sums[k] = sums.get(k, 0.0) + v
        if i == 0:
            grad_sr = out.grad_sr.float().cpu() if hasattr(out, "grad_sr") else None
            grids = _image_grid(item["lr"].float().cpu(), sr, hr, grad_sr)
    model.train(was_training)
    n = max(len(images), 1)
    results = {k: v / n for k, v in sums.items() if (k != "lpips" or lpips_ok) and (k != "dists" or dists_ok)}
    return results, grids
