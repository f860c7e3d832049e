"""What the loss ablation shows, as Markdown conclusions computed from its results file (notebook 03 and the
results Markdown call it through :func:`spsr_lib.notebook.ablation_report.what_this_shows`).

Paper: Ma et al., CVPR 2020, Sec. 3.2, 3.3, 4.3 and 4.4. The conclusions follow the rules of
:mod:`spsr_lib.notebook.ablation_verdict` (one sign convention, one metric per count, within a backbone only) and
say, in this order: the questions of issue 28 (does (c) beat (b), does (d) beat (c), on LPIPS and gradient L1 on
Urban100 (026–075), beyond 2x the seed std either way) and the phase-index check; whether the gradient branch
trained; each component against what the paper states about it (:mod:`spsr_lib.metrics.paper_ablation`); the
paper's Table 1 rows for ESRGAN and SPSR beside the kit's (b) and (d) (:mod:`spsr_lib.metrics.paper_table`); and
the reasons the kit's result may differ. Negative results are written as such. Pure Python: no IPython import.
"""

from __future__ import annotations

from spsr_lib.metrics import paper_ablation, paper_table
from spsr_lib.notebook.ablation_numbers import METRICS, has, mean_of, sets
from spsr_lib.notebook.ablation_verdict import (
    CLAIMS,
    CONVENTION,
    answer,
    cells,
    count_text,
    label,
    phase_check,
    urban_set,
)
from spsr_lib.train.ablation_budget import BRANCH_MARGIN, LOSS_DROP, loss_fell

PAPER_PIXELS = 5e5 * 30 * 128 * 128  # the paper's training budget: iterations x batch x HR patch pixels


def _component_line(doc: dict, key: str, new: str, base: str) -> str | None:
    """The paper's statement on one component, and whether the kit's numbers agree, per metric."""
    if new not in doc["results"] or base not in doc["results"]:
        return None
    comp = paper_ablation.COMPONENTS[key]
    parts, tally, names = [], [], []
    for metric in ("lpips", "grad_l1", "dists"):
        cs = cells(doc, new, base, metric)
        if cs:
            better, worse = sum(c.significant for c in cs), sum(c.worse for c in cs)
            tally.append((better, worse))
            names.append(METRICS[metric][0])
            parts.append(f"{METRICS[metric][0]} {count_text(cs)}")
    if not tally:
        return None
    better, worse = sum(b for b, _ in tally), sum(w for _, w in tally)
    silent = [name for name, (b, w) in zip(names, tally) if not b and not w]
    if better and not worse and silent:  # e.g. structure better, LPIPS within the noise: not the whole claim
        agree = (f"**partly agrees** with the paper on this budget ({', '.join(silent)} within the seed noise "
                 "on every set)")
    elif better and not worse:
        agree = "**agrees** with the paper on this budget"
    elif worse and not better:
        agree = "**does not reproduce** the paper's claim on this budget (worse beyond the noise, never better)"
    elif better and worse:
        agree = "is **mixed**: better beyond the noise on some cells, worse on others"
    else:
        agree = "is **undecided**: every gap is within the seed noise"
    return (f"- **{comp.name[0].upper() + comp.name[1:]}** ({label(doc, new)} against {label(doc, base)}). The paper "
            f"({comp.section}): {comp.claim}. Here: {'; '.join(parts)}. The kit's result {agree}.")


def _branch_lines(doc: dict) -> list[str]:
    """Did the branch train: grad_sr against M(bicubic), how much the image uses it, its loss curve."""
    out = []
    for v in ("spsr", "srresnet_guided"):
        if v not in doc["results"]:
            continue
        r = doc["results"][v]
        rows = [(s, mean_of(doc, v, s, "branch_grad_l1"), mean_of(doc, v, s, "bicubic_grad_l1"))
                for s in sets(doc) if has(doc, v, s, "branch_grad_l1") and has(doc, v, s, "bicubic_grad_l1")]
        curve = r.get("curves", {}).get(str(r.get("median_seed")), {})
        steps, vals = curve.get("step", []), curve.get("l_branch_pixel", [])
        logged = [x for x in vals if x is not None]
        n = max(1, len(logged) // 5)
        fell = loss_fell(steps, vals, max(steps, default=0))
        loss = (f"its loss l_branch_pixel went from {sum(logged[:n]) / n:.4f} (first fifth) to "
                f"{sum(logged[-n:]) / n:.4f} (last fifth) in the median seed, "
                f"{'a fall' if fell else 'not a fall'} of at least {LOSS_DROP:.0%}") if len(logged) >= 5 else \
            "its loss curve has too few logged values to tell whether it fell"
        if not rows:
            out.append(f"- {label(doc, v)}: the branch diagnostics were not measured in this results file; {loss}.")
            continue
        # the budget rule's test (spsr_lib.train.ablation_budget): 2 % closer than M(bicubic), and the loss fell;
        # with residual: bicubic the branch starts at M(torch-bicubic), already a little closer than MATLAB's
        closer = [s for s, b, m in rows if b <= (1.0 - BRANCH_MARGIN) * m]
        zero = [mean_of(doc, v, s, "branch_zero_change") for s in sets(doc) if has(doc, v, s, "branch_zero_change")]
        detail = "; ".join(f"{s} {b:.4f} vs {m:.4f}" for s, b, m in rows)
        used = f"zeroing its feature changes the image by {min(zero):.2f}–{max(zero):.2f} grey levels; " if zero else ""
        trained = len(closer) == len(rows) and fell
        out.append(f"- {label(doc, v)}: the branch's grad_sr is at least {BRANCH_MARGIN:.0%} closer to M(HR) than "
                   f"M(bicubic) is on {len(closer)} of {len(rows)} sets (branch vs bicubic gradient L1: {detail}); "
                   f"{used}{loss}. " + ("The branch **trained**." if trained else
                                        "The branch **did not** demonstrably train (the rule of "
                                        "docs/ABLATION.md 'Sizing the budget')."))
    return out


def _crop_lines(doc: dict) -> list[str]:
    """The crops chosen by rule (``rule_crops`` of the results file): which variant is closer on each tile."""
    rc = doc.get("rule_crops")
    if not rc or not rc.get("tiles"):
        return []
    known = [t for t in rc["tiles"] if t["better"] in doc["results"]]
    tiles = "; ".join(f"{t['image']} at ({t['top']}, {t['left']}): {label(doc, t['better'])} closer to M(HR) "
                      f"(gradient L1 (b) {t['grad_l1'].get('esrgan', float('nan')):.4f}, (d) "
                      f"{t['grad_l1'].get('spsr', float('nan')):.4f})" for t in known)
    wins = sum(t["better"] == "spsr" for t in known)
    return ["", f"**Crops chosen by rule** (`{rc['folder']}/`, {rc['set']}; {rc['rule']}; {rc['from']}): (d) is the "
                f"closer on {wins} of {len(known)} tiles. {tiles}."]


def _paper_rows(doc: dict) -> list[str]:
    """Table 1's ESRGAN and SPSR LPIPS/PSNR beside the kit's (b) and (d) on the sets both have."""
    table = paper_table.paper_table1()
    lines = ["| set | paper ESRGAN LPIPS / PSNR | paper SPSR LPIPS / PSNR | kit (b) LPIPS / PSNR | kit (d) LPIPS / PSNR |",
             "|---|---|---|---|---|"]
    for s in paper_table.SETS:
        kit = next((k for k in sets(doc) if k == s or k.startswith(s + " ") or k.startswith(s + "-")), None)

        def cell(v: str, kit_set: str | None = kit) -> str:
            if kit_set is None or v not in doc["results"] or not has(doc, v, kit_set, "lpips"):
                return "–"
            psnr = mean_of(doc, v, kit_set, "psnr_spsr") if has(doc, v, kit_set, "psnr_spsr") else float("nan")
            return f"{mean_of(doc, v, kit_set, 'lpips'):.4f} / {psnr:.2f}"

        e, p = table["ESRGAN"][s], table["SPSR"][s]
        lines.append(f"| {s}{'' if kit in (None, s) else f' (kit: {kit})'} | {e['lpips']:.4f} / {e['psnr']:.2f} | "
                     f"{p['lpips']:.4f} / {p['psnr']:.2f} | {cell('esrgan')} | {cell('spsr')} |")
    better = [s for s in paper_table.SETS if table["SPSR"][s]["lpips"] < table["ESRGAN"][s]["lpips"]]
    lines += ["", f"In the paper SPSR's LPIPS is lower than ESRGAN's on {len(better)} of {len(paper_table.SETS)} sets "
              f"(by {min(table['ESRGAN'][s]['lpips'] - table['SPSR'][s]['lpips'] for s in better):.4f}–"
              f"{max(table['ESRGAN'][s]['lpips'] - table['SPSR'][s]['lpips'] for s in better):.4f}). Source: "
              f"{paper_table.SOURCE}. PSNR: the paper's protocol (the kit's `psnr_spsr`). Note: {paper_table.NOTE}."]
    return lines


def _reasons(doc: dict) -> list[str]:
    """Why the kit's result may differ from the paper's, from what the file says about the run."""
    steps, batch, patch = doc.get("steps"), doc.get("batch_size"), doc.get("patch_size")
    share = f"{steps * batch * patch * patch / PAPER_PIXELS:.1e}" if steps and batch and patch else "a tiny fraction"
    out = [f"- **Budget**: {doc.get('budget', '?')}, about {share} of the paper's training pixels "
           f"({paper_ablation.PAPER_SETUP}).",
           "- **VGG16 instead of VGG19** for the perceptual loss (VGG19 cannot be had offline), and a far smaller "
           f"generator ({doc.get('architectures', {}).get('rrdb (nf, nb, gc)', '?')} as (nf, nb, gc) against the "
           "paper's 64 / 23 / 32).",
           "- **Kit levers every variant shares** (not the paper's): " + ", ".join(
               o for o in (doc.get("recipe", {}).get("base_config", ""),
                           f"low-frequency loss {doc.get('recipe', {}).get('low_frequency')}",
                           f"EMA {doc.get('recipe', {}).get('ema_decay')}",
                           f"global residual {doc.get('residual', 'none')}",
                           f"(d)'s fusion init {doc.get('fusion_init', 'identity')}") if o) + "."]
    b = doc["results"].get("esrgan", {})
    curve = b.get("curves", {}).get(str(b.get("median_seed")), {})
    ld = [x for x in curve.get("l_d", []) if x is not None]
    if len(ld) >= 5:
        tail = sum(ld[-len(ld) // 5:]) / len(ld[-len(ld) // 5:])
        out.append(f"- **The discriminator**: (b)'s l_d averages {tail:.2g} over the last fifth of its median seed"
                   + (" — D wins, and G's adversarial gradient is then weak." if tail < 1e-2 else "."))
    if urban_set(doc) is None:
        out.append("- **No Urban100 here**: this file has no structure-rich set; the paper's structure claim "
                   "(Sec. 4.3) is not tested by it.")
    return out


def findings(doc: dict) -> str:
    """``what_this_shows``: the conclusions as Markdown (see the module docstring)."""
    urban = urban_set(doc)
    edition = doc.get("edition", 1)
    lines = ["### What this shows", ""]
    if edition == 1:
        lines += ["*First edition* (`data/ablation_results`): the RRDBNet variants start from the weak stage 1 shipped "
                  "until 2026-12-04 (no residual, 29.3 dB on Set5), evaluation without Urban100, DISTS or the phase "
                  "index. The second edition (`data/ablation_results_v2`, prepared by `scripts/make_ablation_results.py`) "
                  "answers the questions below on Urban100 (026–075).", ""]
    if not doc.get("complete", True):
        lines += [f"**Partial results** ({doc.get('pairs_done')}/{doc.get('pairs_total')} runs): read every "
                  "conclusion as provisional.", ""]
    lines += [CONVENTION, "", f"**The questions of issue 28** (on {urban or 'Urban100 (026–075)'}):", ""]
    for new, base in (("grad_loss", "esrgan"), ("spsr", "grad_loss")):
        for metric in ("lpips", "grad_l1"):
            who = (f"{label(doc, new)} beat {label(doc, base)}" if new in doc["results"] and base in doc["results"]
                   else f"{new} beat {base}")
            lines.append(f"- Does {who} on {METRICS[metric][0]}? {answer(doc, new, base, metric, urban)}.")
    _, phase = phase_check(doc)
    lines += [f"- Is every GAN-stage RRDBNet variant ((b)–(d)) at a phase index of at most 1.4? {phase}.", "",
              "**Did the gradient branch train?**", ""]
    lines += _branch_lines(doc) or ["- No branch variant in this file."]
    lines += _crop_lines(doc)
    lines += ["", "**Each component against the paper** (all sets of this file; LPIPS, gradient L1 and DISTS counted "
              "separately):", ""]
    lines += [x for key, new, base in CLAIMS if (x := _component_line(doc, key, new, base))]
    lines += [f"- The paper's ablation figures: {paper_ablation.FIGURES_NOTE}. Source: {paper_ablation.SOURCE}.", "",
              "**The paper's Table 1 beside the kit** ((b) plays ESRGAN's losses, (d) SPSR; the kit's networks are far "
              "smaller and trained far shorter, so compare directions, not values):", ""]
    lines += _paper_rows(doc)
    lines += ["", "**Why the kit's result may differ from the paper's**", ""] + _reasons(doc)
    lines += ["", "(e)/(f) (SRResNet) are compared with each other only: their stage 1 is another network, so a "
              "lower LPIPS there says nothing about (a)–(d)."]
    return "\n".join(lines)
