"""The motion benchmark's scene: an exact translation, so motion is all that it adds."""

import importlib.util
from pathlib import Path

import torch

SPEC = importlib.util.spec_from_file_location(
    "bench_motion", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_motion.py")
bench_motion = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench_motion)


def smooth_image() -> torch.Tensor:
    """Sinusoids of periods 40 down to 4 pixels along the rows: all below the Nyquist frequency
    (neighbouring pixels alternating), where a translation is exact."""
    x = torch.arange(40.0) * 2 * torch.pi / 40
    y = torch.arange(24.0)[:, None] / 24
    return 0.5 + 0.1 * torch.sin(x + 1) + 0.1 * torch.cos(3 * x) * y + 0.1 * torch.sin(10 * x - 2) * (1 - y)


def test_whole_pixel_shifts_move_the_image_and_wrap_it_round():
    image = smooth_image()
    moved = bench_motion.fourier_shift(image, torch.tensor([0.0, 3.0, -5.0]))
    torch.testing.assert_close(moved[0], image, atol=1e-5, rtol=0)
    torch.testing.assert_close(moved[1], torch.roll(image, 3, dims=1), atol=1e-5, rtol=0)
    torch.testing.assert_close(moved[2], torch.roll(image, -5, dims=1), atol=1e-5, rtol=0)


def test_a_fractional_shift_loses_no_detail():
    """Moved by 0.5 px and back gives the image again, where bilinear resampling would have blurred it."""
    image = smooth_image()
    there = bench_motion.fourier_shift(image, torch.tensor([0.5]))[0]
    back = bench_motion.fourier_shift(there, torch.tensor([-0.5]))[0]
    torch.testing.assert_close(back, image, atol=1e-5, rtol=0)
    assert (there - image).abs().max() > 0.01  # it did move
    torch.testing.assert_close(there.mean(), image.mean(), atol=1e-5, rtol=0)
