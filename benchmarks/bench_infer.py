"""Inference time and peak memory against image size, tiled and untiled (``spsr_lib.inference.infer.upscale``).

The official ``test.py`` runs the whole LR image at once; SPSR_REFERENCE.md section 11 measured +0.35 /
1.26 / 4.94 GB for LR 64 / 128 / 256 px (0.075 MB per LR pixel, so ~78 GB for 1024x1024).  Tiling
should make the activation memory a function of the tile alone: this benchmark checks that, and the
price in time (overlap = extra pixels) and accuracy (PSNR tiled vs untiled where both fit).

Each measurement runs in its own process, so ``VmHWM`` (peak resident memory) belongs to it alone.
Reported per run: wall time of ``upscale``, peak RSS, peak RSS minus the RSS before inference (model
loaded), FLOPs (``torch.utils.flop_counter`` on one small forward, scaled by the LR pixels actually
processed: convolution FLOPs are linear in pixels), and the auto-tile memory estimate for comparison.

    python benchmarks/bench_infer.py --suite growth    # compact random model (nf 24, nb 6), 64..512 px
    python benchmarks/bench_infer.py --suite default   # paper-size model (nf 64, nb 23), 32..128 px
    python benchmarks/bench_infer.py --suite big       # paper-size model, 1024x1024 LR tiled (10-30 min)

Results are merged into benchmarks/results/bench_infer.{json,md} (a rerun replaces its own rows).
Random weights: a 0.6 x (compact) or 0.5 x (paper size) kaiming init with a 0.5 output bias gives an
image-like output whose value depends on a wide context (the default 0.1 init outputs ~1e-7 everywhere
and would hide tiling errors; a larger scale saturates the output, which hides them too).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from spsr_lib.run_info import process_status_kb  # noqa: E402  (after the sys.path insert)

ARCHS = {"compact": {"nf": 24, "nb": 6, "gc": 12}, "paper": {"nf": 64, "nb": 23, "gc": 32}}
# weight scale per model giving an image-like output (std ~0.1-0.3 around the 0.5 bias, <= 10 % clipped)
INIT_SCALE = {"compact": 0.6, "paper": 0.5}
SUITES = {  # (arch, lr size, tile or None, overlap); untiled and tiled pairs at the same size give PSNR
    "growth": [("compact", s, None, 0) for s in (64, 128, 256)]
    + [("compact", s, 64, 16) for s in (64, 128, 256, 512)],
    "default": [("paper", s, None, 0) for s in (32, 64, 128)] + [("paper", s, 64, 16) for s in (64, 128)],
    "big": [("paper", 1024, 128, 16)],
}


def build_model(arch: str, seed: int = 0):
    import torch

    from spsr_lib.models.spsr_net import SPSRNet
    from spsr_lib.ops.blocks import init_weights

    torch.manual_seed(seed)
    model = SPSRNet(**ARCHS[arch], scale=4)
    init_weights(model, INIT_SCALE[arch])
    with torch.no_grad():
        model.fusion.conv_last.bias.fill_(0.5)
    return model.eval()


def lr_image(size: int):
    """A real photo (scikit-image astronaut, tiled by mirroring if needed), MATLAB-bicubic downscaled."""
    import numpy as np
    from skimage import data

    from spsr_lib.ops.imresize import imresize

    hr = data.astronaut()
    reps = math.ceil(4 * size / hr.shape[0])
    if reps > 1:
        row = np.concatenate([hr if k % 2 == 0 else hr[:, ::-1] for k in range(reps)], axis=1)
        hr = np.concatenate([row if k % 2 == 0 else row[::-1] for k in range(reps)], axis=0)
    return imresize(np.ascontiguousarray(hr[: 4 * size, : 4 * size]), 0.25, mode="matlab")


def flops_per_lr_pixel(model) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / (16 * 16)


def measure_one(cfg: dict) -> dict:
    """Runs in a child process: one upscale, its time and memory."""
    import numpy as np
    import torch

    from spsr_lib.inference.infer import estimate_bytes_per_lr_pixel, upscale
    from spsr_lib.inference.tiling import count_tiles

    torch.set_num_threads(cfg["threads"])
    model = build_model(cfg["arch"])
    lr = torch.from_numpy(lr_image(cfg["size"])).permute(2, 0, 1)[None].float().div(255).contiguous()
    fpp = flops_per_lr_pixel(model)
    rss_before = process_status_kb("VmRSS")
    hwm_before = process_status_kb("VmHWM")
    start = time.perf_counter()
    sr = upscale(lr, model, tile=cfg["tile"], overlap=cfg["overlap"], device="cpu")
    seconds = time.perf_counter() - start
    peak = process_status_kb("VmHWM")
    size, tile = cfg["size"], cfg["tile"]
    n_tiles = 1 if tile is None else count_tiles(size, size, tile, cfg["overlap"])
    side = size if tile is None else min(tile, size)
    if cfg.get("save"):
        np.save(cfg["save"], sr[0].numpy())
    return {
        **cfg, "save": None, "seconds": round(seconds, 2), "tiles": n_tiles,
        "peak_rss_gb": round(peak / 2**20, 3), "rss_before_gb": round(rss_before / 2**20, 3),
        "peak_minus_before_gb": round((peak - max(rss_before, 0)) / 2**20, 3),
        "hwm_before_gb": round(hwm_before / 2**20, 3),
        "gflops": round(fpp * n_tiles * side * side / 1e9, 1),
        "estimated_activation_gb": round(estimate_bytes_per_lr_pixel(model) * side * side / 2**30, 3),
        "params": sum(p.numel() for p in model.parameters()),
        "load_avg_1m": round(os.getloadavg()[0], 1),  # other processes on the machine inflate the time
    }


def run_child(cfg: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(cfg)], capture_output=True, text=True)
    if out.returncode != 0:
        return {**cfg, "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def key(r: dict) -> tuple:
    return (r["arch"], r["size"], r["tile"], r["overlap"], r["threads"])


def write_results(rows: list[dict]) -> None:
    from spsr_lib.io.atomic import atomic_write_text

    path = RESULTS / "bench_infer.json"
    old = json.loads(path.read_text())["runs"] if path.exists() else []
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in rows})
    runs = sorted(merged.values(), key=lambda r: (r["arch"], r["tile"] is not None, r["size"]))
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "torch": __import__("torch").__version__,
            "note": "each run in its own process; peak = VmHWM; random weights (0.6 / 0.5 x kaiming, 0.5 output bias)"}
    atomic_write_text(path, json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    lines = [
        "# Inference: time and peak memory vs LR size (`python benchmarks/bench_infer.py`)", "",
        f"{meta['machine']}, {meta['cpus']} CPUs, torch {meta['torch']}; {meta['note']}.", "",
        "| model | LR px | tile / overlap | tiles | threads | time (s) | peak RSS (GB) | peak - before (GB) "
        "| est. activations (GB) | GFLOP | GFLOP/s | PSNR vs untiled (dB) | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if "error" in r:
            lines.append(f"| {r['arch']} | {r['size']} | {r['tile']} / {r['overlap']} | | {r['threads']} | "
                         f"failed: {r['error']} | | | | | | | |")
            continue
        tile = "untiled" if r["tile"] is None else f"{r['tile']} / {r['overlap']}"
        psnr = r.get("psnr_vs_untiled")
        psnr_s = "" if psnr is None else str(psnr)
        lines.append(f"| {r['arch']} ({r['params'] / 1e6:.2f} M) | {r['size']} | {tile} | {r['tiles']} | "
                     f"{r['threads']} | {r['seconds']} | {r['peak_rss_gb']} | {r['peak_minus_before_gb']} | "
                     f"{r['estimated_activation_gb']} | {r['gflops']} | {r['gflops'] / r['seconds']:.1f} | {psnr_s} | "
                     f"{r.get('load_avg_1m', '')} |")
    atomic_write_text(RESULTS / "bench_infer.md", "\n".join(lines) + "\n")


def psnr(a, b) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)  # float outputs in [0, 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="growth")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(json.loads(args.one))))
        return
    import numpy as np

    configs = [c for name, cs in SUITES.items() if args.suite in (name, "all") for c in cs]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        untiled_out: dict[tuple, str] = {}
        for arch, size, tile, overlap in configs:
            save = str(Path(tmp) / f"{arch}_{size}_{tile}.npy")
            cfg = {"arch": arch, "size": size, "tile": tile, "overlap": overlap, "threads": args.threads,
                   "save": save}
            r = run_child(cfg)
            if "error" not in r:
                if tile is None:
                    untiled_out[(arch, size)] = save
                elif (arch, size) in untiled_out:
                    p = psnr(np.load(save), np.load(untiled_out[(arch, size)]))
                    r["psnr_vs_untiled"] = "identical" if math.isinf(p) else round(p, 2)
            print(json.dumps(r), flush=True)
            rows.append(r)
            write_results(rows)  # keep what is done if a later, larger run is interrupted
    print(f"wrote {RESULTS / 'bench_infer.md'}")


if __name__ == "__main__":
    main()
