#!/usr/bin/env bash
# The one prepared command for a GPU machine (issue 8): CUDA checks, benchmark, x4 full training with
# a warm start from the committed work-in-progress weights, fp16 export and eval --synthetic.
#
#   OUT=/some/folder scripts/gpu_run.sh          # from the repository root, data/pack and .whl carried
#
# It ends inside GPU_RUN_MINUTES (9) of starting, so a 600 s command limit leaves a minute to spare.
# Every phase runs under its own time cap (`timeout`), and the checks and benchmarks stop early
# rather than leave training less than GPU_RUN_MIN_TRAIN seconds; training gets whatever remains
# before the export and evaluation reserve. A phase that fails or runs out of time is reported and
# the next one runs. $OUT receives at most 8 files, each well under 16 MiB:
#   run.log                      everything printed, phase by phase, and the summary at the end
#   train.csv                    the trainer's progress log (steps/s, loss)
#   x4-full-wip.pt, .json        the EMA weights in fp16 and their config + training summary
#   eval.json                    spk2vid eval --synthetic data/pack --scale 4 with those weights
#   x4-lite-gpu.pt, .json        only with GPU_RUN_LITE_MINUTES > 0: x4-lite trained further here
#   train-x4-lite-gpu.csv        likewise
# Commit x4-full-wip.pt/.json to model/weights/ (README, "GPU run"): the next run warm-starts from them.
#
# Settings (environment; the defaults are the GPU run's; a CPU dry run overrides them, see README):
#   GPU_RUN_MINUTES=9           the whole run, start to summary
#   GPU_RUN_DEVICE=cuda         device of benchmarks, training and eval (cpu for a dry run)
#   GPU_RUN_TESTS=1 GPU_RUN_BENCH=1   0 skips the CUDA checks / the benchmarks (more training time)
#   GPU_RUN_TEST_ARGS=          extra pytest arguments (e.g. -k 'not compile')
#   GPU_RUN_BENCH_CONFIGS="x4 x4-lite"  GPU_RUN_BENCH_SIZE=250x400  GPU_RUN_BENCH_MODEL_FRAMES=20
#   GPU_RUN_BENCH_FRAMES=10000  spike frames of the recording that `spk2vid convert` converts
#   GPU_RUN_CONFIG=x4           network to train; warm start from model/weights/GPU_RUN_INIT when it exists
#   GPU_RUN_INIT=x4-full-wip.pt GPU_RUN_NAME=x4-full-wip (name of the exported weights)
#   GPU_RUN_BATCH=32 GPU_RUN_CROP=64 GPU_RUN_SEGMENT=5  streams, LR crop side, blocks per step
#   GPU_RUN_TRAIN_ARGS="--lr 4e-4 --ema 0.995 --loss charbonnier --bright-weight 2"  more train flags
#   GPU_RUN_LITE_MINUTES=0      minutes of x4-lite training (from model/weights/x4-lite.pt) after x4
#   GPU_RUN_EVAL=1              0 skips eval --synthetic
#   caps in seconds: GPU_RUN_TEST_CAP=150 GPU_RUN_BENCH_CAP=90 GPU_RUN_COMPILE_CAP=120
#     GPU_RUN_CONVERT_CAP=75 (each convert) GPU_RUN_EVAL_CAP=90 GPU_RUN_MIN_TRAIN=120
#     GPU_RUN_TRAIN_OVERHEAD=60 (trainer start-up, last validation, checkpoint and export)
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:?set OUT to the folder that receives the logs and weights}
minutes=${GPU_RUN_MINUTES:-9}
device=${GPU_RUN_DEVICE:-cuda}
config=${GPU_RUN_CONFIG:-x4}
init=model/weights/${GPU_RUN_INIT:-x4-full-wip.pt}
name=${GPU_RUN_NAME:-x4-full-wip}
batch=${GPU_RUN_BATCH:-32}
crop=${GPU_RUN_CROP:-64}
segment=${GPU_RUN_SEGMENT:-5}
read -r -a train_args <<<"${GPU_RUN_TRAIN_ARGS:---lr 4e-4 --ema 0.995 --loss charbonnier --bright-weight 2}"
read -r -a test_args <<<"${GPU_RUN_TEST_ARGS:-}"
read -r -a bench_configs <<<"${GPU_RUN_BENCH_CONFIGS:-x4 x4-lite}"
bench_size=${GPU_RUN_BENCH_SIZE:-250x400}
bench_frames=${GPU_RUN_BENCH_FRAMES:-10000}
lite_minutes=${GPU_RUN_LITE_MINUTES:-0}
eval_cap=${GPU_RUN_EVAL_CAP:-90}
min_train=${GPU_RUN_MIN_TRAIN:-120}
train_overhead=${GPU_RUN_TRAIN_OVERHEAD:-60}
python=${PYTHON:-python3}
work=${TMPDIR:-/tmp}/gpu_run.$$
started=$(date +%s)
deadline=$(awk -v s="$started" -v m="$minutes" 'BEGIN { printf "%.0f", s + m * 60 }')
[ "${GPU_RUN_EVAL:-1}" = 1 ] || eval_cap=0

mkdir -p "$out" "$work"
trap 'rm -rf "$work"' EXIT
exec > >(tee -a "$out/run.log") 2>&1
export PYTHONUNBUFFERED=1
summary=()

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }

# phase NAME CAP RESERVE COMMAND...: run COMMAND under `timeout` for at most CAP seconds, and at
# most until RESERVE seconds before the deadline (skipped, with skipped=1, when under 10 s remain);
# log its time and result for the summary.
phase() {
    local label=$1 cap=$2 reserve=$3
    shift 3
    local left=$((deadline - reserve - $(date +%s)))
    [ "$left" -lt "$cap" ] && cap=$left
    skipped=0
    if [ "$cap" -lt 10 ]; then
        skipped=1
        echo "== $label: skipped, ${left}s left before the reserve for what follows"
        summary+=("$(printf '%-28s skipped (no time left)' "$label")")
        return 1
    fi
    echo "== $label (cap ${cap}s, $(elapsed "$started")s into the run) =="
    local t0 rc
    t0=$(now)
    timeout --signal=TERM --kill-after=30 "$cap" "$@"
    rc=$?
    local took
    took=$(elapsed "$t0")
    local verdict="ok"
    [ "$rc" -ne 0 ] && verdict="exit $rc"
    [ "$rc" -eq 124 ] && verdict="hit its ${cap}s cap"
    summary+=("$(printf '%-28s %5ss  %s' "$label" "$took" "$verdict")")
    return "$rc"
}

# The time the checks and benchmarks must leave: training's minimum, its overhead, and the eval.
lite_seconds=$(awk -v m="$lite_minutes" 'BEGIN { printf "%.0f", m * 60 }')
lite_reserve=0
[ "$lite_seconds" -gt 0 ] && lite_reserve=$((lite_seconds + train_overhead))
bench_reserve=$((min_train + train_overhead + lite_reserve + eval_cap))

echo "== setup: $(date -u +%FT%TZ), deadline in $((deadline - started))s =="
source scripts/gpu_env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
"$python" -c 'import torch; print("torch", torch.__version__, "| CUDA", torch.version.cuda, "|",
    torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA GPU", "|", torch.get_num_threads(), "CPU threads")'
[ -d data/pack ] || echo "note: no data/pack; carry it (training and eval need it)"
has_ffmpeg=$("$python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())' 2>/dev/null)

# --- a. CUDA checks ---------------------------------------------------------------------------------------
if [ "${GPU_RUN_TESTS:-1}" = 1 ]; then
    phase "a. pytest -m cuda" "${GPU_RUN_TEST_CAP:-150}" "$bench_reserve" \
        "$python" -m pytest -p no:cacheprovider -m cuda tests/test_cuda.py -rs -s -v "${test_args[@]}"
fi

# --- b. benchmark -----------------------------------------------------------------------------------------
if [ "${GPU_RUN_BENCH:-1}" = 1 ]; then
    phase "b. network fp32, bf16" "${GPU_RUN_BENCH_CAP:-90}" "$bench_reserve" \
        "$python" benchmarks/bench_model.py --device "$device" --configs "${bench_configs[@]}" \
        --precisions fp32 bf16 --size "$bench_size" --frames "${GPU_RUN_BENCH_MODEL_FRAMES:-20}" --profile
    # A recording of random spikes, written in chunks (memory stays flat), and untrained x4 weights:
    # speed does not depend on either.
    phase "b. write recording" 60 "$bench_reserve" "$python" - "$work" "$bench_size" "$bench_frames" <<'EOF'
import sys
from pathlib import Path
import numpy as np
from spk2vid_model.model import CONFIGS, Spk2VidNet
from spk2vid_model.weights import save_weights
from spk2vid_cli.spikes import write_config, write_dat
work, (height, width), frames = Path(sys.argv[1]), map(int, sys.argv[2].split("x")), int(sys.argv[3])
rng = np.random.default_rng(0)
chunks = ((rng.random((min(500, frames - start), height, width), np.float32) < 0.3).astype(np.uint8)
          for start in range(0, frames, 500))
count = write_dat(work / "bench.dat", chunks)
write_config(work, height, width)
save_weights(Spk2VidNet(CONFIGS["x4"]), work / "x4-bench.pt", {}, half=True)
print(f"{work / 'bench.dat'}: {count} frames of {height}x{width}, {(work / 'bench.dat').stat().st_size / 1e6:.0f} MB")
EOF
    # convert LABEL OUTPUT FLAGS...: the whole spk2vid convert, its last progress line and frames/s.
    convert() {
        local label=$1 output=$2
        shift 2
        phase "b. convert $label" "${GPU_RUN_CONVERT_CAP:-75}" "$bench_reserve" \
            "$python" -m spk2vid_cli convert "$work/bench.dat" -o "$work/$output" --scale 4 --overwrite "$@" \
            2>"$work/convert.err"
        local rc=$?
        rate=''
        [ "$skipped" = 1 ] && return 1
        cat "$work/convert.err"
        local lines=1
        [ -f "$work/$output.frames.csv" ] && lines=$(wc -l <"$work/$output.frames.csv")
        rate=$(grep -o '[0-9.]* frames/s' "$work/convert.err" | tail -1 | cut -d' ' -f1)
        echo "convert $label: $((lines - 1)) frames written, ${rate:-?} frames/s (the last progress line: from the first frame, model loading excluded)"
        summary[-1]+="  ${rate:-?} frames/s"
        rm -f "$work/$output" "$work/$output.frames.csv"
        return $rc
    }
    if [ -f "$work/bench.dat" ]; then
        # The I/O reference over the first 3,000 spike frames (about 300 output frames) is enough.
        convert "tfp -> TIFF (I/O ref)" tfp.tif --method tfp --end $((bench_frames < 3000 ? bench_frames : 3000))
        io_rate=$rate
        convert "x4 net -> TIFF" net.tif --method net --weights "$work/x4-bench.pt" --device "$device"
        if [ -n "$io_rate" ] && [ -n "$rate" ]; then
            # TFP's x4 bicubic runs on the CPU in the same threads, so its rate bounds what I/O allows.
            where=$(awk -v io="$io_rate" -v net="$rate" 'BEGIN {
                if (net >= 0.8 * io) print "the network keeps up: reader, windows, exposure and writer bound the rate (TFP alone: " io " frames/s)";
                else print "the network bounds the rate (I/O with TFP alone: " io " frames/s; compare ms/frame above)" }')
            echo "where the time goes: $where"
            summary+=("$(printf '%-28s %s' "b. where the time goes" "$where")")
        fi
        if [ -n "$has_ffmpeg" ]; then
            convert "x4 net -> MP4" net.mp4 --method net --weights "$work/x4-bench.pt" --device "$device"
        else
            echo "== b. convert x4 net -> MP4: skipped, imageio-ffmpeg is not installed (its 29 MB wheel does not fit the carry beside data/pack)"
            summary+=("$(printf '%-28s skipped (no imageio-ffmpeg)' "b. convert x4 net -> MP4")")
        fi
        rm -f "$work/bench.dat"
    fi
    # Last, as the phase most likely to run out of time (compilation takes minutes on a CPU).
    phase "b. network bf16 + compile" "${GPU_RUN_COMPILE_CAP:-120}" "$bench_reserve" \
        "$python" benchmarks/bench_model.py --device "$device" --configs "${bench_configs[@]}" \
        --precisions bf16 --size "$bench_size" --frames "${GPU_RUN_BENCH_MODEL_FRAMES:-20}" --compile
fi

# --- c. training -------------------------------------------------------------------------------------------
# train CONFIG NAME INIT SECONDS_BEFORE_DEADLINE: train until that many seconds before the deadline,
# then export the EMA weights in fp16 to $OUT/NAME.pt (+ .json); a batch that runs out of GPU memory
# is halved and training starts again in the time left.
train() {
    local cfg=$1 label=$2 warm=$3 reserve=$4 size=$batch
    local flags=(--config "$cfg" --data data/pack --device "$device" --crop "$crop" --segment "$segment"
                 --val-every 1000000000 --val-streams 4 --val-blocks 20 --ckpt-every 1000000000 --log-every 20
                 --export "$out/$label.pt" "${train_args[@]}")
    if [ -f "$warm" ]; then
        flags+=(--init "$warm")
        echo "warm start from $warm"
    else
        echo "no $warm: training from scratch"
    fi
    while [ "$size" -ge 1 ]; do
        local seconds=$((deadline - reserve - train_overhead - $(date +%s))) logged
        logged=$(wc -l <"$out/run.log")
        local max_minutes
        max_minutes=$(awk -v s="$seconds" 'BEGIN { printf "%.2f", s / 60 }')
        rm -rf "$work/train-$label"
        phase "c. train $cfg (batch $size)" $((seconds + train_overhead)) "$reserve" \
            "$python" -m spk2vid_cli train "${flags[@]}" --batch "$size" --out "$work/train-$label" \
            --max-minutes "$max_minutes"
        local rc=$?
        local csv=train.csv
        [ "$label" = "$name" ] || csv=train-$label.csv
        [ -f "$work/train-$label/log.csv" ] && cp "$work/train-$label/log.csv" "$out/$csv"
        if [ -f "$out/$label.pt" ]; then
            local rate
            rate=$(tail -n +2 "$work/train-$label/log.csv" 2>/dev/null | awk -F, '$4 != "" { s += $4; n++ } END { if (n) printf "%.2f", s / n }')
            summary[-1]+="  ${rate:-?} steps/s"
            return 0
        fi
        sleep 1  # let tee catch up
        tail -n +$((logged + 1)) "$out/run.log" | grep -qi "out of memory" || return "$rc"
        size=$((size / 2))
        echo "out of GPU memory: trying batch $size"
    done
    return 1
}

train "$config" "$name" "$init" $((eval_cap + lite_reserve))
if [ "$lite_seconds" -gt 0 ]; then
    train x4-lite x4-lite-gpu model/weights/x4-lite.pt "$eval_cap"
fi

# --- d. evaluation -----------------------------------------------------------------------------------------
if [ "$eval_cap" -gt 0 ] && [ -f "$out/$name.pt" ]; then
    phase "d. eval --synthetic" "$eval_cap" 0 \
        "$python" -m spk2vid_cli eval --synthetic data/pack --scale 4 --device "$device" \
        --weights "$out/$name.pt" --json "$out/eval.json"
fi

# The bar of issue 8: >= 3.5 dB over TFP41 overall, and above the clean-LR oracle at rate >= 0.5.
if [ -f "$out/eval.json" ]; then
    summary+=("$("$python" - "$out/eval.json" "net:$name" <<'EOF'
import json
import sys
report, label = json.load(open(sys.argv[1])), sys.argv[2]
overall = report["overall"][label]
bright = report["by_rate"].get("rate >= 0.5", {}).get(label, {})
tfp, oracle = overall["gain_vs_TFP41"], bright.get("gain_vs_oracle", float("nan"))
met = tfp >= 3.5 and oracle > 0
print(f"d. bar: {label} {overall['psnr']:.2f} dB, {tfp:+.2f} dB vs TFP41 (bar +3.5), {oracle:+.2f} dB vs the "
      f"oracle at rate >= 0.5 (bar > 0): " + ("met, commit as x4-full.pt" if met else "not met, commit as wip"))
EOF
)")
fi

echo
echo "== summary: $(elapsed "$started")s of ${minutes} min; device $device =="
printf '%s\n' "${summary[@]}"
ls -l "$out"
exec >&- 2>&-
sleep 1  # tee writes the last lines of run.log
