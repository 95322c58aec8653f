"""Statistics of a spike recording, computed in one streamed pass (memory independent of length)."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from spk2vid_cli.atomic import atomic_write
from spk2vid_cli.classical import TFP
from spk2vid_cli.errors import UsageError
from spk2vid_cli.exposure import Exposure
from spk2vid_cli.spikes import DEFAULT_SPIKE_RATE, SpikeRecording
from spk2vid_cli.windows import Block
from spk2vid_cli.writers import quantize
from spk2vid_model.geometry import CLASSICAL_WINDOW

CHUNK_BYTES = 32 * 2**20  # unpacked frames held at once
PERCENTILES = (1, 5, 50, 95, 99)
HOT_FRACTION = 0.95
PREVIEW_FORMATS = (".png", ".jpg", ".jpeg")


def spike_counts(recording: SpikeRecording) -> np.ndarray:
    """Spikes per pixel over the whole recording, `(H, W)` int64, read chunk by chunk."""
    chunk = max(1, min(65535, CHUNK_BYTES // (recording.height * recording.width)))
    counts = np.zeros((recording.height, recording.width), np.int64)
    for start in range(0, recording.num_frames, chunk):
        frames = recording.frames(start, min(start + chunk, recording.num_frames))
        counts += frames.sum(axis=0, dtype=np.uint16)
    return counts


def recording_stats(recording: SpikeRecording, spike_rate: float = DEFAULT_SPIKE_RATE) -> dict:
    """Resolution, length and firing statistics of `recording`, as a JSON-ready dict.

    Rates are spikes per spike frame. Dead pixels never fire; hot pixels fire in at least
    `HOT_FRACTION` of the frames.
    """
    counts = spike_counts(recording)
    frames = recording.num_frames
    rates = counts / max(frames, 1)
    return {
        "file": str(recording.path),
        "layout": recording.layout,
        "height": recording.height,
        "width": recording.width,
        "resolution_source": recording.resolution_source,
        "frames": frames,
        "spike_rate_hz": spike_rate,
        "duration_s": frames / spike_rate,
        "file_size": recording.file_size,
        "leftover_bytes": recording.leftover_bytes,
        "mean_firing_rate": float(rates.mean()),
        "rate_percentiles": {f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(rates, PERCENTILES))},
        "dead_pixels": int((counts == 0).sum()),
        "hot_pixels": int((counts >= HOT_FRACTION * frames).sum()),
    }


def preview_image(recording: SpikeRecording, window: int = CLASSICAL_WINDOW) -> np.ndarray:
    """A TFP image of (at most) `window` frames around the middle of the recording, exposed to [0, 1]."""
    available = recording.num_frames if recording.num_frames % 2 else recording.num_frames - 1
    window = min(window, available)
    start = (recording.num_frames - window) // 2
    block = Block(0, start + window // 2, recording.frames(start, start + window))
    image = TFP(scale=1, window=window).reconstruct(block)
    exposure = Exposure.from_spec("auto")
    exposure.fit([image])
    return exposure.apply(image)


def check_preview(path: Path) -> None:
    """Refuse a preview name whose format `write_preview` cannot write."""
    if path.suffix.lower() not in PREVIEW_FORMATS:
        raise UsageError(f"{path}: a preview is a .png or .jpg image; name it so")


def write_preview(recording: SpikeRecording, path: Path) -> None:
    """Save `preview_image` as an 8-bit PNG or JPEG (by `path`'s suffix; replaced if present), atomically."""
    check_preview(path)
    image = quantize(preview_image(recording), 8)
    atomic_write(path, lambda partial: iio.imwrite(partial, image, extension=path.suffix.lower()),
                 suffix=path.suffix)
