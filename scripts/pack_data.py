#!/usr/bin/env python3
"""Pack a compact training set from the cache, for machines without internet or ffmpeg (the GPU one).

    python scripts/pack_data.py [--cache data/cache] [--out data/pack] [--max-mb 40] [--long-side 1024]

Writes OUT/manifest.json (the cache's entries, same splits, licences and provenance, plus the
`packed_from` sha256 of the cache file) and:
- images/<source>/<name>.png: 8-bit grey (the simulator's `to_luminance`), shrunk to at most
  --long-side pixels;
- videos/<source>/<name>/0000.png, ...: the first frames of each clip, grey and shrunk the same
  way, readable without ffmpeg. Validation clips keep their first VAL_CLIP_FRAMES frames, whatever
  else is packed, so the fixed validation set does not change when training sources are added; the
  room left after the images and those is shared among the training clips, the smallest frames
  first, so that what one clip leaves unused goes to the next.
`SourcePool(OUT, split)` reads the pack as it reads the cache. Carry it with `carry: ["data/pack"]`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from spk2vid_cli.simulate import to_luminance
from spk2vid_cli.training.sources import file_entry, fit_long_side, iter_video, read_manifest, write_manifest


VAL_CLIP_FRAMES = 45  # frames of each validation clip: the synthetic validation set's clip streams read them


def grey(frame: np.ndarray, long_side: int) -> np.ndarray:
    """8-bit luminance of an image array, shrunk to `long_side`."""
    return fit_long_side(np.round(to_luminance(frame) * 255).astype(np.uint8), long_side)


def pack_image(entry: dict, cache: Path, out: Path, long_side: int) -> Path:
    dest = (out / entry["path"]).with_suffix(".png")
    dest.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(dest, grey(iio.imread(cache / entry["path"]), long_side))
    return dest


def pack_clip(entry: dict, cache: Path, out: Path, long_side: int, room: float,
              max_frames: int | None = None) -> Path:
    """The first frames of a clip (at most `max_frames`) as PNG files while they fit in `room` bytes;
    returns the folder."""
    folder = out / Path(entry["path"]).with_suffix("")
    folder.mkdir(parents=True)
    used = 0
    for index, frame in enumerate(iter_video(cache / entry["path"])):
        data = iio.imwrite("<bytes>", grey(frame, long_side), extension=".png")
        if used + len(data) > room or index == max_frames:
            break
        (folder / f"{index:04d}.png").write_bytes(data)
        used += len(data)
    return folder


def frame_bytes(entry: dict, cache: Path, long_side: int) -> int:
    """Size of a clip's first frame as a packed PNG."""
    first = next(iter(iter_video(cache / entry["path"])))
    return len(iio.imwrite("<bytes>", grey(first, long_side), extension=".png"))


def pack(cache: Path, out: Path, max_mb: float, long_side: int) -> list[dict]:
    """Write the pack into `out` (replacing it); returns its manifest entries."""
    files = read_manifest(cache)["files"]
    building = out.with_name(out.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    packed = []

    def add(entry: dict, dest: Path) -> None:
        fields = {key: value for key, value in entry.items() if key not in ("path", "size", "sha256")}
        packed.append(file_entry(dest, building, **fields, packed_from=entry["sha256"]))

    for entry in (e for e in files if e["kind"] == "image"):
        add(entry, pack_image(entry, cache, building, long_side))
    clips = sorted((e for e in files if e["kind"] == "video"), key=lambda e: frame_bytes(e, cache, long_side))
    clips = [e for e in clips if e["split"] == "val"] + [e for e in clips if e["split"] != "val"]
    for done, entry in enumerate(clips):
        left = max_mb * 2**20 - sum(e["size"] for e in packed)
        validation = entry["split"] == "val"
        room = left if validation else left / (len(clips) - done)
        folder = pack_clip(entry, cache, building, long_side, room, VAL_CLIP_FRAMES if validation else None)
        if not any(folder.iterdir()):
            print(f"warning: {entry['path']}: no frame fits in --max-mb {max_mb:g}; left out", file=sys.stderr)
            folder.rmdir()
            continue
        add(entry, folder)
    write_manifest(building, packed, created_by="scripts/pack_data.py", long_side=long_side)
    shutil.rmtree(out, ignore_errors=True)
    building.rename(out)
    return packed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("data/cache"), help="fetched cache (default: data/cache)")
    parser.add_argument("--out", type=Path, default=Path("data/pack"), help="pack folder (default: data/pack)")
    parser.add_argument("--max-mb", type=float, default=40.0, help="largest pack size in MiB (default: 40)")
    parser.add_argument("--long-side", type=int, default=1024, help="longest image side in pixels (default: 1024)")
    args = parser.parse_args()
    packed = pack(args.cache, args.out, args.max_mb, args.long_side)
    for entry in packed:
        frames = f" ({len(list((args.out / entry['path']).iterdir()))} frames)" if entry["kind"] == "video" else ""
        print(f"{entry['split']:5s} {entry['path']}: {entry['size'] / 2**20:.2f} MiB{frames}")
    print(f"total: {len(packed)} sources, {sum(e['size'] for e in packed) / 2**20:.1f} MiB in {args.out}")


if __name__ == "__main__":
    main()
