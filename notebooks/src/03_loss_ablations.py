# ---
# jupyter:
#   jupytext:
#     formats: ipynb,src//py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# *This notebook is built from [`notebooks/src/03_loss_ablations.py`](src/03_loss_ablations.py) (jupytext, percent format) by `scripts/build_notebooks.py`; edit the source, or this notebook in a JupyterLab with jupytext (it saves both), and rebuild.*

# %% [markdown]
# # 03 · Loss ablations: what each term of SPSR adds
#
# **What you will learn**
# - the six terms of SPSR's generator objective and their official weights;
# - how to express a loss ablation as config overrides of the kit's `Trainer`;
# - the paper's ablation as an experiment: six variants, each trained with three seeds from the same stage-1
#   network, on the same recipe, data and budget: (a) L1 only, (b) ESRGAN's pixel + perceptual + GAN losses,
#   (c) (b) + the gradient losses, (d) full SPSR with the gradient branch, and on a second backbone (e) SRResNet
#   with ESRGAN's losses and (f) SRResNet with the kit's gradient guidance and SPSR's losses;
# - how to read a result with seed noise: mean ± standard deviation over seeds, error bars, and when a
#   difference between two variants is larger than that noise.
#
# **Paper**: Sec. 3.3 (Eqs. 4-9, the losses), Sec. 3.2 (the gradient branch in other networks), Sec. 4.4 and
# Table 3 (ablation study).
#
# %% [markdown]
# <details><summary>About this notebook (run modes, trust, CI): click to open</summary>
#
# - **The experiment is committed.** Training eighteen networks is expensive, so `scripts/make_ablation_results.py`
#   runs it and writes `data/ablation_results/ablation_results.json`; sections 2-7 of every mode read that file
#   (`SPSR_ABLATION_RESULTS=/path/to/ablation_results.json` reads another run's).
# - **Modes.** The default *laptop* mode shows the committed results only (no training, well under a minute); the
#   stored outputs come from it (see the "run info" line). `SPSR_FAST=1` (`make test`, CI) also runs the
#   experiment's code live on tiny networks for a few steps and one seed (section 8: a mechanics check whose
#   numbers mean nothing). `SPSR_FULL=1` reruns the whole experiment live (`--jobs 2`: about two hours on 2 CPU
#   cores; build with `scripts/build_notebooks.py --execute 03 --full --timeout 10000`).
# - **Sliders.** JupyterLab draws the stored slider of section 6 once the notebook is trusted (`make lab`); it moves
#   once its cell has run. GitHub shows the static figure under it.
# - **CI.** nbval re-runs the notebook in fast mode; cells tagged `nbval-check-output` must print what is stored.
#
# </details>

# %%
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from IPython.display import Markdown, display

import spsr_lib
from spsr_lib import plots, tables, widgets
from spsr_lib.notebook import ablation_report

FAST = bool(os.environ.get("SPSR_FAST"))  # tiny sizes and steps for CPU and CI
FULL = bool(os.environ.get("SPSR_FULL")) and not FAST  # the heavy path: the whole ablation, live
MODE = "fast" if FAST else "full" if FULL else "laptop"
torch.manual_seed(0)
if FAST:
    torch.set_num_threads(1)  # tiny tensors: one thread avoids OpenMP spin-waits on a shared CPU

# %%
# run info: which mode and hardware produced the outputs stored in this notebook
print(spsr_lib.run_info(mode=MODE))

# %% [markdown]
# ## 1. Six loss terms
#
# SPSR trains its generator with (Eq. 9)
#
# $$\mathcal{L}_G = \beta^{I}_{pix}\,\mathcal{L}^{I}_{pix} + \alpha\,\mathcal{L}^{I}_{per} + \gamma^{I}\,\mathcal{L}^{I}_{adv}
#   + \beta^{GM}_{pix}\,\mathcal{L}^{GM}_{pix} + \gamma^{GM}\,\mathcal{L}^{GM}_{adv} + \beta^{GB}_{pix}\,\mathcal{L}^{GB}_{pix}$$
#
# image-space pixel (L1), perceptual (VGG features) and adversarial (RaGAN) terms as in ESRGAN, plus
# a pixel (MSE) and an adversarial term on the gradient maps M(SR) vs M(HR) (padding 2, a second
# discriminator), plus an L1 between the branch's predicted gradient map and M(HR). Each term is one
# key of the training config; a weight of 0 switches the term off and skips the network it needs.
# The defaults are the official weights:

# %% tags=["nbval-check-output"]
cfg = spsr_lib.load_config()  # no file: the paper's configuration
for term in ("pixel", "perceptual", "gan", "gradient_pixel", "gradient_gan", "branch_pixel"):
    entry = getattr(cfg.loss, term)
    extra = f" ({entry.kind})" if hasattr(entry, "kind") else ""
    print(f"loss.{term:15s} weight {entry.weight:g}{extra}")

# %% [markdown]
# ## 2. The six variants as config overrides
#
# A variant is a list of overrides: every generator term switched off, then the variant's own weights (later
# overrides win), on top of one recipe shared by all (`configs/demo_x4_small_budget.yaml` plus the script's
# `RECIPE`: learning rates, the low-frequency term, the perceptual layers). The variants of one backbone start
# from the same stage-1 (L1) network: (a)-(d) from the RRDBNet stage 1 shipped until 2026-12-04 (nf 24, nb 6, no
# residual; `--profile cpu`), (e)-(f) from an SRResNet the script
# pre-trains once. (a)-(c) and (e) have no gradient branch; (d) is SPSRNet and (f) wraps SRResNet in
# `spsr_lib.models.guidance.GradientGuidedSR`; both start with an identity fusion
# (`spsr_lib.train.warm_start`), so that all variants of a backbone output the same image at step 0. Within a
# seed every variant sees the same batches in the same order; across seeds the data order and the random
# initialisations (discriminators, gradient branch) change. The table is read from the results file:

# %%
RESULTS = Path(os.environ.get("SPSR_ABLATION_RESULTS", "../data/ablation_results/ablation_results.json"))
doc = ablation_report.load(RESULTS) if RESULTS.is_file() else None
if doc is None:
    print(f"{RESULTS.name} not found: sections 2-7 are skipped; make it with "
          "`python scripts/make_ablation_results.py --jobs 2` from the repository root")
elif not all("seeds" in r and "mean" in r for r in doc.get("results", {}).values()):
    print(f"{RESULTS.name} is in an old format (no per-seed results): sections 2-7 are skipped; rerun "
          "`python scripts/make_ablation_results.py --jobs 2` from the repository root")
    doc = None

TERMS = ["pixel", "perceptual", "gan", "gradient_pixel", "gradient_gan", "branch_pixel"]
if doc is not None:
    rows = {}
    for name, r in doc["results"].items():
        weights = dict(o.split("=", 1) for o in r["overrides"] if ".weight=" in o)  # later overrides win
        on = [f"{t} {weights[f'loss.{t}.weight']}" for t in TERMS if float(weights.get(f"loss.{t}.weight", 0))]
        rows[r["label"]] = {"name": name, "backbone": r["backbone"], "gradient branch": r["gradient_branch"],
                            "parameters": r["params"], "loss terms on (weight)": ", ".join(on)}
    display(tables.table(rows, index="variant", notes=["shared recipe: " + ", ".join(doc["recipe"]["overrides"])]))

# %% [markdown]
# ## 3. How the committed run was made
#
# The lines below come from the results file: the command that wrote it, the machine, the budget of every
# (variant, seed) pair, the seeds, and the evaluation sets. The budget is small next to the paper's
# 5×10⁵ steps at batch 30, so the run answers a narrower question than Table 3: what each part adds *on this
# budget*, and whether that is larger than the noise between seeds.

# %%
if doc is not None:
    ev = doc["evaluation"]
    made = [f"command: `{doc['command']}`",
            f"machine: {doc['machine']} ({doc['jobs']} job(s) at once, {doc['threads_per_process']} thread(s) each)",
            f"budget: {doc['budget']}; stage 1: RRDBNet {doc['stage1']['rrdb']}; SRResNet {doc['stage1']['srresnet']}",
            f"seeds: {', '.join(map(str, doc['seeds']))} ({doc['pairs_done']} of {doc['pairs_total']} runs finished"
            f"{'' if doc['complete'] else ', NOT COMPLETE'})",
            f"time: {doc['train_seconds_total'] / 3600:.2f} h of training in all, {doc['wall_seconds'] / 3600:.2f} h "
            f"wall clock; created {doc['created']}, torch {doc['torch']}",
            f"evaluation: {', '.join(ev['sets'])}; {ev['note']}; {ev['protocols']}; std: {ev['std']}"]
    display(Markdown("\n".join(f"- {line}" for line in made)))

# %% [markdown]
# ## 4. Results: mean ± standard deviation over seeds
#
# One table per evaluation set: PSNR / SSIM (fidelity; Y channel, 4 px shaved), LPIPS (perceptual distance,
# lower is better), the colour shift (the largest difference of the SR and HR channel means, grey levels: a
# drifting GAN stage shows here first), and the gradient-map PSNR and L1 between M(SR) and M(HR) (structure,
# what SPSR's extra terms aim at). Each cell is the mean over seeds ± their sample standard deviation. Read a
# gap between two rows against those deviations: `spsr_lib.notebook.ablation_report` counts a difference only
# when it exceeds twice the larger of the two standard deviations (the verdict in section 7 uses that rule).

# %%
if doc is not None:
    n_seeds = len(doc["seeds"])
    for set_name in ablation_report.sets(doc):
        display(tables.table(ablation_report.summary(doc, set_name), index="variant",
                             caption=f"{set_name}: mean ± std over {n_seeds} seed(s)",
                             notes=["bicubic: one deterministic value, no seeds"]))

# %% [markdown]
# The same means as bars for the three numbers the comparison turns on (LPIPS, PSNR and gradient L1), one
# row of panels per backbone, so that each Δ is against that backbone's first variant ((a) for the RRDBNet
# rows, (e) for the SRResNet ones). On an axis from zero the seed standard deviations (the tables above)
# would be error bars too small to see, so the bars leave them out: whether a gap exceeds 2× the seed std
# is what the verdict below decides.

# %%
BAR_METRICS = ("lpips", "psnr_standard", "grad_l1")
DECIMALS = {ablation_report.METRICS[m][0]: ablation_report.METRICS[m][2] for m in BAR_METRICS}


def bar_table(doc: dict, set_name: str) -> tuple[dict, dict]:
    """``({variant: {metric: mean}}, {variant: {metric: std}})`` for plots.metric_bars."""
    means, stds = {}, {}
    for metric in BAR_METRICS:
        labels, mu, sd = ablation_report.bars(doc, metric, set_name)
        for name, label, m, s in zip(doc["results"], labels, mu, sd):
            key = f"{label.split(' ', 1)[0]} {name}"
            means.setdefault(key, {})[ablation_report.METRICS[metric][0]] = m
            stds.setdefault(key, {})[ablation_report.METRICS[metric][0]] = s
    return means, stds


if doc is not None:
    for set_name in ablation_report.sets(doc):
        means, _ = bar_table(doc, set_name)
        for backbone, first in (("RRDBNet", ("(a)", "(b)", "(c)", "(d)")), ("SRResNet", ("(e)", "(f)"))):
            rows = {k: v for k, v in means.items() if k.startswith(first)}
            if rows:
                plots.metric_bars(rows, decimals=DECIMALS, panel=4.0,
                                  title=f"{set_name}, {backbone} variants: mean over {len(doc['seeds'])} seed(s)")

# %% [markdown]
# ## 5. Loss curves
#
# The training curves of the median seed of every variant (the seed whose mean LPIPS is the median of the
# three; its crops are shown in section 6), as the weighted terms enter the sum, on a log scale. The GAN
# variants' pixel term is weighted 1e-2 (the paper's), hence about 100 times below (a)'s L1 although every variant
# starts from the same stage-1 network; the discriminator terms `l_d` and
# `l_d_grad` show whether D and D_grad keep up with the generator. (a) logs only its L1 term.

# %%
CURVE_KEYS = ["l_pixel", "l_low_frequency", "l_perceptual", "l_gan", "l_gradient_pixel", "l_gradient_gan",
              "l_branch_pixel", "l_d", "l_d_grad"]
if doc is not None:
    runs = {}
    for name, r in doc["results"].items():
        curves = r["curves"][r["median_seed"]]
        runs[f"{r['label'].split(' ', 1)[0]} {name}"] = [dict(zip(curves, vals)) for vals in zip(*curves.values())]
    keys = [k for k in CURVE_KEYS if any(k in r["curves"][r["median_seed"]] for r in doc["results"].values())]
    plots.loss_curves(runs, keys=keys, smoothing=0.6, logy=True)

# %% [markdown]
# ## 6. Crops, differences and a slider
#
# The same centred region of each variant's output on two structure showcases, the wing veins of Set5's
# butterfly and the stripes of Set14's zebra (outputs of the median seed). GAN training tends to bend, break or
# invent edges; the gradient losses and the branch are there to keep them straight and continuous. Under each
# crop, its difference from HR (one colour scale per figure: darker is closer). The line after the figures says,
# from the pixels, how much the crops of the GAN variants differ from each other: at this budget the answer
# decides whether there is anything to see.

# %%
def load_crops(doc: dict, folder: Path) -> dict[str, dict]:
    labels = {"HR": "HR", "bicubic": "bicubic",
              **{n: f"{r['label'].split(' ', 1)[0]} {n}" for n, r in doc["results"].items()}}
    scenes, missing = {}, []
    for image in doc["crops"]["names"]:
        scenes[image] = {}
        for variant, label in labels.items():
            path = folder / doc["crops"]["pattern"].format(variant=variant, image=image)
            if path.is_file():
                scenes[image][label] = spsr_lib.read_image(path)
            else:
                missing.append(path.name)
    if missing:
        print("crop files missing:", ", ".join(missing))
    return scenes


if doc is not None:
    scenes = load_crops(doc, RESULTS.parent)
    for crops in scenes.values():
        plots.show_images(crops, ncols=4, panel=2.4)
        plots.difference_crops(crops, reference="HR", size=64, panel=2.4)

# %%
# how different the GAN variants' crops are from each other and from (a), in grey levels (computed from the pixels)
if doc is not None:
    gan = [k for k in next(iter(scenes.values())) if k[:3] in ("(b)", "(c)", "(d)")]
    lines, all_diffs = [], [0.0]

    def grey(x):  # the crops are float RGB in [0, 1] (spsr_lib.read_image); grey levels are 0..255
        return x.astype(float) * (255.0 if x.dtype.kind == "f" else 1.0)

    for image, crops in scenes.items():
        pairs = [(a, b) for i, a in enumerate(gan) for b in gan[i + 1:] if a in crops and b in crops]
        diffs = {f"{a[:3]} vs {b[:3]}": np.abs(grey(crops[a]) - grey(crops[b])).mean() for a, b in pairs}
        all_diffs += list(diffs.values())
        to_l1 = np.mean([np.abs(grey(crops[g]) - grey(crops[next(k for k in crops if k.startswith("(a)"))])).mean()
                         for g in gan if g in crops])
        lines.append(f"- {image}: " + ", ".join(f"{k} {v:.2f}" for k, v in diffs.items())
                     + f"; the GAN variants against (a) L1: {to_l1:.2f} on average")
    largest = max(all_diffs)
    display(Markdown("Mean absolute difference between crops, grey levels (0-255):\n" + "\n".join(lines) + "\n\n"
                     + (f"(b), (c) and (d) differ by at most {largest:.2f} grey levels: **to the eye their crops are the "
                        "same**, so there is no edge to point at; the GAN stage as a whole (against (a)) is what the "
                        "crops show, and the tables above are where (b), (c) and (d) can be told apart, if at all. "
                        "The paper's Fig. 7 shows visible differences after 5×10⁵ steps; these runs are "
                        f"{doc['steps']} steps." if largest < 3 else
                        f"(b), (c) and (d) differ by up to {largest:.2f} grey levels: compare their edges above.")))

# %% [markdown]
# Drag the slider to wipe between (d) full SPSR (left) and (b) ESRGAN's losses (right), the pair the paper's
# ablation is about; the image picker switches between the two crops. The static figure under it is the same
# wipe at the middle.

# %% tags=["nbval-ignore-output"]
if doc is not None:
    left, right = "(d) spsr", "(b) esrgan"
    first = next(iter(scenes))
    slider = widgets.compare_slider(scenes, left=left, right=right, position=0.5)
    slider.show()
    plots.wipe_figure(scenes[first][left], scenes[first][right], position=0.5,
                      labels=(f"{left} ({first})", right))

# %% [markdown]
# ## 7. Verdict
#
# The paragraph below is generated by `ablation_report.verdict` from the results file, not written by hand:
# it names the best variant per set and metric, compares each step of the ablation with the one before
# ((b) vs (a), (c) vs (b), (d) vs (c), (f) vs (e)) on LPIPS and gradient L1, and counts a gap only when it
# exceeds twice the larger seed standard deviation. It then runs the experiment's acceptance checks and
# states the PSNR range. Rerun the experiment and it changes with the numbers.

# %%
if doc is not None:
    display(Markdown(ablation_report.verdict(doc)))

# %% [markdown]
# ## Exercise: when does a gap count?
#
# Write `counts(doc, a, b, metric, set_name)`: take the two variants' mean and seed standard deviation from
# `doc["results"][name]["mean"][set_name][metric]` and `...["std"]...`, and return `True` when the means differ by
# more than twice the larger of the two standard deviations (the rule of section 4). Before running: of the steps
# (b) vs (a), (c) vs (b), (d) vs (c) and (f) vs (e), which do you expect to count on LPIPS? The check compares your
# function with the hidden reference on every step, set and metric, then prints the table. Leave `counts`
# returning `None` to see the reference's answers.

# %%
def counts(doc, a, b, metric, set_name):
    """Your code here: True when |mean(a) - mean(b)| > 2 * max(std(a), std(b))."""
    return None


# %% tags=["solution"] jupyter={"source_hidden": true}
def counts_solution(doc, a, b, metric, set_name):
    """Reference solution (collapsed: click the three dots to expand it)."""
    ra, rb = doc["results"][a], doc["results"][b]
    gap = abs(ra["mean"][set_name][metric] - rb["mean"][set_name][metric])
    return bool(gap > 2 * max(ra["std"][set_name][metric], rb["std"][set_name][metric]))


# %%
# check: your rule against the reference on every ablation step (the reference alone when you wrote none)
if doc is not None:
    steps = [("esrgan", "l1"), ("grad_loss", "esrgan"), ("spsr", "grad_loss"), ("srresnet_guided", "srresnet_esrgan")]
    steps = [(a, b) for a, b in steps if a in doc["results"] and b in doc["results"]]
    rows, own = {}, counts(doc, *steps[0], "lpips", ablation_report.sets(doc)[0]) is not None
    for set_name in ablation_report.sets(doc):
        for a, b in steps:
            for metric in ("lpips", "grad_l1"):
                want = counts_solution(doc, a, b, metric, set_name)
                if own:
                    assert counts(doc, a, b, metric, set_name) == want, f"{a} vs {b}, {metric}, {set_name}: expected {want}"
                rows.setdefault(f"{doc['results'][a]['label'][:3]} vs {doc['results'][b]['label'][:3]}", {})[
                    f"{metric} {set_name}"] = "counts" if want else "noise"
    print("checked: your rule agrees with the reference everywhere" if own else
          "counts returns None: showing the reference solution's answers (write yours and rerun)")
    display(tables.table(rows, index="step", caption="does the gap exceed 2x the larger seed std?"))

# %% [markdown]
# ## 8. Mechanics check (fast mode), and rerunning the experiment
#
# `scripts/make_ablation_results.py` trains the pairs through `spsr_lib.Trainer` and evaluates them with
# `spsr_lib.inference.evaluate`. It is resumable (a finished pair is skipped, an unfinished one resumes from
# its checkpoint) and rewrites its results file after every pair.
# - In fast mode it runs live with `--fast`: 8-channel networks, 3 steps, one seed, two
#   crops per set. This checks that the code path works end to end; **its numbers mean nothing** and say
#   nothing about the losses (with one seed there is no noise estimate either).
# - In laptop mode the command is only printed.
# - With `SPSR_FULL=1` it reruns the full experiment (`--jobs 2`) into `runs/`, and the tables and the
#   verdict of the fresh file are shown below.

# %% tags=["nbval-ignore-output"]
args = ["--fast"] if FAST else ["--jobs", "2"]
work, out_dir = Path("runs/ablation"), Path("runs/ablation_results")
cmd = [sys.executable, "../scripts/make_ablation_results.py", *args, "--work", str(work), "--out", str(out_dir)]
print("$ python ../scripts/make_ablation_results.py", " ".join(cmd[2:]))
if FAST:
    for folder in (work / "fast", out_dir):
        shutil.rmtree(folder, ignore_errors=True)  # a mechanics check trains afresh every time
if FAST or FULL:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    print("\n".join(ln for ln in proc.stdout.splitlines() if ln.startswith(("[ablation] profile", "wrote"))))
    if proc.returncode:
        print(proc.stderr[-2000:])
else:
    print("laptop mode: not run (about two hours on 2 cores); SPSR_FULL=1 runs it, SPSR_FAST=1 a mechanics check")

# %%
live_file = out_dir / ("ablation_results_fast.json" if FAST else "ablation_results.json")
if (FAST or FULL) and live_file.is_file():
    live = ablation_report.load(live_file)
    what = "MECHANICS CHECK ONLY: tiny networks, 3 steps, 1 seed; these numbers mean nothing" if FAST else \
        "this notebook's rerun of the full experiment"
    for set_name in ablation_report.sets(live):
        display(tables.table(ablation_report.summary(live, set_name), index="variant",
                             caption=f"{set_name} ({what})", notes=[live["budget"]]))
    if FULL:
        display(Markdown(ablation_report.verdict(live)))

# %% [markdown]
# ## What this shows
#
# Computed from the committed results file (rerun the experiment and it changes with the numbers).

# %%
if doc is not None:
    what_this_shows = getattr(ablation_report, "what_this_shows", None)
    display(Markdown(what_this_shows(doc) if what_this_shows else ablation_report.verdict(doc)))

# %% [markdown]
# ## Summary
# - Each loss term is a config weight; the ablation is six sets of overrides on one recipe, each trained with
#   several seeds from the same stage-1 network.
# - PSNR/SSIM measure fidelity, LPIPS perceptual distance, the gradient-map error structure; the colour
#   shift catches a drifting GAN stage.
# - A difference between two variants means something only when it is larger than the spread between seeds:
#   the tables show mean ± std and the verdict applies the 2× std rule (the bars show the means only).
# - The fast mode checks the mechanics; the committed file (or your own run, via `SPSR_ABLATION_RESULTS`)
#   holds the experiment.
#
# Next: `04_gan_training_gpu` trains the full model from a config.
