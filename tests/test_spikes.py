"""Spike I/O: bit order, flip, round trips, every layout, resolution sources, block windows."""

import os
from pathlib import Path

import numpy as np
import pytest
from io_helpers import REAL_MONITOR, REAL_OUTDOOR, needs_real

from spk2vid_cli.errors import InputError
from spk2vid_cli.spikes import open_recording, pack_frames, write_config, write_dat
from spk2vid_cli.windows import block_centres, iter_blocks


def random_frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((t, h, w)) < 0.3).astype(np.uint8)


def test_lsb_first_and_bottom_up_by_hand(tmp_path):
    # A 2x8 frame stored bottom-up: byte 0 is the bottom row, byte 1 the top row.
    # Bottom row has only pixel 0 set (bit 0 -> 0x01); top row only pixel 7 (bit 7 -> 0x80).
    path = tmp_path / "hand.dat"
    path.write_bytes(bytes([0x01, 0x80]))
    with open_recording(path, height=2, width=8) as rec:
        frame = rec.frames(0, 1)[0]
    expected = np.zeros((2, 8), np.uint8)
    expected[1, 0] = 1  # bottom row, leftmost pixel
    expected[0, 7] = 1  # top row, rightmost pixel
    np.testing.assert_array_equal(frame, expected)
    with open_recording(path, height=2, width=8, flip=False) as rec:
        np.testing.assert_array_equal(rec.frames(0, 1)[0], expected[::-1])


def test_pack_matches_hand_bytes():
    frame = np.zeros((1, 2, 8), np.uint8)
    frame[0, 1, 0] = 1
    frame[0, 0, 7] = 1
    assert pack_frames(frame) == bytes([0x01, 0x80])
    assert pack_frames(frame, flip=False) == bytes([0x80, 0x01])


@pytest.mark.parametrize("shape", [(7, 250, 400), (5, 13, 11), (3, 1, 8)])
def test_write_read_round_trip_is_bit_exact(tmp_path, shape):
    frames = random_frames(*shape)
    path = tmp_path / "rt.dat"
    assert write_dat(path, [frames[:2], frames[2:]]) == shape[0]
    assert path.stat().st_size == shape[0] * -(-shape[1] * shape[2] // 8)  # pad only when needed
    with open_recording(path, height=shape[1], width=shape[2]) as rec:
        assert rec.num_frames == shape[0]
        np.testing.assert_array_equal(rec.frames(0, shape[0]), frames)
        np.testing.assert_array_equal(rec.frames(1, 3), frames[1:3])


def test_resolution_from_config_then_default(tmp_path):
    frames = random_frames(4, 16, 24)
    write_dat(tmp_path / "a.dat", [frames])
    write_config(tmp_path, 16, 24)
    with open_recording(tmp_path / "a.dat") as rec:
        assert (rec.height, rec.width) == (16, 24)
        assert "config" in rec.resolution_source
        np.testing.assert_array_equal(rec.frames(0, 4), frames)
    (tmp_path / "config.yaml").unlink()
    (tmp_path / "b.dat").write_bytes(bytes(250 * 400 // 8 * 3))
    with open_recording(tmp_path / "b.dat") as rec:
        assert (rec.height, rec.width, rec.num_frames) == (250, 400, 3)
        assert rec.resolution_source.startswith("default")


def test_truncated_file_errors_or_drops_with_warning(tmp_path):
    path = tmp_path / "t.dat"
    path.write_bytes(bytes(2 * 12 + 5))  # two 8x12 frames plus 5 bytes
    with pytest.raises(InputError) as err:
        open_recording(path, height=8, width=12)
    message = str(err.value)
    assert "29 bytes" in message and "12-byte" in message and "5 bytes left over" in message
    assert "\n" not in message
    with open_recording(path, height=8, width=12, allow_truncated=True) as rec:
        assert rec.num_frames == 2 and rec.leftover_bytes == 5
        assert rec.warnings and "dropped" in rec.warnings[0]


def test_mis_sized_file_names_the_layouts_it_fits(tmp_path):
    path = tmp_path / "hd.dat"
    path.write_bytes(bytes(2 * 259_200))  # two packed 1080x1920 frames, read as 250x400 by default
    with pytest.raises(InputError, match="fits whole frames with --height 1080 --width 1920, or pass"):
        open_recording(path)
    path.write_bytes(bytes(2 * 128_000))  # two packet1000 frames (also 20.48 250x400 frames)
    with pytest.raises(InputError, match="with --layout packet1000, or pass"):
        open_recording(path)


@pytest.mark.parametrize(
    "content, fragment",
    [(b"", "empty"), (b"\x89PNG\r\n\x1a\n" + bytes(92), "PNG"), (b"PK\x03\x04" + bytes(96), "zip")],
)
def test_bad_files_get_one_line_errors(tmp_path, content, fragment):
    path = tmp_path / "bad.dat"
    path.write_bytes(content)
    with pytest.raises(InputError, match=fragment) as err:
        open_recording(path, height=10, width=10)
    assert str(path) in str(err.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_recording(tmp_path / "nope.dat")
    with pytest.raises(InputError, match="not a regular file"):
        open_recording(tmp_path)


def test_raw416_drops_padding_columns(tmp_path):
    frames = random_frames(3, 4, 400)
    padded = np.concatenate([frames, np.ones((3, 4, 16), np.uint8)], axis=2)  # padding set to 1
    path = tmp_path / "raw.bin"
    path.write_bytes(pack_frames(padded))
    with open_recording(path, layout="raw416", height=4, width=400) as rec:
        assert rec.frames(0, 3).shape == (3, 4, 400)
        np.testing.assert_array_equal(rec.frames(0, 3), frames)


def packet1000_bytes(frames: np.ndarray, seed: int = 0) -> bytes:
    """Encode upright 1000x1000 frames as the camera sends them, packets of each frame shuffled:
    bits 0..499 pixels of half a line, bits 500..509 the line number, 510..511 the channel (half)."""
    rng = np.random.default_rng(seed)
    stored = frames[:, ::-1, ::-1]  # the camera's frames are upside down and mirrored
    out = []
    for frame in stored:
        packets = []
        for line in range(1000):
            for channel in range(2):
                bits = np.zeros(512, np.uint8)
                bits[:500] = frame[line, 500 * channel:500 * (channel + 1)]
                bits[500:510] = [(line >> k) & 1 for k in range(10)]
                bits[510:512] = [(channel >> k) & 1 for k in range(2)]
                packets.append(np.packbits(bits, bitorder="little"))
        out += [packets[i] for i in rng.permutation(len(packets))]
    return b"".join(p.tobytes() for p in out)


def test_packet1000_places_packets_by_header_and_rotates(tmp_path):
    frames = random_frames(2, 1000, 1000)
    path = tmp_path / "raw1000.bin"
    path.write_bytes(packet1000_bytes(frames))
    with open_recording(path, layout="packet1000") as rec:
        assert (rec.num_frames, rec.height, rec.width) == (2, 1000, 1000)
        np.testing.assert_array_equal(rec.frames(0, 2), frames)
    with open_recording(path, layout="packet1000", flip=False) as rec:
        np.testing.assert_array_equal(rec.frames(1, 2)[0], frames[1, ::-1, ::-1])
    with pytest.raises(InputError, match="1000x1000"):
        open_recording(path, layout="packet1000", height=250, width=400)


def test_packet1000_refuses_bad_headers(tmp_path):
    data = bytearray(packet1000_bytes(random_frames(2, 1000, 1000)))
    second = 128_000
    data[second + 63] = data[second + 127]  # packet 0 of frame 1 now claims packet 1's half and line
    data[second + 62] = (data[second + 62] & 0x0F) | (data[second + 126] & 0xF0)
    path = tmp_path / "bad1000.bin"
    path.write_bytes(bytes(data))
    with open_recording(path, layout="packet1000") as rec:
        rec.frames(0, 1)
        with pytest.raises(InputError, match="frame 1 does not hold each of 1000 lines"):
            rec.frames(0, 2)


def test_raw_1080_dump_is_named(tmp_path):
    path = tmp_path / "hd.dat"
    path.write_bytes(b"\xf0\xf0\xf1\xf1" + bytes(12_496))
    with pytest.raises(InputError, match="1920x1080 camera dump"):
        open_recording(path)


def test_arrays_in_both_axis_orders(tmp_path):
    frames = random_frames(6, 5, 7)
    np.save(tmp_path / "thw.npy", frames)
    np.savez(tmp_path / "hwt.npz", spk=np.moveaxis(frames, 0, 2))
    with open_recording(tmp_path / "thw.npy", axes="thw") as rec:
        np.testing.assert_array_equal(rec.frames(0, 6), frames)
    with open_recording(tmp_path / "hwt.npz", axes="hwt") as rec:
        assert (rec.num_frames, rec.height, rec.width) == (6, 5, 7)
        np.testing.assert_array_equal(rec.frames(2, 5), frames[2:5])


def test_array_rejects_non_spike_values_and_pickles(tmp_path):
    np.save(tmp_path / "grey.npy", np.full((4, 4, 4), 200, np.uint8))
    with pytest.raises(InputError, match="only 0 and 1"):
        open_recording(tmp_path / "grey.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError):
        open_recording(tmp_path / "obj.npy")


@needs_real
def test_real_recordings_shapes_and_axis_guess():
    with open_recording(REAL_OUTDOOR) as rec:
        assert (rec.num_frames, rec.height, rec.width) == (500, 250, 400)
        assert "hwt" in rec.resolution_source
        assert rec.frames(0, 500).mean() == pytest.approx(0.220, abs=0.001)
    with open_recording(REAL_MONITOR) as rec:
        assert (rec.num_frames, rec.height, rec.width) == (200, 250, 250)
        assert rec.frames(0, 200).mean() == pytest.approx(0.031, abs=0.001)


def test_block_centres_follow_the_paper():
    centres = block_centres(461, window=21, stride=10)
    assert centres[0] == 10 and centres[-1] == 450 and len(centres) == 45
    assert list(block_centres(100, 21, 10, start=30, end=71)) == [40, 50, 60]
    with pytest.raises(InputError):
        block_centres(100, window=20)


def test_iter_blocks_match_direct_slices(tmp_path):
    frames = random_frames(60, 6, 8, seed=3)
    write_dat(tmp_path / "s.dat", [frames])
    with open_recording(tmp_path / "s.dat", height=6, width=8) as rec:
        for window, stride in [(21, 10), (5, 7), (3, 1)]:
            blocks = list(iter_blocks(rec, window, stride, start=2))
            assert [b.index for b in blocks] == list(range(len(blocks)))
            for block in blocks:
                half = window // 2
                np.testing.assert_array_equal(block.frames, frames[block.centre - half:block.centre + half + 1])
        with pytest.raises(InputError, match="fewer than one block"):
            list(iter_blocks(rec, window=61))


# --- resolution discovery, foreign and corrupt files (issue 11) ---------------------------------

def scene_frames(num_frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Spikes of a smooth scene (rates vary slowly across rows and columns), as a sensor would see it."""
    rows, cols = np.mgrid[0:height, 0:width]
    rate = 0.25 + 0.2 * np.sin(rows / height * 7) * np.cos(cols / width * 5)
    return (np.random.default_rng(seed).random((num_frames, height, width)) < rate).astype(np.uint8)


def test_config_two_folders_up_gives_the_resolution(tmp_path):
    data = tmp_path / "BSS" / "data" / "scene"
    data.mkdir(parents=True)
    frames = random_frames(2, 1000, 1000)  # 2 x 125,000 bytes: also 20 frames of 250x400
    write_dat(data / "a.dat", [frames])
    write_config(tmp_path / "BSS", 1000, 1000)
    (data / "config.yaml").write_text("fps: 20\n")  # a config without the size is passed over
    with open_recording(data / "a.dat") as rec:
        assert (rec.height, rec.width, rec.num_frames) == (1000, 1000, 2)
        assert str(tmp_path / "BSS" / "config.yaml") in rec.resolution_source
        np.testing.assert_array_equal(rec.frames(0, 2), frames)


def test_content_decides_between_sensor_sizes_and_info_reports_it(tmp_path):
    frames = scene_frames(20, 1000, 1000)
    write_dat(tmp_path / "big.dat", [frames])
    with open_recording(tmp_path / "big.dat") as rec:
        assert (rec.height, rec.width, rec.num_frames) == (1000, 1000, 20)
        assert "file content" in rec.resolution_source and "at 250x400" in rec.resolution_source
    write_dat(tmp_path / "small.dat", [scene_frames(40, 250, 400)])  # 40 x 12,500 bytes: also 4 of 1000x1000
    with open_recording(tmp_path / "small.dat") as rec:
        assert (rec.height, rec.width) == (250, 400)


def test_undecidable_size_is_refused_with_the_candidates(tmp_path):
    write_dat(tmp_path / "noise.dat", [random_frames(20, 250, 400)])  # no scene: no correlation at any size
    with pytest.raises(InputError, match="--height 250 --width 400 or --height 1000 --width 1000"):
        open_recording(tmp_path / "noise.dat")


def test_config_contradicted_by_the_content_warns(tmp_path):
    write_dat(tmp_path / "big.dat", [scene_frames(20, 1000, 1000)])
    write_config(tmp_path, 250, 400)
    with open_recording(tmp_path / "big.dat") as rec:
        assert (rec.height, rec.width) == (250, 400)  # the config wins, but the user is told
        assert len(rec.warnings) == 1 and "looks like 1000x1000" in rec.warnings[0]


@pytest.mark.parametrize("content, fragment", [
    ("spike_h: 250.5\nspike_w: 400\n", "spike_h must be a positive whole number"),
    ("spike_h: 0\nspike_w: 400\n", "got 0"),
    ("spike_h: -64\nspike_w: 400\n", "got -64"),
    ("spike_h: 250\n", "spike_w must be a positive whole number of pixels, got missing"),
    ("this is not yaml at all\n", "line 1 is not 'key: value'"),
    (b"\x00\xff\xfe binary", "binary data"),
])
def test_bad_config_files_are_refused_naming_them(tmp_path, content, fragment):
    write_dat(tmp_path / "a.dat", [random_frames(2, 4, 8)])
    config = tmp_path / "config.yaml"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError, match=fragment) as err:
        open_recording(tmp_path / "a.dat")
    assert str(config) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content", ["null", "[250, 400]", "{\"spike_h\": 2"])
def test_json_config_must_be_an_object(tmp_path, content):
    write_dat(tmp_path / "a.dat", [random_frames(2, 4, 8)])
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(InputError, match="config.json"):
        open_recording(tmp_path / "a.dat")


@pytest.mark.parametrize("head, fragment", [
    (b"\x89HDF\r\n\x1a\n", "HDF5"), (b"\x93NUMPY\x01\x00", ".npy array"), (b"\x1a\x45\xdf\xa3", "Matroska"),
    (b"\x1f\x8b\x08\x00", "gzip"),
])
def test_foreign_files_are_refused_by_name_even_when_truncation_is_allowed(tmp_path, head, fragment):
    path = tmp_path / "x.dat"
    path.write_bytes(head + bytes(1100 * 8 - len(head) + 3))
    with pytest.raises(InputError, match=fragment):
        open_recording(path, height=8, width=8, allow_truncated=True)


def test_arrays_with_negative_or_late_bad_values_are_refused(tmp_path):
    np.save(tmp_path / "neg.npy", -random_frames(4, 5, 7).astype(np.int8))
    with pytest.raises(InputError, match="outside 0 and 1"):
        open_recording(tmp_path / "neg.npy")
    late = random_frames(100, 5, 7)
    late[90, 0, 0] = 3  # past the first frames checked when opening
    np.save(tmp_path / "late.npy", late)
    with open_recording(tmp_path / "late.npy") as rec:
        rec.frames(0, 64)
        with pytest.raises(InputError, match="outside 0 and 1"):
            rec.frames(64, 100)


def corrupt_npz(path: Path, kind: str) -> None:
    np.savez(path, spk=random_frames(6, 5, 7))
    data = bytearray(path.read_bytes())
    if kind == "crc":
        data[data.index(b"\x93NUMPY") + 200] ^= 0xFF  # a byte of the stored array
    elif kind == "truncated":
        data = data[:len(data) // 2]
    elif kind == "npy":
        np.save(path.with_suffix(".npy"), random_frames(6, 5, 7))
        data = path.with_suffix(".npy").read_bytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind, fragment", [
    ("crc", "corrupt .npz"), ("truncated", "corrupt .npz|cannot read"), ("npy", None),
])
def test_corrupt_npz_files_are_one_line_errors(tmp_path, kind, fragment):
    path = tmp_path / "a.npz"
    corrupt_npz(path, kind)
    if fragment is None:  # a .npy renamed .npz is read by content
        with open_recording(path) as rec:
            assert rec.num_frames == 6
        return
    with pytest.raises(InputError, match=fragment) as err:
        open_recording(path)
    assert "\n" not in str(err.value)


def test_zip_member_that_is_not_an_array(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "a.npz", "w") as archive:
        archive.writestr("spk", b"hello")
    with pytest.raises(InputError, match="not a numpy array"):
        open_recording(tmp_path / "a.npz")


@pytest.mark.parametrize("shape", [(0, 5, 7), (6, 0, 7), (6, 5, 0)])
def test_arrays_with_an_empty_dimension_are_refused(tmp_path, shape):
    np.save(tmp_path / "e.npy", np.zeros(shape, np.uint8))
    with pytest.raises(InputError, match="empty dimension"):
        open_recording(tmp_path / "e.npy", axes="thw")


def test_a_file_cut_while_reading_is_an_input_error(tmp_path):
    write_dat(tmp_path / "a.dat", [random_frames(10, 4, 8)])
    np.save(tmp_path / "a.npy", random_frames(10, 4, 8))
    for name, keep in (("a.dat", 12), ("a.npy", 200)):
        with open_recording(tmp_path / name, height=4, width=8) as rec:
            os.truncate(tmp_path / name, keep)  # another process cuts the file
            with pytest.raises(InputError, match="shrank while being read"):
                rec.frames(0, 10)


def test_npy_frames_are_writable_copies(tmp_path):
    np.save(tmp_path / "a.npy", random_frames(10, 4, 8))
    with open_recording(tmp_path / "a.npy") as rec:
        assert rec.frames(0, 3).flags.writeable  # torch.from_numpy warns on read-only memory maps
