"""ablation_report: the tables and the verdict of notebook 03 come from the numbers of the results file.

Each test builds a small synthetic document of ``scripts/make_ablation_results.py``'s schema (seeds, mean, std),
changes its numbers, and checks that what the report says changes with them.
"""

from __future__ import annotations

import copy

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from spsr_lib.notebook import ablation_report as ar  # noqa: E402
from spsr_lib.notebook import plots  # noqa: E402

SETS = ("Set5", "Set14")
LABELS = {"l1": "(a) L1 only", "esrgan": "(b) pixel + perceptual + GAN", "grad_loss": "(c) (b) + gradient losses",
          "spsr": "(d) full SPSR", "srresnet_esrgan": "(e) SRResNet, ESRGAN losses",
          "srresnet_guided": "(f) SRResNet + gradient guidance, SPSR losses"}
# variant -> metric -> mean (the same on every set); every metric has the seed spread SPREAD[metric]
MEANS = {
    "l1": {"psnr_standard": 28.0, "ssim_standard": 0.80, "lpips": 0.40, "colour_shift": 0.5, "grad_psnr": 24.0,
           "grad_l1": 0.040},
    "esrgan": {"psnr_standard": 27.0, "ssim_standard": 0.78, "lpips": 0.30, "colour_shift": 0.8, "grad_psnr": 23.8,
               "grad_l1": 0.036},
    "grad_loss": {"psnr_standard": 27.0, "ssim_standard": 0.78, "lpips": 0.28, "colour_shift": 0.8,
                  "grad_psnr": 23.9, "grad_l1": 0.034},
    "spsr": {"psnr_standard": 26.9, "ssim_standard": 0.78, "lpips": 0.26, "colour_shift": 0.9, "grad_psnr": 24.0,
             "grad_l1": 0.032},
}
SPREAD = {"psnr_standard": 0.05, "ssim_standard": 0.002, "lpips": 0.002, "colour_shift": 0.1, "grad_psnr": 0.05,
          "grad_l1": 0.0002}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def make_doc(means: dict = MEANS, spread: dict = SPREAD, seeds: tuple[int, ...] = (1, 2, 3),
             set_names: tuple[str, ...] = SETS) -> dict:
    """A results document: per seed ``mean + offset`` with offsets (-s, 0, +s), so the sample std is exactly s."""
    offsets = [0.0] if len(seeds) == 1 else list(np.linspace(-1.0, 1.0, len(seeds)))
    results = {}
    for name, vals in means.items():
        per_seed = {str(seed): {s: {k: v + o * spread[k] for k, v in vals.items()} for s in set_names}
                    for seed, o in zip(seeds, offsets)}
        mean = {s: {k: float(np.mean([per_seed[x][s][k] for x in per_seed])) for k in vals} for s in set_names}
        std = {s: {k: float(np.std([per_seed[x][s][k] for x in per_seed], ddof=1)) if len(seeds) > 1 else None
                   for k in vals} for s in set_names}
        results[name] = {"label": LABELS[name], "backbone": "srresnet" if name.startswith("srresnet") else "rrdb",
                         "gradient_branch": name in ("spsr", "srresnet_guided"),
                         "overrides": [], "params": 1000, "seeds": per_seed, "mean": mean, "std": std,
                         "median_seed": str(seeds[len(seeds) // 2]), "curves": {}}
    bicubic = {s: {"psnr_standard": 26.0, "ssim_standard": 0.75, "lpips": 0.50, "colour_shift": 0.1,
                   "grad_psnr": 22.0, "grad_l1": 0.045} for s in set_names}
    n = len(means) * len(seeds)
    return {"profile": "cpu", "complete": True, "pairs_done": n, "pairs_total": n, "seeds": list(seeds),
            "budget": "600 GAN-stage steps", "evaluation": {"sets": list(set_names)}, "bicubic": bicubic,
            "results": results}


def set_metric(doc: dict, variant: str, metric: str, value: float, std: float | None = None) -> None:
    """Move ``variant``'s mean of ``metric`` to ``value`` (and its std to ``std`` when given) on every set."""
    r = doc["results"][variant]
    for s in doc["evaluation"]["sets"]:
        r["mean"][s][metric] = value
        if std is not None:
            r["std"][s][metric] = std


def test_verdict_of_the_baseline_document():
    doc = make_doc()
    assert ar.checks(doc) == {"GAN variants beat (a) on LPIPS, Set5": True, "GAN variants beat (a) on LPIPS, Set14": True,
                              "colour shift <= 2 for every variant": True}
    text = ar.verdict(doc)
    assert text.startswith("**Verdict** (12/12 runs, 3 seed(s) per variant, 600 GAN-stage steps")
    assert text.count("Sign convention") == 1 and "**positive = the first-named variant is better**" in text
    assert "- Best LPIPS among RRDBNet (a)–(d): Set5 (d) (beyond the noise); Set14 (d) (beyond the noise)." in text
    assert "- Best PSNR (dB) among RRDBNet (a)–(d): Set5 (a) (beyond the noise)" in text
    assert "- Best gradient L1 among RRDBNet (a)–(d): Set5 (d) (beyond the noise)" in text
    # (b) vs (a): LPIPS 0.10 better with noise 2 x 0.002 on both sets; gradient L1 0.004 better: counted apart
    assert ("ESRGAN's perceptual and adversarial losses, (b) against (a), LPIPS: better beyond the noise on 2, "
            "worse beyond it on 0, of 2 set(s).") in text
    assert "(b) against (a), gradient L1: better beyond the noise on 2, worse beyond it on 0, of 2 set(s)." in text
    assert "Set5 (b) 0.30000 vs (a) 0.40000: gap +0.10000 (better beyond the noise, noise 0.00400)" in text
    assert "(c) against (b), LPIPS: better beyond the noise on 2, worse beyond it on 0" in text
    assert "(d) against (c), LPIPS: better beyond the noise on 2" in text
    assert "SRResNet (e)/(f)" not in text  # (e)/(f) are not in this document: no claim about them
    assert "Acceptance: GAN variants beat (a) on LPIPS, Set5: yes; GAN variants beat (a) on LPIPS, Set14: yes; " \
           "colour shift <= 2 for every variant: yes." in text
    assert "Fidelity cost on Set5 (RRDBNet): PSNR ranges from 26.90 dB ((d)) to 28.00 dB ((a))" in text
    assert "not complete" not in text


def test_verdict_and_checks_follow_the_numbers():
    base = make_doc()
    worse = copy.deepcopy(base)
    set_metric(worse, "esrgan", "lpips", 0.45)  # (b) now has a worse LPIPS than (a), far beyond the noise
    ok = ar.checks(worse)
    assert ok["GAN variants beat (a) on LPIPS, Set5"] is False and ok["GAN variants beat (a) on LPIPS, Set14"] is False
    assert ok["colour shift <= 2 for every variant"] is True
    text = ar.verdict(worse)
    assert text != ar.verdict(base)
    assert "Set5 (b) 0.45000 vs (a) 0.40000: gap -0.05000 (worse beyond the noise, noise 0.00400)" in text
    assert "(b) against (a), LPIPS: better beyond the noise on 0, worse beyond it on 2, of 2 set(s)" in text
    assert "(b) against (a), gradient L1: better beyond the noise on 2, worse beyond it on 0" in text
    assert "Set5: NO; GAN variants beat (a) on LPIPS, Set14: NO" in text
    # (c) vs (b) now gains 0.17 LPIPS; the best LPIPS is still (d)
    assert "Set5 (c) 0.28000 vs (b) 0.45000: gap +0.17000 (better" in text
    assert "Best LPIPS among RRDBNet (a)–(d): Set5 (d) (beyond the noise)" in text

    drift = copy.deepcopy(base)
    set_metric(drift, "spsr", "colour_shift", 3.0)
    assert ar.checks(drift)["colour shift <= 2 for every variant"] is False
    assert "colour shift <= 2 for every variant: NO" in ar.verdict(drift)

    partial = copy.deepcopy(base)
    partial.update(complete=False, pairs_done=7)
    assert "(7/12 runs" in ar.verdict(partial) and "**not complete**" in ar.verdict(partial)


def test_compare_separates_a_real_gap_from_seed_noise():
    doc = make_doc()
    c = ar.compare(doc, "spsr", "grad_loss", "lpips", "Set5")  # 0.02 better, noise 2 x 0.002
    assert c.gain == pytest.approx(0.02) and c.noise == pytest.approx(0.004)
    assert c.significant and not c.worse
    back = ar.compare(doc, "grad_loss", "spsr", "lpips", "Set5")
    assert back.gain == pytest.approx(-0.02) and back.worse and not back.significant
    psnr = ar.compare(doc, "l1", "esrgan", "psnr_standard", "Set14")  # higher is better: +1 dB
    assert psnr.gain == pytest.approx(1.0) and psnr.significant

    noisy = copy.deepcopy(doc)
    set_metric(noisy, "spsr", "lpips", 0.26, std=0.015)  # the same 0.02 gap, now inside 2 x 0.015
    c = ar.compare(noisy, "spsr", "grad_loss", "lpips", "Set5")
    assert c.noise == pytest.approx(0.03) and not c.significant and not c.worse
    text = ar.verdict(noisy)
    assert "Set5 (d) 0.26000 vs (c) 0.28000: gap +0.02000 (within the noise, noise 0.03000)" in text
    assert "Best LPIPS among RRDBNet (a)–(d): Set5 (d) (within the noise of (c))" in text
    # the larger of the two stds sets the noise, whichever variant it belongs to
    assert ar.compare(noisy, "grad_loss", "spsr", "lpips", "Set5").noise == pytest.approx(0.03)


def test_one_seed_has_no_noise_estimate():
    doc = make_doc(seeds=(1,))
    assert doc["results"]["spsr"]["std"]["Set5"]["lpips"] is None
    c = ar.compare(doc, "spsr", "l1", "lpips", "Set5")
    assert c.noise is None and not c.significant and not c.worse  # never significant without a noise estimate
    text = ar.verdict(doc)
    assert "1 seed(s) per variant" in text
    assert "Set5 (b) 0.30000 vs (a) 0.40000: gap +0.10000 (one seed: no noise estimate)" in text
    assert "LPIPS: better beyond the noise on 0, worse beyond it on 0, of 2 set(s)" in text
    assert "Best LPIPS among RRDBNet (a)–(d): Set5 (d);" in text  # no "(beyond the noise)" claim
    assert ar.checks(doc)["GAN variants beat (a) on LPIPS, Set5"] is False
    rows = ar.summary(doc, "Set5")
    assert rows["(d) full SPSR"]["LPIPS"] == "0.2600" and "±" not in rows["(d) full SPSR"]["PSNR (dB)"]


def test_summary_formats_mean_plus_minus_std():
    doc = make_doc()
    rows = ar.summary(doc, "Set14")
    assert list(rows) == ["bicubic", *(LABELS[n] for n in MEANS)]  # bicubic first, then the variants in file order
    assert rows["bicubic"] == {"PSNR (dB)": "26.00", "SSIM": "0.7500", "LPIPS": "0.5000", "colour shift": "0.10",
                               "gradient PSNR (dB)": "22.00", "gradient L1": "0.0450"}
    assert rows["(a) L1 only"]["PSNR (dB)"] == "28.00 ± 0.05"
    assert rows["(b) pixel + perceptual + GAN"]["LPIPS"] == "0.3000 ± 0.0020"
    assert rows["(d) full SPSR"]["gradient L1"] == "0.0320 ± 0.0002"
    assert list(ar.summary(doc, "Set5", metrics=("lpips",))["(a) L1 only"]) == ["LPIPS"]
    del doc["results"]["l1"]["mean"]["Set5"]["grad_psnr"]  # a metric a run did not produce
    assert ar.summary(doc, "Set5")["(a) L1 only"]["gradient PSNR (dB)"] == "n/a"


def test_bars_feed_metric_bars_with_error_bars():
    doc = make_doc()
    labels, means, stds = ar.bars(doc, "lpips", "Set5")
    assert labels == [LABELS[n] for n in MEANS]
    assert means == pytest.approx([0.40, 0.30, 0.28, 0.26]) and stds == pytest.approx([0.002] * 4)
    table = {lab: {"LPIPS": m} for lab, m in zip(labels, means)}
    errors = {lab: {"LPIPS": s} for lab, s in zip(labels, stds)}
    fig = plots.metric_bars(table, errors=errors, decimals={"LPIPS": 4}, title="Set5")
    (ax,) = fig.axes
    assert [p.get_height() for p in ax.patches] == pytest.approx(means)
    texts = [t.get_text() for t in ax.texts]
    assert texts[0].startswith("0.4000") and "± 0.0020" in texts[0]  # the label layout is plots.metric_bars'
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    spans = [seg[1][1] - seg[0][1] for seg in bars.errorbar.lines[2][0].get_segments()]
    assert spans == pytest.approx([2 * s for s in stds])  # mean - std to mean + std
    assert "lower is better" in ax.get_title() and fig._suptitle.get_text() == "Set5"
    one = make_doc(seeds=(1,))
    _, _, no_std = ar.bars(one, "lpips", "Set5")
    assert no_std == [0.0] * 4  # one seed: zero-length error bars, plain value labels
    fig = plots.metric_bars({"a": {"gradient L1": 0.03}}, errors={"a": {"gradient L1": None}})
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.030"] and "lower is better" in fig.axes[0].get_title()
