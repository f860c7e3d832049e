"""Where one SPSR stage-2 iteration spends its time on the CPU: ``torch.profiler`` by module and by op.

One iteration as in ``bench_train_step.py`` (SPSRNet nf 64 / nb 23 / gc 32, D and D_grad nf 64, VGG19 conv5_4
perceptual trunk with RANDOM weights when the ImageNet ones are not here: same layers, same time), batch 2,
HR 128, past the branch pre-train phase. Module forwards are bracketed by ``record_function`` ranges (forward
hooks), so the profile shows each network's forward time and how many times it ran; the optimiser steps are
the profiler's own ``Optimizer.step`` ranges; everything under ``autograd::engine`` is the backward. The op table
lists the largest self-time ops. ``--onednn`` adds one more step under oneDNN's verbose mode and sums the
primitive times by (kind, implementation, propagation): which convolution kernels run and what the layout
reorders cost.

    python benchmarks/profile_train_step.py --threads 1            # paper model, the fast path, both step paths
    python benchmarks/profile_train_step.py --quick                # small model (a dry run)

Writes ``benchmarks/results/profile_train_step_t<threads>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train_step import make_trainer, one_step, perceptual_trunk  # noqa: E402


def bracket(module: torch.nn.Module, name: str) -> None:
    """Open a ``record_function`` range named ``fwd/<name>`` around every forward of ``module``."""
    ranges: list = []

    def pre(*_):
        r = record_function(f"fwd/{name}")
        r.__enter__()
        ranges.append(r)

    def post(*_):
        ranges.pop().__exit__(None, None, None)

    module.register_forward_pre_hook(pre)
    module.register_forward_hook(post)


def profile_step(tr, lr, hr, top: int) -> dict:
    for name in ("G", "D", "D_grad", "perceptual"):
        net = getattr(tr, name)
        if net is not None:
            bracket(net, name)
    if tr.ema is not None:
        bracket(tr.ema.module, "G_ema")
    one_step(tr, lr, hr)  # warm-up: oneDNN primitives, Adam state
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with record_function("iteration"):
            wall = one_step(tr, lr, hr)
    events = prof.key_averages()
    total_us = next(e.cpu_time_total for e in events if e.key == "iteration")
    ranges = {}
    for e in events:
        if e.key.startswith("fwd/") or e.key.startswith("Optimizer.step") or e.key in (
                "autograd::engine::evaluate_function: ConvolutionBackward0",):
            ranges[e.key] = {"calls": e.count, "ms": e.cpu_time_total / 1e3, "share": e.cpu_time_total / total_us}
    backward_us = sum(e.cpu_time_total for e in events if e.key.startswith("autograd::engine::evaluate_function"))
    ops = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {
        "wall_s": wall, "profiled_total_ms": total_us / 1e3,
        "ranges": dict(sorted(ranges.items(), key=lambda kv: -kv[1]["ms"])),
        "backward_ms": backward_us / 1e3,  # the engine's functions do not nest, so their totals add up
        "top_ops": [{"op": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1e3,
                     "share": e.self_cpu_time_total / total_us} for e in ops],
    }


def onednn_breakdown(tr, lr, hr) -> list[dict]:
    """One step with ``ONEDNN_VERBOSE`` on (its lines go to fd 1, captured in a file); sums by primitive."""
    import collections
    import os

    agg: dict[tuple[str, str, str], list[float]] = collections.defaultdict(lambda: [0, 0.0])
    with tempfile.TemporaryFile("w+") as log:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                one_step(tr, lr, hr)
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        for line in log:
            f = line.strip().split(",")
            if not line.startswith("onednn_verbose") or "exec" not in f:
                continue
            i = f.index("exec")
            try:
                key, ms = (f[i + 2], f[i + 3], f[i + 4]), float(f[-1])
            except (IndexError, ValueError):
                continue
            agg[key][0] += 1
            agg[key][1] += ms
    return [{"primitive": k[0], "impl": k[1], "prop": k[2], "calls": int(n), "ms": t}
            for k, (n, t) in sorted(agg.items(), key=lambda kv: -kv[1][1])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--paths", default="legacy,fast", help="comma list of step paths: legacy, fast")
    ap.add_argument("--onednn", action="store_true", help="add the oneDNN primitive breakdown (one more step)")
    ap.add_argument("--note", default="", help="a line for the results file (e.g. the machine's load)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 128, 128, generator=g)
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    trunk, note = perceptual_trunk()
    load_start = os.getloadavg()[0]
    result = {"what": "one SPSR stage-2 iteration, channels_last + bf16 autocast, batch 2, HR 128, EMA 0.999",
              "model": "quick" if args.quick else "paper: SPSRNet nf64 nb23 gc32, D nf64",
              "perceptual_trunk": note, "threads": args.threads, "torch": torch.__version__, "note": args.note, "paths": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(args.paths.split(",")):
            tr = make_trainer(True, "bf16", args.quick, f"{tmp}/{i}", trunk, fast=path == "fast", ema=True)
            result["paths"][path] = profile_step(tr, lr, hr, args.top)
            if args.onednn:
                result["paths"][path]["onednn"] = onednn_breakdown(tr, lr, hr)
            print(path, json.dumps(result["paths"][path]["ranges"], indent=1), flush=True)
    result["load_average"] = [load_start, os.getloadavg()[0]]
    out = Path(args.out)
    stem = f"profile_train_step_t{args.threads}" + ("_quick" if args.quick else "")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Profile: {result['what']}", "", f"{result['model']}; {note}; {args.threads} thread(s), torch "
             f"{torch.__version__}; `python benchmarks/profile_train_step.py --threads {args.threads}"
             + " --onednn" * args.onednn + f"`; 1-min load average {load_start:.1f} at start, "
             f"{os.getloadavg()[0]:.1f} at end. {args.note}", ""]
    for path, p in result["paths"].items():
        lines += [f"## {path} step: {p['wall_s']:.2f} s wall, {p['profiled_total_ms']:.0f} ms profiled", "",
                  f"backward (all autograd engine work): {p['backward_ms']:.0f} ms", "",
                  "| range | calls | ms | share |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['calls']} | {v['ms']:.0f} | {v['share']:.1%} |" for k, v in p["ranges"].items()]
        lines += ["", "| op (self time) | calls | ms | share |", "|---|---|---|---|"]
        lines += [f"| `{o['op']}` | {o['calls']} | {o['self_ms']:.0f} | {o['share']:.1%} |" for o in p["top_ops"]]
        if "onednn" in p:
            lines += ["", "| oneDNN primitive (one more step, verbose mode) | implementation | propagation | calls | ms |",
                      "|---|---|---|---|---|"]
            lines += [f"| {o['primitive']} | `{o['impl']}` | {o['prop']} | {o['calls']} | {o['ms']:.0f} |"
                      for o in p["onednn"][:8]]
        lines += [""]
    (out / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
