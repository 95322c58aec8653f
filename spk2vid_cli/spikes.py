"""Reading and writing spike streams: bit-packed `.dat`, raw camera dumps, `.npy`/`.npz`.

`open_recording` returns a `SpikeRecording` whose `frames(start, stop)` unpacks only the frames
asked for, as upright `(n, H, W)` uint8 0/1 arrays. Packed files are read with positional reads
(`os.pread`) rather than a memory map: pages a map has touched count toward the process's resident
memory and would grow with stream length, whereas reads keep memory flat and are just as fast.

`.dat` layout (see shared FORMATS.md): headerless, frames of ceil(H*W/8) bytes back to back, pixels
row-major, least significant bit first, rows stored bottom-up (flipped on read unless `flip=False`).
Its resolution comes from flags, else the nearest `config.yaml`/`config.json` with `spike_h`/`spike_w`
beside the file or up to `CONFIG_LEVELS` folders above it (datasets keep one at their root), else the
file's content (`sensor_scores`): the right width makes vertically neighbouring pixels' firing rates
correlate, a wrong one does not.

Raw camera dumps: `raw416` (400x250 camera: rows sent as 416 bits, columns 400..415 dropped) and
`packet1000` (1000x1000 camera: frames of 2000 packets of 64 bytes, each packet half a 1024-bit line;
the packet's last 12 bits carry `(channel << 14) | (line << 4)` as a little-endian 16-bit word, the
channel says which half; pixels 0..499 of each half are kept, then the frame is rotated 180 degrees).
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spk2vid_cli.errors import InputError

DEFAULT_HEIGHT, DEFAULT_WIDTH = 250, 400
DEFAULT_SPIKE_RATE = 40000.0  # spike frames per second usually quoted for the camera (Hz)
RAW416_ROW_BITS = 416
PACKET_SIDE, PACKET_BYTES, PACKET_PIXELS = 1000, 64, 500  # packet1000: sensor side, bytes and pixels per packet
PACKET_FRAME_BYTES = 2 * PACKET_SIDE * PACKET_BYTES  # two packets (halves) per line
LAYOUTS = ("auto", "dat", "raw416", "packet1000", "array")
AXES = ("thw", "hwt")
# Sensor sizes seen in public data, used to guess the axis order of arrays.
KNOWN_SENSORS = {(250, 400), (400, 250), (250, 250), (1000, 1000), (1080, 1920)}
CONFIG_NAMES = ("config.yaml", "config.json")
CONFIG_LEVELS = 2  # folders above a recording's own searched for its config file
# Telling sensor sizes apart by content: bytes sampled from the start of the file, the vertical
# neighbour correlation a winner needs, and its lead over the runner-up.
SAMPLE_BYTES = 8 * 2**20
MIN_CORRELATION, MIN_LEAD = 0.25, 0.2
# Leading bytes of common non-spike files, so a mis-named file gets a clear error.
FOREIGN_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a zip archive (an .npz? name it .npz)",
    b"PK\x05\x06": "an empty zip archive",
    b"\x93NUMPY": "a .npy array (rename it to .npy)",
    b"\x89HDF\r\n\x1a\n": "an HDF5 file (.h5/.mat v7.3); export its spike array to .npy",
    b"MATLAB": "a MATLAB .mat file; export its spike array to .npy",
    b"%PDF": "a PDF document",
    b"RIFF": "a RIFF (AVI/WAV/WebP) file",
    b"\x1a\x45\xdf\xa3": "a Matroska/WebM video",
    b"OggS": "an Ogg file",
    b"\x1f\x8b\x08": "a gzip archive; decompress it first",
    b"7z\xbc\xaf\x27\x1c": "a 7z archive; extract it first",
    b"BZh": "a bzip2 archive; decompress it first",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"\xf0\xf0\xf1\xf1": "a raw 1920x1080 camera dump (frame header F0 F0 F1 F1), which spk2vid cannot decode "
                          "yet; export it to .dat with the camera software",
}


@dataclass
class SpikeRecording:
    """An opened spike stream. Use `frames(start, stop)`; close with `close()` or `with`."""

    path: Path
    layout: str
    height: int
    width: int
    num_frames: int
    resolution_source: str
    flip: bool
    file_size: int
    leftover_bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    _read: Callable[[int, int], np.ndarray] = field(default=None, repr=False)
    _close: Callable[[], None] = field(default=lambda: None, repr=False)

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Spike frames `start..stop-1` as an upright `(n, H, W)` uint8 array of 0/1."""
        if not 0 <= start <= stop <= self.num_frames:
            raise IndexError(f"frames {start}..{stop} outside 0..{self.num_frames}")
        out = self._read(start, stop)
        return out[:, ::-1] if self.flip else out

    def close(self) -> None:
        self._close()

    def __enter__(self) -> SpikeRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_config(directory: Path) -> dict:
    """The `config.yaml` (flat `key: value` lines) or `config.json` in `directory`, or {}."""
    for name in CONFIG_NAMES:
        if (Path(directory) / name).is_file():
            return read_config_file(Path(directory) / name)
    return {}


def read_config_file(path: Path) -> dict:
    """A config file's keys; an `InputError` naming the file when it is binary, garbage or not a mapping."""
    fix = "fix or remove it, or pass --height/--width"
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text config file (binary data); {fix}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read the config file ({err.strerror}); {fix}") from None
    if "\0" in text:
        raise InputError(f"{path}: not a text config file (binary data); {fix}")
    if path.suffix == ".json":
        try:
            config = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            raise InputError(f"{path}: not valid JSON ({' '.join(str(err).split())}); {fix}") from None
        if not isinstance(config, dict):
            raise InputError(f"{path}: must hold a JSON object such as {{\"spike_h\": 250, \"spike_w\": 400}}, "
                             f"got {type(config).__name__}; {fix}")
        return config
    config = {}
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0]
        key, sep, value = content.partition(":")
        if sep and key.strip() and not content[0].isspace():
            config[key.strip()] = _parse_scalar(value.strip())
        elif content.strip() and not content[0].isspace() and content.strip() not in ("---", "...") \
                and not content.startswith("-"):
            raise InputError(f"{path}: line {number} is not 'key: value' YAML; {fix}")
    return config


def find_config(directory: Path, levels: int = CONFIG_LEVELS) -> tuple[Path, int, int] | None:
    """The nearest config file giving `spike_h`/`spike_w` in `directory` or up to `levels` folders above,
    as (path, height, width). Config files without those keys are passed over; a broken one is refused."""
    directory = Path(directory).absolute()
    for folder in [directory, *directory.parents][:levels + 1]:
        for name in CONFIG_NAMES:
            path = folder / name
            if not path.is_file():
                continue
            config = read_config_file(path)
            if "spike_h" in config or "spike_w" in config:
                return path, _dimension(path, config, "spike_h"), _dimension(path, config, "spike_w")
    return None


def _dimension(path: Path, config: dict, key: str) -> int:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        shown = "missing" if value is None else repr(value)
        raise InputError(f"{path}: {key} must be a positive whole number of pixels, got {shown}; "
                         "fix the config file or pass --height/--width")
    return value


def _parse_scalar(text: str) -> int | float | str:
    text = text.strip("'\"")
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def write_config(directory: Path, height: int, width: int, **extra: object) -> Path:
    """Write `config.yaml` with `spike_h`/`spike_w` (and any extra keys) into `directory`."""
    lines = [f"spike_h: {height}", f"spike_w: {width}"] + [f"{k}: {v}" for k, v in extra.items()]
    path = Path(directory) / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def pack_frames(frames: np.ndarray, flip: bool = True) -> bytes:
    """Pack upright `(T, H, W)` 0/1 frames into `.dat` bytes (LSB first, bottom-up if `flip`)."""
    frames = np.asarray(frames, dtype=np.uint8)
    if flip:
        frames = frames[:, ::-1]
    flat = frames.reshape(frames.shape[0], -1)
    return np.packbits(flat, axis=1, bitorder="little").tobytes()


def unpack_frames(data: np.ndarray, height: int, width: int) -> np.ndarray:
    """Unpack `(n, frame_bytes)` `.dat` bytes into `(n, H, W)` 0/1 frames in storage row order."""
    bits = np.unpackbits(data, axis=1, count=height * width, bitorder="little")
    return bits.reshape(-1, height, width)


def write_dat(path: Path, chunks: Iterable[np.ndarray], flip: bool = True) -> int:
    """Write chunks of upright `(T, H, W)` frames to a `.dat` file; returns the frame count."""
    count = 0
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(pack_frames(chunk, flip))
            count += len(chunk)
    return count


def open_recording(
    path: str | Path,
    *,
    height: int | None = None,
    width: int | None = None,
    layout: str = "auto",
    flip: bool | None = None,
    axes: str | None = None,
    allow_truncated: bool = False,
) -> SpikeRecording:
    """Open a spike recording for streamed reading.

    `layout` is "dat", "raw416" (400-wide camera dumps with 416-bit rows), "packet1000" (1000x1000
    camera packets), "array" (.npy/.npz) or "auto" (by suffix). `flip=None` takes the format's
    convention: `.dat`/raw flip (rows stored bottom-up), arrays do not. Resolution of packed files
    comes from `height`/`width`, else a config file beside the recording, else 250x400. Raises
    `InputError` with a one-line fix.
    """
    path = Path(path)
    if layout not in LAYOUTS:
        raise InputError(f"{path}: unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    if axes is not None and axes not in AXES:
        raise InputError(f"{path}: unknown --axes {axes!r}; use thw or hwt")
    if (height is None) != (width is None):
        raise InputError(f"{path}: give both --height and --width, or neither")
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; pass a spike recording (.dat, .npy, .npz)")
    if layout == "auto":
        layout = "array" if path.suffix.lower() in (".npy", ".npz") else "dat"
    try:
        if layout == "array":
            return _open_array(path, height, width, bool(flip), axes)
        return _open_packed(path, layout, height, width, True if flip is None else flip, allow_truncated)
    except PermissionError:
        raise InputError(f"{path}: permission denied; check the file's read permission") from None
    except MemoryError:
        raise InputError(f"{path}: the array it declares does not fit in memory; is the file corrupt?") from None
    except (OSError, ValueError, EOFError) as err:
        raise InputError(f"{path}: cannot read ({_one_line(err)}); is it a spike recording?") from None


def _resolution(path: Path, fd: int, size: int, height: int | None,
                width: int | None) -> tuple[int, int, str, list[str]]:
    """(height, width, where they came from, warnings) for a `.dat`: flags, config file or content."""
    if height is not None:
        if height <= 0 or width <= 0:
            raise InputError(f"{path}: --height/--width must be positive, got {height}x{width}")
        return height, width, "command line", []
    found = find_config(path.parent)
    if found is not None:
        config, height, width = found
        scores = sensor_scores(fd, size, _fitting_sensors(size, (height, width)))
        winner = _clear_winner(scores)
        warnings = []
        if winner not in (None, (height, width)):
            warnings.append(f"{path}: {config} says {height}x{width}, but the content looks like "
                            f"{winner[0]}x{winner[1]} ({_evidence(scores)}); check it or pass --height/--width")
        return height, width, f"config file {config}", warnings
    default = (DEFAULT_HEIGHT, DEFAULT_WIDTH)
    fits = _fitting_sensors(size, default)
    if size % _frame_bytes(*default) or len(fits) == 1:
        return *default, "default (no config file; pass --height/--width)", []
    scores = sensor_scores(fd, size, fits)
    winner = _clear_winner(scores)
    if winner is None:
        sizes = " or ".join(f"--height {h} --width {w}" for h, w in fits)
        raise InputError(f"{path}: no config file, and {size} bytes fits several sensors that the content does not "
                         f"tell apart ({_evidence(scores)}); pass {sizes}, or add a config.yaml")
    return *winner, f"file content, no config file ({_evidence(scores)}; pass --height/--width to override)", []


def _frame_bytes(height: int, width: int) -> int:
    return -(-height * width // 8)


def _fitting_sensors(size: int, given: tuple[int, int]) -> list[tuple[int, int]]:
    """`given` and the known landscape sensor sizes whose whole frames fit `size` bytes exactly."""
    fits = [given] + sorted(s for s in KNOWN_SENSORS if s[0] <= s[1] and s != given and size % _frame_bytes(*s) == 0)
    return fits if len(fits) > 1 else [given]


def sensor_scores(fd: int, size: int, sensors: list[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """For each (H, W): the correlation of vertically neighbouring pixels' firing rates over the first
    `SAMPLE_BYTES` of the file read at that size (high for the true size, near 0 for a wrong width).
    Empty for a single candidate (nothing to compare)."""
    if len(sensors) < 2:
        return {}
    sample = np.frombuffer(os.pread(fd, min(size, SAMPLE_BYTES), 0), np.uint8)
    scores = {}
    for height, width in sensors:
        frame_bytes = _frame_bytes(height, width)
        frames = len(sample) // frame_bytes
        if frames == 0:
            scores[(height, width)] = 0.0
            continue
        per_chunk = max(1, 2**23 // (height * width))
        counts = np.zeros(height * width, np.int64)
        for first in range(0, frames, per_chunk):
            chunk = sample[first * frame_bytes:min(first + per_chunk, frames) * frame_bytes].reshape(-1, frame_bytes)
            counts += np.unpackbits(chunk, axis=1, count=height * width, bitorder="little").sum(axis=0, dtype=np.int64)
        rates = counts.reshape(height, width).astype(np.float64)
        upper, lower = rates[:-1].ravel(), rates[1:].ravel()
        spread = upper.std() * lower.std()
        scores[(height, width)] = float(((upper - upper.mean()) * (lower - lower.mean())).mean() / spread) \
            if spread > 0 else 0.0
    return scores


def _clear_winner(scores: dict[tuple[int, int], float]) -> tuple[int, int] | None:
    """The size whose score is high and clearly ahead of the others, if any."""
    if not scores:
        return None
    ranked = sorted(scores, key=scores.get, reverse=True)
    best = scores[ranked[0]]
    if best >= MIN_CORRELATION and best - scores[ranked[1]] >= MIN_LEAD:
        return ranked[0]
    return None


def _evidence(scores: dict[tuple[int, int], float]) -> str:
    return "vertical neighbour correlation " + ", ".join(f"{v:.2f} at {h}x{w}" for (h, w), v in scores.items())


def _foreign(head: bytes) -> str | None:
    """What kind of non-spike file starts with `head`, if a known one."""
    for magic, what in FOREIGN_MAGIC.items():
        if head.startswith(magic):
            return what
    return "an MP4/MOV video" if head[4:8] == b"ftyp" else None


def _sniff_foreign(path: Path, fd: int) -> None:
    what = _foreign(os.pread(fd, 8, 0))
    if what is not None:
        raise InputError(f"{path}: this is {what}, not a spike stream")


def _open_packed(
    path: Path, layout: str, height: int | None, width: int | None, flip: bool, allow_truncated: bool
) -> SpikeRecording:
    if layout == "raw416":
        height, width = (height, width) if height is not None else (DEFAULT_HEIGHT, DEFAULT_WIDTH)
        source = "command line" if height != DEFAULT_HEIGHT or width != DEFAULT_WIDTH else "raw416 default"
        if width > RAW416_ROW_BITS:
            raise InputError(f"{path}: raw416 rows hold at most 416 pixels, got --width {width}")
        frame_bytes = height * RAW416_ROW_BITS // 8
    elif layout == "packet1000":
        if height is not None and (height, width) != (PACKET_SIDE, PACKET_SIDE):
            raise InputError(f"{path}: packet1000 dumps are 1000x1000, got --height/--width {height}x{width}; "
                             "drop them or choose another --layout")
        height = width = PACKET_SIDE
        source = "packet1000 sensor"
        frame_bytes = PACKET_FRAME_BYTES
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty file (0 bytes); nothing to read")
    fd = os.open(path, os.O_RDONLY)
    try:
        _sniff_foreign(path, fd)
        warnings = []
        if layout == "dat":
            height, width, source, warnings = _resolution(path, fd, size, height, width)
            frame_bytes = _frame_bytes(height, width)
        frames, leftover = divmod(size, frame_bytes)
        if leftover:
            detail = (f"{size} bytes is not a whole number of {frame_bytes}-byte {height}x{width} frames "
                      f"({leftover} bytes left over)")
            if not allow_truncated or frames == 0:
                raise InputError(f"{path}: {detail}; {_size_hint(size)}")
            warnings.append(f"{path}: {detail}; dropped the partial last frame")
    except BaseException:
        os.close(fd)
        raise

    def read(start: int, stop: int) -> np.ndarray:
        data = os.pread(fd, (stop - start) * frame_bytes, start * frame_bytes)
        if len(data) != (stop - start) * frame_bytes:
            raise _shrunk(path, size)
        raw = np.frombuffer(data, dtype=np.uint8).reshape(stop - start, frame_bytes)
        if layout == "raw416":
            return unpack_frames(raw, height, RAW416_ROW_BITS)[:, :, :width]
        if layout == "packet1000":
            frames = _assemble_packets(path, raw, start)
            return frames[:, :, ::-1] if flip else frames  # with the vertical flip: rotated 180 degrees
        return unpack_frames(raw, height, width)

    return SpikeRecording(path, layout, height, width, frames, source, flip, size, leftover,
                          warnings, read, lambda: os.close(fd))


def _assemble_packets(path: Path, raw: np.ndarray, first_frame: int) -> np.ndarray:
    """packet1000 frames `(n, 128000)` bytes -> `(n, 1000, 1000)` in storage order, packets placed by
    their line and channel numbers; a frame whose headers are not each line and half once is refused."""
    packets = raw.reshape(len(raw), 2 * PACKET_SIDE, PACKET_BYTES)
    word = packets[:, :, -2].astype(np.uint16) | (packets[:, :, -1].astype(np.uint16) << 8)
    line, channel = (word >> 4) & 0x3FF, word >> 14
    slot = np.where((line < PACKET_SIDE) & (channel < 2), 2 * line.astype(np.int64) + channel, -1)
    order = np.argsort(slot, axis=1, kind="stable")
    bad = np.flatnonzero((np.take_along_axis(slot, order, axis=1) != np.arange(2 * PACKET_SIDE)).any(axis=1))
    if bad.size:
        raise InputError(f"{path}: frame {first_frame + bad[0]} does not hold each of 1000 lines x 2 halves once "
                         "(packet headers); this is not a 1000x1000 packet dump, check --layout")
    ordered = np.take_along_axis(packets, order[:, :, None], axis=1)
    bits = np.unpackbits(ordered, axis=2, count=PACKET_PIXELS, bitorder="little")
    return bits.reshape(len(raw), PACKET_SIDE, PACKET_SIDE)


def _shrunk(path: Path, size: int) -> InputError:
    return InputError(f"{path}: the file shrank while being read (was {size} bytes, now {_size(path)}); "
                      "another process truncated or rewrote it: let it finish and run again")


def _size(path: Path) -> str:
    try:
        return f"{path.stat().st_size} bytes"
    except OSError:
        return "gone"


def _size_hint(size: int) -> str:
    """What to try for a packed file whose size fits no whole number of frames."""
    fits = [f"--height {h} --width {w}" for h, w in sorted(KNOWN_SENSORS)
            if h <= w and size % _frame_bytes(h, w) == 0]
    fits += [f"--layout {layout}" for layout, frame_bytes in
             (("raw416", DEFAULT_HEIGHT * RAW416_ROW_BITS // 8), ("packet1000", PACKET_FRAME_BYTES))
             if size % frame_bytes == 0]
    fix = f"it fits whole frames with {' or '.join(fits)}" if fits else "check --height/--width"
    return f"{fix}, or pass --allow-truncated"


def _open_array(path: Path, height: int | None, width: int | None, flip: bool, axes: str | None) -> SpikeRecording:
    arr = _load_array(path)
    if arr.ndim != 3:
        raise InputError(f"{path}: expected a 3-D spike array (T,H,W) or (H,W,T), got shape {arr.shape}")
    if arr.dtype.kind not in "biu":
        raise InputError(f"{path}: spike arrays hold 0/1 integers or booleans, got dtype {arr.dtype}")
    if 0 in arr.shape:
        raise InputError(f"{path}: the array has an empty dimension (shape {arr.shape}); nothing to read")
    axes, how = _guess_axes(arr.shape, height, width, axes)
    num_frames = arr.shape[2] if axes == "hwt" else arr.shape[0]
    h, w = (arr.shape[0], arr.shape[1]) if axes == "hwt" else (arr.shape[1], arr.shape[2])
    size = path.stat().st_size

    def read(start: int, stop: int) -> np.ndarray:
        if isinstance(arr, np.memmap) and os.stat(path).st_size < size:  # reading a cut map would crash (SIGBUS)
            raise _shrunk(path, size)
        part = np.moveaxis(arr[:, :, start:stop], 2, 0) if axes == "hwt" else arr[start:stop]
        _check_values(path, part)
        return np.array(part, dtype=np.uint8, order="C")  # a writable copy, never a view of the file

    _check_values(path, arr[..., :64] if axes == "hwt" else arr[:64])
    return SpikeRecording(path, "array", h, w, num_frames, f"array shape {arr.shape}, axes {axes} ({how})",
                          flip, size, _read=read)


def _load_array(path: Path) -> np.ndarray:
    """The array of a `.npy` (memory-mapped) or `.npz` (loaded: zip members cannot be mapped), told
    apart by content, not by name."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x93NUMPY"):
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if not head.startswith(b"PK\x03\x04"):
        what = _foreign(head) or ("an empty file" if not head else "not a .npy or .npz array")
        raise InputError(f"{path}: this is {what}, not a spike array; check the file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            key = _pick_npz_key(path, archive.files)
            arr = archive[key]
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError) as err:
        raise InputError(f"{path}: corrupt .npz archive ({_one_line(err)}); re-export or re-download it") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: the archive member {key!r} is not a numpy array; save the spikes with np.savez")
    return arr


def _check_values(path: Path, frames: np.ndarray) -> None:
    """Refuse values other than 0 and 1 (a -1 from int8 would read as 255)."""
    if frames.dtype != bool and frames.size and (int(frames.max()) > 1 or int(frames.min()) < 0):
        raise InputError(f"{path}: values outside 0 and 1 (from {int(frames.min())} to {int(frames.max())}); "
                         "a spike array holds only 0 and 1")


def _one_line(err: BaseException) -> str:
    """An exception's message on one line, at most 160 characters."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _pick_npz_key(path: Path, keys: list[str]) -> str:
    if len(keys) == 1:
        return keys[0]
    for key in ("spk", "spike", "spikes", "arr_0"):
        if key in keys:
            return key
    raise InputError(f"{path}: cannot tell which array holds the spikes among {keys}; save it alone")


def _guess_axes(shape: tuple[int, ...], height: int | None, width: int | None, axes: str | None) -> tuple[str, str]:
    if axes:
        return axes, "--axes"
    if height is not None:
        if shape[1:] == (height, width):
            return "thw", "matched --height/--width"
        if shape[:2] == (height, width):
            return "hwt", "matched --height/--width"
    if shape[:2] in KNOWN_SENSORS and shape[1:] not in KNOWN_SENSORS:
        return "hwt", "guessed from a known sensor size; pass --axes to override"
    return "thw", "guessed; pass --axes hwt if time is the last axis"
