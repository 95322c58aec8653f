"""Mapping firing-rate images to display values in [0, 1] with one gain per file.

- `auto`: the gain maps the 99.5th percentile of the first few reconstructed frames to white and
  then stays fixed for the whole file, so the video does not flicker. A completely dark start
  falls back to the brightest pixel, and to gain 1 if nothing fired at all.
- `none`: gain 1, a firing rate of 1 (a spike every frame) is white.
- a number: that gain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spk2vid_cli.errors import InputError

AUTO_PERCENTILE = 99.5
AUTO_FIT_FRAMES = 8  # frames the pipeline collects before fitting an automatic gain


class Exposure:
    """A display gain: `fit` once on the first frames when automatic, then `apply` to every frame."""

    def __init__(self, gain: float | None):
        self.gain = gain

    @classmethod
    def from_spec(cls, spec: str | float) -> Exposure:
        """Parse `auto`, `none` or a positive gain (as given to `--exposure`)."""
        text = str(spec).strip().lower()
        if text == "auto":
            return cls(None)
        if text == "none":
            return cls(1.0)
        try:
            gain = float(text)
        except ValueError:
            gain = float("nan")
        if not np.isfinite(gain) or gain <= 0:
            raise InputError(f"--exposure must be auto, none or a positive gain, got {spec!r}")
        return cls(gain)

    @property
    def needs_fit(self) -> bool:
        return self.gain is None

    def fit(self, frames: Sequence[np.ndarray]) -> None:
        """Fix an automatic gain from the first reconstructed frames (no-op for a fixed gain)."""
        if not self.needs_fit:
            return
        values = np.concatenate([np.ravel(f) for f in frames])
        reference = float(np.percentile(values, AUTO_PERCENTILE)) if values.size else 0.0
        if reference <= 0:
            reference = float(values.max()) if values.size else 0.0
        self.gain = 1.0 / reference if reference > 0 else 1.0

    def apply(self, img: np.ndarray) -> np.ndarray:
        """`img * gain` clipped to [0, 1], float32."""
        if self.gain is None:
            raise RuntimeError("automatic exposure used before fit()")
        out = np.multiply(img, np.float32(self.gain), dtype=np.float32)
        return np.clip(out, 0.0, 1.0, out=out)
