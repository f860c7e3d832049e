#!/usr/bin/env python
"""Merge `spsr evaluate` results files into the model card's tables: one row per (method, metric), one column per set.

    python scripts/demo_card_tables.py data/demo_weights/evaluation/*/results.json > /tmp/tables.md
    python scripts/demo_card_tables.py a/results.json b/results.json --rename spsr_demo_x4_urban100=spsr_demo_x4

The first file that has a method (e.g. Bicubic, the HR phase-index row) supplies its values; a set a method was not
evaluated on reads "–". PSNR/SSIM are given for the paper's protocol (``spsr``) and the standard one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# (label, key, format); PSNR/SSIM per protocol
ROWS = [("PSNR/SSIM (paper protocol)", ("psnr_spsr", "ssim_spsr"), ("{:.3f}", "{:.4f}")),
        ("PSNR/SSIM (standard)", ("psnr_standard", "ssim_standard"), ("{:.3f}", "{:.4f}")),
        ("LPIPS / DISTS", ("lpips", "dists"), ("{:.4f}", "{:.4f}")),
        ("NIQE", ("niqe",), ("{:.3f}",)),
        ("GradPSNR / GradL1", ("grad_psnr", "grad_l1"), ("{:.2f}", "{:.5f}")),
        ("branch gradL1 / bicubic GradL1", ("branch_grad_l1", "bicubic_grad_l1"), ("{:.5f}", "{:.5f}")),
        ("branch zero change (grey levels)", ("branch_zero_change",), ("{:.2f}",)),
        ("colour shift (grey levels)", ("colour_shift",), ("{:.2f}",)),
        ("phase index", ("phase_index",), ("{:.2f}",))]


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", help="results.json files of spsr evaluate")
    ap.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                    help="report method OLD as NEW (e.g. one model evaluated in two runs under two names)")
    args = ap.parse_args(argv)
    rename = dict(r.split("=", 1) for r in args.rename)
    paths = args.results
    methods: dict[str, dict[str, dict[str, float]]] = {}
    sets: list[str] = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        for entry in ([data["reference"]] if data.get("reference") else []) + data["methods"]:
            into = methods.setdefault(rename.get(entry["name"], entry["name"]), {})
            for set_name, mean in entry["mean"].items():
                into.setdefault(set_name, mean)
                if set_name not in sets:
                    sets.append(set_name)
    print("| method | metric | " + " | ".join(sets) + " |")
    print("|---|---|" + "---|" * len(sets))
    for name, per_set in methods.items():
        for label, keys, fmts in ROWS:
            cells, any_value = [], False
            for s in sets:
                vals = [per_set.get(s, {}).get(k) for k in keys]
                any_value |= any(v is not None for v in vals)
                cells.append("/".join("n/a" if v is None else f.format(v) for v, f in zip(vals, fmts))
                             if s in per_set else "–")
            if any_value:
                print(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
