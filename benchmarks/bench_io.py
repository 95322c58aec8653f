"""I/O benchmark (not a test): reader throughput, TFP conversion speed, and peak memory vs stream length.

Run it where spk2vid is installed (`pip install -e .`):

    python benchmarks/bench_io.py [--frames 1000 40000] [--workdir /tmp]

For each stream length it writes a packed 250x400 `.dat` (1,000 distinct frames repeated), then
runs each measurement in a fresh child process and reads the child's peak RSS (ru_maxrss; Linux
carries the parent's peak over into a forked child, so the parent stays small and even the stream is
written by a child):
- read: every frame unpacked through `SpikeRecording.frames` in 10-frame reads, the new frames
  each block of the pipeline needs at the default stride (MB/s of the
  packed file, frames/s; short files are read several times). The file was just written, so this is
  the page-cached, CPU-bound rate.
- convert: `spk2vid convert --method tfp --scale 1` to MP4 through the full threaded pipeline.
- convert x4: the same at the default scale 4 (1600x1000 output), on the shortest stream only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spk2vid_cli.spikes import open_recording, pack_frames, write_config
from spk2vid_model.geometry import STRIDE

HEIGHT, WIDTH = 250, 400
DISTINCT_FRAMES = 1000
READ_CHUNK = STRIDE  # new frames per block at the default stride
MIN_READ_S = 2.0


def make_stream(path: Path, num_frames: int) -> None:
    """A .dat of `num_frames` frames of a static smooth scene: 1,000 distinct frames, repeated."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    scene = (0.1 + 0.4 * (1 + np.sin(xx / 23.0) * np.cos(yy / 17.0)) / 2).astype(np.float32)
    rng = np.random.default_rng(0)
    packed = b"".join(pack_frames(rng.random((200, HEIGHT, WIDTH), dtype=np.float32) < scene)
                      for _ in range(DISTINCT_FRAMES // 200))
    frame_bytes = len(packed) // DISTINCT_FRAMES
    with open(path, "wb") as f:
        for start in range(0, num_frames, DISTINCT_FRAMES):
            f.write(packed[: min(DISTINCT_FRAMES, num_frames - start) * frame_bytes])
    write_config(path.parent, HEIGHT, WIDTH)


def child_read(path: Path) -> dict:
    """Read the whole file in chunks, in repeated passes until at least `MIN_READ_S` have passed."""
    recording = open_recording(path)
    started = time.perf_counter()
    passes = 0
    while passes == 0 or time.perf_counter() - started < MIN_READ_S:
        for start in range(0, recording.num_frames, READ_CHUNK):
            recording.frames(start, min(start + READ_CHUNK, recording.num_frames))
        passes += 1
    seconds = (time.perf_counter() - started) / passes
    return {"seconds": seconds, "frames": recording.num_frames, "bytes": recording.file_size}


def child_convert(path: Path, scale: int) -> dict:
    from spk2vid_cli.commands.app import main

    output = path.with_name(f"{path.stem}-x{scale}.mp4")
    started = time.perf_counter()
    try:
        main(["convert", str(path), "-o", str(output), "--scale", str(scale), "--method", "tfp", "--quiet",
              "--overwrite"])
    except SystemExit as done:
        if done.code:
            raise
    seconds = time.perf_counter() - started
    frames = sum(1 for _ in open(output.with_name(output.name + ".frames.csv"))) - 1
    return {"seconds": seconds, "frames": frames}


def run_child(*args: str) -> dict:
    """Run this script as a child measurement; returns its JSON result, peak RSS included."""
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1000, 40000])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, *rest = args.child
        if kind == "make":
            make_stream(Path(path), int(rest[0]))
            result = {}
        else:
            result = child_read(Path(path)) if kind == "read" else child_convert(Path(path), int(rest[0]))
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for index, frames in enumerate(sorted(args.frames)):
            folder = Path(tmp) / f"s{frames}"
            folder.mkdir()
            path = folder / "stream.dat"
            run_child("make", str(path), str(frames))
            read = run_child("read", str(path))
            convert = run_child("convert", str(path), "1")
            row = {
                "frames": frames, "file MB": read["bytes"] / 1e6,
                "read MB/s": read["bytes"] / 1e6 / read["seconds"], "read frames/s": frames / read["seconds"],
                "read peak RSS MiB": read["peak_rss_mib"],
                "TFP x1 mp4 frames/s": convert["frames"] / convert["seconds"],
                "convert peak RSS MiB": convert["peak_rss_mib"],
            }
            if index == 0:
                x4 = run_child("convert", str(path), "4")
                row["TFP x4 mp4 frames/s"] = x4["frames"] / x4["seconds"]
            rows.append(row)
            os.remove(path)

    columns = list(rows[0])
    print(f"spike stream {HEIGHT}x{WIDTH}, packed .dat, {os.cpu_count()} CPUs")
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[c]:.1f}" if isinstance(row.get(c), float) else str(row.get(c, "-")) for c in columns))
    if len(rows) > 1:
        for stage in ("read", "convert"):
            growth = rows[-1][f"{stage} peak RSS MiB"] / rows[0][f"{stage} peak RSS MiB"] - 1
            print(f"{stage} peak RSS, {rows[-1]['frames']} vs {rows[0]['frames']} frames: {growth:+.1%}")


if __name__ == "__main__":
    main()
