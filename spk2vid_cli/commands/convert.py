"""`spk2vid convert`: recordings to MP4 / TIFF / PNG video, one file or a whole folder."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from spk2vid_cli import __version__, pipeline
from spk2vid_cli.batch import convert_folder, print_summary
from spk2vid_cli.classical import TFI, TFP
from spk2vid_cli.commands.options import ReaderFlags, SpikeRate, with_reader_flags
from spk2vid_cli.errors import EXIT_FAILURE, InputError, UsageError
from spk2vid_cli.exposure import Exposure
from spk2vid_cli.pipeline import Reconstructor
from spk2vid_cli.progress import frame_progress
from spk2vid_cli.spikes import DEFAULT_SPIKE_RATE
from spk2vid_cli.windows import block_centres
from spk2vid_cli.writers import check_output, open_writer, output_complete
from spk2vid_model.geometry import STRIDE, WINDOW

MIN_TILE = 32  # sensor pixels; smaller tiles cost far more in overlap and per-tile overhead than they save
BLOCKS, OUTPUT = "Blocks and method", "Output"
NETWORK, FOLDER = "Network (--method net)", "Folders (INPUT is a directory)"


@dataclass(frozen=True)
class NetFlags:
    """The network flags as the user gave them."""

    weights: Path | None
    model: str
    device: str
    precision: str
    tile: int
    tile_overlap: int
    compile: bool
    lens_blur: float | None = None
    both_ways: bool = False


def plural(count: int, noun: str) -> str:
    """`1 frame`, `2 frames`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def check_flags(output: Path, folder_format: str | None, fps: float, bit_depth: int, net: NetFlags) -> None:
    """Refuse impossible output and network flags before any work (exit 2)."""
    if not math.isfinite(fps):
        raise UsageError(f"--fps must be a finite number of frames per second, got {fps}")
    if 0 < net.tile < MIN_TILE:
        raise UsageError(f"--tile {net.tile}: tiles under {MIN_TILE} pixels would take very long; "
                         f"use --tile {MIN_TILE} or more, or 0 for whole frames")
    example = {"png": "NAME_%06d.png", None: ""}.get(folder_format, f"NAME.{folder_format}")
    check_output(output / example if example else output, bit_depth)


def make_reconstructor(method: str | None, scale: int, window: int | None, stride: int,
                       net: NetFlags) -> Reconstructor:
    """TFP, TFI or (for "net" or None) the network, which fails naming the scales that have weights."""
    if method in ("tfp", "tfi"):
        if net.both_ways:
            raise UsageError(f"--both-ways runs the network a second time, backwards; --method {method} "
                             "already looks both ways: drop --both-ways")
        return {"tfp": TFP, "tfi": TFI}[method](scale, window or WINDOW)
    from spk2vid_cli.net import NetReconstructor

    reconstructor = NetReconstructor(scale, model=net.model, weights=net.weights, device=net.device,
                                     precision=net.precision, tile=net.tile, tile_overlap=net.tile_overlap,
                                     compile=net.compile, lens_blur=net.lens_blur, both_ways=net.both_ways,
                                     stride=stride)
    if window is not None and window != reconstructor.window:
        raise InputError(f"--window {window}: the network was trained on {reconstructor.window}-frame blocks; "
                         "leave --window out with --method net")
    return reconstructor


@dataclass(frozen=True)
class ConvertJob:
    """Everything but the file names: converts one recording with `run(source, output)`."""

    reader: ReaderFlags
    reconstructor: Reconstructor
    stride: int
    start: int
    end: int | None
    exposure: str
    spike_rate: float
    fps: float
    crf: int
    bit_depth: int
    overwrite: bool
    quiet: bool

    def run(self, source: Path, output: Path) -> int:
        """Convert `source` into `output`; returns the number of frames written."""
        exposure = Exposure.from_spec(self.exposure)
        with self.reader.open(source) as recording:
            reconstructor = self.reconstructor
            total = len(block_centres(recording.num_frames, reconstructor.window, self.stride, self.start, self.end))
            metadata = {
                "source": str(source), "method": reconstructor.description, "scale": reconstructor.scale,
                "window": reconstructor.window, "stride": self.stride, "spike_rate_hz": self.spike_rate,
                "sensor_height": recording.height, "sensor_width": recording.width, "spk2vid": __version__,
            }
            self.say(f"{source} -> {output}: {plural(total, 'frame')}, {reconstructor.description}")
            with (open_writer(output, fps=self.fps, crf=self.crf, bit_depth=self.bit_depth,
                              overwrite=self.overwrite, metadata=metadata) as writer,
                  frame_progress(total, source.name, self.quiet) as progress):
                for stale in writer.stale_removed:
                    self.say(f"removed {stale}, left by a killed run")
                frames = pipeline.convert(recording, reconstructor, writer, exposure, stride=self.stride,
                                          start=self.start, end=self.end, spike_rate=self.spike_rate,
                                          progress=progress)
        self.say(f"wrote {output} ({plural(frames, 'frame')}, gain {exposure.gain:.3g})")
        return frames

    def say(self, message: str) -> None:
        """Print a status line on stderr unless quiet."""
        if not self.quiet:
            typer.echo(message, err=True)


@with_reader_flags
def convert(
    source: Annotated[Path, typer.Argument(
        metavar="INPUT", show_default=False,
        help="A spike recording (.dat, .npy, .npz), or a directory of them (see the folder options).")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", show_default=False, rich_help_panel=OUTPUT,
        help="Its form picks the format: out.mp4 (H.264), out.tif (TIFF stack), a directory or frame_%06d.png "
             "(PNGs). OUTPUT.frames.csv beside it gives each frame's centre spike frame and time. "
             "For a directory INPUT: the output directory.")],
    scale: Annotated[Literal[1, 2, 4, 8], typer.Option(
        "--scale", rich_help_panel=BLOCKS, help="Super-resolution factor.")] = 4,
    method: Annotated[Literal["net", "tfp", "tfi"] | None, typer.Option(
        "--method", rich_help_panel=BLOCKS, show_default=False,
        help="net: the Spk2VidNet network; tfp: window mean; tfi: inverse inter-spike interval (both "
             "bicubic-upsampled). Default: net when it has weights for --scale, otherwise an error.")] = None,
    window: Annotated[int | None, typer.Option(
        "--window", min=1, rich_help_panel=BLOCKS, show_default=False,
        help=f"Spike frames per block, odd (default {WINDOW}; the network uses the block size it was "
             "trained on).")] = None,
    stride: Annotated[int, typer.Option(
        "--stride", min=1, rich_help_panel=BLOCKS, help="Spike frames between consecutive output frames.")] = STRIDE,
    start: Annotated[int, typer.Option(
        "--start", min=0, rich_help_panel=BLOCKS, help="First spike frame to use.")] = 0,
    end: Annotated[int | None, typer.Option(
        "--end", min=1, rich_help_panel=BLOCKS, show_default=False,
        help="Spike frame to stop before (default: the end of the recording).")] = None,
    exposure: Annotated[str, typer.Option(
        "--exposure", rich_help_panel=OUTPUT,
        help="auto: one gain per file from its first frames (no flicker); none: firing rate 1 is white; "
             "or a number: that gain.")] = "auto",
    fps: Annotated[float, typer.Option("--fps", min=0.001, rich_help_panel=OUTPUT, help="MP4 frame rate.")] = 30.0,
    crf: Annotated[int, typer.Option(
        "--crf", min=0, max=51, rich_help_panel=OUTPUT, help="MP4 quality: lower is better and larger.")] = 18,
    bit_depth: Annotated[Literal[8, 16, 32], typer.Option(
        "--bit-depth", rich_help_panel=OUTPUT,
        help="8 (all formats), 16 (TIFF, PNG) or 32 (float32 TIFF, values in [0, 1]).")] = 8,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", rich_help_panel=OUTPUT,
        help="Replace existing outputs (only once the new one is complete).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or messages.")] = False,
    recursive: Annotated[bool, typer.Option(
        "--recursive", "-r", rich_help_panel=FOLDER, help="Include recordings in subdirectories.")] = False,
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing", rich_help_panel=FOLDER,
        help="Skip recordings whose output is complete (to resume); an unfinished one left by a killed run is "
             "redone and replaced. Also for one file.")] = False,
    shard: Annotated[str | None, typer.Option(
        "--shard", metavar="I/N", rich_help_panel=FOLDER, show_default=False,
        help="Convert only files k with k % N == I of the sorted list, I in 0..N-1 (e.g. a Slurm array task).")] = None,
    fmt: Annotated[Literal["mp4", "tif", "png"], typer.Option(
        "--format", rich_help_panel=FOLDER,
        help="Output format: NAME.mp4, NAME.tif, or a NAME/ folder of PNGs.")] = "mp4",
    weights: Annotated[Path | None, typer.Option(
        "--weights", rich_help_panel=NETWORK, show_default=False,
        help="A custom checkpoint instead of the shipped weights.")] = None,
    model: Annotated[Literal["auto", "full", "lite"], typer.Option(
        "--model", rich_help_panel=NETWORK, help="auto: full on CUDA, lite on CPU.")] = "auto",
    device: Annotated[str, typer.Option(
        "--device", rich_help_panel=NETWORK, help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[Literal["auto", "fp32", "bf16", "fp16"], typer.Option(
        "--precision", rich_help_panel=NETWORK,
        help="auto: bf16 on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX), else fp32.")] = "auto",
    tile: Annotated[int, typer.Option(
        "--tile", min=0, rich_help_panel=NETWORK, help="Process in N x N sensor-pixel tiles (0: whole frames).")] = 0,
    tile_overlap: Annotated[int, typer.Option(
        "--tile-overlap", min=0, rich_help_panel=NETWORK, help="Overlap between tiles, in sensor pixels.")] = 16,
    compile_model: Annotated[bool, typer.Option(
        "--compile", rich_help_panel=NETWORK, help="torch.compile the network (slow start, faster frames).")] = False,
    lens_blur: Annotated[float | None, typer.Option(
        "--lens-blur", min=0.0, rich_help_panel=NETWORK, show_default=False,
        help="The camera's blur (lens and pixel) as a Gaussian sigma in sensor pixels, for networks told it "
             "(x1-lite), which then undo it. Default: unknown; the network judges it from the spikes.")] = None,
    both_ways: Annotated[bool, typer.Option(
        "--both-ways", rich_help_panel=NETWORK,
        help="Also run the network backwards in time and average the two runs: a little sharper and "
             "cleaner (README), about twice the time.")] = False,
    reader: ReaderFlags = ReaderFlags(),
    spike_rate: SpikeRate = DEFAULT_SPIKE_RATE,
) -> None:
    """Reconstruct a recording (or a folder of them) into high-resolution video."""
    Exposure.from_spec(exposure)  # a bad value fails before any work
    net = NetFlags(weights, model, device, precision, tile, tile_overlap, compile_model, lens_blur, both_ways)
    check_flags(output, fmt if source.is_dir() else None, fps, bit_depth, net)
    job = ConvertJob(
        reader=reader,
        reconstructor=make_reconstructor(method, scale, window, stride, net),  # once; pipeline.convert resets it per file
        stride=stride, start=start, end=end, exposure=exposure, spike_rate=spike_rate,
        fps=fps, crf=crf, bit_depth=bit_depth,
        overwrite=overwrite or skip_existing,  # what --skip-existing does not skip is unfinished: redo it
        quiet=quiet,
    )
    if not source.is_dir():
        if recursive or shard is not None:
            raise InputError(f"{source}: --recursive and --shard apply only when INPUT is a directory")
        if skip_existing and output_complete(output):
            job.say(f"skipped {source}: {output} exists")
            return
        job.run(source, output)
        return
    outcomes = convert_folder(source, output, job.run, fmt=fmt, recursive=recursive, skip_existing=skip_existing,
                              shard_spec=shard, log=lambda line: typer.echo(line, err=True))
    print_summary(outcomes, source, output, Console())
    if any(item.status == "failed" for item in outcomes):
        raise typer.Exit(EXIT_FAILURE)
