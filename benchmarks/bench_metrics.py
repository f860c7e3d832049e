"""Throughput of the evaluation metrics: images per second, per metric, on this machine.

    python benchmarks/bench_metrics.py [--size 256] [--repeat 3] [--threads 1] [--device cpu]

Each metric runs on uint8 RGB image pairs (a scikit-image photo cropped to SIZE x SIZE and a noisy
copy) one image at a time, the way ``spsr evaluate`` calls it; PSNR/SSIM also run on a batch of 16
tensors (the vectorised path).  Metrics whose model file is missing are listed as skipped with the
reason.  Writes ``benchmarks/results/bench_metrics.md`` and ``.json`` (atomically).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spsr_lib.io.atomic import atomic_write_text  # noqa: E402


def _pair(size: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    hr = data.astronaut()[:size, :size]
    noisy = np.clip(hr + np.random.default_rng(0).normal(0, 8, hr.shape), 0, 255).round().astype(np.uint8)
    return noisy, hr


def _time(fn, repeat: int) -> float:
    fn()  # warm-up (model loading, caches)
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def _flops(fn) -> int:
    """Conv / matmul FLOPs of one call as torch's flop counter sees them (0 for element-wise or numpy code)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--niqe-params", default=str(REPO.parent / "shared/data/metrics/niqe_modelparameters.mat")
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import spsr_lib.metrics as M

    sr, hr = _pair(args.size)
    batch = 16
    to_t = lambda a: torch.from_numpy(a.copy()).permute(2, 0, 1).float().div(255).to(args.device)  # noqa: E731
    bsr, bhr = torch.stack([to_t(sr)] * batch), torch.stack([to_t(hr)] * batch)
    cases = {
        "psnr standard": (lambda: M.psnr(sr, hr), 1),
        "psnr spsr": (lambda: M.psnr(sr, hr, mode="spsr"), 1),
        "ssim standard": (lambda: M.ssim(sr, hr), 1),
        "ssim spsr": (lambda: M.ssim(sr, hr, mode="spsr"), 1),
        f"psnr+ssim standard, batch {batch} tensors": (lambda: (M.psnr(bsr, bhr), M.ssim(bsr, bhr)), batch),
        "psnr_rgb": (lambda: M.psnr_rgb(sr, hr), 1),
        "gradient_psnr + gradient_l1": (lambda: (M.gradient_psnr(sr, hr), M.gradient_l1(sr, hr)), 1),
        "lpips alex": (lambda: M.lpips(sr, hr), 1),
        "niqe": (lambda: M.niqe(sr, 4, args.niqe_params), 1),
        "ma (model.mat)": (lambda: M.ma_score(sr, 4), 1),
    }
    rows, skipped = [], {}
    for name, (fn, n) in cases.items():
        try:
            dt = _time(fn, args.repeat)
        except Exception as exc:  # a missing model file: report, do not fake a number
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        flops = _flops(fn) / n
        rows.append({"metric": name, "images_per_s": n / dt, "ms_per_image": 1000 * dt / n,
                     "gflop_per_image": flops / 1e9, "gflop_per_s": flops * n / dt / 1e9})
        print(f"{name:<42} {n / dt:9.1f} img/s  {1000 * dt / n:9.2f} ms/img  {flops / 1e9:8.3f} GFLOP/img", flush=True)
    meta = {
        "size": f"{args.size}x{args.size} RGB uint8",
        "threads": args.threads,
        "device": args.device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "command": "python benchmarks/bench_metrics.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    md = [f"# Metric throughput ({meta['size']}, {args.threads} thread(s), {args.device})", "",
          "| metric | images/s | ms/image | GFLOP/image | GFLOP/s |", "|---|---|---|---|---|"]  # fmt: skip
    md += [f"| {r['metric']} | {r['images_per_s']:.1f} | {r['ms_per_image']:.2f} | "
           + (f"{r['gflop_per_image']:.3f} | {r['gflop_per_s']:.1f} |" if r["gflop_per_image"] else "– | – |")
           for r in rows]
    md += ["", "- GFLOP: convolutions and matmuls as `torch.utils.flop_counter` counts them; – = none (element-wise "
           "or numpy code, bound by memory traffic and Python, not by FLOPs)",
           *(f"- skipped {k}: {v}" for k, v in skipped.items()), f"- command: `{meta['command']}`"]
    atomic_write_text(args.out / "bench_metrics.md", "\n".join(md) + "\n")
    atomic_write_text(
        args.out / "bench_metrics.json", json.dumps({**meta, "rows": rows, "skipped": skipped}, indent=1)
    )
    for k, v in skipped.items():
        print(f"skipped {k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
