"""The GPU script runs rarely (a GPU is lent for minutes): its CPU dry run must keep working, so it is tested here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_bench_dry_run_on_cpu_writes_every_variant(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_bench.py"), "--device", "cpu", "--quick",
                          "--no-compile", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    (result,) = tmp_path.glob("gpu_*_quick.json")
    doc = json.loads(result.read_text())
    rows = {(r["kind"], r["variant"]): r for r in doc["rows"]}
    for kind in ("train_step", "inference"):
        for variant in ("fp32 eager", "fp32 strict (TF32 off)", "bf16 autocast", "bf16 + channels_last"):
            row = rows[(kind, variant)]
            assert row["median_s"] > 0 and row["flops"] > 0, row
        assert rows[(kind, "fp32 eager")]["speedup_vs_fp32"] == 1.0
        assert rows[(kind, "fp32 strict (TF32 off)")]["speedup_vs_strict_fp32"] == 1.0
    assert "fp32 eager" in out.stdout and "x strict" in out.stdout


def test_vs_official_needs_the_official_modules(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_vs_official.py"), "--official-dir",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "no architecture.py" in out.stderr and "Maclory/SPSR" in out.stderr
