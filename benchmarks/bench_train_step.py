"""Time one full SPSR stage-2 iteration on the CPU: eager fp32 against the optimised path.

One iteration = ``spsr_lib.train.step.spsr_step`` with the paper model (SPSRNet nf 64, nb 23, gc 32),
D and D_grad (VGG discriminators, nf 64, 128x128 and 130x130), the VGG19 conv5_4 perceptual loss, all six
generator terms, three Adam steps: the official ``optimize_parameters`` (SPSR_REFERENCE.md §11 measured
2.80 s for it at batch 2 on 2 EPYC threads). Batch 2, HR 128 (LR 32), after the branch pre-train phase
(every parameter of G trains).

Variants: eager fp32 (the reference); channels_last; bf16 autocast (CPU with avx512_bf16/AMX);
channels_last + bf16 autocast (the optimised path: ``runtime.channels_last: true, runtime.amp: bf16``).
FLOPs of one iteration come from ``torch.utils.flop_counter`` (convolutions and matmuls, forward + backward).

When the ImageNet VGG19 weights are not on this machine, the perceptual trunk has RANDOM weights: the
timing is the same (same layers), and the result says so; no loss value from it is a perceptual loss.

    python benchmarks/bench_train_step.py            # writes benchmarks/results/train_step_cpu_t<threads>.{json,md}
    python benchmarks/bench_train_step.py --quick    # 1 timed iteration per variant, small model
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {  # name -> (channels_last, amp)
    "eager fp32": (False, "none"),
    "channels_last fp32": (True, "none"),
    "bf16 autocast": (False, "bf16"),
    "channels_last + bf16 autocast": (True, "bf16"),
}


def perceptual_trunk(device: torch.device | str = "cpu") -> tuple[torch.nn.Module, str]:
    """The paper's VGG19 conv5_4 trunk; when its ImageNet weights are not on this machine, the same layers with
    random weights (same time per step) and a note saying so. Shared with ``gpu_bench.py``."""
    from spsr_lib.errors import WeightsUnavailableError
    from spsr_lib.io.weights import load_vgg_features

    try:
        return load_vgg_features("vgg19").to(device), "vgg19 conv5_4, ImageNet weights"
    except WeightsUnavailableError:
        import torchvision

        trunk = torchvision.models.vgg19(weights=None).features[:35].eval().to(device)
        for p in trunk.parameters():
            p.requires_grad_(False)
        return trunk, "vgg19 conv5_4 with RANDOM weights (timing only: ImageNet VGG19 not on this machine)"


LEGACY = ["runtime.share_d_forward=false", "runtime.adam=loop"]  # the step before issue 29 (+ legacy_ema_update)


def legacy_ema_update(ema, model: torch.nn.Module) -> None:
    """``ModelEMA.update`` before issue 29 (a ``lerp_`` per ``state_dict()`` entry), for the "legacy" rows."""
    with torch.no_grad():
        src = model.state_dict()
        for name, value in ema.module.state_dict().items():
            if value.dtype.is_floating_point:
                value.lerp_(src[name].detach().to(value.dtype), 1.0 - ema.decay)
            else:
                value.copy_(src[name])
    ema.num_updates += 1


def make_trainer(channels_last: bool, amp: str, quick: bool, run_dir: str, trunk: torch.nn.Module,
                 fast: bool = True, ema: bool = False, model: str = "spsr", extra: tuple[str, ...] = ()):
    """A stage-2 trainer for the benchmark. ``model``: "spsr" (SPSRNet, six terms, D + D_grad) or "esrgan" (the
    ablation's variant (b): RRDBNet with L1 1e-2 + perceptual 1 + RaGAN 5e-3, D only). ``fast=False``: the
    step as it was before issue 29 (four forwards per D, Adam's per-tensor loop, the per-tensor EMA update)."""
    import types

    from spsr_lib.losses import PerceptualLoss
    from spsr_lib.train.config import load_config
    from spsr_lib.train.trainer import Trainer

    arch = ["model.nf=16", "model.nb=4", "model.gc=8", "discriminator.nf=16"] if quick else []
    m = ["model.nf=64", "model.nb=23", "model.gc=32"] if not quick else arch[:3]
    generator = None
    losses: list[str] = []
    if model == "esrgan":
        from spsr_lib.train.ablation import BY_NAME, BranchlessRRDB

        nf, nb, gc = (int(x.split("=")[1]) for x in m)
        losses = BY_NAME["esrgan"].overrides()
        generator = lambda: BranchlessRRDB(3, 3, nf, nb, gc, 4)  # noqa: E731
    cfg = load_config(None, arch + losses + [
        "data.batch_size=2", "data.patch_size=128", "loss.perceptual.weight=0", f"output_dir={run_dir}",
        f"runtime.channels_last={str(channels_last).lower()}", f"runtime.amp={amp}", "runtime.device=cpu",
        "logging.tensorboard=false", "logging.progress=false", f"train.ema.enabled={str(ema).lower()}",
        *([] if fast else LEGACY), *extra])
    tr = Trainer(cfg, build_data=False, generator=generator)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    tr.perceptual = PerceptualLoss(copy.deepcopy(trunk)).to(memory_format=mf)  # own copy: layouts differ
    tr.cfg.loss.perceptual.weight = 1.0
    tr.step = cfg.train.branch_pretrain.steps  # past the fusion-only phase: the whole G trains
    if tr.ema is not None and not fast:
        tr.ema.update = types.MethodType(legacy_ema_update, tr.ema)
    return tr


def one_step(tr, lr: torch.Tensor, hr: torch.Tensor) -> float:
    tr.step += 1
    t0 = time.perf_counter()
    tr.train_step(tr.to_model_layout(lr), hr)
    return time.perf_counter() - t0


def count_flops(tr, lr, hr) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        one_step(tr, lr, hr)
    return int(counter.get_total_flops())  # one step is enough: every step runs the same ops


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small model, 1 timed iteration (a dry run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    load_start = os.getloadavg()[0]
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 128, 128, generator=g)
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    trunk, trunk_note = perceptual_trunk()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {name: make_trainer(cl, amp, args.quick, f"{tmp}/{i}", trunk)
                    for i, (name, (cl, amp)) in enumerate(VARIANTS.items())}
        flops = count_flops(trainers["eager fp32"], lr, hr)
        for tr in trainers.values():
            one_step(tr, lr, hr)  # warm-up (oneDNN primitive creation)
        # interleaved rounds: on a shared machine every variant sees the same background load
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(repeats):
            for name, tr in trainers.items():
                times[name].append(one_step(tr, lr, hr))
        for name, (cl, amp) in VARIANTS.items():
            med = statistics.median(times[name])
            rows.append({"variant": name, "channels_last": cl, "amp": amp, "median_s": med, "times_s": times[name]})
            print(f"{name:32s} {med:7.3f} s/it  ({', '.join(f'{t:.3f}' for t in times[name])})", flush=True)
    base = rows[0]["median_s"]
    for r in rows:
        r["speedup_vs_eager"] = base / r["median_s"]
        r["gflops_per_s"] = flops / r["median_s"] / 1e9
    result = {
        "what": "SPSR stage-2 iteration (G + D + D_grad + perceptual, 6 G terms, 3 Adam steps), batch 2, HR 128",
        "model": "quick: SPSRNet nf16 nb4 gc8, D nf16" if args.quick else "paper: SPSRNet nf64 nb23 gc32, D nf64",
        "perceptual_trunk": trunk_note, "threads": args.threads, "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags, "gflop_per_iteration": flops / 1e9, "repeats": repeats, "rows": rows,
        "official_reference_s": 2.80, "load_average": [load_start, os.getloadavg()[0]],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"train_step_cpu_t{args.threads}" + ("_quick" if args.quick else "")
    from spsr_lib.io.atomic import atomic_write_text

    atomic_write_text(out / f"{stem}.json", json.dumps(result, indent=2) + "\n")
    lines = [f"# {result['what']}", "", f"{result['model']}; {trunk_note}; {args.threads} threads, torch "
             f"{torch.__version__}; {flops / 1e9:.1f} GFLOP per iteration (flop_counter); 1-min load average "
             f"{load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end (on a shared machine absolute times are "
             "inflated; the variants run interleaved, so the ratios are the comparable numbers)", "",
             "| variant | s/it (median) | vs eager fp32 | GFLOP/s |", "|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['median_s']:.3f} | {r['speedup_vs_eager']:.2f}x | {r['gflops_per_s']:.1f} |"
              for r in rows]
    atomic_write_text(out / f"{stem}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
