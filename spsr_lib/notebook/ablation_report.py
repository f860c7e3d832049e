"""Reading the loss-ablation results file (``scripts/make_ablation_results.py``): tables with seed noise, and a
verdict computed from the numbers.

The paper's claim (Ma et al., CVPR 2020, Sec. 4.4, Table 3): the gradient losses and the gradient branch give
better perceptual quality and structure than ESRGAN's losses alone at a comparable PSNR. With a few seeds per
variant, a difference counts only when it is larger than the seed noise: here, when the gap between two
variants' means exceeds **twice the larger of their seed standard deviations** (:func:`compare`). Everything
:func:`verdict` and :func:`what_this_shows` say comes from the document they are given, so it changes when the
numbers do; their rules (one sign convention, one metric per count, within a backbone only) are in
:mod:`spsr_lib.notebook.ablation_verdict`. Works on both editions' files (``data/ablation_results``, the first;
``data/ablation_results_v2``, the second, with Urban100 (026–075), DISTS, the phase index and the branch
diagnostics). Pure Python: no IPython import.
"""

from __future__ import annotations

from spsr_lib.notebook.ablation_findings import findings
from spsr_lib.notebook.ablation_numbers import (  # noqa: F401  (the report's API, used by notebook 03)
    COLOUR_LIMIT,
    GAN_RRDB,
    METRICS,
    NOISE_FACTOR,
    Comparison,
    best,
    checks,
    compare,
    has,
    load,
    mean_of,
    sets,
    std_of,
)
from spsr_lib.notebook.ablation_verdict import verdict as _verdict

__all__ = ["METRICS", "Comparison", "load", "compare", "summary", "bars", "best", "checks", "verdict",
           "what_this_shows", "has", "mean_of", "sets", "markdown"]
EXTRA_COLUMNS = ("dists", "phase_index", "branch_grad_l1", "bicubic_grad_l1", "branch_zero_change")


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
    return ([doc["results"][n]["label"] for n in names], [mean_of(doc, n, set_name, metric) for n in names],
            [std_of(doc, n, set_name, metric) or 0.0 for n in names])


def verdict(doc: dict) -> str:
    """A Markdown paragraph that states, from the numbers, what the experiment shows
    (:func:`spsr_lib.notebook.ablation_verdict.verdict`)."""
    return _verdict(doc)


def what_this_shows(doc: dict) -> str:
    """The conclusions as Markdown: the issue's questions answered on Urban100 (026–075), the phase-index check,
    whether the branch trained, the paper's figures and statements, and why results may differ
    (:func:`spsr_lib.notebook.ablation_findings.findings`)."""
    return findings(doc)


def markdown(doc: dict) -> str:
    """The whole result as Markdown: how it was made, one mean ± std table per set, the verdict."""
    from spsr_lib.notebook.tables import table

    head = [f"# Loss ablation: {doc.get('pairs_done')}/{doc.get('pairs_total')} runs "
            f"({'complete' if doc.get('complete') else 'INCOMPLETE'})", "",
            f"- command: `{doc.get('command')}`", f"- machine: {doc.get('machine')} ({doc.get('precision', 'fp32')})",
            f"- budget: {doc.get('budget')}; seeds {doc.get('seeds')}; training {doc.get('train_seconds_total')} s "
            f"in all, wall {doc.get('wall_seconds')} s",
            f"- stage 1: {doc.get('stage1')}" + (f" (residual {doc['residual']})" if doc.get("residual") else ""),
            f"- evaluation: {doc.get('evaluation', {}).get('note')}; "
            f"{doc.get('evaluation', {}).get('std')}", ""]
    base = ("psnr_standard", "ssim_standard", "lpips", "colour_shift", "grad_psnr", "grad_l1")
    body = []
    for s in sets(doc):  # the second edition's metrics as extra columns where any variant has them
        extra = tuple(m for m in EXTRA_COLUMNS if any(has(doc, v, s, m) for v in doc["results"]))
        body.append(table(summary(doc, s, base + extra), index="variant", caption=s)._repr_markdown_() + "\n")
    return "\n".join(head + body + [verdict(doc), "", what_this_shows(doc), ""])
