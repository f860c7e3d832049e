"""One prepared GPU measurement: SPSR stage-2 training step and inference, fp32 / bf16 / channels_last / compile.

Run it through ``benchmarks/gpu_check.sh`` (one command, no installs, < 8 min). It measures

* the full stage-2 iteration of :mod:`spsr_lib.train.step` (paper SPSRNet nf 64 / nb 23 / gc 32, D and
  D_grad nf 64, VGG19 conv5_4 perceptual, 6 generator terms, 3 Adam steps) at ``--batch`` (default 16 per
  GPU; the official run used 15 per GPU on two GPUs) and HR 128;
* inference of the same generator on a ``--infer-lr`` square LR (default 128 -> 512 px);

each as eager fp32 (cuDNN's default TF32 convolutions), strict fp32 (TF32 off), bf16 autocast, bf16 + channels_last,
the training step captured as one CUDA graph (``runtime.cuda_graphs``, fp32 and bf16 + channels_last), and
bf16 + channels_last + ``torch.compile``. FLOPs come from ``torch.utils.flop_counter`` (convs + matmuls,
fwd + bwd), so "TFLOP/s" is achieved useful work, compared with the card's dense bf16 peak from the table
below; "GPU busy" is the profiled kernel time of one eager step over its wall time (low = launch-bound). When the ImageNet VGG19 file is not on the machine the perceptual trunk has random weights (the
same layers, so the same time) and the JSON says so. Results: ``benchmarks/results/gpu_<card>_<date>.json``.

Dry run without a GPU: ``python benchmarks/gpu_bench.py --device cpu --quick`` (tiny model, 1 step).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import platform
import re
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import NamedTuple

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_train_step import perceptual_trunk  # noqa: E402  (the same trunk, or the same layers as a stand-in)

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' datasheets. First match wins.
BF16_PEAK_TFLOPS = [
    ("GH200", 989.0), ("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0),
    ("H800", 989.0), ("B200", 2250.0), ("B100", 1750.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0),
    ("L40", 181.0), ("A10G", 70.0), ("A10", 125.0), ("L4", 121.0), ("A6000", 155.0), ("RTX 6000 Ada", 365.0),
    ("RTX 4090", 165.0), ("RTX 3090", 71.0), ("A30", 165.0), ("A40", 150.0),
]


class Variant(NamedTuple):
    amp: str = "none"  # autocast dtype: none / bf16
    channels_last: bool = False
    compile: bool | str = False  # False, True (default mode) or a torch.compile mode
    cuda_graphs: bool = False  # runtime.cuda_graphs: the whole step captured once and replayed
    tf32: bool = True  # cuDNN TF32 convolutions, PyTorch's default; False = strict fp32


VARIANTS = {
    "fp32 eager": Variant(),
    "fp32 strict (TF32 off)": Variant(tf32=False),
    "bf16 autocast": Variant("bf16"),
    "bf16 + channels_last": Variant("bf16", True),
    "fp32 + CUDA graph": Variant(cuda_graphs=True),
    "bf16 + channels_last + CUDA graph": Variant("bf16", True, cuda_graphs=True),
    "bf16 + channels_last + compile": Variant("bf16", True, True),
    "bf16 + channels_last + compile (reduce-overhead)": Variant("bf16", True, "reduce-overhead"),
}


def bf16_peak(name: str) -> float | None:
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key.lower() in name.lower()), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, warmup: int, steps: int, device: torch.device) -> tuple[list[float], float]:
    """``(per-call seconds of `steps` calls, seconds of the `warmup` calls)``; every call synchronised."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    sync(device)
    warm_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return times, warm_s


def make_trainer(args, batch: int, v: Variant, run_dir: str, trunk: torch.nn.Module):
    from spsr_lib.losses import PerceptualLoss
    from spsr_lib.train.config import load_config
    from spsr_lib.train.trainer import Trainer

    size = 32 if args.quick else 128
    arch = ["model.nf=8", "model.nb=2", "model.gc=4", "discriminator.nf=8"] if args.quick else []
    cfg = load_config(None, arch + [
        f"data.batch_size={batch}", f"data.patch_size={size}", "loss.perceptual.weight=0",
        f"output_dir={run_dir}", f"runtime.amp={v.amp}", f"runtime.channels_last={str(v.channels_last).lower()}",
        f"runtime.compile={str(bool(v.compile)).lower()}", "runtime.cudnn_benchmark=true",
        f"runtime.compile_mode={v.compile if isinstance(v.compile, str) else 'default'}",
        f"runtime.cuda_graphs={str(v.cuda_graphs).lower()}", "logging.tensorboard=false", "logging.progress=false"])
    tr = Trainer(cfg, device=args.device, build_data=False)
    mf = torch.channels_last if v.channels_last else torch.contiguous_format
    tr.perceptual = PerceptualLoss(copy.deepcopy(trunk)).to(tr.device, memory_format=mf)
    tr.cfg.loss.perceptual.weight = 1.0
    tr.step = cfg.train.branch_pretrain.steps  # the whole G trains (after the fusion-only phase)
    return tr, size


def kernel_seconds(fn, device: torch.device) -> float | None:
    """Sum of the GPU kernel times of one call (torch.profiler): how busy the GPU is against the wall time."""
    if device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            sync(device)
        return sum(e.self_device_time_total for e in prof.key_averages()) / 1e6
    except Exception as exc:  # a profiler problem must not cost the timing row
        print(f"kernel_seconds: profiler failed ({type(exc).__name__}: {exc})", flush=True)
        return None


def time_train(args, batch: int, name: str, v: Variant, trunk, tmp: str) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    tr, size = make_trainer(args, batch, v, f"{tmp}/{re.sub(r'[^a-z0-9]+', '_', name)}_{batch}", trunk)
    dev = tr.device
    hr = torch.rand(batch, 3, size, size, device=dev)
    lr = torch.nn.functional.avg_pool2d(hr, 4)

    def step() -> None:
        tr.step += 1
        tr.train_step(tr.to_model_layout(lr), hr)

    hidden = bool(v.compile) or v.cuda_graphs  # compiled / replayed kernels are invisible to the op counters
    extra = (2 if v.compile else 0) + (4 if v.cuda_graphs else 0)  # compile; graph warm-up (3) + capture
    times, warm_s = timed(step, args.warmup + extra, args.steps, dev)
    counter = FlopCounterMode(display=False)
    if not hidden:  # reuse the eager count for the hidden variants
        with counter:
            step()
    row = {"kind": "train_step", "variant": name, "batch": batch, "hr": size, "median_s": statistics.median(times),
           "times_s": times, "warmup_s": warm_s, "flops": None if hidden else int(counter.get_total_flops())}
    if dev.type == "cuda":
        # a CUDA graph's pool was allocated at capture, before the peak reset: report what the allocator holds
        row["max_mem_gib"] = (torch.cuda.memory_reserved(dev) if v.cuda_graphs
                              else torch.cuda.max_memory_allocated(dev)) / 2**30
        if not hidden and args.profile:
            row["gpu_kernel_s"] = kernel_seconds(step, dev)
    return row


def time_infer(args, name: str, v: Variant) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from spsr_lib.models.spsr_net import SPSRNet

    dev = torch.device(args.device)
    arch = dict(nf=8, nb=2, gc=4) if args.quick else dict(nf=64, nb=23, gc=32)
    g = SPSRNet(**arch).to(dev).eval()
    mf = torch.channels_last if v.channels_last else torch.contiguous_format
    g = g.to(memory_format=mf)
    fwd = torch.compile(g, mode=v.compile if isinstance(v.compile, str) else "default") if v.compile else g
    n = 16 if args.quick else args.infer_lr
    x = torch.rand(1, 3, n, n, device=dev).contiguous(memory_format=mf)
    ctx = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if v.amp == "bf16" else torch.no_grad

    def run() -> None:
        with torch.no_grad(), ctx():
            fwd(x)

    times, warm_s = timed(run, args.warmup + (2 if v.compile else 0), args.steps, dev)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        g(x)
    row = {"kind": "inference", "variant": name, "lr": n, "median_s": statistics.median(times), "times_s": times,
           "warmup_s": warm_s, "flops": int(counter.get_total_flops())}
    if dev.type == "cuda":
        row["max_mem_gib"] = torch.cuda.max_memory_allocated(dev) / 2**30
        if not v.compile and args.profile:
            row["gpu_kernel_s"] = kernel_seconds(run, dev)
    return row


def summarise(rows: list[dict], peak: float | None) -> None:
    """Ratios per (kind, batch) against fp32 eager and strict fp32, achieved TFLOP/s, GPU busy share."""
    groups = sorted({(r["kind"], r.get("batch") or 0) for r in rows if "median_s" in r})
    for kind, batch in groups:
        ok = [r for r in rows if r["kind"] == kind and (r.get("batch") or 0) == batch and "median_s" in r]
        base = next((r["median_s"] for r in ok if r["variant"] == "fp32 eager"), ok[0]["median_s"])
        strict = next((r["median_s"] for r in ok if "TF32 off" in r["variant"]), None)
        flops = next((r["flops"] for r in ok if r.get("flops")), None)
        for r in ok:
            r["speedup_vs_fp32"] = base / r["median_s"]  # vs fp32 with TF32 convs (PyTorch's default)
            r["speedup_vs_strict_fp32"] = strict / r["median_s"] if strict else None
            if flops:
                r["tflops_per_s"] = flops / r["median_s"] / 1e12
                r["pct_of_bf16_peak"] = 100 * r["tflops_per_s"] / peak if peak else None
            if r.get("gpu_kernel_s"):
                r["gpu_busy_pct"] = 100 * r["gpu_kernel_s"] / r["median_s"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--quick", action="store_true", help="tiny model, 1 timed step: a dry run of the script")
    ap.add_argument("--batch", type=lambda t: [int(b) for b in t.split(",")], default=[16],
                    help="per-GPU batch of the training step; a comma list measures each (e.g. 16,32)")
    ap.add_argument("--infer-lr", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--only", type=lambda t: [v.strip() for v in t.split(",")], default=None,
                    help=f"comma-separated subset of the variants: {', '.join(VARIANTS)}")
    ap.add_argument("--kinds", type=lambda t: t.split(","), default=["train_step", "inference"],
                    help="train_step,inference (default both)")
    ap.add_argument("--no-profile", dest="profile", action="store_false",
                    help="skip the one profiled step that gives the GPU kernel time of the eager variants")
    ap.add_argument("--budget-s", type=float, default=420.0, help="skip the remaining variants after this")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.steps, args.warmup = [min(b, 2) for b in args.batch][:1], 1, 1
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_bench: CUDA is not available to torch (driver, CUDA build or visibility); "
              "dry-run with --device cpu --quick", file=sys.stderr)
        return 2
    start = time.perf_counter()
    dev = torch.device(args.device)
    card = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or "cpu")
    peak = bf16_peak(card) if dev.type == "cuda" else None
    info = {"card": card, "torch": torch.__version__, "cuda": torch.version.cuda, "quick": args.quick,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32, "bf16_peak_tflops": peak,
            "date": dt.datetime.now().isoformat(timespec="seconds")}
    if dev.type == "cuda":
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(dev)))
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    print(json.dumps(info), flush=True)
    trunk, info["perceptual_trunk"] = perceptual_trunk(dev)
    rows: list[dict] = []
    slug = re.sub(r"[^A-Za-z0-9]+", "_", card).strip("_") or "device"
    out = Path(args.out) / f"gpu_{slug}_{dt.date.today().isoformat()}{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(rows: list[dict]) -> dict:
        """Written after every row: an outer timeout then keeps what was measured."""
        from spsr_lib.io.atomic import atomic_write_text

        summarise(rows, peak)
        result = {**info, "rows": rows, "wall_s": time.perf_counter() - start}
        atomic_write_text(out, json.dumps(result, indent=2) + "\n")
        return result

    with tempfile.TemporaryDirectory() as tmp:
        # eager variants first: a slow compile must not starve them of the time budget
        plan = [(kind, batch, name, v) for comp_pass in (False, True) for kind in ("train_step", "inference")
                for batch in (args.batch if kind == "train_step" else [None])
                for name, v in VARIANTS.items() if bool(v.compile) == comp_pass]
        for kind, batch, name, v in plan:
            if (v.compile and args.no_compile) or (args.only and name not in args.only) or kind not in args.kinds:
                continue
            if v.cuda_graphs and (kind != "train_step" or dev.type != "cuda"):
                continue  # a training-step feature that needs CUDA
            if time.perf_counter() - start > args.budget_s:
                rows.append({"kind": kind, "batch": batch, "variant": name, "skipped": "time budget"})
                continue
            torch.backends.cudnn.allow_tf32 = v.tf32
            try:
                row = (time_train(args, batch, name, v, trunk, tmp) if kind == "train_step"
                       else time_infer(args, name, v))
            except Exception as exc:  # one failing variant (e.g. compile) must not lose the others
                row = {"kind": kind, "batch": batch, "variant": name, "error": f"{type(exc).__name__}: {exc}"[:500],
                       "trace": traceback.format_exc(limit=3)[-1500:]}
            torch.backends.cudnn.allow_tf32 = True
            rows.append(row)
            save(rows)
            print(json.dumps({k: v for k, v in row.items() if k not in ("times_s", "trace")}), flush=True)
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    save(rows)
    print(f"\n{card}: bf16 peak {peak or 'unknown'} TFLOP/s; results in {out}")
    print(f"{'kind':11s} {'batch':>5s} {'variant':48s} {'s':>8s} {'x fp32':>7s} {'x strict':>8s} {'TFLOP/s':>8s} "
          f"{'%peak':>6s} {'GPU busy':>8s}")
    for r in rows:
        head = f"{r['kind']:11s} {(r.get('batch') or '-')!s:>5s} {r['variant']:48s}"
        if "median_s" in r:
            tf, pct, xs, busy = (r.get(k) for k in ("tflops_per_s", "pct_of_bf16_peak", "speedup_vs_strict_fp32",
                                                     "gpu_busy_pct"))
            print(f"{head} {r['median_s']:8.4f} {r['speedup_vs_fp32']:7.2f} {(f'{xs:.2f}' if xs else '-'):>8s} "
                  f"{(f'{tf:.1f}' if tf else '-'):>8s} {(f'{pct:.1f}' if pct else '-'):>6s} "
                  f"{(f'{busy:.0f}%' if busy else '-'):>8s}")
        else:
            print(f"{head} {r.get('error') or r.get('skipped')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
