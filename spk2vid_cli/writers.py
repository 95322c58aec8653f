"""Frame writers for MP4, TIFF stacks and PNG sequences, all written atomically.

`open_writer(output, ...)` picks the format from the output path:
- `*.mp4`: H.264 (libx264, yuv420p) through the ffmpeg binary that imageio-ffmpeg ships; 8-bit.
  yuv420p needs even sizes: an odd last row/column is repeated once to pad. The metadata passed in
  is stored as JSON in the MP4's `comment` tag.
- `*.tif` / `*.tiff`: a BigTIFF stack (N, H, W) of 8- or 16-bit integers or float32 (`bit_depth=32`).
  The first page's ImageDescription is JSON holding `shape`, the metadata passed in, and per frame
  `index`, `centre_frame` and `time_us` (tifffile returns it as `TiffFile.shaped_metadata[0]`).
- a directory (an existing one, or a path without suffix): `DIR/frame_000000.png`, ...
- a pattern such as `out/clip_%06d.png`: one PNG per frame, numbered from 0.
PNGs are 8- or 16-bit greyscale, written with fast compression; a missing frame directory is
created (its parent must exist) and removed again if the write fails.

Beside the output goes a CSV sidecar with `index,centre_frame,time_us` per frame:
`OUTPUT.frames.csv` for files, `DIR/frames.csv` for a directory, `out/clip.frames.csv` for a pattern.

Atomicity (see `atomic.py`): the writer holds an exclusive lock on its output while it runs, so a
second process writing the same output fails at once; it removes what killed processes left for this
output; everything is written under temporary names (`.partial-<host>-<pid>`) in the output's own
directory and moved into place by `close()`, the sidecar last, so an output with its sidecar is
complete (`output_complete`). `abort()` (also called when the writer is used as a context manager and
an exception escapes) removes the temporaries and never raises. An existing output is only replaced
with `overwrite=True`, and then only once the new one is complete; without it, an output that
appeared meanwhile is kept.

Frames are quantized by rounding (`quantize`): 8-bit value = round(255 * v). Spike-Zoo and SpikeCV
truncate, so their 8-bit images are on average half a level darker.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import re
import signal
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

import imageio.v3 as iio
import numpy as np
import tifffile

from spk2vid_cli.atomic import DISK_FULL, OutputLock, discard, output_error, partial_name, publish, remove_stale_partials
from spk2vid_cli.errors import OutputError, UsageError

BIT_DEPTHS = (8, 16, 32)
DIRECTORY_PATTERN = "frame_%06d.png"
X264_PRESET = "fast"  # about 1.7x faster than x264's default "medium" at nearly the same size
_PATTERN_FIELD = re.compile(r"%0?\d*d")


@dataclass(frozen=True)
class FrameInfo:
    """Where an output frame comes from: its index, its centre spike frame and that frame's time."""

    index: int
    centre_frame: int
    time_us: float


def quantize(frame: np.ndarray, bit_depth: int) -> np.ndarray:
    """A [0, 1] float frame as uint8, uint16 (rounded to the nearest level, not truncated) or float32."""
    if bit_depth == 32:
        return np.asarray(frame, dtype=np.float32)
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    peak = np.iinfo(dtype).max
    return np.rint(np.clip(frame, 0.0, 1.0) * peak).astype(dtype)


class FrameWriter(ABC):
    """Writes display frames (float32 in [0, 1], shape (H, W)) and their sidecar, atomically."""

    def __init__(self, output: Path, staged: Path, sidecar: Path, bit_depth: int, overwrite: bool, metadata: dict):
        """`staged`: the path whose `partial_name` holds the output until `close()` (beside the sidecar)."""
        self.output = output
        self.sidecar = sidecar
        self.bit_depth = bit_depth
        self.overwrite = overwrite
        self.metadata = metadata
        self.frames_written = 0
        self._shape: tuple[int, int] | None = None
        self._done = False
        self._sidecar_file = None
        try:
            self._lock = OutputLock(output)
        except OSError as err:
            raise output_error(output, err) from None
        try:
            self.stale_removed = remove_stale_partials(sidecar.parent, (staged.name, sidecar.name))
            if self._exists() and not overwrite:
                raise OutputError(f"{output}: already exists{self._existing_detail()}; "
                                  "pass --overwrite to replace it")
            self._prepare()
            self._sidecar_file = open(partial_name(sidecar), "w", newline="")
        except OSError as err:
            self.abort()
            raise output_error(output, err) from None
        except BaseException:
            self.abort()
            raise
        self._csv = csv.writer(self._sidecar_file)
        self._csv.writerow(["index", "centre_frame", "time_us"])

    def write(self, frame: np.ndarray, info: FrameInfo) -> None:
        """Append one frame; all frames must have the same shape."""
        if self._done:
            raise RuntimeError("write() after close() or abort()")
        if frame.ndim != 2:
            raise ValueError(f"frames must be (H, W) arrays, got shape {frame.shape}")
        if self._shape is not None and frame.shape != self._shape:
            raise ValueError(f"frame shape {frame.shape} differs from the first frame's {self._shape}")
        self._shape = frame.shape
        try:
            self._append(quantize(frame, self.bit_depth), info)
            self._csv.writerow([info.index, info.centre_frame, f"{info.time_us:.3f}"])
        except OSError as err:
            raise output_error(self.output, err) from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the output and rename it (and its sidecar) into place. Aborts if that fails."""
        if self._done:
            return
        try:
            if not self.frames_written:
                raise OutputError(f"{self.output}: no frames to write; the input range holds no whole block")
            self._sidecar_file.close()
            self._finish()
            self._commit()
            os.replace(partial_name(self.sidecar), self.sidecar)  # last: marks the output complete
        except OSError as err:
            self.abort()
            raise output_error(self.output, err) from None
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._lock.release()

    def abort(self) -> None:
        """Stop and remove every temporary file; existing outputs stay untouched. Never raises: a full
        disk must not turn cleanup into a second error."""
        if self._done:
            return
        self._done = True
        if self._sidecar_file is not None:
            with contextlib.suppress(OSError):  # flushing the last rows can fail on a full disk
                self._sidecar_file.close()
        discard(partial_name(self.sidecar))
        with contextlib.suppress(OSError, ValueError):
            self._discard()
        self._lock.release()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    @abstractmethod
    def _exists(self) -> bool:
        """Whether an output this writer would replace is already there."""

    def _existing_detail(self) -> str:
        """What exactly exists, when `output` alone does not say it."""
        return ""

    def _prepare(self) -> None:
        """Create what the temporary output needs before the first frame (may raise OSError)."""

    @abstractmethod
    def _append(self, data: np.ndarray, info: FrameInfo) -> None:
        """Write one quantized frame, number `self.frames_written` (from 0)."""

    def _finish(self) -> None:
        """Complete the temporary output (may raise OSError)."""

    @abstractmethod
    def _commit(self) -> None:
        """Move the completed temporary output into place."""

    @abstractmethod
    def _discard(self) -> None:
        """Remove the temporary output."""


class _SingleFileWriter(FrameWriter):
    """An output that is one file, written to `partial_name(output)` and renamed at the end."""

    def __init__(self, output: Path, bit_depth: int, overwrite: bool, metadata: dict):
        self.partial = partial_name(output, output.suffix)
        super().__init__(output, output, _sidecar(output), bit_depth, overwrite, metadata)

    def _exists(self) -> bool:
        return self.output.exists()

    def _commit(self) -> None:
        publish(self.partial, self.output, overwrite=self.overwrite)

    def _discard(self) -> None:
        discard(self.partial)


class Mp4Writer(_SingleFileWriter):
    """H.264 MP4 through an ffmpeg subprocess; its exit status is checked when closing."""

    def __init__(self, output: Path, fps: float, crf: int, overwrite: bool, metadata: dict):
        self.fps, self.crf = fps, crf
        self._ffmpeg: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()  # ffmpeg's stderr, read if it fails
        super().__init__(output, 8, overwrite, metadata)

    def _start(self, height: int, width: int) -> None:
        import imageio_ffmpeg  # only MP4 needs ffmpeg: the other commands run where it is not installed

        command = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{width}x{height}", "-r", str(self.fps), "-i", "-",
            "-an", "-c:v", "libx264", "-preset", X264_PRESET, "-pix_fmt", "yuv420p", "-crf", str(self.crf),
            "-metadata", "comment=" + json.dumps(self.metadata), "-f", "mp4", str(self.partial),
        ]
        # Own session: a Ctrl-C in the terminal reaches us, and we decide how ffmpeg stops.
        self._ffmpeg = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=self._log, start_new_session=True)

    def _append(self, data: np.ndarray, info: FrameInfo) -> None:
        data = np.pad(data, ((0, data.shape[0] % 2), (0, data.shape[1] % 2)), mode="edge")
        if self._ffmpeg is None:
            self._start(*data.shape)
        try:
            self._ffmpeg.stdin.write(data.tobytes())
        except BrokenPipeError:
            self._ffmpeg.wait()
            raise self._failure() from None

    def _finish(self) -> None:
        with contextlib.suppress(BrokenPipeError):  # ffmpeg died: its exit status says why
            self._ffmpeg.stdin.close()
        if self._ffmpeg.wait() != 0:
            raise self._failure()

    def _failure(self) -> OSError | OutputError:
        """Why ffmpeg stopped: disk full / file too large as an OSError, anything else as an OutputError."""
        if self._ffmpeg.returncode == -signal.SIGXFSZ:  # killed for exceeding the file size limit
            return OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        self._log.seek(0)
        log = self._log.read().decode(errors="replace").strip()
        for code in DISK_FULL:
            if os.strerror(code) in log:
                return OSError(code, os.strerror(code))
        last = log.splitlines()[-1] if log else f"exit status {self._ffmpeg.returncode}"
        return OutputError(f"{self.output}: ffmpeg failed ({last}); check free space and the -o path")

    def _discard(self) -> None:
        if self._ffmpeg is not None:
            self._ffmpeg.kill()  # no-op if it has already exited
            self._ffmpeg.wait()
            with contextlib.suppress(OSError):
                self._ffmpeg.stdin.close()
        self._log.close()
        super()._discard()


class TiffWriter(_SingleFileWriter):
    """A BigTIFF stack streamed page by page; the JSON description is completed on close."""

    def __init__(self, output: Path, bit_depth: int, overwrite: bool, metadata: dict):
        self._tiff: tifffile.TiffWriter | None = None
        self._infos: list[FrameInfo] = []  # for the description; other formats keep nothing per frame
        super().__init__(output, bit_depth, overwrite, metadata)

    def _prepare(self) -> None:
        self._tiff = tifffile.TiffWriter(self.partial, bigtiff=True)

    def _append(self, data: np.ndarray, info: FrameInfo) -> None:
        self._tiff.write(data, contiguous=True, photometric="minisblack", metadata={})
        self._infos.append(info)

    def _finish(self) -> None:
        frames = {key: [getattr(info, key) for info in self._infos] for key in asdict(self._infos[0])}
        description = {"shape": [len(self._infos), *self._shape], **self.metadata, **frames}
        self._tiff.overwrite_description(json.dumps(description))
        self._tiff.close()
        self._tiff = None

    def _discard(self) -> None:
        if self._tiff is not None:
            with contextlib.suppress(OSError, ValueError):  # closing writes pending pages, which may fail too
                self._tiff.close()
        super()._discard()


class PngSequenceWriter(FrameWriter):
    """Numbered PNGs in `directory`, staged in a hidden folder there and moved in on close."""

    def __init__(self, output: Path, directory: Path, pattern: str, sidecar: Path, bit_depth: int, overwrite: bool,
                 metadata: dict):
        self.directory, self.pattern = directory, pattern
        staged = directory / _PATTERN_FIELD.sub("", pattern)
        self.staging = partial_name(staged)
        self._created_directory = False
        super().__init__(output, staged, sidecar, bit_depth, overwrite, metadata)

    def _prepare(self) -> None:
        if not self.directory.exists():
            self.directory.mkdir()
            self._created_directory = True
        self.staging.mkdir()

    def _existing_frames(self) -> list[Path]:
        regex = re.compile(re.escape(_PATTERN_FIELD.sub("\0", self.pattern)).replace("\0", r"\d+") + "$")
        return [p for p in self.directory.iterdir() if regex.match(p.name)] if self.directory.is_dir() else []

    def _exists(self) -> bool:
        return self.sidecar.exists() or bool(self._existing_frames())

    def _existing_detail(self) -> str:
        frames = self._existing_frames()
        return f" ({len(frames)} frames like {frames[0].name})" if frames else f" ({self.sidecar.name})"

    def _append(self, data: np.ndarray, info: FrameInfo) -> None:
        iio.imwrite(self.staging / (self.pattern % self.frames_written), data, extension=".png", compress_level=1)

    def _commit(self) -> None:
        if not self.overwrite and self._exists():  # another program wrote here meanwhile: keep its files
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(self.output))
        stale = set(self._existing_frames())
        for position in range(self.frames_written):
            name = self.pattern % position
            os.replace(self.staging / name, self.directory / name)
            stale.discard(self.directory / name)
        for path in stale:  # frames of a longer sequence this one replaces
            path.unlink()
        self.staging.rmdir()

    def _discard(self) -> None:
        discard(self.staging)
        if self._created_directory:
            with contextlib.suppress(OSError):  # not empty: someone else's files arrived meanwhile
                self.directory.rmdir()


def _sidecar(output: Path) -> Path:
    return output.with_name(output.name + ".frames.csv")


def _target(output: Path, bit_depth: int = 8) -> tuple[str, Path, str, Path]:
    """(format, directory, PNG pattern, sidecar) for `output`; a `UsageError` for an impossible one."""
    suffix = output.suffix.lower()
    if bit_depth not in BIT_DEPTHS:
        raise UsageError(f"{output}: --bit-depth must be 8, 16 or 32, got {bit_depth}")
    if suffix == ".mp4":
        if bit_depth != 8:
            raise UsageError(f"{output}: MP4 is 8-bit only; use .tif (8/16/32) or PNG (8/16) for --bit-depth {bit_depth}")
        return "mp4", output.parent, "", _sidecar(output)
    if suffix in (".tif", ".tiff"):
        return "tif", output.parent, "", _sidecar(output)
    if bit_depth == 32:
        raise UsageError(f"{output}: float32 (--bit-depth 32) needs a .tif/.tiff output")
    if suffix == ".png" and "%" in output.name:
        if len(_PATTERN_FIELD.findall(output.name)) != 1:
            raise UsageError(f"{output}: a PNG pattern needs one number field such as %06d")
        stem = _PATTERN_FIELD.sub("", output.stem).rstrip("_-. ") or "frames"
        return "png", output.parent, output.name, output.parent / f"{stem}.frames.csv"
    if output.is_dir():
        return "png", output, DIRECTORY_PATTERN, output / "frames.csv"
    if not suffix:
        if output.exists():
            raise UsageError(f"{output}: exists and is not a directory; -o without a suffix names a folder of PNGs: "
                             "give a new folder, or a .mp4, .tif or name_%06d.png path")
        return "png", output, DIRECTORY_PATTERN, output / "frames.csv"
    raise UsageError(f"{output}: unknown output format {suffix!r}; use .mp4, .tif/.tiff, a directory "
                     "or a name_%06d.png pattern")


def check_output(output: Path, bit_depth: int = 8) -> None:
    """Raise a `UsageError` now, before any work, for an output `open_writer` would refuse by its form."""
    _target(Path(output), bit_depth)


def output_complete(output: Path) -> bool:
    """Whether `output` is a finished output: a file (it only appears once complete), or for PNGs a
    sidecar (moved in after the frames) and every frame it lists. A killed run's leftovers do not count."""
    output = Path(output)
    try:
        kind, directory, pattern, sidecar = _target(output)
    except UsageError:
        return False
    if kind != "png":
        return output.is_file()
    with contextlib.suppress(OSError):
        with open(sidecar, newline="") as f:
            rows = sum(1 for _ in f) - 1
        return rows > 0 and all((directory / (pattern % k)).is_file() for k in range(rows))
    return False


def open_writer(
    output: Path,
    *,
    fps: float = 30,
    crf: int = 18,
    bit_depth: int = 8,
    overwrite: bool = False,
    metadata: dict | None = None,
) -> FrameWriter:
    """A writer for `output`, its format chosen by the path (see the module docstring)."""
    output = Path(output)
    metadata = dict(metadata or {})
    kind, directory, pattern, sidecar = _target(output, bit_depth)
    if kind == "mp4":
        return Mp4Writer(output, fps, crf, overwrite, metadata)
    if kind == "tif":
        return TiffWriter(output, bit_depth, overwrite, metadata)
    return PngSequenceWriter(output, directory, pattern, sidecar, bit_depth, overwrite, metadata)
