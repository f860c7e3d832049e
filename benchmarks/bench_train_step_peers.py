"""The ESRGAN step and the SPSR stage-2 step of the kit, before and after issue 29, interleaved in one process.

Rows (all batch 2, HR 128, Adam, EMA 0.999, after the branch pre-train phase):

* ``esrgan``: the loss ablation's variant (b) (``spsr_lib.train.ablation``): RRDBNet nf 64 / nb 23 / gc 32,
  VGG discriminator nf 64, L1 1e-2 + VGG19 conv5_4 perceptual 1 + RaGAN 5e-3;
* ``spsr``: SPSRNet nf 64 / nb 23 / gc 32, D and D_grad nf 64, the six terms of Eq. 9.

Each in fp32 eager and the fast path (bf16 autocast + channels_last), each in the ``legacy`` step (the code
before issue 29: four forwards per discriminator, Adam's per-tensor loop, the per-tensor EMA update; kept
behind ``runtime.share_d_forward=false, runtime.adam=loop``) and the new default step, plus the new step with
``runtime.adam=fused`` (an option: rounding-level differences). Rounds are interleaved (every row once per
round), so background load hits all rows alike; the table gives the median s/iter and ratios against rows of
the same run, in wall time and in the process's CPU time (at 1 thread the CPU time is what the step costs
whatever else runs on the machine; wall time also counts waits for a busy core). The VGG19 trunk has RANDOM weights when the ImageNet ones are not here (same layers, same time).

Peers: traiNNer-redux is not on PyPI (``pip download traiNNer-redux``: no matching distribution). BasicSR's
ESRGAN step joins the ESRGAN rounds when ``basicsr`` imports (``peer_basicsr.py``): run the script with a
virtualenv that has it and sees the kit's torch, e.g.

    python -m venv /tmp/peers && echo "$(.venv/bin/python -c 'import site; print(site.getsitepackages()[0])')" \
        > /tmp/peers/lib/python3.11/site-packages/kit.pth
    /tmp/peers/bin/pip install addict yapf future wheel && /tmp/peers/bin/pip install --no-deps \
        --no-build-isolation basicsr==1.4.2

    /tmp/peers/bin/python benchmarks/bench_train_step_peers.py --threads 1 --only esrgan   # ~6 min, loaded
    /tmp/peers/bin/python benchmarks/bench_train_step_peers.py --threads 1 --only spsr     # ~10 min, loaded
    python benchmarks/bench_train_step_peers.py --threads 2           # every row, a quiet 2-core machine
    python benchmarks/bench_train_step_peers.py --quick               # small models, 1 round (a dry run)

``--only`` keeps the rows whose name contains one of its comma-separated words (the ratios compare rows of one
run only); ``--compile`` adds ``runtime.compile`` rows.

Writes ``benchmarks/results/train_step_peers_t<threads>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train_step import make_trainer, one_step, perceptual_trunk  # noqa: E402

# name -> (model, channels_last, amp, fast, extra overrides)
ROWS = {
    "esrgan fp32 eager, legacy": ("esrgan", False, "none", False, ()),
    "esrgan bf16+CL, legacy": ("esrgan", True, "bf16", False, ()),
    "esrgan bf16+CL, new": ("esrgan", True, "bf16", True, ()),
    "esrgan bf16+CL, new + fused Adam": ("esrgan", True, "bf16", True, ("runtime.adam=fused",)),
    "spsr fp32 eager, legacy": ("spsr", False, "none", False, ()),
    "spsr bf16+CL, legacy": ("spsr", True, "bf16", False, ()),
    "spsr bf16+CL, new": ("spsr", True, "bf16", True, ()),
    "spsr bf16+CL, new + fused Adam": ("spsr", True, "bf16", True, ("runtime.adam=fused",)),
}
COMPILE_ROWS = {  # --compile: runtime.compile (torch.compile of G, inductor); the warm-up step holds the compile
    "esrgan bf16+CL, new + compile": ("esrgan", True, "bf16", True, ("runtime.compile=true",)),
    "spsr bf16+CL, new + compile": ("spsr", True, "bf16", True, ("runtime.compile=true",)),
}
# (row, baseline row) pairs the table reports as ratios
RATIOS = [
    ("esrgan bf16+CL, legacy", "esrgan fp32 eager, legacy"),
    ("esrgan bf16+CL, new", "esrgan fp32 eager, legacy"),
    ("esrgan bf16+CL, new + fused Adam", "esrgan fp32 eager, legacy"),
    ("esrgan bf16+CL, new", "esrgan bf16+CL, legacy"),
    ("esrgan bf16+CL, new + fused Adam", "esrgan bf16+CL, legacy"),
    ("esrgan bf16+CL, new", "esrgan fp32, BasicSR"),
    ("esrgan fp32 eager, legacy", "esrgan fp32, BasicSR"),
    ("spsr bf16+CL, legacy", "spsr fp32 eager, legacy"),
    ("spsr bf16+CL, new", "spsr bf16+CL, legacy"),
    ("spsr bf16+CL, new + fused Adam", "spsr bf16+CL, legacy"),
    ("spsr bf16+CL, new", "spsr fp32 eager, legacy"),
    ("esrgan bf16+CL, new + compile", "esrgan bf16+CL, new"),
    ("esrgan bf16+CL, new + compile", "esrgan fp32 eager, legacy"),
    ("spsr bf16+CL, new + compile", "spsr bf16+CL, new"),
    ("spsr bf16+CL, new + compile", "spsr bf16+CL, legacy"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small models, 1 round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma list of row-name substrings to keep")
    ap.add_argument("--no-peers", action="store_true", help="leave BasicSR out even where it is importable")
    ap.add_argument("--compile", action="store_true", help="add the runtime.compile rows (minutes of compile)")
    ap.add_argument("--note", default="", help="a line for the results file (e.g. what else ran on the machine)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rounds = 1 if args.quick else args.rounds
    every = {**ROWS, **(COMPILE_ROWS if args.compile else {})}
    rows = {k: v for k, v in every.items() if not args.only or any(s in k for s in args.only.split(","))}
    load_start = os.getloadavg()[0]
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 128, 128, generator=g)
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    trunk, trunk_note = perceptual_trunk()
    times: dict[str, list[float]] = {name: [] for name in rows}
    cpu: dict[str, list[float]] = {name: [] for name in rows}  # process CPU time: what another job's load leaves alone
    warm: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {name: make_trainer(cl, amp, args.quick, f"{tmp}/{i}", trunk, fast=fast, ema=True, model=model,
                                       extra=extra)
                    for i, (name, (model, cl, amp, fast, extra)) in enumerate(rows.items())}
        peers = "BasicSR: not in this run (--no-peers, or --only without esrgan)"
        if not args.no_peers and (not args.only or "esrgan" in args.only):
            try:
                from peer_basicsr import BasicSRStep

                arch = (16, 4, 8, 16) if args.quick else (64, 23, 32, 64)
                trainers["esrgan fp32, BasicSR"] = peer = BasicSRStep(f"{tmp}/basicsr", *arch)
                rows["esrgan fp32, BasicSR"] = ("esrgan", False, "none", False, ())
                times["esrgan fp32, BasicSR"], cpu["esrgan fp32, BasicSR"] = [], []
                peers = (f"BasicSR {peer.version} (PyPI sdist, in a separate virtualenv that sees the kit's torch; "
                         "ESRGANModel.optimize_parameters, fp32: it has no AMP; its step runs D five times)")
            except ImportError as e:
                peers = f"BasicSR: not importable here ({e}); run this script with a Python that has basicsr"
        for name, tr in trainers.items():  # warm-up: oneDNN primitives, Adam state, the compile
            warm[name] = one_step(tr, lr, hr)
            print(f"warm-up {name}: {warm[name]:.2f} s", flush=True)
        for r in range(rounds):
            for name, tr in trainers.items():
                c0 = time.process_time()
                times[name].append(one_step(tr, lr, hr))
                cpu[name].append(time.process_time() - c0)
            print(f"round {r + 1}: " + ", ".join(f"{times[n][-1]:.2f}" for n in rows), flush=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    med_cpu = {name: statistics.median(t) for name, t in cpu.items()}
    ratios = [{"row": a, "baseline": b, "ratio": med[b] / med[a], "ratio_cpu": med_cpu[b] / med_cpu[a]}
              for a, b in RATIOS if a in med and b in med]
    result = {
        "what": "stage-2 GAN steps, batch 2, HR 128, Adam, EMA 0.999; interleaved rounds, median s/iter",
        "model": "quick: nf16 nb4 gc8, D nf16" if args.quick else "paper: nf64 nb23 gc32, D nf64",
        "perceptual_trunk": trunk_note, "threads": args.threads, "rounds": rounds, "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "note": args.note,
        "load_average": [load_start, os.getloadavg()[0]],
        "rows": [{"row": n, "model": rows[n][0], "channels_last": rows[n][1], "amp": rows[n][2], "new_step": rows[n][3],
                  "extra": list(rows[n][4]), "median_s": med[n], "times_s": times[n], "median_cpu_s": med_cpu[n], "cpu_s": cpu[n],
                  "warm_up_s": warm[n]} for n in rows],
        "ratios": ratios,
        "peers": "traiNNer-redux: not on PyPI (pip download traiNNer-redux: no matching distribution), not in "
                 f"the table; {peers}",
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = re.sub(r"[^A-Za-z0-9]+", "_", args.only).strip("_")
    stem = (f"train_step_peers_t{args.threads}" + (f"_{only}" if only else "") + "_compile" * args.compile
            + ("_quick" if args.quick else ""))
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    cmd = (f"python benchmarks/bench_train_step_peers.py --threads {args.threads} --rounds {args.rounds}"
           + " --quick" * args.quick + " --compile" * args.compile + (f" --only '{args.only}'" if args.only else ""))
    lines = [f"# {result['what']}", "", f"`{cmd}`; {result['model']}; {trunk_note}; {args.threads} thread(s), "
             f"{rounds} rounds, torch {torch.__version__}; 1-min load average {load_start:.1f} at start, "
             f"{os.getloadavg()[0]:.1f} at end. {args.note}", "",
             "| row | wall s/iter (median) | all rounds | CPU s/iter (median) | warm-up step (s) |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {med[n]:.3f} | {', '.join(f'{t:.2f}' for t in times[n])} | {med_cpu[n]:.3f} | {warm[n]:.1f} |"
              for n in rows]
    lines += ["", "| row | vs | speed-up (wall) | speed-up (CPU time) |", "|---|---|---|---|"]
    lines += [f"| {r['row']} | {r['baseline']} | {r['ratio']:.2f}x | {r['ratio_cpu']:.2f}x |" for r in ratios]
    lines += ["", f"Peers: {result['peers']}."]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
