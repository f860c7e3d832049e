"""The loss ablation's verdict, in words computed from the results file (paper: Ma et al., CVPR 2020, Sec. 4.4).

Three rules hold for everything written here:

- **one sign convention**, stated once in the text: a gap is oriented so that *positive = the first-named variant
  is better*; for a lower-is-better metric (LPIPS, DISTS, gradient L1, colour shift, phase index) it is the
  second's mean minus the first's. Both means are printed beside every gap, and a word ("better", "worse",
  "within the noise") says what the sign means;
- **one metric per count**: "better beyond the noise on 2 of 3 sets" counts LPIPS cells, or gradient-L1 cells,
  never both together;
- **within a backbone only**: (a)-(d) are RRDBNet, (e)/(f) SRResNet, started from different stage-1 networks;
  no sentence ranks a variant of one against a variant of the other.

:func:`verdict` is the short generated paragraph; :func:`what_this_shows` the conclusions (the issue's questions
on Urban100 (026–075), the phase-index check, whether the branch trained, the paper's figures and statements,
and the reasons a result may differ from the paper's; :mod:`spsr_lib.notebook.ablation_findings`). Both work on the first edition's file too (no Urban100,
no phase index: they say "not measured"). Pure Python: no IPython import.
"""

from __future__ import annotations

from spsr_lib.notebook.ablation_numbers import (
    METRICS,
    NOISE_FACTOR,
    Comparison,
    checks,
    compare,
    has,
    mean_of,
    sets,
)

BACKBONES = {"rrdb": ("RRDBNet", "(a)–(d)"), "srresnet": ("SRResNet", "(e)/(f)")}
GAN_RRDB = ("esrgan", "grad_loss", "spsr")
PHASE_LIMIT = 1.4  # issue 28: no GAN-stage RRDBNet variant above this phase index (HR images: about 1.1)
CLAIMS = (("gan_losses", "esrgan", "l1"), ("gradient_losses", "grad_loss", "esrgan"),
          ("gradient_branch", "spsr", "grad_loss"), ("guidance_on_other_networks", "srresnet_guided",
                                                     "srresnet_esrgan"))
CONVENTION = (f"Sign convention (the only one used here): a gap is oriented so that **positive = the first-named "
              f"variant is better**; for lower-is-better metrics (LPIPS, DISTS, gradient L1, colour shift, phase "
              f"index) it is the second's mean minus the first's. A gap counts when it exceeds {NOISE_FACTOR:g}x the "
              "larger seed standard deviation of the two. Variants are compared within a backbone only: (a)–(d) "
              "RRDBNet, (e)/(f) SRResNet, which start from different stage-1 networks.")


def label(doc: dict, name: str) -> str:
    return doc["results"][name]["label"].split(" ", 1)[0]  # "(b)"


def word(c: Comparison) -> str:
    if c.noise is None:
        return "one seed: no noise estimate"
    return "better beyond the noise" if c.significant else "worse beyond the noise" if c.worse else "within the noise"


def gap_text(doc: dict, c: Comparison) -> str:
    """``(d) 0.2754 vs (c) 0.2697: gap -0.0057 (worse beyond the noise, noise 0.0018)``."""
    dec = METRICS[c.metric][2] + (1 if METRICS[c.metric][2] >= 4 else 0)
    a, b = mean_of(doc, c.a, c.set_name, c.metric), mean_of(doc, c.b, c.set_name, c.metric)
    noise = "" if c.noise is None else f", noise {c.noise:.{dec}f}"
    return (f"{label(doc, c.a)} {a:.{dec}f} vs {label(doc, c.b)} {b:.{dec}f}: gap {c.gain:+.{dec}f} "
            f"({word(c)}{noise})")


def cells(doc: dict, a: str, b: str, metric: str) -> list[Comparison]:
    """``a`` against ``b`` on ``metric`` on every set where both have it."""
    return [compare(doc, a, b, metric, s) for s in sets(doc) if has(doc, a, s, metric) and has(doc, b, s, metric)]


def count_text(cs: list[Comparison]) -> str:
    """One metric's count: ``better beyond the noise on 2, worse on 0 of 3 sets``."""
    return (f"better beyond the noise on {sum(c.significant for c in cs)}, worse beyond it on "
            f"{sum(c.worse for c in cs)}, of {len(cs)} set(s)")


def best_within(doc: dict, metric: str, set_name: str, backbone: str) -> str | None:
    """``(c) (within the noise of (b))``: the best mean of one backbone's variants on one set, or None."""
    names = [n for n, r in doc["results"].items() if r.get("backbone") == backbone and has(doc, n, set_name, metric)]
    if not names:
        return None
    lower = METRICS[metric][1]
    ranked = sorted(names, key=lambda n: mean_of(doc, n, set_name, metric), reverse=not lower)
    if len(ranked) == 1:
        return label(doc, ranked[0])
    c = compare(doc, ranked[0], ranked[1], metric, set_name)
    tail = "" if c.noise is None else " (beyond the noise)" if c.significant else f" (within the noise of {label(doc, c.b)})"
    return label(doc, ranked[0]) + tail


def urban_set(doc: dict) -> str | None:
    """The results' Urban100 (026–075) set (or its stated subset), None in a file without one."""
    return next((s for s in sets(doc) if s.startswith("Urban100")), None)


def answer(doc: dict, a: str, b: str, metric: str, set_name: str | None) -> str:
    """Does ``a`` beat ``b`` on ``metric`` on ``set_name``: yes / no / undecided / not measured, with the numbers."""
    if set_name is None or a not in doc["results"] or b not in doc["results"] or not (
            has(doc, a, set_name, metric) and has(doc, b, set_name, metric)):
        return "not measured in this results file"
    c = compare(doc, a, b, metric, set_name)
    head = ("**yes**" if c.significant else "**no, it is worse**" if c.worse else
            "**undecided** (one seed)" if c.noise is None else "**undecided** (within the seed noise)")
    return f"{head}: {gap_text(doc, c)}"


def phase_check(doc: dict) -> tuple[bool | None, str]:
    """Issue 28: no GAN-stage RRDBNet variant ((b)-(d)) has a mean phase index above :data:`PHASE_LIMIT` on any set.
    ``(None, why)`` when the file has no phase index."""
    over, seen = [], 0
    for v in GAN_RRDB:
        for s in sets(doc):
            if v in doc["results"] and has(doc, v, s, "phase_index"):
                seen += 1
                value = mean_of(doc, v, s, "phase_index")
                if value > PHASE_LIMIT:
                    over.append(f"{label(doc, v)} {value:.2f} on {s}")
    if not seen:
        return None, "not measured in this results file"
    hr = doc.get("hr_reference", {})
    ref = "; HR images: " + ", ".join(f"{s} {v['phase_index']:.2f}" for s, v in hr.items() if "phase_index" in v) \
        if hr else ""
    if over:
        return False, f"**NO**: above {PHASE_LIMIT} for " + "; ".join(over) + ref
    return True, f"**yes**: every (b)–(d) phase index is at most {PHASE_LIMIT} on every set" + ref


def verdict(doc: dict) -> str:
    """A Markdown paragraph that states, from the numbers, what the experiment shows (the rules of the module)."""
    res, all_sets = doc["results"], sets(doc)
    n_seeds = len(doc.get("seeds", [])) or 1
    lines = [f"**Verdict** ({doc.get('pairs_done', '?')}/{doc.get('pairs_total', '?')} runs, {n_seeds} seed(s) per "
             f"variant, {doc.get('budget', '')}).", "", CONVENTION, ""]
    if not doc.get("complete", True):
        lines.append("The run is **not complete**: the figures below are partial.")
    for metric in ("lpips", "psnr_standard", "grad_l1"):
        for backbone, (name, rows) in BACKBONES.items():
            parts = [f"{s} {b}" for s in all_sets if (b := best_within(doc, metric, s, backbone))]
            if parts and sum(r.get("backbone") == backbone for r in res.values()) > 1:
                lines.append(f"- Best {METRICS[metric][0]} among {name} {rows}: " + "; ".join(parts) + ".")
    from spsr_lib.metrics.paper_ablation import COMPONENTS

    for key, new, base in CLAIMS:
        if base in res and new in res:
            what = f"{COMPONENTS[key].name}, {label(doc, new)} against {label(doc, base)}"
            for metric in ("lpips", "grad_l1"):
                cs = cells(doc, new, base, metric)
                if cs:
                    detail = "; ".join(f"{c.set_name} {gap_text(doc, c)}" for c in cs)
                    lines.append(f"- {what[0].upper() + what[1:]}, {METRICS[metric][0]}: {count_text(cs)}. {detail}.")
    ok = checks(doc)
    lines.append("- Acceptance: " + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in ok.items()) + ".")
    _, phase = phase_check(doc)
    lines.append(f"- Phase index of (b)–(d) at most {PHASE_LIMIT}: {phase}.")
    for backbone, (name, _) in BACKBONES.items():
        psnr = {n: mean_of(doc, n, all_sets[0], "psnr_standard") for n, r in res.items()
                if r.get("backbone") == backbone and has(doc, n, all_sets[0], "psnr_standard")}
        if len(psnr) > 1:
            lo, hi = min(psnr, key=psnr.get), max(psnr, key=psnr.get)
            lines.append(f"- Fidelity cost on {all_sets[0]} ({name}): PSNR ranges from {psnr[lo]:.2f} dB "
                         f"({label(doc, lo)}) to {psnr[hi]:.2f} dB ({label(doc, hi)}).")
    return "\n".join(lines)

