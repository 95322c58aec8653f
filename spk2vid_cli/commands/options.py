"""Options defined once: the reader flags and the spike rate (shared by `info` and `convert`), and the
helper that turns a dataclass into command-line options (the reader flags, `train`'s TrainOptions)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin, get_type_hints

import typer

from spk2vid_cli.spikes import SpikeRecording, open_recording

READER = "Reading the recording"

Height = Annotated[int | None, typer.Option(
    "--height", min=1, rich_help_panel=READER,
    help="Sensor height in pixels. Default: spike_h from a config.yaml/config.json beside the file or up to two "
         "folders above, else decided by content among the sensor sizes the file fits, else 250.")]
Width = Annotated[int | None, typer.Option(
    "--width", min=1, rich_help_panel=READER,
    help="Sensor width in pixels. Default: spike_w from that config file, else by content, else 400.")]
Layout = Annotated[Literal["auto", "dat", "raw416", "packet1000", "array"], typer.Option(
    "--layout", rich_help_panel=READER,
    help="dat: packed .dat; raw416: raw 400-wide camera dump with 416-bit rows; packet1000: raw 1000x1000 "
         "camera dump in 64-byte packets; array: .npy/.npz 0/1 array; auto: array for .npy/.npz, else dat.")]
NoFlip = Annotated[bool, typer.Option(
    "--no-flip", rich_help_panel=READER,
    help="Keep storage order: .dat/raw rows are stored bottom-up and flipped by default "
         "(packet1000 frames rotated 180 degrees).")]
Axes = Annotated[Literal["thw", "hwt"] | None, typer.Option(
    "--axes", rich_help_panel=READER,
    help="Axis order of a .npy/.npz array: thw = (T,H,W), hwt = (H,W,T). Default: guessed, and reported by info.")]
AllowTruncated = Annotated[bool, typer.Option(
    "--allow-truncated", rich_help_panel=READER,
    help="Drop a partial last frame (with a warning) instead of refusing the file.")]
SpikeRate = Annotated[float, typer.Option(
    "--spike-rate", min=1.0, rich_help_panel=READER,
    help="Spike frames per second of the camera, for durations and frame times (Hz).")]


@dataclass(frozen=True)
class ReaderFlags:
    """The reader flags as the user gave them; each field is also the command-line option (see `with_reader_flags`)."""

    height: Height = None
    width: Width = None
    layout: Layout = "auto"
    no_flip: NoFlip = False
    axes: Axes = None
    allow_truncated: AllowTruncated = False

    def open(self, path: Path) -> SpikeRecording:
        """Open `path` with these flags; print the reader's warnings to stderr."""
        recording = open_recording(path, height=self.height, width=self.width, layout=self.layout,
                                   flip=False if self.no_flip else None, axes=self.axes,
                                   allow_truncated=self.allow_truncated)
        for warning in recording.warnings:
            typer.echo(f"warning: {warning}", err=True)
        return recording


def with_dataclass_options(cls: type, parameter: str, options: Mapping[str, Any] | None = None,
                           ) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Let a typer command take `PARAMETER: cls` (a dataclass): the command line shows one option per field
    in its place and the command receives them as one `cls`.

    Each option's type and default are the field's; its `typer.Option` (flag, help, bounds, panel) is the
    field's own `Annotated` metadata or `options[name]`. Options come in the order of `options`, then
    the remaining fields in their order; a field given neither gets a bare option named after it.
    """
    hints = get_type_hints(cls, include_extras=True)
    order = {name: index for index, name in enumerate(options or {})}
    chosen = sorted(fields(cls), key=lambda field: order.get(field.name, len(order)))

    def annotation(name: str) -> object:
        hint = hints[name]
        return hint if get_origin(hint) is Annotated else Annotated[hint, (options or {}).get(name, typer.Option())]

    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        kind = signature.parameters[parameter].kind
        flags = [inspect.Parameter(field.name, kind, annotation=annotation(field.name),
                                   default=(inspect.Parameter.empty if field.default is MISSING else field.default))
                 for field in chosen]
        parameters = []
        for existing in signature.parameters.values():
            parameters += flags if existing.name == parameter else [existing]

        @functools.wraps(command)
        def run(**given: object) -> None:
            value = cls(**{flag.name: given.pop(flag.name) for flag in flags})
            command(**{parameter: value}, **given)

        run.__signature__ = signature.replace(parameters=parameters)
        return run

    return wrap


# `reader: ReaderFlags = ReaderFlags()` in a command: the reader options in its place on the command line.
with_reader_flags = with_dataclass_options(ReaderFlags, "reader")
