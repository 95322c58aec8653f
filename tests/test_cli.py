"""`spk2vid info` and `spk2vid convert` end to end, the real recordings, and every bad input."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import tifffile
from io_helpers import (
    REAL_MONITOR, REAL_OUTDOOR, error_line, limit_file_size, listing, needs_real, random_frames, run_cli, spawn_cli,
    write_recording,
)

from spk2vid_cli.classical import TFP
from spk2vid_cli.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_OUTPUT, EXIT_TERMINATED, EXIT_USAGE
from spk2vid_cli.spikes import write_dat


@pytest.fixture
def rec(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    write_recording(folder / "rec.dat", num_frames=80, height=6, width=10)
    return folder / "rec.dat"


def info_json(capsys, *args):
    code, out, err = run_cli(capsys, "info", "--json", *args)
    assert code == EXIT_OK, err
    return json.loads(out)


def assert_fails_cleanly(capsys, tmp_path, expected_code, message, *args) -> str:
    """Run a command that must fail: exit code, one error line containing `message`, no file changed."""
    before = listing(tmp_path)
    code, _, err = run_cli(capsys, *args)
    assert code == expected_code, err
    line = error_line(err)
    assert message in line
    assert listing(tmp_path) == before
    return line


# --- info ---------------------------------------------------------------------------------------

@needs_real
def test_info_reports_the_real_recordings(capsys):
    outdoor, monitor = info_json(capsys, REAL_OUTDOOR, REAL_MONITOR)
    assert (outdoor["height"], outdoor["width"], outdoor["frames"]) == (250, 400, 500)
    assert (monitor["height"], monitor["width"], monitor["frames"]) == (250, 250, 200)
    assert round(outdoor["mean_firing_rate"], 3) == 0.220
    assert round(monitor["mean_firing_rate"], 3) == 0.031
    assert outdoor["duration_s"] == pytest.approx(500 / 40000)


def test_info_counts_dead_and_hot_pixels_and_percentiles(tmp_path, capsys):
    frames = random_frames(100, 4, 8, rate=0.5)
    frames[:, 0, 0] = 0  # dead
    frames[:, 1, 1] = 1  # hot
    frames[:3, 2, 2] = 0  # fires in 97% of frames: hot too
    frames[3:, 2, 2] = 1
    write_dat(tmp_path / "rec.dat", [frames])
    (stats,) = info_json(capsys, tmp_path / "rec.dat", "--height", 4, "--width", 8, "--spike-rate", 20000)
    rates = frames.mean(axis=0)
    assert stats["dead_pixels"] == int((rates == 0).sum()) >= 1
    assert stats["hot_pixels"] == int((rates >= 0.95).sum()) >= 2
    assert stats["mean_firing_rate"] == pytest.approx(frames.mean())
    assert stats["rate_percentiles"]["p50"] == pytest.approx(np.percentile(rates, 50))
    assert stats["resolution_source"] == "command line" and stats["duration_s"] == pytest.approx(100 / 20000)


def test_info_table_and_preview(rec, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "info", rec, "--preview", tmp_path / "preview.png")
    assert code == EXIT_OK
    assert "6x10" in out and "config file" in out and "80" in out
    preview = imageio.imread(tmp_path / "preview.png")
    assert preview.shape == (6, 10) and preview.dtype == np.uint8 and preview.max() == 255


@needs_real
def test_info_several_files_gives_a_table_and_a_preview_folder(rec, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "uhsr.npz").symlink_to(REAL_MONITOR)
    code, out, _ = run_cli(capsys, "info", "in/rec.dat", "uhsr.npz", "--preview", "previews")
    assert code == EXIT_OK and "rec.dat" in out and "uhsr.npz" in out
    assert sorted(p.name for p in (tmp_path / "previews").iterdir()) == ["rec.png", "uhsr.png"]


# --- convert ------------------------------------------------------------------------------------

@needs_real
def test_convert_real_recordings_into_all_three_formats(tmp_path, capsys):
    code, _, err = run_cli(capsys, "convert", REAL_OUTDOOR, "-o", tmp_path / "outdoor.mp4", "--method", "tfp",
                           "--scale", 2, "--end", 71)
    assert code == EXIT_OK, err
    assert imageio.get_reader(tmp_path / "outdoor.mp4").count_frames() == 6  # centres 10, 20, .., 60
    assert imageio.get_reader(tmp_path / "outdoor.mp4").get_data(0).shape[:2] == (500, 800)

    code, _, err = run_cli(capsys, "convert", REAL_MONITOR, "-o", tmp_path / "monitor.tif", "--method", "tfi",
                           "--scale", 2, "--bit-depth", 16, "--quiet")
    assert code == EXIT_OK and err == ""
    stack = tifffile.imread(tmp_path / "monitor.tif")
    assert stack.shape == (18, 500, 500) and stack.dtype == np.uint16 and stack.max() > 0

    code, _, err = run_cli(capsys, "convert", REAL_OUTDOOR, "-o", tmp_path / "pngs", "--method", "tfp",
                           "--scale", 1, "--start", 100, "--end", 151)
    assert code == EXIT_OK, err
    assert len(list((tmp_path / "pngs").glob("frame_*.png"))) == 4
    rows = (tmp_path / "pngs" / "frames.csv").read_text().splitlines()
    assert rows[0] == "index,centre_frame,time_us" and rows[1] == "0,110,2750.000"


@pytest.mark.parametrize("method", ["tfp", "tfi"])
def test_convert_a_dat_with_every_classical_method(rec, tmp_path, capsys, method):
    code, _, err = run_cli(capsys, "convert", rec, "-o", tmp_path / "out.tif", "--method", method, "--scale", 4,
                           "--bit-depth", 32, "--exposure", "none", "--window", 11, "--stride", 5)
    assert code == EXIT_OK, err
    stack = tifffile.imread(tmp_path / "out.tif")
    assert stack.shape == (len(range(5, 75, 5)), 24, 40) and stack.dtype == np.float32
    assert 0.1 < stack.mean() < 0.6  # firing rate about 0.3, shown unscaled
    assert method.upper() in err and "wrote" in err


def test_default_method_without_weights_suggests_tfp(rec, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("spk2vid_model.weights.WEIGHTS_DIR", tmp_path / "no-weights")
    line = assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "no network weights for --scale 2", "convert", rec,
                                "-o", tmp_path / "out.mp4", "--scale", 2)
    assert "weights exist for: none" in line and "--method tfp" in line


class FakeNet(TFP):
    """Stands in for spk2vid_cli.net.NetReconstructor: TFP that reports the flags it was given."""

    def __init__(self, scale, model="auto", weights=None, device="auto", precision="auto", tile=0,
                 tile_overlap=16, compile=False, lens_blur=None, both_ways=False, stride=None):
        super().__init__(scale, 21)
        self.description = (f"fake net {model} {device} {precision} tile {tile}/{tile_overlap} compile {compile} "
                            f"blur {lens_blur} both ways {both_ways} stride {stride}")


@pytest.fixture
def fake_net(monkeypatch):
    module = types.ModuleType("spk2vid_cli.net")
    module.NetReconstructor = FakeNet
    monkeypatch.setitem(sys.modules, "spk2vid_cli.net", module)


def test_default_method_is_the_network_when_it_has_weights(rec, tmp_path, capsys, fake_net):
    code, _, err = run_cli(capsys, "convert", rec, "-o", tmp_path / "out.tif", "--model", "lite", "--device", "cpu",
                           "--precision", "fp32", "--tile", 64, "--tile-overlap", 8, "--compile", "--lens-blur", 0.5,
                           "--both-ways", "--stride", 10)
    assert code == EXIT_OK, err
    assert "fake net lite cpu fp32 tile 64/8 compile True blur 0.5 both ways True stride 10" in err
    assert tifffile.imread(tmp_path / "out.tif").shape == (6, 24, 40)


def test_network_rejects_another_window(rec, tmp_path, capsys, fake_net):
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "trained on 21-frame blocks", "convert", rec, "-o",
                         tmp_path / "out.tif", "--method", "net", "--window", 11)


def test_both_ways_is_refused_for_the_classical_methods(rec, tmp_path, capsys):
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "--method tfp already looks both ways: drop --both-ways",
                         "convert", rec, "-o", tmp_path / "out.tif", "--method", "tfp", "--both-ways")


def test_classical_methods_never_import_the_network(rec, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "spk2vid_cli.net", None)  # any import of it now fails
    code, _, err = run_cli(capsys, "convert", rec, "-o", tmp_path / "out.tif", "--method", "tfi")
    assert code == EXIT_OK, err


# --- bad inputs: one-line error, non-zero exit, existing files intact ---------------------------

def test_empty_file(tmp_path, capsys):
    (tmp_path / "empty.dat").write_bytes(b"")
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "empty file", "convert", tmp_path / "empty.dat",
                         "-o", tmp_path / "out.mp4", "--method", "tfp")


def test_truncated_file_is_refused_unless_allowed(rec, tmp_path, capsys):
    with open(rec, "ab") as f:
        f.write(b"\x00\x01\x02")
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "3 bytes left over", "info", rec)
    code, out, err = run_cli(capsys, "info", rec, "--allow-truncated", "--json")
    assert code == EXIT_OK and json.loads(out)[0]["frames"] == 80 and "warning:" in err


def test_wrong_height_and_width(rec, tmp_path, capsys):
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "not a whole number", "convert", rec, "-o",
                         tmp_path / "out.mp4", "--method", "tfp", "--height", 7, "--width", 10)


def test_not_a_spike_file(tmp_path, capsys):
    imageio.imwrite(tmp_path / "photo.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "photo.png").rename(tmp_path / "photo.dat")
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "PNG image", "convert", tmp_path / "photo.dat", "-o",
                         tmp_path / "out.mp4", "--method", "tfp")


def test_unreadable_file(rec, tmp_path, capsys, monkeypatch):
    rec.chmod(0)
    if os.access(rec, os.R_OK):  # root reads anything: refuse this one file the way the kernel would
        real_open = os.open

        def refusing_open(path, flags, *args, **kwargs):
            if Path(path) == rec:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "permission denied", "info", rec)


def test_missing_input_and_bad_flags(rec, tmp_path, capsys):
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "no such file", "info", tmp_path / "nope.dat")
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "--exposure", "convert", rec, "-o", tmp_path / "o.mp4",
                         "--method", "tfp", "--exposure", "bright")
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "--window", "convert", rec, "-o", tmp_path / "o.mp4",
                         "--method", "tfp", "--window", 20)
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "fewer than one block", "convert", rec, "-o",
                         tmp_path / "o.mp4", "--method", "tfp", "--end", 15)
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "8-bit only", "convert", rec, "-o", tmp_path / "o.mp4",
                         "--method", "tfp", "--bit-depth", 16)
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "only when INPUT is a directory", "convert", rec, "-o",
                         tmp_path / "o.mp4", "--method", "tfp", "--shard", "0/2")


def test_output_exists(rec, tmp_path, capsys):
    (tmp_path / "out.mp4").write_bytes(b"precious")
    assert_fails_cleanly(capsys, tmp_path, EXIT_OUTPUT, "--overwrite", "convert", rec, "-o", tmp_path / "out.mp4",
                         "--method", "tfp")
    code, _, err = run_cli(capsys, "convert", rec, "-o", tmp_path / "out.mp4", "--method", "tfp", "--skip-existing")
    assert code == EXIT_OK and "skipped" in err and (tmp_path / "out.mp4").read_bytes() == b"precious"
    code, _, _ = run_cli(capsys, "convert", rec, "-o", tmp_path / "out.mp4", "--method", "tfp", "--overwrite")
    assert code == EXIT_OK and imageio.get_reader(tmp_path / "out.mp4").count_frames() == 6


def test_output_directory_unwritable(rec, readonly_dir, tmp_path, capsys):
    assert_fails_cleanly(capsys, tmp_path, EXIT_OUTPUT, "cannot write there", "convert", rec, "-o",
                         readonly_dir / "out.mp4", "--method", "tfp")
    (tmp_path / "file").write_text("x")
    assert_fails_cleanly(capsys, tmp_path, EXIT_OUTPUT, "not a directory", "convert", rec, "-o",
                         tmp_path / "file" / "out.tif", "--method", "tfp")


@pytest.mark.parametrize("name", ["out.mp4", "out.tif", "out_%04d.png"])
def test_disk_full(tmp_path, name):
    rec = tmp_path / "rec.dat"
    write_recording(rec, num_frames=200, height=160, width=160)
    old = tmp_path / name.replace("%04d", "0000")
    old.write_bytes(b"previous result")
    before = listing(tmp_path)
    bit_depth = 8 if name.endswith("mp4") else 16
    child = spawn_cli("convert", rec, "-o", tmp_path / name, "--method", "tfi", "--scale", 1, "--bit-depth",
                      bit_depth, "--overwrite", preexec_fn=limit_file_size(20_000))
    _, err = child.communicate(timeout=120)
    assert child.returncode == EXIT_OUTPUT, err
    assert "disk full" in error_line(err)
    assert listing(tmp_path) == before


def test_ctrl_c_during_a_write_leaves_no_output(tmp_path):
    rec = tmp_path / "rec.dat"
    write_recording(rec, num_frames=6000, height=48, width=64)
    child = spawn_cli("convert", rec, "-o", tmp_path / "out.mp4", "--method", "tfp", "--scale", 8,
                      start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.mp4*.partial-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well into the writing
    assert child.poll() is None, child.communicate()
    os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    _, err = child.communicate(timeout=60)
    assert child.returncode == EXIT_INTERRUPTED, err
    assert "interrupted" in error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "rec.dat"]


def test_commands_other_than_mp4_run_without_ffmpeg(rec, tmp_path):
    # The GPU image lacks imageio-ffmpeg: info, TIFF output and training must not import it.
    script = ("import sys; sys.modules['imageio_ffmpeg'] = None; from spk2vid_cli.commands.app import main; "
              "main(sys.argv[1:])")
    root = Path(__file__).resolve().parents[1]
    for args in (["info", str(rec)], ["convert", str(rec), "-o", str(tmp_path / "o.tif"), "--method", "tfp", "-q"],
                 ["train", "--help"]):
        done = subprocess.run([sys.executable, "-c", script, *args], cwd=root, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(root)})
        assert done.returncode == 0, done.stderr
    assert tifffile.imread(tmp_path / "o.tif").ndim == 3


# --- issue 11: kills, concurrent runs, several files, misleading messages -----------------------

def start_long_convert(tmp_path, output, *extra) -> subprocess.Popen:
    """A convert of a long recording, returned once its partial output exists."""
    rec = tmp_path / "rec.dat"
    write_recording(rec, num_frames=6000, height=48, width=64)
    child = spawn_cli("convert", rec, "-o", output, "--method", "tfp", "--scale", 4, *extra)
    deadline = time.monotonic() + 120
    while not [p for p in output.parent.rglob("*") if ".partial-" in p.name and "lock" not in p.name]:
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    return child


def test_sigterm_cleans_up_and_skip_existing_redoes_the_file(tmp_path, capsys):
    child = start_long_convert(tmp_path, tmp_path / "out")
    child.send_signal(signal.SIGTERM)  # what Slurm sends at a time limit
    _, err = child.communicate(timeout=60)
    assert child.returncode == EXIT_TERMINATED, err
    assert "terminated" in error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "rec.dat"]
    code, _, err = run_cli(capsys, "convert", tmp_path / "rec.dat", "-o", tmp_path / "out", "--method", "tfp",
                           "--scale", 1, "--end", 41, "--skip-existing")
    assert code == EXIT_OK and "wrote" in err and (tmp_path / "out" / "frames.csv").exists()


def test_after_sigkill_the_next_run_removes_the_dead_partials(tmp_path, capsys):
    out = tmp_path / "out"
    child = start_long_convert(tmp_path, out)
    child.kill()
    child.communicate(timeout=60)
    assert [p for p in out.iterdir() if ".partial-" in p.name]  # what the kill left
    assert run_cli(capsys, "convert", tmp_path / "rec.dat", "-o", out, "--skip-existing", "--method", "tfp",
                   "--end", 41)[0] == EXIT_OK
    assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name]
    assert sorted(p.name for p in out.iterdir()) == ["frame_000000.png", "frame_000001.png", "frame_000002.png",
                                                     "frames.csv"]


def test_two_concurrent_converts_to_one_output_exactly_one_succeeds(rec, tmp_path):
    children = [spawn_cli("convert", rec, "-o", tmp_path / "out.tif", "--method", "tfp", "-q") for _ in range(2)]
    results = sorted((child.wait(timeout=120), child.stderr.read()) for child in children)
    assert [code for code, _ in results] == [EXIT_OK, EXIT_OUTPUT], results
    assert "already exists" in results[1][1] or "another spk2vid process" in results[1][1]
    assert tifffile.imread(tmp_path / "out.tif").shape[0] == 6
    for child in children:
        child.stdout.close()
        child.stderr.close()


def test_info_on_several_files_shows_the_good_ones_and_names_the_bad(rec, tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04broken")
    code, out, err = run_cli(capsys, "info", rec, tmp_path / "bad.npz", REAL_MONITOR)
    assert code == EXIT_USAGE
    assert "rec.dat" in out and "uhsr.npz" in out and "bad.npz" not in out
    assert "bad.npz" in error_line(err)


@pytest.mark.parametrize("args, code, message", [
    (["-o", "/proc/o.mp4"], EXIT_OUTPUT, "cannot create files in /proc"),
    (["-o", "/dev/null"], EXIT_USAGE, "exists and is not a directory"),
    (["-o", "FILE"], EXIT_USAGE, "exists and is not a directory"),
    (["-o", "o.mp4", "--fps", "inf"], EXIT_USAGE, "--fps must be a finite number"),
    (["-o", "o.mp4", "--bit-depth", 16], EXIT_USAGE, "8-bit only"),
    (["-o", "x.avi"], EXIT_USAGE, "unknown output format '.avi'"),
    (["-o", "o.tif", "--tile", 1, "--tile-overlap", 0], EXIT_USAGE, "--tile 1: tiles under 32 pixels"),
])
def test_output_flags_get_the_right_message_and_code(rec, tmp_path, capsys, fake_net, args, code, message):
    (tmp_path / "FILE").write_text("keep")
    args = [tmp_path / a if a in ("FILE", "o.mp4", "x.avi", "o.tif") else a for a in args]
    assert_fails_cleanly(capsys, tmp_path, code, message, "convert", rec, *args, "--method", "tfp")


def test_bad_config_value_names_it(rec, tmp_path, capsys):
    (rec.parent / "config.yaml").write_text("spike_h: -64\nspike_w: 400\n")
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "spike_h must be a positive whole number of pixels, got -64",
                         "info", rec)


def test_one_frame_is_singular_and_preview_jpg_is_jpeg(rec, tmp_path, capsys):
    code, _, err = run_cli(capsys, "convert", rec, "-o", tmp_path / "one.tif", "--method", "tfp", "--end", 22)
    assert code == EXIT_OK and "(1 frame," in err and not re.search(r"(?<![\d./])1 frames", err)
    assert run_cli(capsys, "info", rec, "--preview", tmp_path / "p.jpg")[0] == EXIT_OK
    assert (tmp_path / "p.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert_fails_cleanly(capsys, tmp_path, EXIT_USAGE, "a preview is a .png or .jpg", "info", rec, "--preview",
                         tmp_path / "p.gif")


def test_top_level_help_lists_each_command_on_one_line(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    panel = out[out.index("Commands"):]
    rows = [line.strip("│ ") for line in panel.splitlines()[1:] if line.startswith("│")]
    assert [row.split()[0] for row in rows] == ["info", "convert", "simulate", "train", "eval"]
    assert all(row.endswith(".") for row in rows)  # no summary wrapped onto a second row
