"""GPU check of ``runtime.cuda_graphs``: a captured-and-replayed training step must train like the eager one.

Two identical small SPSR trainers (same seed) take the same 10 batches; one runs the eager step, the other the
CUDA-graph step (warm-up, capture, replay), crossing a branch pre-train phase change (step 3) and a learning
rate change (step 7), so three graphs are recorded. Convolutions are deterministic strict fp32, so the only
difference left is capturable Adam's on-device bias correction. Prints per-step loss differences, the largest
parameter difference and PASS/FAIL; exit status 1 on FAIL. The CPU tests (``tests/test_cuda_graph_step.py``)
cover the bookkeeping with a stand-in graph; this is the part only a GPU can show.

    python benchmarks/gpu_graph_check.py            # ~20 s; writes benchmarks/results/gpu_graph_check_<card>_<date>.json
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make(run_dir: str, graphs: bool):
    from spsr_lib.config import load_config
    from spsr_lib.train import Trainer

    cfg = load_config(None, [
        "model.nf=16", "model.nb=2", "model.gc=8", "discriminator.nf=16", "data.patch_size=64", "data.batch_size=4",
        "loss.perceptual.weight=0", "train.branch_pretrain.steps=3", f"output_dir={run_dir}",
        "runtime.cudnn_benchmark=false", f"runtime.cuda_graphs={str(graphs).lower()}",
        "logging.tensorboard=false", "logging.progress=false"])
    return Trainer(cfg, device="cuda", build_data=False)


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_graph_check: CUDA is not available to torch; run it on a GPU machine", file=sys.stderr)
        return 2
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    gen = torch.Generator(device="cuda").manual_seed(0)
    rows, worst = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        eager, graphed = make(f"{tmp}/eager", False), make(f"{tmp}/graphed", True)
        for k in range(1, 11):
            hr = torch.rand(4, 3, 64, 64, device="cuda", generator=gen)
            lr = torch.nn.functional.avg_pool2d(hr, 4)
            if k == 7:
                for tr in (eager, graphed):
                    for opt in (tr.opt_G, tr.opt_D, tr.opt_D_grad):
                        for group in opt.param_groups:
                            group["lr"] *= 0.5
            eager.step = graphed.step = k
            want, got = eager.train_step(lr, hr), graphed.train_step(lr, hr)
            rel = max(abs(got[n] - want[n]) / max(abs(want[n]), 1e-6) for n in want)
            worst = max(worst, rel)
            rows.append({"step": k, "max_rel_diff": rel, "eager_l_g_total": want.get("l_g_total"),
                         "graph_l_g_total": got.get("l_g_total")})
            print(f"step {k:2d}: max relative loss difference {rel:.2e}  (l_g_total eager {want.get('l_g_total'):.6f}"
                  f" graph {got.get('l_g_total'):.6f})", flush=True)
        param_diff = max((a - b).abs().max().item() for net in ("G", "D", "D_grad")
                         for a, b in zip(getattr(eager, net).parameters(), getattr(graphed, net).parameters()))
        captures = graphed.graphed_step.captures
    ok = worst < 1e-3 and param_diff < 1e-4 and captures == 3 and len(set(graphed.graphed_step.names)) > 5
    card = torch.cuda.get_device_name()
    result = {"card": card, "torch": torch.__version__, "date": dt.datetime.now().isoformat(timespec="seconds"),
              "steps": rows, "max_param_abs_diff": param_diff, "captures": captures, "pass": ok}
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", card).strip("_")
    path = out / f"gpu_graph_check_{slug}_{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"captures {captures}, worst loss difference {worst:.2e}, largest parameter difference {param_diff:.2e}: "
          f"{'PASS' if ok else 'FAIL'} ({path.name})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
