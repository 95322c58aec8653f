"""`spk2vid train`: train Spk2VidNet on simulated spike streams (see `spk2vid_cli/training/train.py`).

The options are the fields of `TrainOptions`, with their types and defaults; this file adds only
how each is shown (help, bounds, panel) and the CLI-only `--threads`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from spk2vid_cli.commands.options import with_dataclass_options
from spk2vid_cli.training.options import TrainOptions

RUN = "Run"
RECIPE = "Recipe"
SCHEDULE = "Logs, checkpoints and limits"

# How each TrainOptions field appears on the command line, in this order (a field missing here
# still becomes an option, without help; tests/test_train.py asks for help on every field).
OPTIONS = {
    "out": typer.Option("--out", rich_help_panel=RUN, help="Run folder: checkpoint.pt, log.jsonl, log.csv."),
    "config": typer.Option(rich_help_panel=RUN, help="Network configuration: x4, x4-lite, x2, x8, ..."),
    "data": typer.Option(
        rich_help_panel=RUN,
        help="Training sources: the cache of scripts/fetch_data.py or a pack of scripts/pack_data.py."),
    "resume": typer.Option(rich_help_panel=RUN, help="Continue exactly from a checkpoint file or run folder."),
    "init": typer.Option(
        rich_help_panel=RUN, help="Warm start: take every matching tensor from these weights (.pt with its .json)."),
    "export": typer.Option(
        rich_help_panel=RUN, help="At the end, write the EMA weights here (.pt + .json) with a training summary."),
    "device": typer.Option(rich_help_panel=RUN, help="auto, cpu, cuda or cuda:N (under torchrun: one GPU per process)."),
    "seed": typer.Option(rich_help_panel=RUN, help="Seed of the weights and the training streams."),
    "steps": typer.Option(min=1, rich_help_panel=RECIPE, help="Total optimiser steps."),
    "batch": typer.Option(min=1, rich_help_panel=RECIPE, help="Streams per step. Default: 8 on CUDA, 2 on CPU."),
    "segment": typer.Option(
        min=1, rich_help_panel=RECIPE, help="Blocks per step; the recurrent state is handed from segment to segment."),
    "stream_blocks": typer.Option(min=1, rich_help_panel=RECIPE, help="Blocks per stream before new streams start."),
    "crop": typer.Option(min=8, rich_help_panel=RECIPE, help="LR crop side in sensor pixels."),
    "lr": typer.Option(min=0.0, rich_help_panel=RECIPE, help="Adam learning rate."),
    "loss": typer.Option(
        rich_help_panel=RECIPE,
        help="l1; charbonnier (a smooth L1 that keeps small-error gradients); or l2 (the squared error, "
             "which PSNR measures: for a last fine-tune)."),
    "bright_weight": typer.Option(
        min=0.0, rich_help_panel=RECIPE,
        help="Loss weight of streams with conversion rate >= 0.5, where detail is what is left to learn."),
    "lr_step": typer.Option(min=1, rich_help_panel=RECIPE, help="Steps between learning-rate drops."),
    "lr_gamma": typer.Option(min=0.0, rich_help_panel=RECIPE, help="Learning-rate factor at each drop."),
    "ema": typer.Option(
        min=0.0, max=1.0, rich_help_panel=RECIPE, help="Decay of the weight average that is validated and exported."),
    "render_step": typer.Option(
        min=1, rich_help_panel=RECIPE,
        help="Render HR every N spike frames, blend between. Default: 1 on CUDA, 5 on CPU."),
    "supersample": typer.Option(
        min=1, rich_help_panel=RECIPE,
        help="Render scenes at up to N x the ground-truth resolution (each set of streams draws 1..N): "
             "denser detail per pixel, as real scenes have."),
    "quiet_share": typer.Option(
        min=0.0, max=1.0, rich_help_panel=RECIPE,
        help="Share of stream sets from an ideal sensor (no noise, dark current or threshold spread), "
             "whose exact spike timing a network can learn to read."),
    "max_speed": typer.Option(
        min=0.0, rich_help_panel=RECIPE,
        help="Largest camera and foreground speed, sensor pixels per block of 10 spike frames "
             "(each leg of motion draws its speeds up to it)."),
    "lens_blur": typer.Option(
        min=0.0, rich_help_panel=RECIPE,
        help="Each stream's sensor sees its scene through a Gaussian lens blur of sigma up to this many "
             "sensor pixels (drawn per stream); the ground truth stays sharp, so the network learns to "
             "undo the blur of real optics."),
    "blur_hidden": typer.Option(
        min=0.0, max=1.0, rich_help_panel=RECIPE,
        help="Networks told the lens blur (x1-lite): share of streams whose sigma is kept from the network, "
             "so that it also works when the blur is not known."),
    "detail_bias": typer.Option(
        min=0.0, rich_help_panel=RECIPE,
        help="Draw images dense in fine detail more often: weight (detail / median detail) ** B, within "
             "1/4..4 (0: all alike). Street scenes hold more fine detail than most training photographs."),
    "velocity_weight": typer.Option(
        min=0.0, rich_help_panel=RECIPE,
        help="Compensating networks (x1-lite): loss weight of the velocity read-out's error against the "
             "streams' true motion, in pixels per block (0: learnt from the image loss only)."),
    "fresh_lr_factor": typer.Option(
        min=0.0, rich_help_panel=RECIPE,
        help="With --init: learning-rate factor of the tensors the weights did not supply (new parts of the "
             "network), so they catch up with the warm-started rest."),
    "max_minutes": typer.Option(
        min=0.0, rich_help_panel=SCHEDULE, help="Stop cleanly (with a checkpoint) after this much training time."),
    "val_every": typer.Option(min=1, rich_help_panel=SCHEDULE, help="Steps between validations."),
    "val_streams": typer.Option(min=1, rich_help_panel=SCHEDULE, help="Streams of the validation set."),
    "val_blocks": typer.Option(min=2, rich_help_panel=SCHEDULE, help="Blocks per validation stream."),
    "ckpt_every": typer.Option(min=1, rich_help_panel=SCHEDULE, help="Steps between checkpoints."),
    "log_every": typer.Option(min=1, rich_help_panel=SCHEDULE, help="Steps between log lines."),
}


@with_dataclass_options(TrainOptions, "options", OPTIONS)
def train(
    options: TrainOptions,
    threads: Annotated[int | None, typer.Option(min=1, rich_help_panel=RUN, help="CPU threads for PyTorch.")] = None,
) -> None:
    """Train Spk2VidNet (segmented, with state transfer); resumable, time-limited, torchrun-ready."""
    import torch

    from spk2vid_cli.training.train import Trainer

    if threads:
        torch.set_num_threads(threads)
    Trainer(options, say=lambda line: print(line, flush=True)).run()
