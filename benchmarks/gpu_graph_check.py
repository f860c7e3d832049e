"""GPU check of ``runtime.cuda_graphs``: a captured-and-replayed training step must train like the eager one.

Part 1, step parity. Two identical small SPSR trainers (same seed, both with capturable Adam) take the same 14
batches; one runs the eager step, the other the CUDA-graph step (3 warm-up steps, capture, replay). The run
crosses the end of the fusion-only phase (step 5) and a learning-rate change (step 10), so three graphs are
recorded (at steps 4, 8 and 13). Convolutions are deterministic strict fp32. Compared: every logged loss term
per step, and how far the two parameter sets drifted apart relative to how far training moved them.
The same for stage 1 (PSNR pre-train, one term): 10 steps, a learning-rate change at step 6, two graphs; and for
``d_update_ratio: 2`` (D-only and G+D steps alternate between two live graphs): 12 steps, two graphs.
Part 2, ``fit()``: 12 steps through the real loop (DataLoader workers with pinned memory, EMA, checkpoints) on
synthetic images, then ``--resume`` to 18 steps with graphs and once more without (capturable Adam state
switched back).
Prints PASS/FAIL per part; exit status 1 on FAIL. The CPU tests (``tests/test_cuda_graph_step.py``) cover the
bookkeeping with a stand-in graph; this is the part only a GPU can show.

    python benchmarks/gpu_graph_check.py     # < 1 min; writes benchmarks/results/gpu_graph_check_<card>_<date>.json
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sys
import tempfile
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


ARCH = ["model.nf=16", "model.nb=2", "model.gc=8", "discriminator.nf=16", "data.patch_size=64", "data.batch_size=4",
        "loss.perceptual.weight=0", "logging.tensorboard=false", "logging.progress=false"]


# name -> (overrides, steps, step of a learning-rate change or None, graphs expected, loss terms at least)
SCENARIOS = {
    # phase change at 5, lr change at 10 -> captures at 4, 8 and 13
    "spsr": (["train.branch_pretrain.steps=5"], 14, 10, 3, 10),
    # lr change at 6 -> captures at 4 and 9
    "psnr": (["stage=psnr", "loss.pixel.weight=1"], 10, 6, 2, 1),
    # D-only and G+D steps alternate: two graphs live side by side (odd steps captured at 7, even at 8)
    "spsr_d_update_ratio_2": (["train.branch_pretrain.steps=0", "train.d_update_ratio=2"], 12, None, 2, 10),
}


def make(run_dir: str, graphs: bool, overrides: list[str]):
    from spsr_lib.train.config import load_config
    from spsr_lib.train.graph_step import set_capturable
    from spsr_lib.train.trainer import Trainer

    cfg = load_config(None, ARCH + overrides + [f"output_dir={run_dir}", "runtime.cudnn_benchmark=false",
                                                f"runtime.cuda_graphs={str(graphs).lower()}"])
    tr = Trainer(cfg, device="cuda", build_data=False)
    for opt in (tr.opt_G, tr.opt_D, tr.opt_D_grad):  # the same Adam arithmetic on both sides
        set_capturable(opt, True)
    return tr


def step_parity(tmp: str, stage: str = "spsr") -> dict:
    """Eager and graph trainers side by side through one scenario of :data:`SCENARIOS`."""
    overrides, steps, lr_change, want_captures, min_terms = SCENARIOS[stage]
    eager, graphed = make(f"{tmp}/eager", False, overrides), make(f"{tmp}/graphed", True, overrides)
    gen = torch.Generator(device="cuda").manual_seed(0)
    nets = [n for n in ("G", "D", "D_grad") if getattr(eager, n) is not None]
    init = {n: [p.detach().clone() for p in getattr(eager, n).parameters()] for n in nets}
    rows, worst = [], 0.0
    for k in range(1, steps + 1):
        hr = torch.rand(4, 3, 64, 64, device="cuda", generator=gen)
        lr = torch.nn.functional.avg_pool2d(hr, 4)
        if k == lr_change:
            for tr in (eager, graphed):
                for opt in (tr.opt_G, tr.opt_D, tr.opt_D_grad):
                    for group in (opt.param_groups if opt is not None else []):
                        group["lr"] *= 0.5
        eager.step = graphed.step = k
        want, got = eager.train_step(lr, hr), graphed.train_step(lr, hr)
        diff = max(abs(got[n] - want[n]) / max(abs(want[n]), 1e-2) for n in want)
        worst = max(worst, diff)
        rows.append({"step": k, "max_loss_diff": diff, "eager": want, "graph": got})
        term = next(t for t in ("l_g_total", "l_pixel", "l_d") if t in want)
        print(f"{stage} step {k:2d}: largest loss-term difference {diff:.2e}  ({term} eager {want[term]:.6f} "
              f"graph {got[term]:.6f})", flush=True)
    drift = {}
    for n, ps in init.items():
        moved = max((a - p0).abs().max().item() for a, p0 in zip(getattr(eager, n).parameters(), ps))
        apart = max((a - b).abs().max().item() for a, b in zip(getattr(eager, n).parameters(),
                                                              getattr(graphed, n).parameters()))
        drift[n] = apart / moved
    gs = graphed.graphed_step
    n_terms = max(len(names) for names in gs.names.values())
    ok = (worst < 1e-3 and max(drift.values()) < 0.05 and gs.captures == want_captures
          and n_terms >= min_terms)
    print(f"{stage} step parity: captures {gs.captures} (want {want_captures}), terms {n_terms}, largest loss "
          f"difference {worst:.2e}, parameters apart / moved {', '.join(f'{n} {v:.1e}' for n, v in drift.items())}: "
          f"{'PASS' if ok else 'FAIL'}")
    return {"steps": rows, "drift_over_movement": drift, "captures": gs.captures, "pass": ok}


def psnr_step_parity(tmp: str) -> dict:
    return step_parity(tmp, "psnr")


def ratio2_step_parity(tmp: str) -> dict:
    return step_parity(tmp, "spsr_d_update_ratio_2")


def fit_and_resume(tmp: str) -> dict:
    import numpy as np

    from spsr_lib.io.images import write_image
    from spsr_lib.train.config import load_config
    from spsr_lib.train.state import list_states
    from spsr_lib.train.trainer import Trainer

    rng = np.random.default_rng(0)
    data = Path(tmp) / "images"
    data.mkdir(parents=True)
    for k in range(8):  # smooth random images: upsampled noise
        small = rng.random((12, 12, 3))
        write_image(data / f"im{k}.png", np.kron(small, np.ones((8, 8, 1))).astype(np.float32))
    base = ARCH + [f"data.train={data}", "data.val=null", "data.num_workers=2", "train.branch_pretrain.steps=2",
                   "logging.log_freq=1", "logging.save_freq=6", "train.ema.enabled=true", f"output_dir={tmp}/fit"]
    out = {}
    for label, niter, graphs, resume in (("fit", 12, True, False), ("resume", 18, True, True),
                                         ("resume eager", 20, False, True)):
        tr = Trainer(load_config(None, base + [f"train.niter={niter}", f"runtime.cuda_graphs={str(graphs).lower()}"]),
                     device="cuda", resume=resume)
        last = tr.fit()
        out[label] = {"step": tr.step, "l_g_total": last.get("l_g_total"),
                      "captures": tr.graphed_step.captures if tr.graphed_step else None}
        print(f"{label}: step {tr.step}, l_g_total {last.get('l_g_total')}, captures {out[label]['captures']}", flush=True)
    steps = [s for s, _ in list_states(Path(tmp) / "fit")]
    ok = (out["fit"]["step"] == 12 and out["resume"]["step"] == 18 and out["resume eager"]["step"] == 20
          and all(math.isfinite(v["l_g_total"]) for v in out.values()) and steps[-1] == 20)
    print(f"fit + resume: checkpoints at {steps}: {'PASS' if ok else 'FAIL'}")
    return {**out, "checkpoints": steps, "pass": ok}


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_graph_check: CUDA is not available to torch; run it on a GPU machine", file=sys.stderr)
        return 2
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    result = {"card": torch.cuda.get_device_name(), "torch": torch.__version__,
              "date": dt.datetime.now().isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as tmp:
        for name, part in (("step_parity", step_parity), ("psnr_step_parity", psnr_step_parity),
                           ("d_update_ratio_2_step_parity", ratio2_step_parity),
                           ("fit_and_resume", fit_and_resume)):
            try:
                result[name] = part(f"{tmp}/{name}")
            except Exception as exc:  # report the failure, keep the other part
                result[name] = {"pass": False, "error": f"{type(exc).__name__}: {exc}"[:800],
                                "trace": traceback.format_exc(limit=6)[-3000:]}
                print(f"{name}: FAIL\n{result[name]['trace']}", flush=True)
    ok = all(part["pass"] for part in result.values() if isinstance(part, dict))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", result["card"]).strip("_")
    path = out / f"gpu_graph_check_{slug}_{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"gpu_graph_check: {'PASS' if ok else 'FAIL'} ({path.name})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
