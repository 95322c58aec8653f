"""Scoring on Spike-Zoo's two REDS_BASE samples (../shared/real, beside the CI checkout)."""

import pytest

from spk2vid_cli.training.evaluate import evaluate_gt_folder
from io_helpers import REDS_BASE as REDS
from io_helpers import needs_shared

pytestmark = needs_shared(REDS)


def test_tfp_scores_reproduce_the_figures_of_spike_zoos_conventions():
    """TFP over 41 frames scores 23.50 and 23.72 dB on these files with Spike-Zoo's own scoring."""
    results = evaluate_gt_folder(REDS, lambda scale: {}, rate=0.6)
    assert sorted(results) == ["203_part2_key_id151", "203_part3_key_id151"]
    tfp41 = [results[name]["TFP41"].psnr[0, 0] for name in sorted(results)]
    assert tfp41 == pytest.approx([23.50, 23.72], abs=0.1)
