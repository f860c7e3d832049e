#!/usr/bin/env bash
# CPU fallback for the demo weights (the shipped ones come from scripts/train_demo_weights_gpu.sh): stage 1
# (configs/demo_x4_psnr.yaml, L1 pre-train of the compact RRDBNet) then stage 2 (configs/demo_x4.yaml, SPSR GAN
# from stage 1 with the identity-initialised fusion), each resuming from its latest checkpoint when re-run.
#   nohup bash scripts/train_demo_weights.sh > runs/demo_train.log 2>&1 &
# Extra arguments are passed to both stages (e.g. --set train.niter=...). The generators end up in
# runs/demo_x4_psnr/models and runs/demo_x4/models; to use the result as the demo default:
#   cp runs/demo_x4/models/G_latest.safetensors data/demo_weights/spsr_demo_x4.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
SPSR=${SPSR:-.venv/bin/spsr}

run_stage() {  # config run_dir [args...]
  local config=$1 run_dir=$2; shift 2
  if compgen -G "$run_dir/checkpoints/state_*.pt" > /dev/null; then
    "$SPSR" train "$config" --resume "$@"
  else
    "$SPSR" train "$config" "$@"
  fi
}

run_stage configs/demo_x4_psnr.yaml runs/demo_x4_psnr "$@"
run_stage configs/demo_x4.yaml runs/demo_x4 "$@"
echo "stage 1: runs/demo_x4_psnr/models/G_latest.safetensors; stage 2: runs/demo_x4/models/G_latest.safetensors"
