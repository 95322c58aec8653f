"""TFP, TFI and bicubic upsampling: units, fill rules, shapes."""

import numpy as np
import pytest

from spk2vid_cli.classical import SCALES, TFI, TFP, upsample
from spk2vid_cli.errors import InputError
from spk2vid_cli.windows import Block


def periodic_frames(window: int, periods: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Pixel (i, j) fires at frames t with (t + phase) % period == 0."""
    t = np.arange(window)[:, None, None]
    return ((t + phases) % periods == 0).astype(np.uint8)


def block_of(frames: np.ndarray) -> Block:
    return Block(0, len(frames) // 2, frames)


def test_tfp_is_the_window_mean():
    frames = (np.random.default_rng(1).random((21, 4, 5)) < 0.4).astype(np.uint8)
    out = TFP(scale=1, window=21).reconstruct(block_of(frames))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, frames.sum(0) / 21, rtol=1e-6)


def test_tfi_recovers_the_rate_of_periodic_pixels_at_every_phase():
    periods = np.arange(2, 10)[:, None].repeat(3, axis=1)  # rows: periods 2..9
    phases = np.arange(3)[None, :] % periods  # columns: three phases
    frames = periodic_frames(21, periods, phases)
    out = TFI(scale=1, window=21).reconstruct(block_of(frames))
    np.testing.assert_allclose(out, 1.0 / periods, rtol=1e-6)


def test_tfi_fill_values_when_spikes_are_missing():
    frames = np.zeros((21, 1, 4), np.uint8)  # centre is frame 10
    frames[4, 0, 0] = 1  # only a spike before: next spike at >= 21, interval >= 21 - 4
    frames[15, 0, 1] = 1  # only a spike after: previous at <= -1, interval >= 15 + 1
    frames[10, 0, 2] = 1  # a spike on the centre counts as "before"
    out = TFI(scale=1, window=21).reconstruct(block_of(frames))[0]
    np.testing.assert_allclose(out, [1 / 17, 1 / 16, 1 / 11, 0.0], rtol=1e-6)


def test_tfp_and_tfi_agree_on_a_steady_pixel():
    frames = periodic_frames(41, np.full((3, 3), 4), np.zeros((3, 3), int))
    tfp = TFP(scale=1, window=41).reconstruct(block_of(frames))
    tfi = TFI(scale=1, window=41).reconstruct(block_of(frames))
    np.testing.assert_allclose(tfi, 0.25, rtol=1e-6)
    assert abs(float(tfp.mean()) - 0.25) < 0.02


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("method", [TFP, TFI])
def test_output_shape_and_dtype_for_every_scale(method, scale):
    frames = (np.random.default_rng(scale).random((21, 5, 7)) < 0.3).astype(np.uint8)
    out = method(scale=scale, window=21).reconstruct(block_of(frames))
    assert out.shape == (5 * scale, 7 * scale)
    assert out.dtype == np.float32
    assert out.min() >= 0


def test_upsample_keeps_constants_and_clamps_overshoot():
    np.testing.assert_allclose(upsample(np.full((4, 6), 0.3, np.float32), 4), 0.3, rtol=1e-5)
    step = np.zeros((6, 6), np.float32)
    step[:, 3:] = 1.0  # bicubic rings below 0 next to a step
    out = upsample(step, 4)
    assert out.min() == 0.0
    assert out.max() > 0.99
    identity = np.random.default_rng(0).random((3, 3)).astype(np.float32)
    np.testing.assert_array_equal(upsample(identity, 1), identity)


def test_upsampling_preserves_the_mean_firing_rate():
    img = np.random.default_rng(2).random((16, 16)).astype(np.float32) * 0.5 + 0.25
    assert abs(float(upsample(img, 4).mean()) - float(img.mean())) < 0.01


def test_descriptions_name_method_window_and_scale():
    assert "TFP" in TFP(4, 21).description and "21" in TFP(4, 21).description and "x4" in TFP(4, 21).description
    assert TFI(2, 11).window == 11 and TFI(2, 11).scale == 2


@pytest.mark.parametrize("make", [lambda: TFP(3, 21), lambda: TFP(4, 20), lambda: TFI(4, 1)])
def test_bad_scale_or_window_is_a_user_error(make):
    with pytest.raises(InputError):
        make()
