"""Pairs per second of the training data pipeline (on-the-fly LR) against the training step rate.

Question answered: can data loading starve training?  ``PairedImageDataset`` with LR made on the fly
(``lr_mode="matlab"``: decode the HR PNG, mod-crop, random 128 crop, MATLAB-exact LR of the crop only,
flips) is timed through a ``DataLoader`` (batch 16, num_workers 0, 1, 2) on:

* ``T91`` from ``../shared/data`` (91 small images; skipped if absent);
* ``DIV2K-sized``: 8 synthetic 2040x1356 PNGs (tiled scikit-image photos), the decode cost of DIV2K;
* their 480x480 sub-images from ``spsr data prepare`` (the official layout; LR still made on the fly);
* the same with ``cache_images=True`` (decoded HR kept in each worker's memory).

Also one ``imresize`` x1/4 of a 2040x1356 image (numpy uint8 MATLAB mode, float official mode, tensor).
The training rate comes from ``benchmarks/results/train_step_cpu.json`` (``bench_train_step.py``) when
present, else from SPSR_REFERENCE.md §11 (official code, 2.80 s per iteration at batch 2, 2 CPU threads).

    python benchmarks/bench_data.py            # writes benchmarks/results/data_pipeline.{json,md}
    python benchmarks/bench_data.py --quick    # fewer batches
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
SHARED_T91 = ROOT.parent / "shared" / "data" / "train" / "T91" / "HR"


def div2k_sized_folder(folder: Path, count: int = 8) -> Path:
    """Synthetic 2040x1356 PNGs: photos tiled, shifted and lightly noised so that every file differs and
    compresses like a real DIV2K PNG (a few MB), giving a realistic decode cost."""
    from skimage import data

    from spsr_lib.io.images import write_image

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for i in range(count):
        base = photos[i % len(photos)]
        reps = (1356 // base.shape[0] + 2, 2040 // base.shape[1] + 2, 1)
        big = np.tile(base, reps)[i * 7 : i * 7 + 1356, i * 11 : i * 11 + 2040].astype(np.int16)
        noise = np.random.default_rng(i).integers(-3, 4, big.shape, dtype=np.int16)
        write_image(folder / f"{i:04d}.png", np.clip(big + noise, 0, 255).astype(np.uint8))
    return folder


def pairs_per_second(hr: Path, workers: int, batches: int, cache_images: bool) -> float:
    """Steady-state pairs/s: the clock starts when the first batch arrives (worker start-up excluded)."""
    import warnings

    from spsr_lib.data.paired import PairedImageDataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # T91's 7 small images are reported by the dataset itself
        ds = PairedImageDataset(hr, scale=4, patch_size=128, seed=0, cache_images=cache_images)
    sampler = torch.utils.data.RandomSampler(ds, replacement=True, num_samples=16 * (batches + 1),
                                             generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(ds, batch_size=16, sampler=sampler, num_workers=workers, drop_last=True)
    it = iter(loader)
    next(it)
    start, n = time.perf_counter(), 0
    for batch in it:
        n += batch["lr"].shape[0]
    return n / (time.perf_counter() - start)


def imresize_times(repeats: int) -> dict[str, float]:
    from spsr_lib.ops.imresize import imresize

    img = (np.random.default_rng(0).random((1356, 2040, 3)) * 255).astype(np.uint8)
    cases = {
        "numpy uint8, matlab (benchmark LR)": lambda: imresize(img, 0.25),
        "numpy float32, official_float": lambda: imresize(img.astype(np.float32) / 255, 0.25, mode="official_float"),
        "torch uint8 NCHW, matlab": lambda: imresize(torch.from_numpy(img).permute(2, 0, 1)[None], 0.25),
    }
    out = {}
    for name, fn in cases.items():
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    return out


def training_rate() -> tuple[float, str]:
    """Pairs per second that training consumes, and where the number comes from."""
    path = RESULTS / "train_step_cpu.json"
    if path.is_file():
        res = json.loads(path.read_text())
        rows = res.get("variants") or res.get("results") or []
        best = None
        for row in rows if isinstance(rows, list) else []:
            sec, batch = row.get("seconds_per_iter") or row.get("median_s"), row.get("batch") or res.get("batch", 2)
            if sec:
                rate = batch / sec
                best = max(best or 0.0, rate)
        if best:
            return best, f"{path.relative_to(ROOT)} (fastest variant)"
    return 2 / 2.80, "SPSR_REFERENCE.md §11: official code, 2.80 s per iteration at batch 2, 2 CPU threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches and repeats")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    batches = 3 if args.quick else 10
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        big = div2k_sized_folder(Path(tmp) / "div2k")
        from spsr_lib.data.paired import prepare_subimages

        sub = prepare_subimages(big, Path(tmp) / "sub", progress=False)
        sources = {"DIV2K-sized (8 x 2040x1356 PNG)": big,
                   f"its 480x480 sub-images ({sub['subimages']} PNG)": Path(tmp) / "sub" / "HR"}
        if SHARED_T91.is_dir():
            sources = {"T91 (shared, 84 usable)": SHARED_T91, **sources}
        for label, folder in sources.items():
            for cache in (False, True):
                for w in args.workers:
                    pps = pairs_per_second(folder, w, batches, cache)
                    rows.append({"source": label, "cache_images": cache, "num_workers": w, "pairs_per_s": round(pps, 1)})
                    print(f"{label:<34} cache_images={cache!s:<5} workers={w}: {pps:7.1f} pairs/s", flush=True)
    resize = imresize_times(3 if args.quick else 7)
    for name, sec in resize.items():
        print(f"imresize 2040x1356 -> 510x339, {name}: {sec * 1000:.0f} ms")
    rate, rate_src = training_rate()
    print(f"training consumes {rate:.2f} pairs/s ({rate_src})")
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_avg_1min": os.getloadavg()[0], "torch": torch.__version__},
        "batch_size": 16, "patch_size": 128, "scale": 4, "lr_mode": "matlab", "batches_timed": batches,
        "pipeline": rows,
        "imresize_2040x1356_seconds": resize,
        "training_pairs_per_s": rate, "training_rate_source": rate_src,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    from spsr_lib.io.atomic import atomic_write_text

    atomic_write_text(RESULTS / "data_pipeline.json", json.dumps(result, indent=1) + "\n")
    lines = ["| source | cache_images | workers | pairs/s | x training need |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['source']} | {r['cache_images']} | {r['num_workers']} | {r['pairs_per_s']} | "
                     f"{r['pairs_per_s'] / rate:.0f}x |")
    lines += ["", "| imresize 2040x1356 -> 510x339 | ms |", "|---|---|"]
    lines += [f"| {k} | {v * 1000:.0f} |" for k, v in resize.items()]
    lines += ["", f"Training consumes {rate:.2f} pairs/s ({rate_src}).",
              f"Machine: {os.cpu_count()} CPUs, 1-min load average {os.getloadavg()[0]:.1f} during the run."]
    atomic_write_text(RESULTS / "data_pipeline.md", "\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'data_pipeline.json'} and .md")


if __name__ == "__main__":
    main()
