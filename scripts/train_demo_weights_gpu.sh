#!/usr/bin/env bash
# The demo weights on one GPU in about 6 minutes: stage 1 (L1, configs/demo_x4_gpu_psnr.yaml) then stage 2
# (SPSR GAN, configs/demo_x4_gpu.yaml), each ended by a wall-clock limit (train.time_limit_s).
#
#   TRAIN_DIRS="[path/T91, path/BSD200]" VGG16=path/vgg16.safetensors bash scripts/train_demo_weights_gpu.sh [RUNS]
#
# Env: TRAIN_DIRS (YAML list of HR folders; default: ../shared/data/train T91 + BSD200), VGG16 (the
# perceptual trunk file; default: the usual lookup, see `spsr weights`), STAGE1_S / STAGE2_S (seconds,
# default 150 / 200), PY (python), EXTRA (more `--set k=v` for both stages, e.g. a CPU dry run:
#   EXTRA="--set runtime.device=cpu --set runtime.amp=none --set data.num_workers=0 --set train.niter=2
#   --set data.patch_size=32 --set data.batch_size=2" bash scripts/train_demo_weights_gpu.sh /tmp/dry ).
# Writes RUNS/demo_x4_gpu_psnr and RUNS/demo_x4_gpu (models/G_latest.safetensors, metrics.jsonl); when $OUT
# is set (a lent device machine) the two generators and logs are copied there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
RUNS=${1:-runs}
TRAIN_DIRS=${TRAIN_DIRS:-[../shared/data/train/T91, ../shared/data/train/BSD200]}
read -r -a extra <<< "${EXTRA:-}"
vgg=()
if [ -n "${VGG16:-}" ]; then vgg=(--set "loss.perceptual.weights=$VGG16"); fi

t0=$(date +%s)
"$PY" -m spsr_lib train configs/demo_x4_gpu_psnr.yaml --set "output_dir=$RUNS/demo_x4_gpu_psnr" \
  --set "data.train=$TRAIN_DIRS" --set "train.time_limit_s=${STAGE1_S:-150}" "${extra[@]}"
t1=$(date +%s)
"$PY" -m spsr_lib train configs/demo_x4_gpu.yaml --set "output_dir=$RUNS/demo_x4_gpu" \
  --set "data.train=$TRAIN_DIRS" --set "train.pretrained=$RUNS/demo_x4_gpu_psnr/models/G_latest.safetensors" \
  --set "train.time_limit_s=${STAGE2_S:-200}" "${vgg[@]}" "${extra[@]}"
t2=$(date +%s)
echo "demo weights: stage 1 $((t1 - t0)) s, stage 2 $((t2 - t1)) s (wall, start-up included)"
if [ -n "${OUT:-}" ]; then
  cp "$RUNS/demo_x4_gpu_psnr/models/G_latest.safetensors" "$OUT/demo_gpu_stage1.safetensors"
  cp "$RUNS/demo_x4_gpu/models/G_latest.safetensors" "$OUT/demo_gpu_stage2.safetensors"
  cp "$RUNS/demo_x4_gpu_psnr/metrics.jsonl" "$OUT/demo_gpu_stage1_metrics.jsonl"
  cp "$RUNS/demo_x4_gpu/metrics.jsonl" "$OUT/demo_gpu_stage2_metrics.jsonl"
fi
