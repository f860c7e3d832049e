#!/usr/bin/env bash
# The ablation's second edition (scripts/make_ablation_results.py, structure profile) on one GPU: the prepared
# script for a lent device machine, in the style of scripts/train_structure_demo_gpu.sh.
#   bash scripts/ablation_gpu.sh [WORK]                      # default WORK=runs/ablation_gpu
# Env: MODE (pilot | full, default pilot), STEPS (GAN-stage steps per pair; full default: the pilot's suggestion,
# else the profile's), JOBS (pairs at once, default 3), BATCH / PATCH (default 4 / 64: the CPU recipe, so the
# numbers stay comparable with a CPU run; larger ones make another experiment and go to another --out),
# EVERY (pilot: evaluate every N steps, default 100), RESULTS (results folder), EXTRA (more arguments for
# make_ablation_results.py), PY. A CPU dry run of the mechanics (tiny networks, crops, seconds per pair):
#   EXTRA="--fast --jobs 1" DEVICE=cpu MODE=full RESULTS=/tmp/ablation_dry/out bash scripts/ablation_gpu.sh /tmp/ablation_dry
# Resumable like the CPU run: rerun the same command and finished pairs are skipped, unfinished ones resume.
# With $OUT set (a lent device machine) the results folder and the logs are copied there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
WORK=${1:-runs/ablation_gpu}
MODE=${MODE:-pilot}
read -r -a extra <<< "${EXTRA:-}"
dev=(--device "${DEVICE:-cuda}" --threads 4 --set "data.batch_size=${BATCH:-4}" --set "data.patch_size=${PATCH:-64}"
     --set data.num_workers=2)
results=${RESULTS:-data/ablation_results_v2}
if [ -z "${RESULTS:-}" ] && { [ "${BATCH:-4}" != 4 ] || [ "${PATCH:-64}" != 64 ]; }; then
  results=data/ablation_results_v2_gpu_b${BATCH}_p${PATCH}   # another recipe: never mixed with the CPU one
fi
t0=$(date +%s)
if [ "$MODE" = pilot ]; then
  "$PY" scripts/make_ablation_results.py --pilot --every "${EVERY:-100}" ${STEPS:+--steps "$STEPS"} \
    --work "$WORK" --out "$results" "${dev[@]}" "${extra[@]}"
else
  "$PY" scripts/make_ablation_results.py --jobs "${JOBS:-3}" ${STEPS:+--steps "$STEPS"} --work "$WORK" \
    --out "$results" "${dev[@]}" "${extra[@]}"
fi
echo "ablation ($MODE) on ${DEVICE:-cuda}: $(( $(date +%s) - t0 )) s wall"
if [ -n "${OUT:-}" ]; then
  cp -r "$results" "$OUT/" 2>/dev/null || true
  find "$WORK" -name '*.log' -o -name 'metrics.jsonl' -o -name 'eval_*.json' | tar -cf "$OUT/ablation_logs.tar" -T -
fi
