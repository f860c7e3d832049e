#!/usr/bin/env bash
# The shipped demo lineage since 2026-12-04 (data/demo_weights/MODEL_CARD.md): both stages on 2 CPU cores.
#   stage 1  configs/structure_x4_psnr.yaml  RRDBNet nf 24 / nb 8 / gc 12 + bicubic residual, L1, 5,000 steps
#   stage 2  configs/structure_x4.yaml       SPSRNet on it, SPSR's six losses + the recipe's levers
#   nohup bash scripts/train_structure_demo.sh > ~/spsr-runs/structure_demo.log 2>&1 &
# Runs go to $RUNS (default ~/spsr-runs, outside the work tree); re-running resumes each stage from its latest
# checkpoint and skips a finished one. Extra arguments go to the stage-2 `spsr train` (e.g. --set train.niter=...).
# Then: cp $RUNS/structure_x4_psnr/models/G_latest.safetensors data/demo_weights/rrdb_psnr_demo_x4.safetensors
#       cp $RUNS/structure_x4/models/G_latest.safetensors data/demo_weights/spsr_demo_x4.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
SPSR=${SPSR:-.venv/bin/spsr}
RUNS=${RUNS:-$HOME/spsr-runs}

stage() {  # stage CONFIG RUN_DIR NITER [spsr train args...]: train or resume until RUN_DIR has NITER steps
  local cfg=$1 run=$2 niter=$3; shift 3
  if [ -f "$run/models/G_$(printf '%08d' "$niter").safetensors" ]; then echo "$run: done"; return; fi
  if compgen -G "$run/checkpoints/state_*.pt" > /dev/null; then
    "$SPSR" train "$cfg" --set "output_dir=$run" --resume "$@"
  else
    "$SPSR" train "$cfg" --set "output_dir=$run" "$@"
  fi
}

stage configs/structure_x4_psnr.yaml "$RUNS/structure_x4_psnr" 5000
stage configs/structure_x4.yaml "$RUNS/structure_x4" "$(grep -oP '^  niter: \K\d+' configs/structure_x4.yaml)" \
  --set "train.pretrained=$RUNS/structure_x4_psnr/models/G_latest.safetensors" "$@"
echo "stage 1: $RUNS/structure_x4_psnr/models/G_latest.safetensors"
echo "SPSR demo generator: $RUNS/structure_x4/models/G_latest.safetensors"
