"""`TrainOptions`: everything `spk2vid train` takes, with its defaults (the command's options are made from it).

Kept apart from the trainer so that building the command line does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_SPEED = 2.0  # default largest camera / foreground speed of the training streams, LR pixels per block


@dataclass
class TrainOptions:
    """Everything `spk2vid train` takes; None means "the default for the device" (`train.DEVICE_DEFAULTS`)."""

    out: Path
    config: str = "x4-lite"
    data: Path = Path("data/cache")
    steps: int = 100_000
    batch: int | None = None
    segment: int = 5
    stream_blocks: int = 60
    crop: int = 64
    lr: float = 2e-4
    loss: str = "l1"
    bright_weight: float = 1.0
    lr_step: int = 12_500
    lr_gamma: float = 0.7
    ema: float = 0.999
    val_every: int = 500
    val_streams: int = 8
    val_blocks: int = 45
    ckpt_every: int = 200
    log_every: int = 10
    max_minutes: float | None = None
    resume: Path | None = None
    init: Path | None = None
    export: Path | None = None
    device: str = "auto"
    render_step: int | None = None
    supersample: int = 1
    quiet_share: float = 0.0
    max_speed: float = MAX_SPEED
    lens_blur: float = 0.0
    blur_hidden: float = 0.0
    detail_bias: float = 0.0
    velocity_weight: float = 0.0
    fresh_lr_factor: float = 1.0
    seed: int = 0

    def data_shape(self) -> dict:
        """The options that decide what the streams look like: resuming keeps the data position only if equal."""
        return {"batch": self.batch, "segment": self.segment, "stream_blocks": self.stream_blocks,
                "crop": self.crop, "render_step": self.render_step, "supersample": self.supersample,
                "quiet_share": self.quiet_share, "max_speed": self.max_speed,
                # listed only when set, so checkpoints from before the option resume in place
                **({"lens_blur": self.lens_blur} if self.lens_blur else {}),
                **({"blur_hidden": self.blur_hidden} if self.blur_hidden else {}),
                **({"detail_bias": self.detail_bias} if self.detail_bias else {})}
