#!/usr/bin/env bash
# The structure demo lineage (configs/structure_x4_psnr.yaml -> configs/structure_x4.yaml) on one GPU, trained,
# evaluated and written within ~9 minutes: the one prepared script for a lent device machine.
#   bash scripts/train_structure_demo_gpu.sh [RUNS]          # default RUNS=runs
# Env: STAGE1_S / STAGE2_S (wall-clock seconds per stage, default 200 / 220), BATCH (default 16), PATCH (HR
# patch, default 128), PY (python), EXTRA (more `--set k=v` for both stages; a CPU dry run:
#   EXTRA="--set runtime.device=cpu --set runtime.amp=none --set runtime.channels_last=false --set data.num_workers=0
#   --set train.niter=2" BATCH=2 PATCH=32 STAGE1_S=60 STAGE2_S=60 bash scripts/train_structure_demo_gpu.sh /tmp/dry).
# The CPU lineage runs the same configs at batch 4-16 and 64-px patches; on a GPU both stages get BATCH x PATCH,
# bf16 and channels_last, and stop on their time limit (train.time_limit_s; --resume would go on). Then
# `spsr evaluate` on Set5 and Set14 (paper protocol). Writes RUNS/structure_gpu_{psnr,spsr} and, when $OUT is set
# (a lent device machine), both generators, their metrics.jsonl and the evaluation there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
RUNS=${1:-runs}
read -r -a extra <<< "${EXTRA:-}"
gpu=(--set "data.batch_size=${BATCH:-16}" --set "data.patch_size=${PATCH:-128}" --set runtime.device=auto
     --set runtime.amp=bf16 --set runtime.channels_last=true --set runtime.num_threads=null
     --set data.num_workers=4 --set logging.save_freq=200)
t0=$(date +%s)
"$PY" -m spsr_lib train configs/structure_x4_psnr.yaml --set "output_dir=$RUNS/structure_gpu_psnr" \
  --set train.niter=100000 --set "train.milestones=[100000]" --set "train.time_limit_s=${STAGE1_S:-200}" \
  "${gpu[@]}" "${extra[@]}"
t1=$(date +%s)
"$PY" -m spsr_lib train configs/structure_x4.yaml --set "output_dir=$RUNS/structure_gpu_spsr" \
  --set "train.pretrained=$RUNS/structure_gpu_psnr/models/G_latest.safetensors" --set train.niter=100000 \
  --set "train.time_limit_s=${STAGE2_S:-220}" "${gpu[@]}" "${extra[@]}"
t2=$(date +%s)
"$PY" -m spsr_lib evaluate --model "$RUNS/structure_gpu_spsr/models/G_latest.safetensors" --name structure_gpu \
  --sets Set5 Set14 --mode spsr --metrics psnr ssim lpips grad_l1 colour_shift phase_index branch_grad_l1 \
  branch_zero_change --out "$RUNS/structure_gpu_eval" --no-progress
echo "structure demo on GPU: stage 1 $((t1 - t0)) s, stage 2 $((t2 - t1)) s (wall, start-up included)"
if [ -n "${OUT:-}" ]; then
  cp "$RUNS/structure_gpu_psnr/models/G_latest.safetensors" "$OUT/structure_gpu_stage1.safetensors"
  cp "$RUNS/structure_gpu_spsr/models/G_latest.safetensors" "$OUT/structure_gpu_stage2.safetensors"
  cp "$RUNS/structure_gpu_psnr/metrics.jsonl" "$OUT/structure_gpu_stage1_metrics.jsonl"
  cp "$RUNS/structure_gpu_spsr/metrics.jsonl" "$OUT/structure_gpu_stage2_metrics.jsonl"
  cp -r "$RUNS/structure_gpu_eval" "$OUT/"
fi
