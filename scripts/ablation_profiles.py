"""The profiles of ``make_ablation_results.py``: which stage 1, recipe, budget, seeds and evaluation sets a run uses.

Kept beside the runner (one concept per file). Paper: Ma et al., CVPR 2020, Sec. 4.4 (the ablation) and Sec. 4.3
(structure: Urban100, gradient-map similarity).

- ``structure`` (the default, the second edition, issue 28): the structure lineage's stage 1
  (``data/demo_weights/rrdb_psnr_demo_x4.safetensors``: RRDBNet nf 24 / nb 8 / gc 12, ``residual: bicubic``) and
  its stage-2 recipe ``configs/structure_x4.yaml`` (the paper's six losses + low-frequency 30, LDL artifact map 1,
  phase energy 1; spectral-norm D nf 32; lr 2e-4; EMA 0.99; (d) with the ``identity_branch`` fusion), evaluated on
  Set5, Set14, all of BSD100 and Urban100 (026–075) with the structure metrics; results in
  ``data/ablation_results_v2``.
- ``pilot`` (``--pilot``): the structure profile, one seed, (b)/(c)/(d) only, a few hundred steps in segments
  with the branch diagnostics after each; it sizes the structure profile's budget (``scripts/ablation_pilot.py``).
- ``cpu``: the first edition (``data/ablation_results``, committed 2026-12-01): the old stage 1 (no residual)
  and ``configs/demo_x4_small_budget.yaml`` + :data:`CPU_RECIPE`; kept so that its numbers can be rebuilt.
- ``fast``: tiny networks, a few steps, crops: the mechanics only (tests, notebook 03's CI mode).

An evaluation set is ``(name, options)``: ``first`` (its first n images in file order), ``crop`` (centred HR
crops of that many px), ``label_suffix`` (appended to the set's label, so a crop is never reported as the set),
``folder`` (the name of the folder of links; the first edition's "BSD100-first20").
"""

from __future__ import annotations

# the first edition's GAN-stage levers on top of configs/demo_x4_small_budget.yaml (docs/ABLATION.md "How the
# budget and the recipe were found")
CPU_RECIPE = ["train.lr_g=2e-4", "train.lr_d=2e-4", "loss.low_frequency.weight=10",
              "loss.perceptual.layers={conv2_2: 0.1, conv3_3: 1, conv4_3: 1, conv5_3: 1}"]
BF16 = ["runtime.amp=bf16", "runtime.channels_last=true"]  # training only: 1.9x faster on AMX; evaluation is fp32
FIRST_EDITION_METRICS = ("lpips", "colour_shift", "grad_psnr", "grad_l1")
STRUCTURE_METRICS = ("lpips", "dists", "colour_shift", "grad_psnr", "grad_l1", "phase_index", "branch_grad_l1",
                     "branch_zero_change")
# the budget of the structure profile until its pilot has run (scripts/ablation_pilot.py writes the suggestion
# that replaces it: docs/ABLATION.md "Sizing the budget")
PROVISIONAL_STEPS = 3000

PROFILES: dict[str, dict] = {
    "fast": dict(rrdb=(8, 2, 4), srresnet=(8, 2), d_nf=8, patch=32, batch=2, steps=3, seeds=[1],
                 rrdb_stage1=None, pretrain_steps=40, pretrain_batch=4, pretrain_lr=2e-3, log_every=1,
                 base_config="configs/demo_x4_small_budget.yaml", recipe=CPU_RECIPE, metrics=FIRST_EDITION_METRICS,
                 eval=[("Set5", {"first": 2, "crop": 64}), ("Set14", {"first": 2, "crop": 64})],
                 eval_note="fast profile: centred crops of two images per set", out="data/ablation_results",
                 keep_sr=(), showcase={"butterfly": "Set5", "zebra": "Set14"}),
    "cpu": dict(rrdb=(24, 6, 12), srresnet=(32, 8), d_nf=32, patch=64, batch=4, steps=800, seeds=[1, 2, 3],
                rrdb_stage1="runs/rrdb_psnr_demo_x4_2026-11-26.safetensors", pretrain_steps=2000,
                pretrain_batch=16, pretrain_lr=5e-4, log_every=10, runtime=BF16,
                base_config="configs/demo_x4_small_budget.yaml", recipe=CPU_RECIPE, metrics=FIRST_EDITION_METRICS,
                eval=[("Set5", {}), ("Set14", {}), ("BSD100", {"first": 20, "folder": "BSD100-first20"})],
                eval_note="BSD100: its first 20 images in file order (time)", out="data/ablation_results",
                keep_sr=(), showcase={"butterfly": "Set5", "zebra": "Set14"}),
    "structure": dict(rrdb=(24, 8, 12), srresnet=(32, 8), d_nf=32, patch=64, batch=4, steps=PROVISIONAL_STEPS,
                      seeds=[1, 2, 3], rrdb_stage1="data/demo_weights/rrdb_psnr_demo_x4.safetensors",
                      residual="bicubic", fusion_init="identity_branch", pretrain_steps=2000, pretrain_batch=16,
                      pretrain_lr=5e-4, log_every=10, runtime=BF16, base_config="configs/structure_x4.yaml",
                      recipe=[], metrics=STRUCTURE_METRICS,
                      eval=[("Set5", {}), ("Set14", {}), ("BSD100", {}), ("Urban100", {})],
                      eval_note="whole images, fp32; BSD100: all 100; Urban100 (026–075): the 50 images of "
                                "../shared/data/benchmarks/Urban100 (the paper used all 100)",
                      out="data/ablation_results_v2", keep_sr=("Urban100",),
                      showcase={"butterfly": "Set5", "zebra": "Set14"}),
}
# the pilot: the structure recipe on (b)/(c)/(d), one seed, evaluated every `every` steps on Set5 and crops
PILOT = dict(PROFILES["structure"], steps=300, every=50, seeds=[1], variants=["esrgan", "grad_loss", "spsr"],
             eval=[("Set5", {}), ("Urban100", {"first": 10, "crop": 192,
                                               "label_suffix": ", centred 192-px crops"})],
             eval_note="pilot: Set5 whole; Urban100 (026–075) as its label states (default: the first 10 images, "
                       "centred 192-px HR crops)",
             keep_sr=())
PROFILES["pilot"] = PILOT


def with_eval_options(p: dict, bsd100: int | None, urban_first: int | None, urban_crop: int | None) -> dict:
    """``p`` with the command line's evaluation subset (``--bsd100``, ``--urban100-first``, ``--urban100-crop``);
    every departure from whole sets is written into the set's label and the evaluation note."""
    if bsd100 is None and urban_first is None and urban_crop is None:
        return p
    sets, notes = [], []
    for name, opts in p["eval"]:
        opts = dict(opts)
        if name == "BSD100" and bsd100 is not None:
            opts["first"] = bsd100
            notes.append(f"BSD100: its first {bsd100} images in file order")
        if name == "Urban100" and (urban_first or urban_crop):
            if urban_first:
                opts["first"] = urban_first
            if urban_crop:
                opts.update(crop=urban_crop, label_suffix=f", centred {urban_crop}-px crops")
            notes.append("Urban100 (026–075): " + ", ".join(
                ([f"its first {urban_first} images"] if urban_first else [])
                + ([f"centred {urban_crop}-px HR crops"] if urban_crop else [])))
        sets.append((name, opts))
    # the profile's clauses about a set the command line changed give way to what it set
    changed = (["BSD100"] if bsd100 is not None else []) + (["Urban100"] if urban_first or urban_crop else [])
    kept = [c for c in p["eval_note"].split("; ") if not any(c.startswith(n) for n in changed)]
    return dict(p, eval=sets, eval_note="; ".join(kept + [f"{n} (command line)" for n in notes]))
