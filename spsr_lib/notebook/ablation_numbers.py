"""The numbers of the loss-ablation results file: per-variant means and seed stds, and when a gap is real.

Paper: Ma et al., CVPR 2020, Sec. 4.4. With a few seeds per variant, a difference counts only when the gap between
two variants' means exceeds **twice the larger of their seed standard deviations** (:func:`compare`); a
:class:`Comparison`'s ``gain`` is oriented so that positive means its first variant is better, whatever the
metric's direction. The base of :mod:`~spsr_lib.notebook.ablation_report` (tables),
:mod:`~spsr_lib.notebook.ablation_verdict` (the verdict) and :mod:`~spsr_lib.notebook.ablation_findings` (the
conclusions). Pure Python: no IPython import.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

# metric -> (column label, lower is better, decimals)
METRICS: dict[str, tuple[str, bool, int]] = {
    "psnr_standard": ("PSNR (dB)", False, 2),
    "ssim_standard": ("SSIM", False, 4),
    "psnr_spsr": ("PSNR, paper protocol (dB)", False, 2),
    "ssim_spsr": ("SSIM, paper protocol", False, 4),
    "lpips": ("LPIPS", True, 4),
    "colour_shift": ("colour shift", True, 2),
    "grad_psnr": ("gradient PSNR (dB)", False, 2),
    "grad_l1": ("gradient L1", True, 4),
    "dists": ("DISTS", True, 4),
    "phase_index": ("phase index", True, 2),
    "branch_grad_l1": ("branch gradient L1", True, 4),  # the branch's raw grad_sr against M(HR)
    "bicubic_grad_l1": ("M(bicubic) gradient L1", True, 4),  # its reference: a branch that learnt beats it
    "branch_zero_change": ("branch zero change", False, 2),  # grey levels: how much the fusion uses the branch
}
NOISE_FACTOR = 2.0  # a gap counts when it exceeds this many (larger) seed standard deviations
COLOUR_LIMIT = 2.0  # grey levels: the largest mean-colour shift a usable model may have


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b`` on one metric of one set; ``gain`` > 0 means ``a`` is better."""

    a: str
    b: str
    metric: str
    set_name: str
    gain: float
    noise: float | None  # NOISE_FACTOR x the larger seed std of the two; None with one seed (no estimate)

    @property
    def significant(self) -> bool:
        """True when ``a`` is better than ``b`` by more than the noise (never with one seed)."""
        return self.noise is not None and self.gain > self.noise

    @property
    def worse(self) -> bool:
        return self.noise is not None and -self.gain > self.noise


def load(path: str | os.PathLike) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _std(doc: dict, variant: str, set_name: str, metric: str) -> float | None:
    value = doc["results"][variant]["std"].get(set_name, {}).get(metric)
    return None if value is None else float(value)


def _mean(doc: dict, variant: str, set_name: str, metric: str) -> float:
    return float(doc["results"][variant]["mean"][set_name][metric])


mean_of = _mean
std_of = _std


def has(doc: dict, variant: str, set_name: str, metric: str) -> bool:
    """True when ``variant`` has a mean of ``metric`` on ``set_name`` (the first edition has no phase index...)."""
    return doc["results"][variant]["mean"].get(set_name, {}).get(metric) is not None


def compare(doc: dict, a: str, b: str, metric: str, set_name: str) -> Comparison:
    lower = METRICS[metric][1]
    diff = _mean(doc, a, set_name, metric) - _mean(doc, b, set_name, metric)
    stds = [_std(doc, a, set_name, metric), _std(doc, b, set_name, metric)]
    noise = None if None in stds else NOISE_FACTOR * max(stds)  # type: ignore[type-var]
    return Comparison(a, b, metric, set_name, -diff if lower else diff, noise)


def sets(doc: dict) -> list[str]:
    return list(doc["evaluation"]["sets"])


def best(doc: dict, metric: str, set_name: str, among: list[str] | None = None) -> tuple[str, Comparison | None]:
    """The variant with the best mean, and its comparison with the runner-up (None with one variant).

    ``among``: the variants to rank; give one backbone's (the verdict never ranks across backbones)."""
    names = among or list(doc["results"])
    lower = METRICS[metric][1]
    ranked = sorted(names, key=lambda n: _mean(doc, n, set_name, metric), reverse=not lower)
    return ranked[0], (compare(doc, ranked[0], ranked[1], metric, set_name) if len(ranked) > 1 else None)


GAN_RRDB = ("esrgan", "grad_loss", "spsr")


def checks(doc: dict, check_sets: tuple[str, ...] = ("Set5", "Set14")) -> dict[str, bool]:
    """The experiment's acceptance tests: (b)-(d) beat (a) on LPIPS beyond the noise on Set5 and Set14, and no
    variant shifts the mean colour by more than :data:`COLOUR_LIMIT` grey levels on any set."""
    res = doc["results"]
    out = {}
    for s in check_sets:
        if s in sets(doc) and "l1" in res:
            out[f"GAN variants beat (a) on LPIPS, {s}"] = all(
                compare(doc, v, "l1", "lpips", s).significant for v in GAN_RRDB if v in res)
    out["colour shift <= 2 for every variant"] = all(
        _mean(doc, v, s, "colour_shift") <= COLOUR_LIMIT for v in res for s in sets(doc))
    return out


