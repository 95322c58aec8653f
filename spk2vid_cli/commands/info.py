"""`spk2vid info`: resolution, length and firing statistics of recordings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from spk2vid_cli.atomic import output_error
from spk2vid_cli.commands.options import ReaderFlags, SpikeRate, with_reader_flags
from spk2vid_cli.errors import Spk2VidError
from spk2vid_cli.info import check_preview, recording_stats, write_preview
from spk2vid_cli.spikes import DEFAULT_SPIKE_RATE
from spk2vid_model.geometry import CLASSICAL_WINDOW


@with_reader_flags
def info(
    files: Annotated[list[Path], typer.Argument(
        metavar="FILE", help="Spike recordings (.dat, .npy, .npz).", show_default=False)],
    reader: ReaderFlags = ReaderFlags(),
    spike_rate: SpikeRate = DEFAULT_SPIKE_RATE,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON for scripts: a list with one object per file.")] = False,
    preview: Annotated[Path | None, typer.Option(
        "--preview", help=f"Also save a TFP preview image ({CLASSICAL_WINDOW} frames around the middle): this .png/.jpg "
                          "for one recording; for several, a directory that receives NAME.png per recording.")] = None,
) -> None:
    """Show each recording's resolution (and where it came from), frames, duration, file size,
    firing rates, dead and hot pixels. Several files give a table; a bad one is named on stderr, the
    others still shown, and the exit code is that of the worst error."""
    if preview is not None and len(files) > 1:
        try:
            preview.mkdir(exist_ok=True)
        except OSError as err:
            raise output_error(preview, err) from None
    elif preview is not None:
        check_preview(preview)
    stats, worst = [], 0
    for path in files:
        try:
            with reader.open(path) as recording:
                stats.append(recording_stats(recording, spike_rate))
                if preview is not None:
                    write_preview(recording, preview / f"{path.stem}.png" if len(files) > 1 else preview)
        except Spk2VidError as err:
            if len(files) == 1:
                raise
            typer.echo(f"error: {err}", err=True)
            worst = max(worst, err.exit_code)
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
    elif stats:
        console = Console()
        if not console.is_terminal:  # a log or a pipe: never cut or fold the table at 80 columns
            console = Console(width=10_000)
        console.print(_details(stats[0]) if len(files) == 1 else _summary(stats))
    if worst:
        raise typer.Exit(worst)


def _duration(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.3f} s"


def _details(stats: dict) -> Table:
    """One recording, one line per statistic."""
    table = Table(title=stats["file"], show_header=False)
    percentiles = ", ".join(f"{k} {v:.3f}" for k, v in stats["rate_percentiles"].items())
    rows = [
        ("resolution", f"{stats['height']}x{stats['width']} (HxW) from {stats['resolution_source']}"),
        ("layout", stats["layout"]),
        ("frames", f"{stats['frames']:,}"),
        ("duration", f"{_duration(stats['duration_s'])} at {stats['spike_rate_hz']:g} Hz"),
        ("file size", f"{stats['file_size']:,} bytes ({stats['leftover_bytes']} left over)"),
        ("mean firing rate", f"{stats['mean_firing_rate']:.3f} spikes/frame"),
        ("per-pixel rate", percentiles),
        ("dead pixels", f"{stats['dead_pixels']:,} (never fire)"),
        ("hot pixels", f"{stats['hot_pixels']:,} (fire in >= 95% of frames)"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _summary(all_stats: list[dict]) -> Table:
    """Several recordings, one row each."""
    table = Table("file", "HxW", "frames", "duration", "mean rate", "p50 rate", "dead", "hot")
    table.columns[0].overflow = "fold"
    for stats in all_stats:
        table.add_row(
            stats["file"], f"{stats['height']}x{stats['width']}", f"{stats['frames']:,}",
            _duration(stats["duration_s"]), f"{stats['mean_firing_rate']:.3f}",
            f"{stats['rate_percentiles']['p50']:.3f}", f"{stats['dead_pixels']:,}", f"{stats['hot_pixels']:,}",
        )
    return table
