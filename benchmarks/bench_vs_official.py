"""The kit's SPSRNet against the official generator on the same machine, in the same run (CPU).

SPSR_REFERENCE.md §11 quotes the official code at 0.98 s for forward+backward (LR 1x3x32x32, 2 threads); that
figure came from another host, so the only fair comparison is to time both here, interleaved. The official
code is not part of the kit: point ``--official-dir`` at ``code/models/modules`` of a checkout of
https://github.com/Maclory/SPSR (it imports ``architecture.py`` from there as a package).

    python benchmarks/bench_vs_official.py --official-dir ~/src/SPSR/code/models/modules --threads 2

Prints a Markdown table (medians of ``--rounds`` interleaved rounds after one warm-up round) and writes it to
``benchmarks/results/vs_official_t<threads>.md``.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spsr_lib.io.atomic import atomic_write_text  # noqa: E402  (after the sys.path insert)
from spsr_lib.models.spsr_net import SPSRNet  # noqa: E402
from spsr_lib.run_info import run_info  # noqa: E402


def official_generator(modules_dir: Path) -> torch.nn.Module:
    """The official SPSRNet with train_spsr.json's arguments, imported from ``modules_dir``."""
    if not (modules_dir / "architecture.py").is_file():
        raise SystemExit(f"{modules_dir}: no architecture.py; pass code/models/modules of a Maclory/SPSR checkout")
    sys.path.insert(0, str(modules_dir.parent))
    arch = importlib.import_module(f"{modules_dir.name}.architecture")
    return arch.SPSRNet(in_nc=3, out_nc=3, nf=64, nb=23, gc=32, upscale=4, norm_type=None, act_type="leakyrelu",
                        mode="CNA", upsample_mode="upconv")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official-dir", type=Path, required=True, help="code/models/modules of Maclory/SPSR")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=32, help="LR side")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    official, kit = official_generator(args.official_dir.expanduser()), SPSRNet()
    fast = copy.deepcopy(kit).to(memory_format=torch.channels_last)
    trainable = [sum(p.numel() for p in m.parameters() if p.requires_grad) for m in (official, kit)]
    if trainable[0] != trainable[1]:
        raise SystemExit(f"trainable parameters differ: official {trainable[0]:,}, kit {trainable[1]:,}")
    x = torch.rand(1, 3, args.size, args.size)

    def loss(sr: torch.Tensor, grad_sr: torch.Tensor) -> torch.Tensor:
        return sr.float().square().mean() + 0.5 * grad_sr.float().abs().mean()

    def official_fb() -> None:
        official.zero_grad(set_to_none=True)
        grad_sr, sr, _ = official(x)  # the official order is (grad_sr, sr, grad_lr)
        loss(sr, grad_sr).backward()

    def kit_fb(net: torch.nn.Module, bf16: bool) -> None:
        net.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        loss(out.sr, out.grad_sr).backward()

    def no_grad(net: torch.nn.Module) -> None:
        with torch.no_grad():
            net(x)

    cases = {  # name -> (callable, reference case for the ratio)
        "official fwd+bwd (fp32)": (official_fb, "official fwd+bwd (fp32)"),
        "kit eager fwd+bwd (fp32)": (lambda: kit_fb(kit, False), "official fwd+bwd (fp32)"),
        "kit channels_last + bf16 autocast fwd+bwd": (lambda: kit_fb(fast, True), "official fwd+bwd (fp32)"),
        "official no-grad fwd (fp32)": (lambda: no_grad(official), "official no-grad fwd (fp32)"),
        "kit eager no-grad fwd (fp32)": (lambda: no_grad(kit), "official no-grad fwd (fp32)"),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    load_before = os.getloadavg()[0]
    for fn, _ in cases.values():  # warm-up round
        fn()
    for r in range(args.rounds):
        for name, (fn, _) in cases.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{times[n][-1]:.2f}s" for n in cases), flush=True)
    med = {name: statistics.median(v) for name, v in times.items()}
    lines = [f"# Kit vs official SPSRNet (`python benchmarks/bench_vs_official.py --threads {args.threads}`)", "",
             f"{run_info()}; LR 1x3x{args.size}x{args.size}; loss mean(SR^2) + 0.5 mean(|grad_sr|); median of "
             f"{args.rounds} interleaved rounds; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}; "
             f"{trainable[0]:,} trainable parameters in both.", "",
             "| case | median (s) | speed-up vs official |", "|---|---|---|"]
    lines += [f"| {n} | {med[n]:.3f} | {med[ref] / med[n]:.2f}x |" for n, (_, ref) in cases.items()]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    atomic_write_text(ROOT / "benchmarks" / "results" / f"vs_official_t{args.threads}.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
