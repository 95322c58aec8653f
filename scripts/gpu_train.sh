#!/usr/bin/env bash
# Train Spk2VidNet for a fixed time on the GPU machine; checkpoint and logs land in $OUT. For the
# prepared GPU run of issue 8 (checks, benchmark, x4 training, export, eval) use scripts/gpu_run.sh;
# this script continues a run exactly (checkpoints), on one or several GPUs.
#
#   OUT=/some/folder scripts/gpu_train.sh MINUTES [spk2vid train flags...]
#
#   scripts/gpu_train.sh 7 --config x4                       # a fresh run
#   scripts/gpu_train.sh 7 --config x4 --resume runs/x4      # continue a carried run (exactly)
#   scripts/gpu_train.sh 7 --config x4-lite --export "$OUT/x4-lite.pt"
#
# Run it from the repository root with the training sources carried: data/pack (made by
# scripts/pack_data.py, readable without ffmpeg) or else data/cache, and .whl (made by
# scripts/gpu_wheels.sh: typer 0.29 and its needs, which the GPU image lacks; installed into
# /tmp/site). MINUTES is training time;
# leave about two minutes of the command's limit for start-up, the last validation and the copy
# (timeout 600 s -> MINUTES 7). Several GPUs are used through torchrun.
#
# $OUT receives train.log (the progress lines), log.jsonl, log.csv and checkpoint.pt. A checkpoint
# over 15 MiB (x4 full: about 60 MB) is split into checkpoint.pt.part-aa, -ab, ... because the
# device tool returns files of at most 16 MiB; join them with
#   cat checkpoint.pt.part-* > runs/x4/checkpoint.pt
# Export weights from a returned checkpoint anywhere, without training further (--steps 1: no steps
# left to take; it validates, then exports):
#   spk2vid train --config x4 --resume runs/x4 --steps 1 --out runs/x4 --export model/weights/x4-full.pt
set -euo pipefail

minutes=${1:?usage: OUT=DIR scripts/gpu_train.sh MINUTES [spk2vid train flags...]}
shift
out=${OUT:?set OUT to the folder that receives the checkpoint and logs}
data=data/pack
[ -d "$data" ] || data=data/cache
mkdir -p "$out"
export PYTHONUNBUFFERED=1
source "$(dirname "$0")/gpu_env.sh"

gpus=$("$python" -c 'import torch; print(torch.cuda.device_count())')
if [ "$gpus" -gt 1 ]; then
    launch=(torchrun --standalone --nproc-per-node "$gpus" -m spk2vid_cli)
else
    launch=("$python" -m spk2vid_cli)
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi: $gpus CUDA device(s)"

"${launch[@]}" train --data "$data" --out "$out" --max-minutes "$minutes" "$@" 2>&1 | tee "$out/train.log"

checkpoint=$out/checkpoint.pt
if [ "$(stat -c %s "$checkpoint")" -gt $((15 * 1024 * 1024)) ]; then
    split -b 15M "$checkpoint" "$checkpoint.part-"
    rm "$checkpoint"
fi
ls -l "$out"
