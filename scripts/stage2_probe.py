#!/usr/bin/env python
"""Stage-2 probe: run named recipe variants of the GAN stage side by side and watch colour, PSNR and LPIPS.

A short GAN stage can go wrong in ways the loss curves do not show: the mean colour drifts by 10+ grey
levels, PSNR falls 6 dB, LPIPS does not improve (``../shared/spec/STAGE2_PROBES.md``). This script is how
the kit's small-budget recipe was found, and how a user checks a new one: every variant starts from the
same stage-1 generator (``--pretrained``) with the same seed, and so the same batches in the same order;
each is the base config plus a few ``--set``-style overrides, trained by :class:`spsr_lib.Trainer` for
``--steps`` iterations and validated every ``--every`` steps (and once at step 0) on the base config's
``data.val`` set: Y-PSNR/SSIM (standard protocol), LPIPS-alex (when its trunk is here), colour shift
(largest channel-mean difference in grey levels), gradient-map PSNR, and the structure metrics of issue 24: the
phase index (a grid at the x4 period; ~1.1 for natural images) and, for gradient-guided generators, the branch
diagnostics (branch gradL1: the branch's grad_sr vs M(HR); branch zero change: grey levels the SR moves when the
branch feature is zeroed). See ``spsr_lib.train.probe_report`` for the table.

    python scripts/stage2_probe.py configs/demo_x4_small_budget.yaml \\
        --pretrained data/demo_weights/rrdb_psnr_demo_x4.safetensors --steps 300 --every 100 \\
        --variant official "loss.low_frequency.weight=0" --variant lf10 "loss.low_frequency.weight=10" \\
        --out ~/spsr-runs/probe --jobs 2

Variants can also come from a YAML file (``--variants probes.yaml``: ``name: [override, ...]``). Each variant
is a run folder under ``--out``; a re-run resumes unfinished variants and skips finished ones, so a killed
probe goes on where it stopped. ``--jobs N`` trains N variants at once in subprocesses (one torch thread
each unless ``--threads``). Writes ``<out>/probe.json`` (every record, the overrides, machine) and
``<out>/probe.md`` (the table that is also printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("base", help="stage-2 config every variant starts from")
    p.add_argument("--pretrained", help="stage-1 generator (default: the base config's train.pretrained)")
    p.add_argument("--variant", nargs=2, action="append", default=[], metavar=("NAME", "OVERRIDES"),
                   help="a variant: its name and space-separated key=value overrides ('' for the base as is)")
    p.add_argument("--variants", help="YAML file: {name: [override, ...]}")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--set", dest="common", action="append", default=[], metavar="KEY=VALUE",
                   help="an override applied to every variant")
    p.add_argument("--out", required=True, help="folder for the runs and probe.json / probe.md")
    p.add_argument("--jobs", type=int, default=1, help="variants trained at once (subprocesses)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per variant (default 2 // jobs)")
    p.add_argument("--only", help=argparse.SUPPRESS)  # internal: train this variant in this process
    return p.parse_args(argv)


def load_variants(args: argparse.Namespace) -> dict[str, list[str]]:
    from spsr_lib.errors import SPSRError

    variants: dict[str, list[str]] = {}
    if args.variants:
        import yaml

        try:
            raw = yaml.safe_load(Path(args.variants).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SPSRError(f"{args.variants}: cannot read the variants file ({exc}); expected name: [k=v, ...]") from None
        if not isinstance(raw, dict) or not all(isinstance(v, list | type(None)) for v in raw.values()):
            raise SPSRError(f"{args.variants}: expected a mapping of variant name -> list of key=value overrides")
        variants.update({str(k): [str(x) for x in (v or [])] for k, v in raw.items()})
    for name, text in args.variant:
        variants[name] = shlex.split(text)
    if not variants:
        raise SPSRError("stage2_probe: no variants; give --variant NAME 'k=v ...' or --variants FILE")
    for name in variants:
        if not name.replace("_", "").replace("-", "").isalnum():
            raise SPSRError(f"stage2_probe: variant name {name!r} must be letters, digits, '-' or '_' (it names a folder)")
    return variants


def variant_overrides(args: argparse.Namespace, name: str, extra: list[str], threads: int) -> list[str]:
    out = [f"output_dir={Path(args.out) / name}", f"train.niter={args.steps}", f"logging.val_freq={args.every}",
           f"logging.save_freq={args.every}", "logging.keep_last=1", "logging.progress=false",
           "logging.tensorboard=false", f"runtime.num_threads={threads}", *args.common]
    if args.pretrained:
        out.append(f"train.pretrained={args.pretrained}")
    return out + extra


def train_variant(args: argparse.Namespace, name: str, overrides: list[str]) -> None:
    """Train one variant to ``--steps`` (resuming when its folder holds a checkpoint), validating at step 0 too."""
    from spsr_lib.train.config import load_config
    from spsr_lib.train.log import read_metrics
    from spsr_lib.train.state import latest_state
    from spsr_lib.train.trainer import Trainer

    cfg = load_config(args.base, overrides)
    if not cfg.data.val:
        from spsr_lib.errors import ConfigError

        raise ConfigError(f"{args.base}: data.val is empty; the probe validates on it (e.g. --set data.val=Set5 folder)")
    run = Path(cfg.output_dir)
    resume = latest_state(run) is not None
    if resume and any(r["step"] >= args.steps for r in read_metrics(run / "metrics.jsonl", kind="val")):
        return
    tr = Trainer(cfg, resume=resume)
    if not resume:
        tr.validate()  # step 0: the stage-1 output (identity fusion) every variant starts from
    tr.fit()
    tr.close()


def collect(args: argparse.Namespace, variants: dict[str, list[str]]) -> dict:
    from spsr_lib.run_info import run_info
    from spsr_lib.train.log import read_metrics

    result = {"base": args.base, "pretrained": args.pretrained, "steps": args.steps, "every": args.every,
              "common": args.common, "machine": run_info(), "variants": {}}
    for name, extra in variants.items():
        path = Path(args.out) / name / "metrics.jsonl"
        val = read_metrics(path, kind="val") if path.exists() else []
        train = read_metrics(path, kind="train") if path.exists() else []
        result["variants"][name] = {
            "overrides": extra,
            "val": [{k: v for k, v in r.items() if k != "kind"} for r in val],
            "sec_per_it": [r["sec_per_it"] for r in train if "sec_per_it" in r],
        }
    return result


def run_all(args: argparse.Namespace, variants: dict[str, list[str]], argv: list[str]) -> list[str]:
    """Train every variant; with ``--jobs`` > 1 each in a subprocess given this run's ``argv`` + ``--only``.
    Returns the variants whose subprocess failed."""
    threads = args.threads or max(1, 2 // max(args.jobs, 1))
    if args.jobs <= 1:
        for name, extra in variants.items():
            print(f"[probe] {name}: {' '.join(extra) or '(base)'}", flush=True)
            train_variant(args, name, variant_overrides(args, name, extra, threads))
        return []
    pending, running, failed = list(variants), {}, []
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            print(f"[probe] {name}: {' '.join(variants[name]) or '(base)'}", flush=True)
            log = open(Path(args.out) / f"{name}.log", "a")  # noqa: SIM115 (closed when the job ends)
            cmd = [sys.executable, os.path.abspath(__file__), *argv, "--only", name, "--threads", str(threads)]
            running[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
        time.sleep(2)
        for name, (proc, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[name]
                if proc.returncode:
                    failed.append(name)
                    print(f"[probe] {name}: failed (exit {proc.returncode}); see {Path(args.out) / (name + '.log')}")
    return failed


def main(argv: list[str] | None = None) -> int:
    from spsr_lib.errors import SPSRError
    from spsr_lib.io.atomic import atomic_write_text

    args = parse_args(argv)
    try:
        if args.steps < 1 or args.every < 1:
            raise SPSRError("stage2_probe: --steps and --every must be >= 1")
        variants = load_variants(args)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        if args.only:
            if args.only not in variants:
                raise SPSRError(f"stage2_probe: no variant named {args.only!r}")
            threads = args.threads or 1
            train_variant(args, args.only, variant_overrides(args, args.only, variants[args.only], threads))
            return 0
        failed = run_all(args, variants, sys.argv[1:] if argv is None else list(argv))
        result = collect(args, variants)
    except SPSRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from spsr_lib.train.probe_report import probe_table

    text = probe_table(result)
    atomic_write_text(Path(args.out) / "probe.json", json.dumps(result, indent=1))
    atomic_write_text(Path(args.out) / "probe.md", f"Stage-2 probe, {result['machine']}\n\n{text}\n")
    print(text)
    if failed:  # the table and files hold what finished; the exit status says not everything did
        print(f"[probe] failed: {', '.join(failed)} (their rows say 'not run'); rerun to retry them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
