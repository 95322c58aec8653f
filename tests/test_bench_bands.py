"""The band benchmark's measure: transfer per spatial-frequency band, and where the error lies."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SPEC = importlib.util.spec_from_file_location(
    "bench_bands", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_bands.py")
bench_bands = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench_bands)


def texture(seed: int = 0, shape: tuple[int, int] = (96, 128)) -> np.ndarray:
    """White noise: power in every band."""
    return np.random.default_rng(seed).random(shape)


def transfer_and_share(estimate: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sums = bench_bands.BandSums()
    sums.add(estimate, truth)
    return np.array(sums.transfer()), np.array(sums.error_share())


def test_a_scaled_truth_comes_through_at_that_scale_in_every_band():
    truth = texture()
    transfer, share = transfer_and_share(0.5 * truth + 0.2, truth)
    np.testing.assert_allclose(transfer, 0.5, atol=1e-9)
    assert share.sum() == pytest.approx(1.0)


def test_independent_noise_adds_error_but_no_transfer():
    truth = texture(1)
    transfer, share = transfer_and_share(truth + 0.5 * texture(2), truth)
    np.testing.assert_allclose(transfer, 1.0, atol=0.15)
    assert share[-2] > share[0]   # white noise: more of the error where the bands hold more frequencies


def test_smoothing_passes_low_bands_and_stops_high_ones():
    truth = texture(3)
    padded = np.pad(truth, 1, mode="wrap")
    box = sum(padded[1 + dy:1 + dy + truth.shape[0], 1 + dx:1 + dx + truth.shape[1]]
              for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    transfer, share = transfer_and_share(box, truth)
    assert transfer[0] > 0.9 and transfer[-2] < 0.2
    assert bool((np.diff(transfer[:-1]) < 0).all())
    assert share[0] < 0.05
