"""The threaded pipeline, exposure and progress: correct frames, fixed gain, errors and Ctrl-C stop cleanly."""

import signal
import threading

import numpy as np
import pytest
import tifffile
from io_helpers import write_recording

from spk2vid_cli import pipeline
from spk2vid_cli.classical import TFP
from spk2vid_cli.errors import InputError, OutputError
from spk2vid_cli.exposure import AUTO_FIT_FRAMES, AUTO_PERCENTILE, Exposure
from spk2vid_cli.progress import frame_progress
from spk2vid_cli.spikes import SpikeRecording, open_recording
from spk2vid_cli.windows import block_centres, iter_blocks
from spk2vid_cli.writers import open_writer


@pytest.fixture
def recording(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_recording(folder / "rec.dat", num_frames=150, height=6, width=10)
    with open_recording(folder / "rec.dat") as rec:
        yield rec


class FailingTFP(TFP):
    """TFP that raises `error` on block `at`."""

    def __init__(self, error: BaseException, at: int):
        super().__init__(scale=2, window=21)
        self.error, self.at = error, at

    def reconstruct(self, block):
        if block.index == self.at:
            raise self.error
        return super().reconstruct(block)


def test_frames_equal_the_reconstructions_in_order(recording, tmp_path):
    tfp = TFP(scale=2, window=21)
    done = []
    with open_writer(tmp_path / "out.tif", bit_depth=32) as writer:
        count = pipeline.convert(recording, tfp, writer, Exposure.from_spec("none"), stride=10, start=5, end=140,
                                 spike_rate=20000, progress=done.append)
    expected = np.stack([np.clip(tfp.reconstruct(b), 0, 1) for b in iter_blocks(recording, 21, 10, 5, 140)])
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        np.testing.assert_allclose(tif.asarray(), expected, rtol=1e-6)
        meta = tif.shaped_metadata[0]
    centres = list(block_centres(recording.num_frames, 21, 10, 5, 140))
    assert count == len(centres) == len(expected) and done == list(range(1, count + 1))
    assert meta["centre_frame"] == centres
    assert meta["time_us"] == pytest.approx([c / 20000 * 1e6 for c in centres])


@pytest.mark.parametrize("end", [150, 45])  # many blocks, and fewer than AUTO_FIT_FRAMES
def test_auto_exposure_is_one_gain_from_the_first_frames(recording, tmp_path, end):
    tfp = TFP(scale=1, window=21)
    exposure = Exposure.from_spec("auto")
    with open_writer(tmp_path / "out.tif", bit_depth=32) as writer:
        pipeline.convert(recording, tfp, writer, exposure, end=end)
    raw = [tfp.reconstruct(b) for b in iter_blocks(recording, 21, 10, 0, end)]
    gain = 1 / np.percentile(np.stack(raw[:AUTO_FIT_FRAMES]), AUTO_PERCENTILE)
    assert exposure.gain == pytest.approx(gain)
    np.testing.assert_allclose(tifffile.imread(tmp_path / "out.tif"), np.clip(np.stack(raw) * gain, 0, 1), rtol=1e-5)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), ValueError("boom")])
def test_error_or_ctrl_c_in_compute_stops_every_thread_and_leaves_no_output(recording, tmp_path, error):
    threads_before = threading.active_count()
    with pytest.raises(type(error)):
        with open_writer(tmp_path / "out.mp4") as writer:
            pipeline.convert(recording, FailingTFP(error, at=6), writer, Exposure.from_spec("auto"))
    assert threading.active_count() == threads_before
    assert list(tmp_path.glob("out*")) == [] and not [p for p in tmp_path.iterdir() if ".partial" in p.name]


class CtrlCTFP(TFP):
    """TFP that sends itself `presses` SIGINTs (Ctrl-C) while reconstructing block `at`; records the blocks."""

    def __init__(self, presses: int, at: int):
        super().__init__(scale=1, window=21)
        self.presses, self.at, self.done = presses, at, []

    def reconstruct(self, block):
        if block.index == self.at:
            for _ in range(self.presses):  # raised in this thread: each press is handled before the next
                signal.raise_signal(signal.SIGINT)
        image = super().reconstruct(block)
        self.done.append(block.index)
        return image


@pytest.fixture
def python_ctrl_c():
    """Python's own SIGINT handler for the test, also where pytest inherited SIGINT ignored (started as
    a background job of a script), where a second Ctrl-C would do nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("presses", [1, 2])
@pytest.mark.usefixtures("python_ctrl_c")
def test_ctrl_c_stops_at_a_block_boundary_and_twice_at_once(recording, tmp_path, presses):
    handler_before, threads_before = signal.getsignal(signal.SIGINT), threading.active_count()
    tfp = CtrlCTFP(presses, at=3)
    with pytest.raises(KeyboardInterrupt), open_writer(tmp_path / "out.tif") as writer:
        pipeline.convert(recording, tfp, writer, Exposure.from_spec("none"))
    # One press: block 3 is finished, nothing after it is started. Two: raised inside block 3.
    assert tfp.done == ([0, 1, 2, 3] if presses == 1 else [0, 1, 2])
    assert signal.getsignal(signal.SIGINT) is handler_before and threading.active_count() == threads_before
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # the recording's folder, no output


def test_writer_error_reaches_the_caller(recording):
    class BrokenWriter:
        def write(self, frame, info):
            if info.index == 2:
                raise OutputError("out.mp4: disk full")

    with pytest.raises(OutputError, match="disk full"):
        pipeline.convert(recording, TFP(1, 21), BrokenWriter(), Exposure.from_spec("none"))


def test_reader_error_reaches_the_caller(tmp_path):
    def read(start, stop):
        if start > 40:
            raise InputError("rec.dat: cannot read")
        return np.zeros((stop - start, 4, 4), np.uint8)

    recording = SpikeRecording(tmp_path / "rec.dat", "dat", 4, 4, 200, "test", False, 0, _read=read)
    with pytest.raises(InputError, match="cannot read"), open_writer(tmp_path / "out.tif") as writer:
        pipeline.convert(recording, TFP(1, 21), writer, Exposure.from_spec("none"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spec, gain", [("none", 1.0), ("2.5", 2.5), (0.5, 0.5), ("AUTO", None)])
def test_exposure_specs(spec, gain):
    assert Exposure.from_spec(spec).gain == gain


@pytest.mark.parametrize("spec", ["-1", "0", "abc", "nan", "inf"])
def test_bad_exposure_is_a_user_error(spec):
    with pytest.raises(InputError, match="--exposure"):
        Exposure.from_spec(spec)


def test_auto_gain_falls_back_for_dark_starts_and_output_is_clipped():
    sparse = np.zeros((10, 100), np.float32)
    sparse[0, 0] = 0.2  # 99.5th percentile is 0: use the brightest pixel
    exposure = Exposure.from_spec("auto")
    exposure.fit([sparse])
    assert exposure.gain == pytest.approx(5.0)
    out = exposure.apply(np.array([[-0.1, 0.1, 0.5]], np.float32))
    assert out.dtype == np.float32 and out.tolist() == [[0.0, pytest.approx(0.5), 1.0]]
    black = Exposure.from_spec("auto")
    black.fit([np.zeros((3, 3), np.float32)])
    assert black.gain == 1.0


def test_fixed_gain_ignores_fit():
    exposure = Exposure.from_spec("3")
    exposure.fit([np.ones((2, 2), np.float32)])
    assert exposure.gain == 3.0


def test_plain_progress_lines_when_not_a_terminal(capsys):
    with frame_progress(3, "rec.dat") as update:
        for done in (1, 2, 3):
            update(done)
    err = capsys.readouterr().err
    assert "rec.dat: 3/3 frames (100%)" in err and "frames/s" in err
    with frame_progress(3, "rec.dat", quiet=True) as update:
        update(3)
    assert capsys.readouterr().err == ""


def test_each_conversion_starts_a_new_stream(recording, tmp_path):
    class CountingTFP(TFP):
        resets = 0

        def reset(self):
            self.resets += 1

    tfp = CountingTFP(1, 21)
    for name in ("a.tif", "b.tif"):
        with open_writer(tmp_path / name) as writer:
            pipeline.convert(recording, tfp, writer, Exposure.from_spec("none"))
    assert tfp.resets == 2
