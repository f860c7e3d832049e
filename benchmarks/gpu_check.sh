#!/usr/bin/env bash
# One prepared GPU check (< 8 min, installs nothing): CUDA visible? does the CUDA-graph step train like the eager
# one (benchmarks/gpu_graph_check.py)? then benchmarks/gpu_bench.py measures the SPSR stage-2 training step and
# inference in fp32 / bf16 / channels_last / CUDA graphs / torch.compile and writes
# benchmarks/results/gpu_<card>_<date>.json (also copied to $OUT when that is set, e.g. on a lent device).
#   bash benchmarks/gpu_check.sh                 # defaults: batch 16, HR 128, inference LR 128
#   bash benchmarks/gpu_check.sh --no-compile    # extra args go to gpu_bench.py, e.g. --batch 16,32,64 --only "..."
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ] && .venv/bin/python -c "import torch" 2>/dev/null; then PY=.venv/bin/python; else PY=python3; fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" - <<'PYEOF'
import sys, torch
ok = torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, cuda available: {ok}")
sys.exit(0 if ok else 3)
PYEOF
# a replayed CUDA-graph step must train like the eager one before its timing means anything (37 s on an H200)
timeout 90 "$PY" benchmarks/gpu_graph_check.py || echo "gpu_graph_check: FAILED or timed out (rc $?)"
# 90 + 380 s: under 8 minutes even when both time out; gpu_bench writes its JSON after every row
timeout 380 "$PY" benchmarks/gpu_bench.py --budget-s 320 "$@" || echo "gpu_bench: stopped (rc $?); rows so far are in the JSON"
if [ -n "${OUT:-}" ]; then cp benchmarks/results/gpu_*.json "$OUT"/ 2>/dev/null || true; fi
