#!/usr/bin/env bash
# Spk2VidNet on one CUDA GPU: ms per output frame in fp32 and bf16 and peak GPU memory, for the
# full and lite x4 networks at 250x400 -> 1000x1600 (a few minutes at most, mostly start-up).
#
#     benchmarks/gpu_bench.sh [DEVICE [BENCH_MODEL_ARGS...]]   # DEVICE: cuda (default), cuda:1, cpu
#
# Extra arguments go to bench_model.py and override the defaults (e.g. --frames 3).
#
# Set PYTHON to pick the interpreter (default: python). COMPILE=1 adds a torch.compile'd run.
set -euo pipefail
cd "$(dirname "$0")/.."
device="${1:-cuda}"
python="${PYTHON:-python}"
"$python" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '|',
    torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
source scripts/checkout_path.sh
"$python" benchmarks/bench_model.py --device "$device" --configs x4 x4-lite \
    --precisions fp32 bf16 --frames 20 "${@:2}"
if [[ "${COMPILE:-0}" == 1 ]]; then
    "$python" benchmarks/bench_model.py --device "$device" --configs x4 \
        --precisions bf16 --frames 20 --compile "${@:2}"
fi
