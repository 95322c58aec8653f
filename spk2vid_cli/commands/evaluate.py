"""`spk2vid eval`: PSNR/SSIM of the network and the classical methods against ground truth."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from spk2vid_cli.errors import InputError
from spk2vid_model.geometry import STRIDE, WINDOW

NETS = "Networks"
OUTPUT = "Output"
DENSE_SUPERSAMPLE = 4  # x1 only: the synthetic-dense slice renders scenes at 4x and area-downscales them


def evaluate(
    paths: Annotated[list[Path] | None, typer.Argument(
        metavar="PATH", show_default=False,
        help="Spike files from `spk2vid simulate --save-gt`, or folders searched for them (the ground truth "
             "of X.dat is X.gt.tif beside it, else gt.tif in its folder); or one folder in the REDS_BASE "
             "layout: spike/NAME.dat + gt/NAME.png (or .tif), one sharp frame per recording.")] = None,
    gt: Annotated[Path | None, typer.Option(help="Ground-truth TIFF of a single spike file.")] = None,
    rate: Annotated[float, typer.Option(
        min=0.001, max=1.0,
        help="REDS_BASE layout: the conversion rate the spikes were made with (spikes per frame at "
             "intensity 1).")] = 0.6,
    centre: Annotated[float | None, typer.Option(
        min=0, help="REDS_BASE layout: the spike frame of the ground truth. Default: the middle frame. "
                    "Between two frames (150.5: REDS_BASE's own timing), each method's frames on either "
                    "side are interpolated linearly.")] = None,
    synthetic: Annotated[Path | None, typer.Option(
        help="Instead of files: the fixed synthetic validation set, from this source folder's val split "
             "(synthetic-val; synthetic-video from held-out clips; at --scale 1 also synthetic-dense, "
             "scenes rendered at 4x and downscaled: as much detail per pixel as a real sensor view). "
             "Blocks are cut as wide as the widest network's window; narrower networks read their middle.")] = None,
    scale: Annotated[int, typer.Option(help="With --synthetic: the super-resolution factor.")] = 4,
    weights: Annotated[list[Path] | None, typer.Option(
        rich_help_panel=NETS,
        help="Also evaluate these weights (repeatable); bundled weights are always included.")] = None,
    device: Annotated[str, typer.Option(rich_help_panel=NETS, help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option(
        rich_help_panel=NETS,
        help="Network precision for files: auto (bf16 on CUDA and on CPUs with native bf16, else fp32), "
             "fp32, bf16, fp16.")] = "auto",
    lens_blur: Annotated[float | None, typer.Option(
        min=0.0, rich_help_panel=NETS, show_default=False,
        help="Tell the networks that take it (x1-lite) the recordings' lens blur, Gaussian sigma in sensor "
             "pixels (the synthetic sets are sharp: 0). Default: unknown.")] = None,
    both_ways: Annotated[bool, typer.Option(
        "--both-ways", rich_help_panel=NETS,
        help="Run the networks as `convert --both-ways` does: also backwards in time, averaged.")] = False,
    json_path: Annotated[Path | None, typer.Option(
        "--json", rich_help_panel=OUTPUT,
        help="Write the full report (per frame, per sequence, overall) as JSON; `-` prints it on stdout "
             "(the table then goes to stderr).")] = None,
    curve: Annotated[Path | None, typer.Option(
        rich_help_panel=OUTPUT,
        help="Write PSNR per block position as CSV (and a PNG beside it with matplotlib).")] = None,
) -> None:
    """Score the network (bundled and --weights), TFP41, TFI41 and the clean-LR bicubic oracle
    on recordings with ground truth, with gains over TFP41 and the oracle and figures per
    conversion-rate bin; see spk2vid_cli/training/evaluate.py for the conventions."""
    from spk2vid_cli.training import evaluate as ev

    console = Console(stderr=True)
    choices = _weight_choices(weights or [])
    if both_ways:  # the labels say so, in the table and the JSON report
        choices = {scale: {f"{label} both-ways": path for label, path in labels.items()}
                   for scale, labels in choices.items()}
    if synthetic is not None:
        if paths:
            raise InputError(f"{paths[0]}: give spike files or --synthetic, not both")
        results = _synthetic(synthetic, scale, choices, device, lens_blur, both_ways)
    else:
        if not paths:
            raise InputError("no input: give spike files or folders (from spk2vid simulate --save-gt), "
                             "or --synthetic DIR")

        @cache
        def nets_for(pair_scale: int) -> dict:
            from spk2vid_cli.net import NetReconstructor
            from spk2vid_model.weights import load_config

            return {label: NetReconstructor(pair_scale, weights=path, device=device, precision=precision,
                                            lens_blur=lens_blur if load_config(path).blur_input else None,
                                            both_ways=both_ways)
                    for label, path in choices.get(pair_scale, {}).items()}

        def progress(step: str) -> None:
            console.print(f"evaluating {step}", highlight=False)

        if len(paths) == 1 and paths[0].is_dir() and ev.is_gt_folder(paths[0]):
            results = ev.evaluate_gt_folder(paths[0], nets_for, rate, centre, progress)
        else:
            results = ev.evaluate_recordings(ev.find_pairs(paths, gt), nets_for, progress)
    to_stdout = json_path == Path("-")
    (console if to_stdout else Console()).print(_table(results))
    if to_stdout:
        sys.stdout.write(ev.report_json(results))
    elif json_path is not None:
        ev.write_report(results, json_path)
    if curve is not None:
        plot = ev.write_curve(results, curve)
        console.print(f"curve: {curve}" + (f", {plot}" if plot else " (install matplotlib for a PNG)"), highlight=False)


def _weight_choices(extra: list[Path]) -> dict[int, dict[str, Path]]:
    """{scale: {label: weights}}: bundled weights as net-full / net-lite, others as net:NAME (the
    file's stem; FOLDER/NAME, then the whole path, where two files share a stem)."""
    from spk2vid_model.weights import bundled_weights, load_weights

    choices = {scale: {f"net-{variant}": path for variant, path in variants.items()}
               for scale, variants in bundled_weights().items()}
    taken = {label for labels in choices.values() for label in labels}
    for path in extra:
        names = (path.stem, f"{path.parent.name}/{path.stem}", str(path))
        label = next((f"net:{n}" for n in names if f"net:{n}" not in taken), f"net:{path} ({len(taken)})")
        taken.add(label)
        choices.setdefault(load_weights(path)[0].config.scale, {})[label] = path
    return choices


def _synthetic(folder: Path, scale: int, choices: dict[int, dict[str, Path]], device: str,
               lens_blur: float | None = None, both_ways: bool = False) -> dict:
    from spk2vid_cli.net import resolve_device
    from spk2vid_cli.training.evaluate import synthetic_scores
    from spk2vid_cli.training.sources import SourcePool
    from spk2vid_cli.training.synth import Segment, validation_segments
    from spk2vid_model.weights import load_weights

    nets = {label: load_weights(path)[0] for label, path in choices.get(scale, {}).items()}
    pool = SourcePool(folder, "val")
    # blocks as wide as the widest network's; a narrower one reads the middle of each (same centres)
    window = max((net.config.window for net in nets.values()), default=WINDOW)

    def cut(source: SourcePool, supersample: int = 1) -> Segment:
        return validation_segments(source, scale, window=window, stride=STRIDE, supersample=supersample)

    segments = {"synthetic-val": cut(pool)}
    if pool.clips:  # the slice with real frame-to-frame motion: held-out clips only
        segments["synthetic-video"] = cut(SourcePool.from_arrays([], pool.clips))
    if scale == 1:  # a sensor sees more detail per pixel than a 1:1 crop of a photo: render at 4x, downscale
        segments["synthetic-dense"] = cut(pool, DENSE_SUPERSAMPLE)
    return synthetic_scores(segments, nets, scale, STRIDE, resolve_device(device), lens_blur, both_ways)


def _table(results: dict) -> Table:
    """One row per sequence and method, then the overall means and the means per conversion-rate bin,
    with each method's PSNR gain over TFP41 and over the clean-LR oracle."""
    from spk2vid_cli.training.evaluate import BASELINE, ORACLE, by_rate, overall

    table = Table("sequence", "method", "frames", "PSNR (dB)", "SSIM", f"vs {BASELINE}", f"vs {ORACLE}",
                  title="Reconstruction quality")

    def gains(summary: dict) -> list[str]:
        return [f"{summary[key]:+.2f}" if key in summary else "" for key in (f"gain_vs_{BASELINE}",
                                                                            f"gain_vs_{ORACLE}")]

    for name, scores in results.items():
        for label, summary in overall({name: scores}).items():
            frames = int(np.isfinite(scores[label].psnr).sum())
            table.add_row(name, label, str(frames), f"{summary['psnr']:.2f}", f"{summary['ssim']:.4f}",
                          *gains(summary))
        table.add_section()
    bins = by_rate(results)
    groups = {"all": results, **(bins if len(bins) > 1 else {})}
    for group, part in groups.items():
        for label, summary in overall(part).items():
            table.add_row(f"[bold]{group}[/bold]", label, f"{summary['streams']} streams", f"{summary['psnr']:.2f}",
                          f"{summary['ssim']:.4f}", *gains(summary))
        table.add_section()
    return table

