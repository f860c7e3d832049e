"""One prepared GPU measurement: SPSR stage-2 training step and inference, fp32 / bf16 / channels_last / compile.

Run it through ``benchmarks/gpu_check.sh`` (one command, no installs, < 8 min). It measures

* the full stage-2 iteration of :mod:`spsr_lib.train_step` (paper SPSRNet nf 64 / nb 23 / gc 32, D and
  D_grad nf 64, VGG19 conv5_4 perceptual, 6 generator terms, 3 Adam steps) at ``--batch`` (default 16 per
  GPU; the official run used 15 per GPU on two GPUs) and HR 128;
* inference of the same generator on a ``--infer-lr`` square LR (default 128 -> 512 px);

each as eager fp32 (cuDNN's default TF32 convolutions), strict fp32 (TF32 off), bf16 autocast, bf16 + channels_last, and
bf16 + channels_last + ``torch.compile``. FLOPs come from ``torch.utils.flop_counter`` (convs + matmuls,
fwd + bwd), so "TFLOP/s" is achieved useful work, compared with the card's dense bf16 peak from the table
below. When the ImageNet VGG19 file is not on the machine the perceptual trunk has random weights (the
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

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' datasheets. First match wins.
BF16_PEAK_TFLOPS = [
    ("GH200", 989.0), ("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0),
    ("H800", 989.0), ("B200", 2250.0), ("B100", 1750.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0),
    ("L40", 181.0), ("A10G", 70.0), ("A10", 125.0), ("L4", 121.0), ("A6000", 155.0), ("RTX 6000 Ada", 365.0),
    ("RTX 4090", 165.0), ("RTX 3090", 71.0), ("A30", 165.0), ("A40", 150.0),
]
VARIANTS = {  # name -> (amp, channels_last, compile: False/True/a torch.compile mode); "fp32 eager" runs cuDNN convs in TF32 (PyTorch's default)
    "fp32 eager": ("none", False, False),
    "fp32 strict (TF32 off)": ("none", False, False),
    "bf16 autocast": ("bf16", False, False),
    "bf16 + channels_last": ("bf16", True, False),
    "bf16 + channels_last + compile": ("bf16", True, True),
    "bf16 + channels_last + compile (reduce-overhead)": ("bf16", True, "reduce-overhead"),
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


def perceptual_trunk(device: torch.device) -> tuple[torch.nn.Module, str]:
    from spsr_lib.errors import WeightsUnavailableError
    from spsr_lib.weights import load_vgg_features

    try:
        return load_vgg_features("vgg19", weights=None).to(device), "vgg19 conv5_4, ImageNet weights"
    except WeightsUnavailableError:
        import torchvision

        trunk = torchvision.models.vgg19(weights=None).features[:35].eval().to(device)
        for p in trunk.parameters():
            p.requires_grad_(False)
        return trunk, "vgg19 conv5_4 with RANDOM weights (timing only)"


def make_trainer(args, amp: str, channels_last: bool, compile_g: bool | str, run_dir: str, trunk: torch.nn.Module):
    from spsr_lib.config import load_config
    from spsr_lib.losses import PerceptualLoss
    from spsr_lib.train import Trainer

    size = 32 if args.quick else 128
    arch = ["model.nf=8", "model.nb=2", "model.gc=4", "discriminator.nf=8"] if args.quick else []
    cfg = load_config(None, arch + [
        f"data.batch_size={args.batch}", f"data.patch_size={size}", "loss.perceptual.weight=0",
        f"output_dir={run_dir}", f"runtime.amp={amp}", f"runtime.channels_last={str(channels_last).lower()}",
        f"runtime.compile={str(bool(compile_g)).lower()}", "runtime.cudnn_benchmark=true",
        f"runtime.compile_mode={compile_g if isinstance(compile_g, str) else 'default'}",
        "logging.tensorboard=false", "logging.progress=false"])
    tr = Trainer(cfg, device=args.device, build_data=False)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    tr.perceptual = PerceptualLoss(copy.deepcopy(trunk)).to(tr.device, memory_format=mf)
    tr.cfg.loss.perceptual.weight = 1.0
    tr.step = cfg.train.branch_pretrain.steps  # the whole G trains (after the fusion-only phase)
    return tr, size


def time_train(args, name: str, amp: str, cl: bool, comp: bool | str, trunk, tmp: str) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    tr, size = make_trainer(args, amp, cl, comp, f"{tmp}/{re.sub(r'[^a-z0-9]+', '_', name)}", trunk)
    dev = tr.device
    hr = torch.rand(args.batch, 3, size, size, device=dev)
    lr = torch.nn.functional.avg_pool2d(hr, 4)

    def step() -> None:
        tr.step += 1
        tr.train_step(tr.to_model_layout(lr), hr)

    times, warm_s = timed(step, args.warmup + (2 if comp else 0), args.steps, dev)
    counter = FlopCounterMode(display=False)
    if not comp:  # compiled graphs hide their ops from the counter: reuse the eager count
        with counter:
            step()
    row = {"kind": "train_step", "variant": name, "batch": args.batch, "hr": size, "median_s": statistics.median(times),
           "times_s": times, "warmup_s": warm_s, "flops": int(counter.get_total_flops()) if not comp else None}
    if dev.type == "cuda":
        row["max_mem_gib"] = torch.cuda.max_memory_allocated(dev) / 2**30
    return row


def time_infer(args, name: str, amp: str, cl: bool, comp: bool | str) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from spsr_lib.spsr_net import SPSRNet

    dev = torch.device(args.device)
    arch = dict(nf=8, nb=2, gc=4) if args.quick else dict(nf=64, nb=23, gc=32)
    g = SPSRNet(**arch).to(dev).eval()
    mf = torch.channels_last if cl else torch.contiguous_format
    g = g.to(memory_format=mf)
    fwd = torch.compile(g, mode=comp if isinstance(comp, str) else 'default') if comp else g
    n = 16 if args.quick else args.infer_lr
    x = torch.rand(1, 3, n, n, device=dev).contiguous(memory_format=mf)
    ctx = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if amp == "bf16" else torch.no_grad

    def run() -> None:
        with torch.no_grad(), ctx():
            fwd(x)

    times, warm_s = timed(run, args.warmup + (2 if comp else 0), args.steps, dev)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        g(x)
    row = {"kind": "inference", "variant": name, "lr": n, "median_s": statistics.median(times), "times_s": times,
           "warmup_s": warm_s, "flops": int(counter.get_total_flops())}
    if dev.type == "cuda":
        row["max_mem_gib"] = torch.cuda.max_memory_allocated(dev) / 2**30
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--quick", action="store_true", help="tiny model, 1 timed step: a dry run of the script")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--infer-lr", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--only", type=lambda t: [v.strip() for v in t.split(",")], default=None,
                    help=f"comma-separated subset of the variants: {', '.join(VARIANTS)}")
    ap.add_argument("--kinds", type=lambda t: t.split(","), default=["train_step", "inference"],
                    help="train_step,inference (default both)")
    ap.add_argument("--budget-s", type=float, default=420.0, help="skip the remaining variants after this")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.steps, args.warmup = min(args.batch, 2), 1, 1
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
    with tempfile.TemporaryDirectory() as tmp:
        # eager variants first: a slow compile must not starve them of the time budget
        plan = [(kind, name, *spec) for comp_pass in (False, True) for kind in ("train_step", "inference")
                for name, spec in VARIANTS.items() if bool(spec[2]) == comp_pass]
        for kind, name, amp, cl, comp in plan:
            if (comp and args.no_compile) or (args.only and name not in args.only) or kind not in args.kinds:
                continue
            if time.perf_counter() - start > args.budget_s:
                rows.append({"kind": kind, "variant": name, "skipped": "time budget"})
                continue
            torch.backends.cudnn.allow_tf32 = "TF32 off" not in name
            try:
                row = (time_train(args, name, amp, cl, comp, trunk, tmp) if kind == "train_step"
                       else time_infer(args, name, amp, cl, comp))
            except Exception as exc:  # one failing variant (e.g. compile) must not lose the others
                row = {"kind": kind, "variant": name, "error": f"{type(exc).__name__}: {exc}"[:500],
                       "trace": traceback.format_exc(limit=3)[-1500:]}
            torch.backends.cudnn.allow_tf32 = True
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k not in ("times_s", "trace")}), flush=True)
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    for kind in ("train_step", "inference"):
        ok = [r for r in rows if r["kind"] == kind and "median_s" in r]
        if not ok:
            continue
        base = next((r["median_s"] for r in ok if r["variant"] == "fp32 eager"), ok[0]["median_s"])
        strict = next((r["median_s"] for r in ok if "TF32 off" in r["variant"]), None)
        flops = next((r["flops"] for r in ok if r.get("flops")), None)
        for r in ok:
            r["speedup_vs_fp32"] = base / r["median_s"]  # vs fp32 with TF32 convs (PyTorch's default)
            r["speedup_vs_strict_fp32"] = strict / r["median_s"] if strict else None
            if flops:
                r["tflops_per_s"] = flops / r["median_s"] / 1e12
                r["pct_of_bf16_peak"] = 100 * r["tflops_per_s"] / peak if peak else None
    result = {**info, "rows": rows, "wall_s": time.perf_counter() - start}
    slug = re.sub(r"[^A-Za-z0-9]+", "_", card).strip("_") or "device"
    name = f"gpu_{slug}_{dt.date.today().isoformat()}{'_quick' if args.quick else ''}.json"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from spsr_lib.atomic_io import atomic_write_text

    atomic_write_text(out / name, json.dumps(result, indent=2) + "\n")
    print(f"\n{card}: bf16 peak {peak or 'unknown'} TFLOP/s; results in {out / name}")
    print(f"{'kind':11s} {'variant':32s} {'s':>8s} {'x fp32':>7s} {'x strict':>8s} {'TFLOP/s':>8s} {'%peak':>6s}")
    for r in rows:
        if "median_s" in r:
            tf, pct, xs = r.get("tflops_per_s"), r.get("pct_of_bf16_peak"), r.get("speedup_vs_strict_fp32")
            print(f"{r['kind']:11s} {r['variant']:32s} {r['median_s']:8.4f} {r['speedup_vs_fp32']:7.2f} "
                  f"{(f'{xs:.2f}' if xs else '-'):>8s} {(f'{tf:.1f}' if tf else '-'):>8s} {(f'{pct:.1f}' if pct else '-'):>6s}")
        else:
            print(f"{r['kind']:11s} {r['variant']:32s} {r.get('error') or r.get('skipped')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
