"""Network benchmark (not a test): parameters, MACs, ms per output frame and peak memory.

Run it where spk2vid is installed (`pip install -e .`):

    python benchmarks/bench_model.py [--configs x4 x4-lite] [--device cpu|cuda]
        [--precisions fp32 bf16] [--size 250x400] [--frames 5] [--compile] [--profile]
        [--convert [--convert-frames 40] [--convert-precisions auto fp32] [--both-ways]]

Each (configuration, precision) runs in a fresh child process through `NetReconstructor` (what
`spk2vid convert --method net` uses), with untrained weights: speed does not depend on training.
The child reconstructs one warm-up block, then `--frames` timed blocks of one continuing stream,
and reports the median time per output frame and its peak memory (CPU: peak RSS of the process;
CUDA: peak allocated GPU memory). MACs count convolutions and matrix products (not sampling or
element-wise work), measured on a small frame and scaled to the benchmark size: every layer's cost
is proportional to the number of pixels.

`--profile` adds, per configuration, the operators that took the most time (PyTorch profiler, self
time per frame). `--convert` times the whole `spk2vid convert` command (reader, windows, network,
exposure, TIFF writer) on a simulated stream of the benchmark size, run twice in fresh processes:
over the first 10 output frames and over all `--convert-frames`; seconds per frame are the
difference of the two over the frame difference (start-up and model loading cancel out), and the
peak RSS is that of the longer run. Start-up is the short run's time less its 10 frames.

`--compile` adds a `torch.compile`d row after each eager one, in the network table and in the
convert table (`spk2vid convert --compile`; its start-up includes compiling from an empty cache).
`--both-ways` adds a `spk2vid convert --both-ways` row after each convert row.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
from torch.profiler import profile
from torch.utils.flop_counter import FlopCounterMode

from spk2vid_cli.net import NetReconstructor, resolve_device, resolve_precision
from spk2vid_cli.simulate import SensorModel, simulate_file
from spk2vid_cli.windows import Block
from spk2vid_model.model import CONFIGS, Spk2VidNet, count_parameters
from spk2vid_model.weights import save_weights

REPO = Path(__file__).resolve().parents[1]
MAC_PROBE = (40, 64)  # LR frame on which MACs are counted


def macs_per_frame(name: str, height: int, width: int) -> float:
    """Multiply-accumulates per output frame, from a probe frame (with autograd on, so the
    deformable convolution takes the path whose matrix product the counter sees whole)."""
    config = CONFIGS[name]
    blocks = torch.zeros(1, 1, config.window, *MAC_PROBE)
    with FlopCounterMode(display=False) as counter:
        Spk2VidNet(config)(blocks)
    return counter.get_total_flops() / 2 * (height * width) / (MAC_PROBE[0] * MAC_PROBE[1])


def child(args: argparse.Namespace) -> dict:
    """Time one configuration at one precision in this process."""
    name = args.configs[0]
    config = CONFIGS[name]
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / f"{name}.pt"
        save_weights(Spk2VidNet(config), weights, {}, half=False)
        rec = NetReconstructor(config.scale, weights=weights, device=args.device,
                               precision=args.precisions[0], compile=args.compile)
    rng = np.random.default_rng(0)
    blocks = [Block(i, i, (rng.random((config.window, args.height, args.width)) < 0.3).astype(np.uint8))
              for i in range(args.frames + 1)]
    cuda = rec.device.type == "cuda"
    rec.reconstruct(blocks[0])
    if cuda:
        torch.cuda.synchronize(rec.device)
        torch.cuda.reset_peak_memory_stats(rec.device)
    times = []
    for block in blocks[1:]:
        started = time.perf_counter()
        rec.reconstruct(block)  # returns a NumPy frame, so the device has finished
        times.append(time.perf_counter() - started)
    peak_mb = (torch.cuda.max_memory_allocated(rec.device) / 2**20 if cuda
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result = {"ms": 1000 * statistics.median(times), "peak_mb": peak_mb, "device": str(rec.device)}
    if args.profile:
        with profile() as prof:
            for block in blocks[1:]:
                rec.reconstruct(block)
        table = prof.key_averages().table(sort_by="self_device_time_total" if cuda else "self_cpu_time_total",
                                          row_limit=10, max_name_column_width=32)
        result["profile"] = table
    return result


def convert_seconds(args: argparse.Namespace, name: str, precision: str, compiled: bool, both_ways: bool,
                    folder: Path) -> tuple[float, float, float]:
    """Seconds per frame of a whole `spk2vid convert` to x`scale` TIFF at `precision`, its start-up
    seconds and its peak RSS in MB."""
    config = CONFIGS[name]
    weights = folder / f"{name}.pt"
    save_weights(Spk2VidNet(config), weights, {}, half=True)
    stream = folder / f"stream-{config.window}.dat"  # configurations with the same window share one
    if not stream.exists():
        rng = np.random.default_rng(0)
        still = folder / "still.png"
        cells = rng.random((args.height // 8 + 8, args.width // 8 + 8))  # room for the camera to move
        iio.imwrite(still, (np.kron(cells, np.ones((8, 8))) * 255).astype(np.uint8))
        simulate_file(still, stream, size=(args.height, args.width),
                      frames=config.window + 10 * (args.convert_frames - 1), sensor=SensorModel(rate=0.5))
    runs = {}
    for frames in (10, args.convert_frames):
        command = [sys.executable, "-m", "spk2vid_cli", "convert", str(stream), "-o", str(folder / "out.tif"),
                   "--scale", str(config.scale), "--weights", str(weights), "--device", args.device, "--overwrite",
                   "--precision", precision, "--end", str(config.window + 10 * (frames - 1))]
        command += ["--compile"] if compiled else []
        command += ["--both-ways"] if both_ways else []
        # Each compiled run starts from an empty compile cache, so both pay the same compile time.
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp(dir=folder)} if compiled else None
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        if status:
            raise SystemExit(f"convert failed: {process.stderr.read().decode().strip()}")
        runs[frames] = (time.perf_counter() - started, usage.ru_maxrss / 1024)
    (short, _), (long, peak_mb) = runs[10], runs[args.convert_frames]
    seconds = (long - short) / (args.convert_frames - 10)
    return seconds, short - 10 * seconds, peak_mb


def modes(precisions: list[str], compile: bool) -> list[tuple[str, bool]]:
    """(precision, compiled) pairs to time: each precision eager, then compiled if asked."""
    return [(precision, compiled) for precision in precisions for compiled in (False, True)[:1 + compile]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["x4", "x4-lite"], choices=sorted(CONFIGS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--size", default="250x400", help="LR frame HxW")
    parser.add_argument("--frames", type=int, default=5, help="timed frames per configuration")
    parser.add_argument("--compile", action="store_true", help="add torch.compile'd rows to both tables")
    parser.add_argument("--profile", action="store_true", help="print the operators that took the most time")
    parser.add_argument("--convert", action="store_true", help="also time whole spk2vid convert runs to TIFF")
    parser.add_argument("--convert-frames", type=int, default=40, help="output frames of the longer convert run")
    parser.add_argument("--convert-precisions", nargs="+", default=["auto"], choices=["auto", "fp32", "bf16", "fp16"],
                        help="--precision of the convert runs (auto: what a user gets by default)")
    parser.add_argument("--both-ways", action="store_true", help="add convert --both-ways rows")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.height, args.width = map(int, args.size.split("x"))
    if args.child:
        print(json.dumps(child(args)))
        return
    print(f"LR {args.height}x{args.width}, device {args.device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, median of {args.frames} frames")
    print(f"{'config':9} {'params':>10} {'GMAC/frame':>11} {'precision':>9} {'ms/frame':>9} {'peak MB':>8}  device")
    for name in args.configs:
        params = count_parameters(Spk2VidNet(CONFIGS[name]))
        gmacs = macs_per_frame(name, args.height, args.width) / 1e9
        for precision, compiled in modes(args.precisions, args.compile):
            label = precision + "+compile" * compiled
            command = [sys.executable, __file__, "--child", "--configs", name, "--device", args.device,
                       "--precisions", precision, "--size", args.size, "--frames", str(args.frames)]
            command += ["--compile"] if compiled else []
            command += ["--profile"] if args.profile else []
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                print(f"{name:9} {label}: failed\n{done.stderr.strip()}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{name:9} {params:>10,} {gmacs:>11.1f} {label:>9} {result['ms']:>9.1f} "
                  f"{result['peak_mb']:>8.0f}  {result['device']}")
            if "profile" in result:
                print(f"profile of {name} {label}, {args.frames} frames:\n{result['profile']}")
    if args.convert:
        print(f"\nwhole spk2vid convert to TIFF ({args.device}), seconds per frame over frames "
              f"10-{args.convert_frames}:")
        print(f"{'config':9} {'precision':>20} {'s/frame':>8} {'frames/s':>9} {'start-up s':>11} {'peak RSS MB':>12}")
        with tempfile.TemporaryDirectory() as folder:
            for name in args.configs:
                for (precision, compiled), both_ways in itertools.product(
                        modes(args.convert_precisions, args.compile), (False, True)[:1 + args.both_ways]):
                    seconds, start_up, peak_mb = convert_seconds(args, name, precision, compiled, both_ways,
                                                                 Path(folder))
                    label = precision
                    if precision == "auto":
                        label = f"auto={resolve_precision('auto', resolve_device(args.device))}"
                    label += "+compile" * compiled + "+both-ways" * both_ways
                    print(f"{name:9} {label:>20} {seconds:>8.3f} {1 / seconds:>9.2f} {start_up:>11.1f} "
                          f"{peak_mb:>12.0f}")


if __name__ == "__main__":
    main()
