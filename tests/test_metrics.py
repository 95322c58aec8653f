"""PSNR and SSIM against values worked out by hand."""

import math

import numpy as np
import pytest
import torch

from spk2vid_cli.errors import InputError
from spk2vid_cli.training.metrics import psnr, ssim, to_intensity


def test_psnr_of_a_known_mse():
    target = torch.full((16, 16), 0.5)
    pred = target + 0.1  # MSE 0.01 -> 20 dB
    assert psnr(pred, target).item() == pytest.approx(20.0, abs=1e-4)


def test_psnr_divides_by_the_rate_and_crops_the_border():
    target = torch.zeros(2, 12, 12)
    pred = torch.zeros(2, 12, 12)
    pred[:, 4:8, 4:8] = 0.05  # interior error; the border is already exact
    pred[:, 0, :] = 0.9  # border error, cropped away below
    rate = torch.tensor([0.5, 0.25])
    # interior intensity error 0.1 / 0.2 over 16 of 64 pixels -> MSE 0.0025 / 0.01
    expected = [-10 * math.log10(0.01 * 16 / 64), -10 * math.log10(0.04 * 16 / 64)]
    assert psnr(pred, target, rate=rate, crop=2).tolist() == pytest.approx(expected, abs=1e-4)


def test_intensity_is_clipped_to_unit_range():
    images = torch.tensor([[-0.2, 0.3], [0.6, 0.9]])
    assert to_intensity(images, rate=0.5).flatten().tolist() == pytest.approx([0.0, 0.6, 1.0, 1.0])


def test_ssim_of_identical_images_is_one():
    image = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(0))
    assert ssim(image, image).tolist() == pytest.approx([1.0] * 3, abs=1e-5)


def test_ssim_of_constant_images_is_the_luminance_term():
    a, b = 0.3, 0.5
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # variances are zero: structure term is 1
    result = ssim(torch.full((11, 11), a, dtype=torch.float64), torch.full((11, 11), b, dtype=torch.float64))
    assert result.item() == pytest.approx(expected, rel=1e-9)


def _ssim_single_window(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of two 11x11 images, written out from the definition with explicit Gaussian weights."""
    r = np.arange(11) - 5
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5**2))
    g /= g.sum()
    mx, my = (g * x).sum(), (g * y).sum()
    vx, vy = (g * (x - mx) ** 2).sum(), (g * (y - my) ** 2).sum()
    cov = (g * (x - mx) * (y - my)).sum()
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def test_ssim_matches_the_definition_on_one_window():
    rng = np.random.default_rng(1)
    x = rng.random((11, 11))
    y = np.clip(0.7 * x + 0.2 * rng.random((11, 11)), 0, 1)
    result = ssim(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert result == pytest.approx(_ssim_single_window(x, y), rel=1e-9)
    assert result < 0.99


def test_ssim_of_a_constant_shift_keeps_the_structure_term():
    rng = np.random.default_rng(2)
    x = 0.2 + 0.5 * rng.random((11, 11))
    y = x + 0.1  # same variance and covariance: only the luminance term drops below 1
    r = np.arange(11) - 5
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5**2))
    mu = (g * x).sum() / g.sum()
    c1 = 0.01**2
    expected = (2 * mu * (mu + 0.1) + c1) / (mu**2 + (mu + 0.1) ** 2 + c1)
    assert ssim(torch.from_numpy(x), torch.from_numpy(y)).item() == pytest.approx(expected, rel=1e-9)


def test_ssim_is_symmetric_and_averages_the_valid_windows():
    gen = torch.Generator().manual_seed(3)
    x, y = torch.rand(2, 1, 15, 13, generator=gen, dtype=torch.float64).unbind(0)
    forward, backward = ssim(x, y), ssim(y, x)
    assert forward.shape == (1,)
    assert forward.item() == pytest.approx(backward.item(), rel=1e-12)
    windows = [_ssim_single_window(x[0, i:i + 11, j:j + 11].numpy(), y[0, i:i + 11, j:j + 11].numpy())
               for i in range(5) for j in range(3)]
    assert forward.item() == pytest.approx(np.mean(windows), rel=1e-9)


def test_ssim_rejects_images_smaller_than_the_window():
    with pytest.raises(InputError, match="11x11"):
        ssim(torch.zeros(10, 20), torch.zeros(10, 20))
