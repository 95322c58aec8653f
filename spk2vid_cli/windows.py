"""Cutting a spike stream into overlapping blocks.

Block i holds `window` = 2w+1 spike frames centred on frame t_i = start + w + i*stride (the paper's
t_i = w + 10 i with w = 10: the defaults WINDOW and STRIDE of `spk2vid_model.geometry`). Frames
shared by consecutive blocks are read and unpacked once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from spk2vid_cli.errors import InputError
from spk2vid_cli.spikes import SpikeRecording
from spk2vid_model.geometry import STRIDE, WINDOW


@dataclass(frozen=True)
class Block:
    """One block of the stream: its index, its centre spike frame and its `(window, H, W)` frames;
    `source`, where known, is the recording it was cut from (for reconstructors that read ahead)."""

    index: int
    centre: int
    frames: np.ndarray
    source: SpikeRecording | None = None


def block_centres(num_frames: int, window: int = WINDOW, stride: int = STRIDE, start: int = 0,
                  end: int | None = None) -> range:
    """Centre frames of every whole block of `window` frames inside `[start, end)`."""
    if window < 1 or window % 2 == 0:
        raise InputError(f"--window must be a positive odd number of frames, got {window}")
    if stride < 1:
        raise InputError(f"--stride must be at least 1, got {stride}")
    end = num_frames if end is None else end
    if not 0 <= start < end <= num_frames:
        raise InputError(f"--start/--end {start}..{end} must satisfy 0 <= start < end <= {num_frames} frames")
    half = window // 2
    return range(start + half, end - half, stride)


def iter_blocks(
    recording: SpikeRecording, window: int = WINDOW, stride: int = STRIDE, start: int = 0, end: int | None = None
) -> Iterator[Block]:
    """Yield the blocks of `recording` in order, reading each spike frame once; each block's `source`
    is the recording cut at `end`, so that nothing reads past it."""
    end = recording.num_frames if end is None else end
    centres = block_centres(recording.num_frames, window, stride, start, end)
    source = recording if end == recording.num_frames else replace(recording, num_frames=end)
    if not centres:
        raise InputError(
            f"{recording.path}: {end - start} frames in range, fewer than one block of {window}; "
            "widen --start/--end, or use --method tfp or tfi with a lower --window"
        )
    half = window // 2
    buffer, buffer_start = np.empty((0, recording.height, recording.width), np.uint8), 0
    for index, centre in enumerate(centres):
        lo, hi = centre - half, centre + half + 1
        keep = buffer[max(lo - buffer_start, 0):] if lo < buffer_start + len(buffer) else buffer[:0]
        first_new = lo + len(keep)
        fresh = recording.frames(first_new, hi)
        buffer = np.concatenate([keep, fresh]) if len(keep) else np.ascontiguousarray(fresh)
        buffer_start = lo
        yield Block(index, centre, buffer, source)
