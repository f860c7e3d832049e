"""Speed and memory of the default SPSRNet on the CPU (LR 1x3x32x32 -> SR 128x128), eager vs fast paths.

Reference (SPSR_REFERENCE.md Sec. 11, manifest ``timing``): the official code takes a median 0.98 s for
forward + backward of ``mean(SR^2) + 0.5 * mean(|grad_branch|)`` w.r.t. all parameters and 0.32 s for a
no-grad forward (2 threads, AMD EPYC, torch 2.14.1, 322 / 107 GFLOP).

Variants (all the same weights; ratios are against ``eager_fp32`` *in the same run*):

- ``eager_fp32``        NCHW float32, no_grad forward / autograd forward+backward
- ``channels_last``     ``model.to(memory_format=torch.channels_last)`` (oneDNN's native layout)
- ``inference_mode``    forward only, ``torch.inference_mode()`` (no autograd bookkeeping at all)
- ``bf16_autocast``     ``torch.autocast("cpu", dtype=torch.bfloat16)``: oneDNN bf16 convs (avx512_bf16)
- ``bf16_autocast_cl``  bf16 autocast + channels_last
- ``compile``           ``torch.compile(model)`` fp32, only with ``--compile`` (slow to compile on 2 cores)

Timing runs in one process with the variants interleaved round by round, so that load from other jobs
on a shared machine hits every variant alike; medians are reported, with the 1-minute load average.
Peak memory is ``VmHWM`` of a fresh subprocess per variant (``--child``), after one warm-up step and one
timed step; "increase" is VmHWM minus the RSS after building the model. FLOPs come from
``torch.utils.flop_counter.FlopCounterMode`` (fp32 eager); GFLOP/s = FLOPs / median time.

    python benchmarks/bench_model.py                      # 2 threads, 5 rounds
    python benchmarks/bench_model.py --threads 1 --repeats 3 --compile

Writes benchmarks/results/bench_model_t<threads>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from spsr_lib.run_info import cpu_name, process_status_kb  # noqa: E402  (after the sys.path insert)

VARIANTS = {  # name: (channels_last, bf16, forward_only_inference_mode, compile)
    "eager_fp32": (False, False, False, False),
    "channels_last": (True, False, False, False),
    "inference_mode": (False, False, True, False),
    "bf16_autocast": (False, True, False, False),
    "bf16_autocast_cl": (True, True, False, False),
    "compile": (False, False, False, True),
}


def build(args: argparse.Namespace):
    import torch

    from spsr_lib.models.spsr_net import SPSRNet

    torch.manual_seed(0)
    model = SPSRNet(nf=args.nf, nb=args.nb, gc=args.gc)
    x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    return model, x


def make_runner(name: str, base, x):
    """Return ``(forward, forward_backward or None)`` closures for one variant."""
    import copy

    import torch

    channels_last, bf16, inference, compiled = VARIANTS[name]
    model = copy.deepcopy(base)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compiled:
        model = torch.compile(model)

    def loss_of(out):
        return out.sr.float().pow(2).mean() + 0.5 * out.grad_sr.float().abs().mean()

    def forward():
        grad_ctx = torch.inference_mode() if inference else torch.no_grad()
        with grad_ctx, torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(x)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_of(model(x))
        loss.backward()
        return loss

    return forward, (None if inference else forward_backward), model


def flops(base, x) -> dict[str, float]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        base(x)
    fwd = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        out = base(x)
        (out.sr.pow(2).mean() + 0.5 * out.grad_sr.abs().mean()).backward()
    base.zero_grad(set_to_none=True)
    return {"forward_gflop": fwd / 1e9, "forward_backward_gflop": fc.get_total_flops() / 1e9}


def bf16_numerics(base, x) -> dict[str, float]:
    """Error of the bf16-autocast outputs and gradients relative to fp32 on the same weights and input."""
    import torch

    def run(bf16: bool):
        base.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = base(x)
        (out.sr.float().pow(2).mean() + 0.5 * out.grad_sr.float().abs().mean()).backward()
        grads = torch.cat([p.grad.flatten() for p in base.parameters()])
        return out.sr.detach().float(), out.grad_sr.detach().float(), grads

    sr32, g32, gr32 = run(False)
    sr16, g16, gr16 = run(True)
    base.zero_grad(set_to_none=True)

    def rel(a, b):
        return float((a - b).norm() / b.norm())

    return {"sr_rel_l2": rel(sr16, sr32), "sr_max_abs": float((sr16 - sr32).abs().max()),
            "sr_max_abs_fp32": float(sr32.abs().max()), "grad_sr_rel_l2": rel(g16, g32),
            "param_grads_rel_l2": rel(gr16, gr32)}


def child(args: argparse.Namespace) -> None:
    """Peak RSS of one variant in a fresh process: print JSON."""
    import torch

    torch.set_num_threads(args.threads)
    base, x = build(args)
    rss_base = process_status_kb("VmRSS")
    forward, forward_backward, _ = make_runner(args.child, base, x)
    del base
    work = forward_backward or forward
    work()
    t = time.perf_counter()
    work()
    print(json.dumps({"vmhwm_kb": process_status_kb("VmHWM"), "rss_after_build_kb": rss_base,
                      "step_s": time.perf_counter() - t}))


def peak_memory(name: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", name, "--threads", str(args.threads), "--size", str(args.size),
           "--nf", str(args.nf), "--nb", str(args.nb), "--gc", str(args.gc)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"rc {res.returncode}"}
    info = json.loads(res.stdout.strip().splitlines()[-1])
    return {"peak_rss_mb": info["vmhwm_kb"] / 1024,
            "peak_increase_mb": (info["vmhwm_kb"] - info["rss_after_build_kb"]) / 1024}


def official_reference() -> dict | None:
    manifest = ROOT.parent / "shared" / "spec" / "parity" / "manifest.json"
    if not manifest.is_file():
        return None
    t = json.loads(manifest.read_text())["timing"]
    return {"forward_backward_s_median": t["forward_backward_s_median"],
            "forward_no_grad_s_median": t["forward_only_no_grad_s_median"], "threads": t["torch_num_threads"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--size", type=int, default=32, help="LR size (square)")
    p.add_argument("--nf", type=int, default=64)
    p.add_argument("--nb", type=int, default=23)
    p.add_argument("--gc", type=int, default=32)
    p.add_argument("--compile", action="store_true", help="also time torch.compile (compiles first: minutes)")
    p.add_argument("--variants", default=None, help="comma-separated subset of " + ",".join(VARIANTS))
    p.add_argument("--no-memory", action="store_true", help="skip the per-variant peak-RSS subprocesses")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0

    import torch

    torch.set_num_threads(args.threads)
    names = args.variants.split(",") if args.variants else [n for n in VARIANTS if n != "compile" or args.compile]
    base, x = build(args)
    load_before = os.getloadavg()[0]
    runners = {n: make_runner(n, base, x) for n in names}
    fl = flops(base, x)
    compile_s = {}
    for n, (fwd, fwdbwd, _) in runners.items():  # warm-up (and compilation)
        t = time.perf_counter()
        fwd()
        if fwdbwd:
            fwdbwd()
        compile_s[n] = time.perf_counter() - t
    times = {n: {"fwd": [], "fwdbwd": [], "fwdbwd_cpu": []} for n in names}
    for r in range(args.repeats):
        for n, (fwd, fwdbwd, _) in runners.items():
            t = time.perf_counter()
            fwd()
            times[n]["fwd"].append(time.perf_counter() - t)
            if fwdbwd:
                c, t = time.process_time(), time.perf_counter()
                fwdbwd()
                times[n]["fwdbwd"].append(time.perf_counter() - t)
                times[n]["fwdbwd_cpu"].append(time.process_time() - c)
        print(f"round {r + 1}/{args.repeats}: " + ", ".join(
            f"{n} {times[n]['fwdbwd'][-1] if times[n]['fwdbwd'] else times[n]['fwd'][-1]:.2f}s" for n in names),
            flush=True)
    load_after = os.getloadavg()[0]
    numerics = bf16_numerics(base, x) if any(VARIANTS[n][1] for n in names) else None

    results = {}
    ref_fwd = statistics.median(times["eager_fp32"]["fwd"]) if "eager_fp32" in times else None
    ref_fb = statistics.median(times["eager_fp32"]["fwdbwd"]) if "eager_fp32" in times else None
    for n in names:
        fwd_med = statistics.median(times[n]["fwd"])
        row = {"forward_s_median": fwd_med, "forward_s_all": times[n]["fwd"],
               "forward_gflops_per_s": fl["forward_gflop"] / fwd_med,
               "forward_speedup_vs_eager": ref_fwd / fwd_med if ref_fwd else None,
               "warmup_s": compile_s[n]}
        if times[n]["fwdbwd"]:
            fb = statistics.median(times[n]["fwdbwd"])
            row.update({"forward_backward_s_median": fb, "forward_backward_s_all": times[n]["fwdbwd"],
                        "forward_backward_cpu_s_median": statistics.median(times[n]["fwdbwd_cpu"]),
                        "forward_backward_gflops_per_s": fl["forward_backward_gflop"] / fb,
                        "forward_backward_speedup_vs_eager": ref_fb / fb if ref_fb else None})
        if not args.no_memory:
            row.update(peak_memory(n, args))
        results[n] = row

    report = {
        "what": f"SPSRNet(nf={args.nf}, nb={args.nb}, gc={args.gc}) x4, LR 1x3x{args.size}x{args.size}; loss "
                "mean(SR^2)+0.5*mean(|grad_sr|) backward w.r.t. all parameters",
        "machine": {"cpu": cpu_name(), "os_cpu_count": os.cpu_count(), "threads": args.threads,
                    "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "load_avg_1min_before": load_before, "load_avg_1min_after": load_after},
        "repeats": args.repeats, "flops": fl, "variants": results, "bf16_vs_fp32": numerics,
        "official_reference": official_reference(),
    }
    write(report, args)
    return 0


def write(report: dict, args: argparse.Namespace) -> None:
    from spsr_lib.io.atomic import atomic_write_text

    stem = RESULTS / f"bench_model_t{args.threads}"
    atomic_write_text(stem.with_suffix(".json"), json.dumps(report, indent=1))
    m = report["machine"]
    lines = [f"# SPSRNet speed and memory (`python benchmarks/bench_model.py --threads {args.threads}`)", "",
             f"{report['what']}. {m['cpu']}, {m['os_cpu_count']} CPUs, {m['threads']} threads, torch {m['torch']}; "
             f"median of {report['repeats']} interleaved rounds; load average {m['load_avg_1min_before']:.1f} -> "
             f"{m['load_avg_1min_after']:.1f}. {report['flops']['forward_gflop']:.0f} GFLOP forward, "
             f"{report['flops']['forward_backward_gflop']:.0f} GFLOP forward+backward.", "",
             "| variant | fwd (s) | fwd speed-up | fwd+bwd (s) | fwd+bwd speed-up | fwd+bwd CPU (s) | fwd+bwd GFLOP/s "
             "| peak RSS (MB) | peak increase (MB) |", "|---|---|---|---|---|---|---|---|---|"]

    def f(v, fmt=".3f"):
        return "" if v is None else format(v, fmt)

    for n, r in report["variants"].items():
        lines.append(f"| {n} | {f(r['forward_s_median'])} | {f(r['forward_speedup_vs_eager'], '.2f')}x | "
                     f"{f(r.get('forward_backward_s_median'))} | {f(r.get('forward_backward_speedup_vs_eager'), '.2f')}"
                     f"{'x' if r.get('forward_backward_speedup_vs_eager') else ''} | "
                     f"{f(r.get('forward_backward_cpu_s_median'))} | {f(r.get('forward_backward_gflops_per_s'), '.0f')} | {f(r.get('peak_rss_mb'), '.0f')} | "
                     f"{f(r.get('peak_increase_mb'), '.0f')} |")
    ref = report["official_reference"]
    if ref:
        lines += ["", f"Official code (same machine class, idle, {ref['threads']} threads): forward+backward "
                  f"{ref['forward_backward_s_median']:.2f} s, no-grad forward {ref['forward_no_grad_s_median']:.2f} s."]
    if report["bf16_vs_fp32"]:
        b = report["bf16_vs_fp32"]
        lines += ["", f"bf16 autocast vs fp32 (same weights, default 0.1-scaled init): SR relative L2 error "
                  f"{b['sr_rel_l2']:.2e}, grad_sr {b['grad_sr_rel_l2']:.2e}, parameter gradients "
                  f"{b['param_grads_rel_l2']:.2e}."]
    atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
