"""Classical reconstructions from one block of spike frames, upsampled by bicubic interpolation.

Both output firing-rate units (expected spikes per spike frame):
- TFP ("texture from playback"): the mean of the block's frames.
- TFI ("texture from interval"): 1 / (interval between the last spike at or before the block
  centre and the first spike after it). When only one of the two spikes lies inside the block,
  the block edge bounds the interval from below, and 1 / that bound is used (the brightest value
  the block allows). When neither does, the pixel is 0, as TFP would give.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

from spk2vid_cli.errors import InputError
from spk2vid_cli.windows import Block
from spk2vid_model.geometry import WINDOW

if TYPE_CHECKING:
    import torch

SCALES = (1, 2, 4, 8)


def bicubic(images: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling of `(..., h, w)` tensors by `scale`, clamped to >= 0, as float32.

    The one upsampler of TFP, TFI and the evaluation baselines."""
    import torch.nn.functional as F  # here, so that `info` and x1 conversions start without torch

    flat = images.reshape(-1, 1, *images.shape[-2:]).float()
    up = F.interpolate(flat, scale_factor=scale, mode="bicubic", align_corners=False).clamp_min(0)
    return up.reshape(*images.shape[:-2], *up.shape[-2:])


def upsample(img: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic upsampling of an `(H, W)` image by `scale`, clamped to >= 0, as float32."""
    img = np.asarray(img, dtype=np.float32)
    if scale == 1:
        return img
    import torch

    return bicubic(torch.from_numpy(np.ascontiguousarray(img)), scale).numpy()


class _Classical(ABC):
    """Shared scaffolding: `scale`, `window`, `description`, `reconstruct(block)`."""

    name = ""
    summary = ""
    min_window = 1

    def __init__(self, scale: int = 4, window: int = WINDOW):
        if scale not in SCALES:
            raise InputError(f"--scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
        if window < self.min_window or window % 2 == 0:
            raise InputError(f"--window for {self.name} must be an odd number >= {self.min_window}, got {window}")
        self.scale = scale
        self.window = window
        self.description = f"{self.name} ({self.summary} over {window} spike frames), bicubic x{scale}"

    def reset(self) -> None:
        """Nothing to forget: each block is reconstructed on its own."""

    def reconstruct(self, block: Block) -> np.ndarray:
        """The block's `(H*scale, W*scale)` float32 image in firing-rate units."""
        return upsample(self.estimate(block.frames), self.scale)

    @abstractmethod
    def estimate(self, frames: np.ndarray) -> np.ndarray:
        """The block's `(H, W)` firing-rate image before upsampling."""


class TFP(_Classical):
    """Window mean of the spike frames."""

    name = "TFP"
    summary = "window mean"

    def estimate(self, frames: np.ndarray) -> np.ndarray:
        return frames.mean(axis=0, dtype=np.float32)


class TFI(_Classical):
    """Inverse inter-spike interval around the block centre (fill rule in the module docstring)."""

    name = "TFI"
    summary = "inverse inter-spike interval"
    min_window = 3

    def estimate(self, frames: np.ndarray) -> np.ndarray:
        length = len(frames)
        centre = length // 2
        before = frames[centre::-1]           # centre, centre-1, ..., 0
        after = frames[centre + 1:]
        has_prev = before.any(axis=0)
        has_next = after.any(axis=0)
        prev = centre - before.argmax(axis=0)  # last spike at or before the centre
        nxt = centre + 1 + after.argmax(axis=0)  # first spike after the centre
        # Missing spikes sit just outside the block: the interval is at least this long.
        prev = np.where(has_prev, prev, -1)
        nxt = np.where(has_next, nxt, length)
        rate = 1.0 / (nxt - prev).astype(np.float32)
        return np.where(has_prev | has_next, rate, np.float32(0)).astype(np.float32)
