#!/usr/bin/env bash
# The model card's tables: `spsr evaluate` of a generator on Set5, Set14, BSD100 and Urban100 (026–075, the
# 50-image subset in ../shared/data), both PSNR/SSIM protocols, every metric the kit computes offline (NIQE with
# the LIVE parameters; Ma/PI need Ma et al.'s model.mat, which is not here).
#   bash scripts/evaluate_demo_weights.sh MODEL NAME [extra spsr evaluate args]
# writes data/demo_weights/evaluation/NAME/{results.json, results_spsr.md, results_standard.md, *.csv}.
# One torch thread (two of these can share a 2-core machine); ~25 min for the SPSR demo, ~8 min for stage 1.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1 NAME=$2; shift 2
NIQE=${SPSR_NIQE_PARAMS:-../shared/data/metrics/niqe_modelparameters.mat}
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ${SPSR:-.venv/bin/spsr} evaluate --model "$MODEL" --name "$NAME" \
  --sets Set5 Set14 BSD100 ../shared/data/benchmarks/Urban100 --mode both --niqe-params "$NIQE" \
  --out "data/demo_weights/evaluation/$NAME" --no-progress "$@"
