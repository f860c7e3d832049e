"""Whole-image inference, fp32 against the bf16 fast path (``upscale(..., bf16=True)`` / ``spsr infer --bf16``).

For each benchmark set: wall time of every image at fp32 and with bf16 autocast + channels_last, the
paper-protocol PSNR / SSIM of both against HR, and how far the two outputs are apart (grey levels). Same model,
same process, same run: quote the ratio. Writes ``benchmarks/results/infer_bf16_t<threads>.{json,md}``.

    python benchmarks/bench_infer_bf16.py                     # Set5 + Set14, shipped demo weights, 2 threads
    python benchmarks/bench_infer_bf16.py --sets BSD100 --model spsr.pth
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_set(name: str, model_path: str | None, root: str | None) -> dict:
    import spsr_lib.metrics as M
    from spsr_lib.data.benchmark_sets import load_benchmark_set
    from spsr_lib.inference.infer import upscale
    from spsr_lib.io.demo_weights import load_model

    bs = load_benchmark_set(name, 4, root=root)
    items = [bs[k] for k in range(len(bs))]
    out: dict = {"set": name, "images": len(items)}
    results = {}
    for label, bf16 in (("fp32", False), ("bf16", True)):
        model = load_model(model_path)  # fresh: the bf16 path converts the model to channels_last in place
        upscale(items[0].lr[:16, :16], model, device="cpu", bf16=bf16)  # one warm-up call
        t0 = time.perf_counter()
        srs = [upscale(it.lr, model, device="cpu", bf16=bf16) for it in items]
        seconds = time.perf_counter() - t0
        results[label] = srs
        out[label] = {"seconds": seconds,
                      "psnr": float(np.mean([M.psnr(s, it.hr, mode="spsr") for s, it in zip(srs, items)])),
                      "ssim": float(np.mean([M.ssim(s, it.hr, mode="spsr") for s, it in zip(srs, items)]))}
    diffs = [np.abs(a.astype(np.int32) - b.astype(np.int32)) for a, b in zip(results["fp32"], results["bf16"])]
    out["speedup"] = out["fp32"]["seconds"] / out["bf16"]["seconds"]
    out["max_level_diff"] = int(max(d.max() for d in diffs))
    out["mean_level_diff"] = float(np.mean([d.mean() for d in diffs]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    ap.add_argument("--model", default=None, help="generator file (default: the shipped demo weights)")
    ap.add_argument("--root", default=None, help="folder holding the benchmark sets (default: the usual places)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from spsr_lib.io.atomic import atomic_write_text
    from spsr_lib.run_info import cpu_name

    rows = []
    for name in args.sets:
        rows.append(run_set(name, args.model, args.root))
        r = rows[-1]
        print(f"{name}: fp32 {r['fp32']['seconds']:.1f} s, bf16 {r['bf16']['seconds']:.1f} s ({r['speedup']:.2f}x); "
              f"PSNR {r['fp32']['psnr']:.3f} -> {r['bf16']['psnr']:.3f}", flush=True)
    meta = {"cpu": cpu_name(), "threads": args.threads, "torch": torch.__version__,
            "model": args.model or "shipped demo weights", "load_avg_1m": os.getloadavg()[0]}
    lines = [f"# Inference fp32 vs bf16 + channels_last, whole images ({meta['cpu']}, {args.threads} threads, "
             f"torch {meta['torch']}, {meta['model']})", "",
             "| set | images | fp32 s | bf16 s | speed-up | PSNR fp32 / bf16 (dB) | SSIM fp32 / bf16 | max / mean diff (levels) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['images']} | {r['fp32']['seconds']:.1f} | {r['bf16']['seconds']:.1f} | "
                     f"{r['speedup']:.2f}x | {r['fp32']['psnr']:.3f} / {r['bf16']['psnr']:.3f} | "
                     f"{r['fp32']['ssim']:.4f} / {r['bf16']['ssim']:.4f} | {r['max_level_diff']} / "
                     f"{r['mean_level_diff']:.3f} |")
    lines += ["", f"PSNR/SSIM: paper protocol (Y, 4 px shaved). 1-min load average at the end: {meta['load_avg_1m']:.2f}.",
              f"Command: `python benchmarks/bench_infer_bf16.py {' '.join(argv if argv is not None else sys.argv[1:])}`"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"infer_bf16_t{args.threads}.json", json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    atomic_write_text(out / f"infer_bf16_t{args.threads}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
