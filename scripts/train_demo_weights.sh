#!/usr/bin/env bash
# Train the shipped demo weights with the kit's own trainer: stage 1 (L1), an L1 warm-up of gradient branch +
# fusion, then stage 2 (SPSR GAN), resuming
# either stage from its latest checkpoint when re-run, then copy the generator to data/demo_weights/.
#   nohup bash scripts/train_demo_weights.sh > runs/demo_train.log 2>&1 &
# Extra arguments are passed to both stages (e.g. --set train.niter=...).
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
run_stage configs/demo_x4_warmup.yaml runs/demo_x4_warmup "$@"
run_stage configs/demo_x4.yaml runs/demo_x4 "$@"
mkdir -p data/demo_weights
.venv/bin/python - <<'PY'
from spsr_lib.checkpoint import load_generator, save_generator
model = load_generator("runs/demo_x4/models/G_latest.safetensors")
save_generator(model, "data/demo_weights/spsr_demo_x4.safetensors")
print("wrote data/demo_weights/spsr_demo_x4.safetensors")
PY
