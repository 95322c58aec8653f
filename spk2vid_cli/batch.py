"""Converting a folder of recordings: mirrored output names, resuming, sharding, a summary.

Every per-file failure (a user error, or anything unexpected) is caught, reported and counted; the
batch goes on. With `skip_existing`, only a complete output (`writers.output_complete`: its sidecar,
moved in last, is there) counts as done; leftovers of a killed run are redone.

File k of the sorted list of recordings (paths relative to the input folder) belongs to shard
k % n, so `--shard i/n` for i = 0..n-1 (a Slurm array's task ids) covers every file exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from spk2vid_cli.atomic import output_error
from spk2vid_cli.errors import InputError, Spk2VidError
from spk2vid_cli.writers import output_complete

RECORDING_SUFFIXES = (".dat", ".npy", ".npz")


@dataclass
class Outcome:
    """What happened to one input file."""

    source: Path
    output: Path
    status: str  # "converted", "skipped" or "failed"
    frames: int = 0
    seconds: float = 0.0
    message: str = ""


def parse_shard(text: str) -> tuple[int, int]:
    """`"i/n"` -> (i, n) with 0 <= i < n."""
    index, sep, count = text.partition("/")
    try:
        index_value, count_value = int(index), int(count)
    except ValueError:
        index_value, count_value = -1, 0
    if not sep or not 0 <= index_value < count_value:
        raise InputError(f"--shard must be i/n with 0 <= i < n (e.g. 0/4 for a Slurm array 0-3), got {text!r}")
    return index_value, count_value


def find_recordings(folder: Path, recursive: bool) -> list[Path]:
    """Recordings (.dat, .npy, .npz) in `folder`, sorted, hidden files left out."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a directory")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path for path in candidates
        if path.is_file() and path.suffix.lower() in RECORDING_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def shard(files: list[Path], index: int, count: int) -> list[Path]:
    """The files of shard `index` of `count`: every count-th file starting at `index`."""
    return files[index::count]


def output_for(source: Path, input_dir: Path, output_dir: Path, fmt: str) -> Path:
    """`input_dir/a/b.dat` -> `output_dir/a/b.mp4` (`.tif`, or the folder `b/` of PNGs)."""
    relative = source.relative_to(input_dir)
    return output_dir / relative.with_suffix("" if fmt == "png" else f".{fmt}")


def _make_parent(output: Path) -> None:
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(output, err) from None


def convert_folder(
    input_dir: Path,
    output_dir: Path,
    convert_one: Callable[[Path, Path], int],
    *,
    fmt: str = "mp4",
    recursive: bool = False,
    skip_existing: bool = False,
    shard_spec: str | None = None,
    log: Callable[[str], None] = print,
) -> list[Outcome]:
    """Convert every recording of `input_dir` with `convert_one(source, output) -> frames`.

    A file that fails with a user error is reported through `log` and skipped; the others go on.
    """
    files = find_recordings(input_dir, recursive)
    if not files:
        nested = not recursive and find_recordings(input_dir, recursive=True)
        raise InputError(f"{input_dir}: no recordings (.dat, .npy, .npz) "
                         + ("here, only in subfolders; pass --recursive to convert them" if nested
                            else "in this folder or its subfolders; check the path"))
    if shard_spec is not None:
        files = shard(files, *parse_shard(shard_spec))
    outcomes = []
    for source in files:
        output = output_for(source, input_dir, output_dir, fmt)
        if skip_existing and output_complete(output):
            outcomes.append(Outcome(source, output, "skipped", message="output exists"))
            continue
        started = time.monotonic()
        try:
            _make_parent(output)
            frames = convert_one(source, output)
        except Exception as err:  # one bad file must not end the batch; Ctrl-C/SIGTERM still do
            message = str(err) if isinstance(err, Spk2VidError) else f"unexpected {type(err).__name__}: {err}"
            message = message if message.startswith(f"{source}: ") else f"{source}: {message}"  # name the file
            log(f"error: {message}")
            outcomes.append(Outcome(source, output, "failed", message=message))
            continue
        outcomes.append(Outcome(source, output, "converted", frames, time.monotonic() - started))
    return outcomes


def print_summary(outcomes: list[Outcome], input_dir: Path, output_dir: Path, console: Console) -> None:
    """A table of every file's outcome (names relative to the two folders) and a count line; tab-separated
    lines, never cut, when `console` is not a terminal (a log file, a pipe)."""
    header = ("input", "output", "status", "frames", "time", "message")
    rows = [(str(item.source.relative_to(input_dir)), str(item.output.relative_to(output_dir)), item.status,
             str(item.frames), f"{item.seconds:.1f} s",
             item.message.removeprefix(f"{item.source}: "))  # the input column already names the file
            for item in outcomes]
    if console.is_terminal:
        table = Table(*header)
        table.columns[-1].overflow = "fold"
        for row in rows:
            style = {"failed": "red", "skipped": "yellow"}.get(row[2], "green")
            table.add_row(*row[:2], f"[{style}]{row[2]}[/]", *row[3:])
        console.print(table)
    else:
        for row in (header, *rows):
            console.file.write("\t".join(row) + "\n")
    counts = {status: sum(o.status == status for o in outcomes) for status in ("converted", "skipped", "failed")}
    console.print(", ".join(f"{n} {status}" for status, n in counts.items()))
