"""`spk2vid train`: train Spk2VidNet on simulated spike streams (see `spk2vid_cli/training/train.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RUN = "Run"
RECIPE = "Recipe"
SCHEDULE = "Logs, checkpoints and limits"


def train(
    out: Annotated[Path, typer.Option(
        "--out", rich_help_panel=RUN, help="Run folder: checkpoint.pt, log.jsonl, log.csv.")],
    config: Annotated[str, typer.Option(
        rich_help_panel=RUN, help="Network configuration: x4, x4-lite, x2, x8, ...")] = "x4-lite",
    data: Annotated[Path, typer.Option(
        rich_help_panel=RUN,
        help="Training sources: the cache of scripts/fetch_data.py or a pack of scripts/pack_data.py.",
    )] = Path("data/cache"),
    resume: Annotated[Path | None, typer.Option(
        rich_help_panel=RUN, help="Continue exactly from a checkpoint file or run folder.")] = None,
    export: Annotated[Path | None, typer.Option(
        rich_help_panel=RUN,
        help="At the end, write the EMA weights here (.pt + .json) with a training summary.")] = None,
    device: Annotated[str, typer.Option(
        rich_help_panel=RUN, help="auto, cpu, cuda or cuda:N (under torchrun: one GPU per process).")] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, rich_help_panel=RUN, help="CPU threads for PyTorch.")] = None,
    seed: Annotated[int, typer.Option(rich_help_panel=RUN, help="Seed of the weights and the training streams.")] = 0,
    steps: Annotated[int, typer.Option(min=1, rich_help_panel=RECIPE, help="Total optimiser steps.")] = 100_000,
    batch: Annotated[int | None, typer.Option(
        min=1, rich_help_panel=RECIPE, help="Streams per step. Default: 8 on CUDA, 2 on CPU.")] = None,
    segment: Annotated[int, typer.Option(
        min=1, rich_help_panel=RECIPE,
        help="Blocks per step; the recurrent state is handed from segment to segment.")] = 5,
    stream_blocks: Annotated[int, typer.Option(
        min=1, rich_help_panel=RECIPE, help="Blocks per stream before new streams start.")] = 60,
    crop: Annotated[int, typer.Option(min=8, rich_help_panel=RECIPE, help="LR crop side in sensor pixels.")] = 64,
    lr: Annotated[float, typer.Option(min=0.0, rich_help_panel=RECIPE, help="Adam learning rate.")] = 2e-4,
    lr_step: Annotated[int, typer.Option(
        min=1, rich_help_panel=RECIPE, help="Steps between learning-rate drops.")] = 12_500,
    lr_gamma: Annotated[float, typer.Option(
        min=0.0, rich_help_panel=RECIPE, help="Learning-rate factor at each drop.")] = 0.7,
    ema: Annotated[float, typer.Option(
        min=0.0, max=1.0, rich_help_panel=RECIPE,
        help="Decay of the weight average that is validated and exported.")] = 0.999,
    render_step: Annotated[int | None, typer.Option(
        min=1, rich_help_panel=RECIPE,
        help="Render HR every N spike frames, blend between. Default: 1 on CUDA, 5 on CPU.")] = None,
    max_minutes: Annotated[float | None, typer.Option(
        min=0.0, rich_help_panel=SCHEDULE,
        help="Stop cleanly (with a checkpoint) after this much training time.")] = None,
    val_every: Annotated[int, typer.Option(min=1, rich_help_panel=SCHEDULE, help="Steps between validations.")] = 500,
    val_streams: Annotated[int, typer.Option(
        min=1, rich_help_panel=SCHEDULE, help="Streams of the validation set.")] = 8,
    val_blocks: Annotated[int, typer.Option(
        min=2, rich_help_panel=SCHEDULE, help="Blocks per validation stream.")] = 45,
    ckpt_every: Annotated[int, typer.Option(min=1, rich_help_panel=SCHEDULE, help="Steps between checkpoints.")] = 200,
    log_every: Annotated[int, typer.Option(min=1, rich_help_panel=SCHEDULE, help="Steps between log lines.")] = 10,
) -> None:
    """Train Spk2VidNet (segmented, with state transfer); resumable, time-limited, torchrun-ready."""
    options = {name: value for name, value in locals().items() if name != "threads"}  # the TrainOptions fields
    import torch

    from spk2vid_cli.training.train import Trainer, TrainOptions

    if threads:
        torch.set_num_threads(threads)
    Trainer(TrainOptions(**options), say=lambda line: print(line, flush=True)).run()
