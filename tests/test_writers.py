"""Writers: read-back of every format, sidecars, atomic replacement, and every way a write can fail."""

import csv
import errno
import os
import subprocess
import sys
import textwrap

import imageio.v2 as imageio
import numpy as np
import pytest
import tifffile
from io_helpers import REPO, limit_file_size, listing

from spk2vid_cli.errors import OutputError, UsageError
from spk2vid_cli.atomic import partial_name
from spk2vid_cli.writers import FrameInfo, open_writer, output_complete, quantize


def gradient_frames(count: int, height: int = 6, width: int = 10) -> list[np.ndarray]:
    ramp = np.linspace(0, 1, height * width, dtype=np.float32).reshape(height, width)
    return [np.roll(ramp, k, axis=1) for k in range(count)]


def info(k: int) -> FrameInfo:
    return FrameInfo(k, 10 + 10 * k, (10 + 10 * k) * 25.0)


def write_all(output, frames, **options):
    with open_writer(output, metadata={"source": "test.dat", "spike_rate_hz": 40000.0}, **options) as writer:
        for k, frame in enumerate(frames):
            writer.write(frame, info(k))
    return writer


def read_sidecar(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_mp4_reads_back_with_frame_count_and_even_size(tmp_path):
    output = tmp_path / "clip.mp4"
    write_all(output, gradient_frames(7, height=7, width=9), fps=24, crf=20)
    reader = imageio.get_reader(output)
    assert reader.count_frames() == 7
    assert reader.get_data(0).shape[:2] == (8, 10)  # odd sizes padded to even for yuv420p
    assert reader.get_meta_data()["fps"] == 24
    rows = read_sidecar(tmp_path / "clip.mp4.frames.csv")
    assert [int(r["centre_frame"]) for r in rows] == [10 + 10 * k for k in range(7)]
    assert float(rows[3]["time_us"]) == pytest.approx(40 * 25.0)


@pytest.mark.parametrize("bit_depth, dtype", [(8, np.uint8), (16, np.uint16), (32, np.float32)])
def test_tiff_stack_shape_dtype_values_and_metadata(tmp_path, bit_depth, dtype):
    output = tmp_path / "stack.tiff"
    frames = gradient_frames(5)
    write_all(output, frames, bit_depth=bit_depth)
    with tifffile.TiffFile(output) as tif:
        assert tif.is_bigtiff
        data = tif.asarray()
        meta = tif.shaped_metadata[0]
    assert data.shape == (5, 6, 10) and data.dtype == dtype
    np.testing.assert_array_equal(data, np.stack([quantize(f, bit_depth) for f in frames]))
    assert meta["centre_frame"] == [10, 20, 30, 40, 50]
    assert meta["time_us"] == [250.0, 500.0, 750.0, 1000.0, 1250.0]
    assert meta["spike_rate_hz"] == 40000.0 and meta["source"] == "test.dat"


@pytest.mark.parametrize("bit_depth, dtype", [(8, np.uint8), (16, np.uint16)])
def test_png_directory_count_and_values(tmp_path, bit_depth, dtype):
    output = tmp_path / "frames"
    frames = gradient_frames(4)
    write_all(output, frames, bit_depth=bit_depth)
    names = sorted(p.name for p in output.glob("*.png"))
    assert names == [f"frame_{k:06d}.png" for k in range(4)]
    second = imageio.imread(output / names[1])
    assert second.dtype == dtype
    np.testing.assert_array_equal(second, quantize(frames[1], bit_depth))
    assert len(read_sidecar(output / "frames.csv")) == 4


def test_png_pattern_numbers_files_and_names_the_sidecar(tmp_path):
    write_all(tmp_path / "clip_%04d.png", gradient_frames(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.frames.csv", "clip_0000.png", "clip_0001.png",
                                                         "clip_0002.png"]


@pytest.mark.parametrize("name", ["a.mp4", "a.tif", "a_%03d.png", "dir"])
def test_existing_output_is_refused_and_left_intact(tmp_path, name):
    write_all(tmp_path / name, gradient_frames(2))
    before = listing(tmp_path)
    with pytest.raises(OutputError, match="already exists.*--overwrite"):
        open_writer(tmp_path / name)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("name", ["a.mp4", "a.tif", "a_%03d.png", "dir"])
def test_overwrite_replaces_only_when_complete(tmp_path, name):
    write_all(tmp_path / name, gradient_frames(4))
    before = listing(tmp_path)
    writer = open_writer(tmp_path / name, overwrite=True)
    for k, frame in enumerate(gradient_frames(2, height=4, width=4)):
        writer.write(frame, info(k))
        assert {k: v for k, v in listing(tmp_path).items() if ".partial-" not in k} == before
    writer.close()
    after = listing(tmp_path)
    assert after != before and not any(".partial-" in k for k in after)
    assert sum(k.endswith(".png") for k in after) in (0, 2)  # PNG: the 4-frame sequence's extra frames are gone


@pytest.mark.parametrize("name", ["a.mp4", "a.tif", "a_%03d.png", "new_dir"])
def test_exception_inside_the_writer_leaves_nothing(tmp_path, name):
    with pytest.raises(KeyboardInterrupt):
        with open_writer(tmp_path / name) as writer:
            for k, frame in enumerate(gradient_frames(3)):
                writer.write(frame, info(k))
            raise KeyboardInterrupt
    assert listing(tmp_path) == {} and list(tmp_path.iterdir()) == []


def test_closing_without_frames_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(OutputError, match="no frames"):
        open_writer(tmp_path / "a.tif").close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, bit_depth, message", [
    ("a.mp4", 16, "8-bit only"), ("a_%03d.png", 32, "needs a .tif"), ("a.avi", 8, "unknown output format"),
    ("a.tif", 12, "must be 8, 16 or 32"),
])
def test_unsupported_combinations_are_one_line_errors(tmp_path, name, bit_depth, message):
    with pytest.raises(UsageError, match=message) as err:
        open_writer(tmp_path / name, bit_depth=bit_depth)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["a.mp4", "a.tif", "a_%03d.png", "dir"])
def test_path_below_a_regular_file_is_refused(tmp_path, name):
    (tmp_path / "file").write_text("keep")
    with pytest.raises(OutputError, match="not a directory"):
        open_writer(tmp_path / "file" / name)
    assert listing(tmp_path) == {"file": b"keep"}


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(OutputError, match="missing does not exist"):
        open_writer(tmp_path / "missing" / "deeper" / "a.mp4")


@pytest.mark.parametrize("name", ["a.mp4", "a.tif", "a_%03d.png", "dir"])
def test_unwritable_directory_is_refused(readonly_dir, name):
    with pytest.raises(OutputError, match="cannot write there") as err:
        open_writer(readonly_dir / name)
    assert "\n" not in str(err.value)
    assert list(readonly_dir.iterdir()) == []


DISK_FULL_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    import numpy as np
    from spk2vid_cli.errors import OutputError
    from spk2vid_cli.writers import FrameInfo, open_writer
    rng = np.random.default_rng(0)
    try:
        with open_writer(Path(sys.argv[1]), bit_depth=int(sys.argv[2]), overwrite=True) as writer:
            for k in range(40):
                writer.write(rng.random((256, 256), dtype=np.float32), FrameInfo(k, k, k))
    except OutputError as err:
        print(err)
        sys.exit(3)
""")


@pytest.mark.parametrize("name, bit_depth", [("a.mp4", 8), ("a.tif", 16), ("a_%03d.png", 16)])
def test_disk_full_is_one_line_and_keeps_the_old_output(tmp_path, name, bit_depth):
    target = tmp_path / name.replace("%03d", "000")
    target.write_bytes(b"old output")
    result = subprocess.run([sys.executable, "-c", DISK_FULL_SCRIPT, str(tmp_path / name), str(bit_depth)],
                            cwd=REPO, capture_output=True, text=True, preexec_fn=limit_file_size(100_000),
                            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 3, result.stderr
    assert result.stdout.count("\n") == 1 and "disk full" in result.stdout
    assert listing(tmp_path) == {target.name: b"old output"}


# --- kills, full disks and concurrent writers (issue 11) ----------------------------------------

class FullDiskFile:
    """A sidecar whose buffered rows cannot be flushed: closing raises ENOSPC, as on a full disk."""

    def __init__(self, real):
        self.real = real

    def write(self, text):
        return self.real.write(text)

    def close(self):
        self.real.close()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("name", ["a.mp4", "a.tif", "dir"])
def test_cleanup_on_a_full_disk_never_raises_and_leaves_nothing(tmp_path, name):
    writer = open_writer(tmp_path / name)
    for k, frame in enumerate(gradient_frames(2)):
        writer.write(frame, info(k))
    writer._sidecar_file = FullDiskFile(writer._sidecar_file)
    with pytest.raises(OutputError, match="disk full"):
        writer.close()
    writer.abort()  # a second cleanup is harmless too
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["a.mp4", "a.tif", "a_%03d.png", "dir"])
def test_a_second_writer_of_the_same_output_is_refused(tmp_path, name):
    first = open_writer(tmp_path / name)
    with pytest.raises(OutputError, match="another spk2vid process is writing it"):
        open_writer(tmp_path / name)
    for k, frame in enumerate(gradient_frames(2)):
        first.write(frame, info(k))
    first.close()
    with pytest.raises(OutputError, match="already exists"):
        open_writer(tmp_path / name)
    assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name]


@pytest.mark.parametrize("name, appears", [
    ("a.mp4", "a.mp4"), ("a.tif", "a.tif"), ("a_%03d.png", "a_000.png"), ("dir", "dir/frame_000000.png"),
])
def test_an_output_that_appears_meanwhile_is_kept(tmp_path, name, appears):
    writer = open_writer(tmp_path / name)
    for k, frame in enumerate(gradient_frames(2)):
        writer.write(frame, info(k))
    (tmp_path / appears).write_bytes(b"someone else's")  # another program finished first
    with pytest.raises(OutputError, match="appeared while this run was writing"):
        writer.close()
    assert {k: v for k, v in listing(tmp_path).items()} == {appears: b"someone else's"}
    assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_partials_of_dead_processes_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    pid = dead_pid()
    monkeypatch.setattr(os, "getpid", lambda: pid)
    stale = [partial_name(out / "frame_.png"), partial_name(out / "frames.csv"), partial_name(tmp_path / "a.mp4", ".mp4")]
    monkeypatch.setattr(os, "getpid", lambda: os.getppid())  # a process that is alive
    live = partial_name(out / "frame_.png")
    monkeypatch.undo()
    stale[0].mkdir()
    (stale[0] / "frame_000000.png").write_bytes(b"x")
    for path in (*stale[1:], live):
        path.write_bytes(b"x")
    writer = write_all(out, gradient_frames(2))
    assert sorted(writer.stale_removed) == sorted(stale[:2])
    assert sorted(p.name for p in out.iterdir()) == sorted(["frame_000000.png", "frame_000001.png", "frames.csv",
                                                           live.name])
    write_all(tmp_path / "a.mp4", gradient_frames(2))
    assert not stale[2].exists()


def test_only_a_complete_output_counts_as_existing(tmp_path):
    out = tmp_path / "pngs"
    assert not output_complete(out)
    out.mkdir()
    partial_name(out / "frame_.png").mkdir()  # what a kill before the commit leaves
    assert not output_complete(out)
    write_all(tmp_path / "full", gradient_frames(3))
    assert output_complete(tmp_path / "full")
    (tmp_path / "full" / "frame_000002.png").unlink()  # a kill during the commit
    assert not output_complete(tmp_path / "full")
    (tmp_path / "full" / "frames.csv").unlink()
    assert not output_complete(tmp_path / "full")
    write_all(tmp_path / "a.tif", gradient_frames(2))
    assert output_complete(tmp_path / "a.tif") and not output_complete(tmp_path / "b.tif")
