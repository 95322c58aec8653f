"""Seeded fuzzing of the readers through the CLI: every mutant of a small `.dat`, `.npz`, `.npy` or
`config.yaml` must give success or one `error:` line with exit code 2, never a traceback."""

import io
import zipfile

import numpy as np
import pytest
from io_helpers import random_frames, run_cli

from spk2vid_cli.errors import EXIT_OK, EXIT_USAGE
from spk2vid_cli.spikes import pack_frames

MUTANTS = 100  # per kind of file
FOREIGN_HEADS = [b"\x89HDF\r\n\x1a\n", b"PK\x03\x04", b"\x93NUMPY\x01\x00", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0",
                 b"GIF89a", b"RIFF\x00\x00\x00\x00AVI ", b"\x00\x00\x00\x18ftypmp42", b"\x1a\x45\xdf\xa3", b"II*\x00",
                 b"\xf0\xf0\xf1\xf1", b"MATLAB 5.0 MAT-file", b"\x1f\x8b\x08\x00"]
DTYPES = [np.uint8, np.int8, np.int16, np.uint16, np.int64, np.float32, np.float64, bool, np.complex64]


def mutate_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Truncate, flip bytes, or put a foreign header in front."""
    kind = rng.integers(4)
    if kind == 0:
        cut = int(rng.integers(len(data) + 1))
        return data[:cut], f"truncated at {cut}"
    if kind == 1:
        out = bytearray(data)
        for position in rng.integers(len(out), size=int(rng.integers(1, 8))):
            out[position] ^= int(rng.integers(1, 256))
        return bytes(out), "flipped bytes"
    if kind == 2:
        head = FOREIGN_HEADS[rng.integers(len(FOREIGN_HEADS))]
        return head + data[len(head):], f"foreign header {head!r}"
    cut = int(rng.integers(min(len(data), 200) + 1))  # the header region, where parsers live
    out = bytearray(data)
    out[:cut] = rng.integers(256, size=cut, dtype=np.uint8).tobytes()
    return bytes(out), f"random first {cut} bytes"


def random_array(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A spike-like array of a random dtype and shape (0-size, 2-D and 4-D included), maybe out of range."""
    ndim = int(rng.choice([2, 3, 3, 3, 4]))
    shape = tuple(int(rng.choice([0, 1, 3, 5, 24, 30])) for _ in range(ndim))
    dtype = DTYPES[rng.integers(len(DTYPES))]
    values = rng.integers(-1, 3, size=shape) if rng.random() < 0.3 else rng.integers(0, 2, size=shape)
    return values.astype(dtype), f"{np.dtype(dtype).name} {shape}"


def npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def check(capsys, what: str, *args) -> None:
    code, _, err = run_cli(capsys, *args)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err, f"{what}: {err}"
    assert code == EXIT_OK or (code == EXIT_USAGE and len(errors) == 1), f"{what}: exit {code}: {err}"


def run_mutant(capsys, tmp_path, path, what: str, index: int) -> None:
    check(capsys, what, "info", path)
    if index % 4 == 0:  # converting reads every frame: a quarter of the mutants go through it too
        check(capsys, what, "convert", path, "-o", tmp_path / "out.tif", "--method", "tfp", "--scale", 1,
              "--window", 3, "--stride", 5, "--overwrite", "-q")


@pytest.mark.parametrize("kind", ["dat", "npy", "npz", "config"])
def test_mutants_never_crash(tmp_path, capsys, kind):
    rng = np.random.default_rng(["dat", "npy", "npz", "config"].index(kind))
    frames = random_frames(30, 6, 10)
    good_dat = pack_frames(frames)
    good_config = b"spike_h: 6\nspike_w: 10\n"
    for index in range(MUTANTS):
        folder = tmp_path / f"m{index}"
        folder.mkdir()
        (folder / "config.yaml").write_bytes(good_config)
        if kind == "dat":
            data, what = mutate_bytes(good_dat, rng)
            path = folder / "rec.dat"
        elif kind == "config":
            data, what = mutate_bytes(good_config, rng) if rng.random() < 0.5 else (
                f"spike_h: {rng.choice(['0', '-6', '6.5', 'x', '1e9', '', '6'])}\n"
                f"spike_w: {rng.choice(['10', '0', '-1', 'null', '[10]', '10'])}\n".encode(), "config values")
            (folder / "config.yaml").write_bytes(data)
            data, path = good_dat, folder / "rec.dat"
        else:
            array, what = random_array(rng) if rng.random() < 0.5 else (frames, "good array")
            data = npz_bytes({"spk": array}) if kind == "npz" else _npy_bytes(array)
            if rng.random() < 0.6:
                data, how = mutate_bytes(data, rng)
                what += ", " + how
            path = folder / f"rec.{kind}"
        path.write_bytes(data)
        run_mutant(capsys, folder, path, f"{kind} mutant {index} ({what})", index)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_npz_oddities(tmp_path, capsys):
    """Archives that no mutation is likely to produce: several arrays, a non-array member, empty."""
    cases = {
        "several": npz_bytes({"a": np.zeros((3, 4, 5), np.uint8), "b": np.ones((3, 4, 5), np.uint8)}),
        "empty": npz_bytes({}),
    }
    member = io.BytesIO()
    with zipfile.ZipFile(member, "w") as archive:
        archive.writestr("spk.npy", b"not an array at all")
    cases["bad member"] = member.getvalue()
    for name, data in cases.items():
        (tmp_path / f"{name}.npz").write_bytes(data)
        check(capsys, name, "info", tmp_path / f"{name}.npz")
