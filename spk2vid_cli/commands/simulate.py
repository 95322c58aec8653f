"""`spk2vid simulate`: make a spike recording (.dat) from a video, an image folder or a still."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import typer

from spk2vid_cli.errors import InputError
from spk2vid_cli.progress import Update, frame_progress
from spk2vid_model.geometry import STRIDE, WINDOW


def _parse_size(text: str | None) -> tuple[int, int] | None:
    """'HxW' -> (H, W)."""
    if text is None:
        return None
    height, sep, width = text.lower().partition("x")
    if not (sep and height.isdigit() and width.isdigit()):
        raise InputError(f"--size {text!r}: give HEIGHTxWIDTH in pixels, e.g. 500x800")
    return int(height), int(width)


def simulate(
    source: Path = typer.Argument(..., help="Video file, folder of images (sorted by name), or a still image."),
    output: Path = typer.Option(..., "-o", "--output", help="Spike file to write (.dat); config.yaml goes beside it."),
    downscale: int = typer.Option(1, help="Sensor pixel = mean of an r x r area of the source."),
    subframes: int = typer.Option(10, help="Spike frames per source frame of a video/folder (linear blending)."),
    frames: int | None = typer.Option(None, help="Spike frames to make: a still's length (default 200), else a cap."),
    size: str | None = typer.Option(None, help="Centre crop HxW of the source in source pixels (default: all)."),
    speed: float = typer.Option(0.05, help="Still: largest camera speed, sensor pixels per spike frame."),
    rotation: float = typer.Option(0.0, help="Still: largest rotation rate, degrees per spike frame."),
    zoom: float = typer.Option(0.0, help="Still: largest zoom rate, fraction per spike frame."),
    rate: float = typer.Option(0.6, help="Conversion rate: expected spikes per frame at full brightness."),
    threshold_std: float = typer.Option(0.0, help="Per-pixel threshold variation (std around 1)."),
    dark_current: float = typer.Option(0.0, help="Charge added per frame with no light."),
    noise: float = typer.Option(0.0, help="Charge noise std per frame."),
    lens_blur: float = typer.Option(
        0.0, help="Gaussian lens blur in front of the sensor, sigma in sensor pixels (the ground truth stays sharp)."),
    seed: int = typer.Option(0, help="Random seed (same seed, same spikes)."),
    save_gt: Path | None = typer.Option(None, help="Also write the HR ground truth at block centres (TIFF)."),
    gt_window: int = typer.Option(WINDOW, help="Ground-truth block window (as convert's --window)."),
    gt_stride: int = typer.Option(STRIDE, help="Ground-truth block stride (as convert's --stride)."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or messages."),
) -> None:
    """Simulate a spike-camera recording (integrate-and-fire) from ordinary images or video."""
    from spk2vid_cli.simulate import CameraMotion, SensorModel, simulate_file  # torch: load on use

    with ExitStack() as stack:
        bars: list[Update] = []

        def report(done: int, total: int) -> None:
            if not bars:  # the total is known once the source is open
                bars.append(stack.enter_context(frame_progress(total, source.name, quiet)))
            bars[0](done)

        result = simulate_file(
            source,
            output,
            sensor=SensorModel(rate=rate, threshold_std=threshold_std, dark_current=dark_current, noise_std=noise,
                               lens_blur=lens_blur),
            downscale=downscale,
            subframes=subframes,
            size=_parse_size(size),
            frames=frames,
            motion=CameraMotion(speed=speed, rotation=rotation, zoom=zoom),
            seed=seed,
            save_gt=save_gt,
            gt_window=gt_window,
            gt_stride=gt_stride,
            overwrite=overwrite,
            progress=report,
        )
    if not quiet:
        gt_note = f", ground truth ({len(result.gt_frames)} frames) in {save_gt}" if save_gt else ""
        typer.echo(f"{result.output}: {result.num_frames} spike frames of {result.height}x{result.width} "
                   f"from {result.source}{gt_note}", err=True)
