#!/usr/bin/env bash
# The shipped SPSR demo weights (since 2026-12-01): the drifted GPU stage 2 of 2026-11-26 (official losses,
# 1,122 steps; Set5 23.26 dB, colour shift 15.8 grey levels) continued on 2 CPU cores with the small-budget recipe
# (configs/demo_x4_small_budget.yaml: + low-frequency term 30, EMA 0.99), 1,200 steps at batch 4.
#   nohup bash scripts/train_demo_weights_small_budget.sh > runs/demo_small_budget.log 2>&1 &
# Re-running resumes from the latest checkpoint. The starting generator is taken from the git history (commit
# ce62fad, sha256 checked); extra arguments go to `spsr train`. Result: runs/demo_x4_small_budget/models/
#   cp runs/demo_x4_small_budget/models/G_latest.safetensors data/demo_weights/spsr_demo_x4.safetensors
# From the stage-1 RRDBNet instead (the recipe as a user runs it): spsr train configs/demo_x4_small_budget.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
SPSR=${SPSR:-.venv/bin/spsr}
START=runs/spsr_demo_x4_gpu_stage2.safetensors
START_SHA=bcb089a208f79b2bddd2753e184db2bb4e6e034e43e8688c22d9b604e1567f1e
RUN=runs/demo_x4_small_budget

mkdir -p runs
if [ ! -f "$START" ]; then
  git show ce62fad:data/demo_weights/spsr_demo_x4.safetensors > "$START.tmp"
  echo "$START_SHA  $START.tmp" | sha256sum --check --quiet
  mv "$START.tmp" "$START"
fi
args=(configs/demo_x4_small_budget.yaml --set "train.pretrained=$START" --set train.fusion_init=official
      --set runtime.num_threads=1)  # 1 thread: 2 threads on a busy 2-core machine were 5x slower (spinning)
if compgen -G "$RUN/checkpoints/state_*.pt" > /dev/null; then
  "$SPSR" train "${args[@]}" --resume "$@"
else
  "$SPSR" train "${args[@]}" "$@"
fi
echo "SPSR demo generator: $RUN/models/G_latest.safetensors"
