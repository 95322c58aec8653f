"""Folder conversion: mirrored names, broken files skipped and reported, resuming, exact shards."""

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from io_helpers import run_cli, write_recording

from spk2vid_cli.batch import find_recordings, output_for, parse_shard, shard
from spk2vid_cli.commands.options import ReaderFlags
from spk2vid_cli.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, InputError


@pytest.fixture
def folder(tmp_path) -> Path:
    """in/a.dat, in/b.dat, in/sub/c.dat (good), in/empty.dat, in/sub/short.dat (broken), in/notes.txt."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    for name in ("a.dat", "b.dat", "sub/c.dat"):
        write_recording(root / name, num_frames=45, height=4, width=8)
    (root / "empty.dat").write_bytes(b"")
    (root / "sub" / "short.dat").write_bytes(b"\x00" * 5)  # not a whole 4x8 frame (4 bytes)
    (root / "notes.txt").write_text("not a recording")
    return root


def convert_folder(capsys, folder, out, *extra):
    return run_cli(capsys, "convert", folder, "-o", out, "--method", "tfp", "--scale", 2, *extra)


def test_recursive_batch_mirrors_names_skips_broken_files_and_fails_at_the_end(folder, tmp_path, capsys):
    out = tmp_path / "out"
    code, summary, err = convert_folder(capsys, folder, out, "--recursive")
    assert code == EXIT_FAILURE
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.mp4")) == ["a.mp4", "b.mp4", "sub/c.mp4"]
    assert imageio.get_reader(out / "sub" / "c.mp4").count_frames() == 3
    assert "empty.dat" in err and "short.dat" in err
    assert "3 converted, 0 skipped, 2 failed" in summary
    assert not [p for p in out.rglob("*") if ".partial" in p.name]


def test_without_recursive_subfolders_are_left_alone(folder, tmp_path, capsys):
    out = tmp_path / "out"
    code, summary, _ = convert_folder(capsys, folder, out, "--format", "tif")
    assert code == EXIT_FAILURE  # empty.dat
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".tif") == ["a.tif", "b.tif"]
    assert "2 converted, 0 skipped, 1 failed" in summary


def test_skip_existing_resumes_and_all_good_files_exit_zero(folder, tmp_path, capsys):
    (folder / "empty.dat").unlink()
    (folder / "sub" / "short.dat").unlink()
    out = tmp_path / "out"
    assert convert_folder(capsys, folder, out, "-r", "--format", "png")[0] == EXIT_OK
    assert len(list((out / "sub" / "c").glob("frame_*.png"))) == 3
    (out / "b").rename(tmp_path / "b-moved")
    code, summary, _ = convert_folder(capsys, folder, out, "-r", "--format", "png", "--skip-existing")
    assert code == EXIT_OK and "1 converted, 2 skipped, 0 failed" in summary
    assert (out / "b" / "frames.csv").exists()


def test_shards_partition_the_folder_exactly(folder, tmp_path, capsys):
    everything = find_recordings(folder, recursive=True)
    assert len(everything) == 5
    for count in (1, 2, 3, 7):
        parts = [shard(everything, index, count) for index in range(count)]
        assert sorted(sum(parts, [])) == everything
        assert len(set().union(*map(set, parts))) == sum(map(len, parts))  # no file in two shards
    (folder / "empty.dat").unlink()
    (folder / "sub" / "short.dat").unlink()
    out = tmp_path / "out"
    for index in range(2):
        assert convert_folder(capsys, folder, out, "-r", "--format", "tif", "--shard", f"{index}/2")[0] == EXIT_OK
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.tif")) == ["a.tif", "b.tif", "sub/c.tif"]


def test_output_names(tmp_path):
    source = tmp_path / "in" / "x" / "rec.v2.dat"
    assert output_for(source, tmp_path / "in", tmp_path / "o", "mp4") == tmp_path / "o" / "x" / "rec.v2.mp4"
    assert output_for(source, tmp_path / "in", tmp_path / "o", "png") == tmp_path / "o" / "x" / "rec.v2"


@pytest.mark.parametrize("text", ["2/2", "-1/3", "1", "a/b", "1/0"])
def test_bad_shard_specs(text):
    with pytest.raises(InputError, match="--shard"):
        parse_shard(text)


def test_good_shard_spec():
    assert parse_shard("3/8") == (3, 8)


def test_corrupt_files_and_bad_configs_do_not_end_the_batch(folder, tmp_path, capsys, monkeypatch):
    (folder / "empty.dat").unlink()
    (folder / "sub" / "short.dat").unlink()
    np.savez(folder / "bad.npz", spk=np.ones((30, 4, 8), np.uint8))
    data = bytearray((folder / "bad.npz").read_bytes())
    data[data.index(b"\x93NUMPY") + 200] ^= 0xFF  # a bad CRC
    (folder / "bad.npz").write_bytes(bytes(data))
    (folder / "odd").mkdir()
    (folder / "odd" / "d.dat").write_bytes(bytes(45 * 4))
    (folder / "odd" / "config.yaml").write_text("spike_h: 0\nspike_w: 8\n")
    real_open = ReaderFlags.open

    def crash_on_b(self, path):
        if path.name == "b.dat":
            raise RuntimeError("a bug")
        return real_open(self, path)

    monkeypatch.setattr(ReaderFlags, "open", crash_on_b)
    out = tmp_path / "out"
    code, summary, err = convert_folder(capsys, folder, out, "-r")
    assert code == EXIT_FAILURE
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.mp4")) == ["a.mp4", "sub/c.mp4"]
    assert "bad.npz" in err and "odd/d.dat" in err and "unexpected RuntimeError: a bug" in err
    assert "2 converted, 0 skipped, 3 failed" in summary


def test_summary_lines_are_never_cut_when_not_a_terminal(folder, tmp_path, capsys):
    name = "a_recording_with_the_long_name_it_had_in_the_field.dat"
    (folder / name).write_bytes(b"")
    code, summary, _ = convert_folder(capsys, folder, tmp_path / "out")
    line = next(line for line in summary.splitlines() if line.startswith(name))
    assert line.endswith("\tempty file (0 bytes); nothing to read") and len(line) > 80


def test_a_folder_with_only_subfolders_hints_at_recursive(folder, tmp_path, capsys):
    for path in folder.glob("*.*"):
        path.unlink()
    code, _, err = convert_folder(capsys, folder, tmp_path / "out")
    assert code == EXIT_USAGE and "pass --recursive" in err


def test_skip_existing_redoes_an_output_left_unfinished(folder, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)  # what a killed run of a PNG batch leaves: frames without frames.csv
    (out / "a" / "frame_000000.png").write_bytes(b"half")
    (folder / "empty.dat").unlink()
    code, summary, _ = convert_folder(capsys, folder, out, "--format", "png", "--skip-existing")
    assert code == EXIT_OK and "2 converted, 0 skipped, 0 failed" in summary
    assert (out / "a" / "frames.csv").exists() and (out / "a" / "frame_000000.png").read_bytes() != b"half"
