"""Scoring on Spike-Zoo's two REDS_BASE samples (../shared/real, beside the CI checkout)."""

import json

import pytest

from spk2vid_cli.training.evaluate import evaluate_gt_folder
from io_helpers import REDS_BASE as REDS
from io_helpers import needs_shared, run_cli

pytestmark = needs_shared(REDS)


def test_tfp_scores_reproduce_the_figures_of_spike_zoos_conventions():
    """TFP over 41 frames scores 23.50 and 23.72 dB on these files with Spike-Zoo's own scoring."""
    results = evaluate_gt_folder(REDS, lambda scale: {}, rate=0.6)
    assert sorted(results) == ["203_part2_key_id151", "203_part3_key_id151"]
    tfp41 = [results[name]["TFP41"].psnr[0, 0] for name in sorted(results)]
    assert tfp41 == pytest.approx([23.50, 23.72], abs=0.1)


def test_the_bundled_x1_network_is_the_default_at_scale_1_and_beats_tfp(tmp_path, capsys):
    """`eval` runs the bundled x1 weights (what `convert --scale 1` uses by default); measured margin
    over TFP21 on these two files: +3.7 dB (x1-lite, 3,500 CPU steps)."""
    report = tmp_path / "reds.json"
    code, _, _ = run_cli(capsys, "eval", REDS, "--json", report)
    figures = json.loads(report.read_text())["overall"]
    assert code == 0 and figures["net-lite"]["psnr"] > figures["TFP21"]["psnr"] + 3
