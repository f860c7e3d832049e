"""Reading the loss-ablation results file (``scripts/make_ablation_results.py``): tables with seed noise, and a
verdict computed from the numbers.

The paper's claim (Ma et al., CVPR 2020, Sec. 4.4, Table 3): the gradient losses and the gradient branch give
better perceptual quality and structure than ESRGAN's losses alone at a comparable PSNR. With a few seeds per
variant, a difference counts only when it is larger than the seed noise: here, when the gap between two
variants' means exceeds **twice the larger of their seed standard deviations** (:func:`compare`). Everything
:func:`verdict` says comes from the document it is given, so it changes when the numbers do.
Pure Python: no IPython import.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["METRICS", "Comparison", "load", "compare", "summary", "bars", "best", "checks", "verdict"]

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


def compare(doc: dict, a: str, b: str, metric: str, set_name: str) -> Comparison:
    lower = METRICS[metric][1]
    diff = _mean(doc, a, set_name, metric) - _mean(doc, b, set_name, metric)
    stds = [_std(doc, a, set_name, metric), _std(doc, b, set_name, metric)]
    noise = None if None in stds else NOISE_FACTOR * max(stds)  # type: ignore[type-var]
    return Comparison(a, b, metric, set_name, -diff if lower else diff, noise)


def sets(doc: dict) -> list[str]:
    return list(doc["evaluation"]["sets"])


def summary(doc: dict, set_name: str, metrics: tuple[str, ...] = ("psnr_standard", "ssim_standard", "lpips",
            "colour_shift", "grad_psnr", "grad_l1")) -> dict[str, dict[str, str]]:
    """``{label: {column: "mean ± std"}}`` for :func:`spsr_lib.notebook.tables.table`; bicubic first."""
    rows: dict[str, dict[str, str]] = {}
    bic = doc.get("bicubic", {}).get(set_name, {})
    if bic:
        rows["bicubic"] = {METRICS[m][0]: f"{bic[m]:.{METRICS[m][2]}f}" for m in metrics if m in bic}
    for r in doc["results"].values():
        cells = {}
        for m in metrics:
            label, _, dec = METRICS[m]
            mean, std = r["mean"][set_name].get(m), r["std"][set_name].get(m)
            cells[label] = "n/a" if mean is None else f"{mean:.{dec}f}" + ("" if std is None else f" ± {std:.{dec}f}")
        rows[r["label"]] = cells
    return rows


def bars(doc: dict, metric: str, set_name: str) -> tuple[list[str], list[float], list[float]]:
    """``(labels, means, stds)`` of every variant, for a bar chart with error bars."""
    names = list(doc["results"])
    return ([doc["results"][n]["label"] for n in names], [_mean(doc, n, set_name, metric) for n in names],
            [_std(doc, n, set_name, metric) or 0.0 for n in names])


def best(doc: dict, metric: str, set_name: str, among: list[str] | None = None) -> tuple[str, Comparison | None]:
    """The variant with the best mean, and its comparison with the runner-up (None with one variant)."""
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


def _label(doc: dict, name: str) -> str:
    return doc["results"][name]["label"].split(" ", 1)[0]  # "(b)"


def _gap(doc: dict, c: Comparison) -> str:
    dec = METRICS[c.metric][2] + (1 if METRICS[c.metric][2] >= 4 else 0)
    if c.noise is None:
        return f"{_label(doc, c.a)} vs {_label(doc, c.b)}: {c.gain:+.{dec}f} (one seed: no noise estimate)"
    verdict = ("better, beyond the seed noise" if c.significant else
               "worse, beyond the seed noise" if c.worse else "within the seed noise")
    return f"{_label(doc, c.a)} vs {_label(doc, c.b)}: {c.gain:+.{dec}f} ({verdict}, noise {c.noise:.{dec}f})"


def verdict(doc: dict) -> str:
    """A Markdown paragraph that states, from the numbers, what the experiment shows."""
    res, all_sets = doc["results"], sets(doc)
    n_seeds = len(doc.get("seeds", [])) or 1
    lines = [f"**Verdict** ({doc.get('pairs_done', '?')}/{doc.get('pairs_total', '?')} runs, {n_seeds} seed(s) per "
             f"variant, {doc.get('budget', '')}; a gap counts when it exceeds {NOISE_FACTOR:g}x the larger seed "
             "standard deviation)."]
    if not doc.get("complete", True):
        lines.append("The run is **not complete**: the figures below are partial.")
    for metric in ("lpips", "psnr_standard", "grad_l1"):
        parts = []
        for s in all_sets:
            name, c = best(doc, metric, s)
            tail = ("" if c is None or c.noise is None else " (beyond the noise)" if c.significant
                    else f" (within the noise of {_label(doc, c.b)})")
            parts.append(f"{s} {_label(doc, name)}{tail}")
        lines.append(f"- Best {METRICS[metric][0]}: " + "; ".join(parts) + ".")
    claims = [("l1", "esrgan", "ESRGAN's losses (b) against L1 (a)"),
              ("esrgan", "grad_loss", "the gradient losses (c) against (b)"),
              ("grad_loss", "spsr", "the gradient branch (d) against (c)"),
              ("srresnet_esrgan", "srresnet_guided", "gradient guidance on SRResNet (f) against (e)")]
    for base, new, what in claims:
        if base in res and new in res:
            cs = [compare(doc, new, base, m, s) for s in all_sets for m in ("lpips", "grad_l1")]
            wins = sum(c.significant for c in cs)
            losses = sum(c.worse for c in cs)
            detail = "; ".join(f"{c.set_name} {METRICS[c.metric][0]} {_gap(doc, c)}" for c in cs if c.metric == "lpips")
            lines.append(f"- {what[0].upper() + what[1:]}: better beyond the noise in {wins} and worse in {losses} of "
                         f"{len(cs)} (set, LPIPS / gradient L1) cells. LPIPS: {detail}.")
    ok = checks(doc)
    lines.append("- Acceptance: " + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in ok.items()) + ".")
    psnr = {n: _mean(doc, n, all_sets[0], "psnr_standard") for n in res}
    lo, hi = min(psnr, key=psnr.get), max(psnr, key=psnr.get)
    lines.append(f"- Fidelity cost on {all_sets[0]}: PSNR ranges from {psnr[lo]:.2f} dB ({_label(doc, lo)}) to "
                 f"{psnr[hi]:.2f} dB ({_label(doc, hi)}).")
    return "\n".join(lines)


def markdown(doc: dict) -> str:
    """The whole result as Markdown: how it was made, one mean ± std table per set, the verdict."""
    from spsr_lib.notebook.tables import table

    head = [f"# Loss ablation: {doc.get('pairs_done')}/{doc.get('pairs_total')} runs "
            f"({'complete' if doc.get('complete') else 'INCOMPLETE'})", "",
            f"- command: `{doc.get('command')}`", f"- machine: {doc.get('machine')} ({doc.get('precision', 'fp32')})",
            f"- budget: {doc.get('budget')}; seeds {doc.get('seeds')}; training {doc.get('train_seconds_total')} s "
            f"in all, wall {doc.get('wall_seconds')} s",
            f"- stage 1: {doc.get('stage1')}", f"- evaluation: {doc.get('evaluation', {}).get('note')}; "
            f"{doc.get('evaluation', {}).get('std')}", ""]
    body = [table(summary(doc, s), index="variant", caption=s)._repr_markdown_() + "\n" for s in sets(doc)]
    return "\n".join(head + body + [verdict(doc), ""])
