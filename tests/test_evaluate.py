"""Evaluation on a tiny simulated pair and on synthetic streams: methods, baselines, reports, pairing."""

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from spk2vid_cli.classical import TFP
from spk2vid_cli.errors import InputError
from spk2vid_cli.net import NetReconstructor
from spk2vid_cli.simulate import SensorModel, simulate_file
from spk2vid_cli.spikes import open_recording
from spk2vid_cli.training.evaluate import (Scores, baseline_scores, by_rate, evaluate_gt_folder, evaluate_recordings,
                                           find_pairs, net_centres, net_scores, overall, predict_tfp, read_gt_image,
                                           reads_at, report, score, stream_from_blocks, synthetic_scores, write_curve)
from spk2vid_cli.training.metrics import psnr
from spk2vid_cli.training.sources import SourcePool
from spk2vid_cli.training.synth import StreamBatch
from spk2vid_cli.windows import Block
from spk2vid_model.model import Spk2VidNet
from spk2vid_model.weights import save_weights
from io_helpers import run_cli
from torch_helpers import TINY, texture

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    """A 32x40 x2 recording of 70 spike frames with its ground truth, as spk2vid simulate writes them."""
    folder = tmp_path_factory.mktemp("pairs")
    still = folder / "still.png"
    iio.imwrite(still, np.round(texture(64, 80, 0) * 255).astype(np.uint8))
    simulate_file(still, folder / "scene" / "scene.dat", downscale=2, frames=70, sensor=SensorModel(rate=0.4),
                  save_gt=folder / "scene" / "scene.gt.tif")
    return folder


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    net = Spk2VidNet(TINY)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_weights(net, path, {}, half=False)
    return path


def test_recordings_are_scored_per_method_and_the_oracle_beats_tfp(pair_dir, tiny_weights):
    pairs = find_pairs([pair_dir])
    assert [p.name for p in pairs] == ["scene/scene"]
    asked = []

    def nets_for(scale):
        asked.append(scale)
        return {"net:tiny": NetReconstructor(scale, weights=tiny_weights, device="cpu")}

    steps = []
    results = evaluate_recordings(pairs, nets_for, steps.append)
    scores = results["scene/scene"]
    assert asked == [2] and list(scores) == ["net:tiny", "TFP41", "TFI41", "oracle"]
    assert steps == ["scene/scene: net:tiny", "scene/scene: TFP41", "scene/scene: TFI41", "scene/scene: oracle"]
    for s in scores.values():
        assert s.psnr.shape == s.ssim.shape == (1, 5)  # frames 10, 20, .., 50
        assert np.isfinite(s.psnr).all() and ((s.ssim > 0) & (s.ssim <= 1)).all()
    summary = {label: s.summary() for label, s in scores.items()}
    assert summary["oracle"]["psnr"] > summary["TFP41"]["psnr"] > 15
    assert summary["oracle"]["ssim"] > summary["TFP41"]["ssim"]
    # The untrained network is bicubic TFP over its 21-frame blocks: noisier than TFP41 on a slow scene.
    assert summary["TFP41"]["psnr"] > summary["net:tiny"]["psnr"] > 15


def test_report_and_curve_hold_every_method(pair_dir, tmp_path):
    results = evaluate_recordings(find_pairs([pair_dir]), lambda scale: {})
    full = json.loads(json.dumps(report(results)))
    assert set(full["overall"]) == {"TFP41", "TFI41", "oracle"}
    assert len(full["sequences"]["scene/scene"]["TFP41"]["psnr_per_frame"][0]) == 5
    write_curve(results, tmp_path / "curve.csv")
    rows = list(csv.reader((tmp_path / "curve.csv").open()))
    assert rows[0] == ["position", "TFP41", "TFI41", "oracle"] and len(rows) == 6
    assert float(rows[1][1]) == pytest.approx(full["overall"]["TFP41"]["psnr_by_position"][0])


def test_pairs_are_found_by_name_or_given(pair_dir, tmp_path):
    spikes = pair_dir / "scene" / "scene.dat"
    assert find_pairs([spikes])[0].truth == pair_dir / "scene" / "scene.gt.tif"
    assert find_pairs([spikes], truth=tmp_path / "x.tif")[0].truth == tmp_path / "x.tif"
    lonely = tmp_path / "lonely.dat"
    lonely.write_bytes(b"\0" * 160)
    with pytest.raises(InputError, match="no ground truth"):
        find_pairs([lonely])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no .dat"):
        find_pairs([empty])


def test_a_ground_truth_that_is_not_a_tiff_is_an_input_error(pair_dir, tmp_path):
    wrong = tmp_path / "wrong.tif"
    wrong.write_text("not a tiff")
    pairs = find_pairs([pair_dir / "scene" / "scene.dat"], truth=wrong)
    with pytest.raises(InputError, match="wrong.tif: not a readable TIFF"):
        evaluate_recordings(pairs, lambda scale: {})


def test_tfp41_from_blocks_matches_classical_tfp():
    pool = SourcePool.from_arrays([texture(48, 48, 1)])
    segment = StreamBatch(pool, 2, 2, 8, generator=torch.Generator().manual_seed(0)).next_segment(6)
    stream = stream_from_blocks(segment.blocks, 10)
    assert stream.shape[1] == 5 * 10 + 21 and torch.equal(stream[:, 10:31], segment.blocks[:, 1])
    predicted = predict_tfp(segment.blocks, 10, 2)
    for index, window in ((0, 21), (2, 41), (5, 21)):  # the ends shrink to the widest centred window
        centre = 10 + 10 * index
        frames = stream[1, centre - window // 2:centre + window // 2 + 1].numpy().astype(np.uint8)
        expected = TFP(2, window).reconstruct(Block(index, centre, frames))
        assert np.allclose(predicted[1, index, 0].numpy(), expected, atol=1e-5)


def test_synthetic_set_scores_networks_and_baselines():
    pool = SourcePool.from_arrays([texture(48, 48, 2)])
    segment = StreamBatch(pool, 2, 2, 16, generator=torch.Generator().manual_seed(1)).next_segment(4)
    torch.manual_seed(0)
    results = synthetic_scores({"synthetic-val": segment}, {"net:tiny": Spk2VidNet(TINY)}, 2, 10,
                               torch.device("cpu"))
    scores = results["synthetic-val"]
    assert list(scores) == ["net:tiny", "TFP41", "oracle"]
    assert all(s.psnr.shape == (2, 4) and np.isfinite(s.psnr).all() for s in scores.values())
    assert scores["oracle"].summary()["psnr"] > scores["TFP41"].summary()["psnr"]
    assert baseline_scores(segment, 2, 10)["TFP41"].psnr.tolist() == scores["TFP41"].psnr.tolist()
    x1 = StreamBatch(pool, 2, 1, 16, generator=torch.Generator().manual_seed(1)).next_segment(2)
    assert list(baseline_scores(x1, 1, 10)) == ["TFP41"]  # at x1 the clean LR frame is the truth itself
    told = Spk2VidNet(replace(TINY, blur_input=True))
    torch.nn.init.normal_(told.upsample[0].weight, std=0.1)
    torch.nn.init.normal_(told.blur.linear.weight)
    nets = {"net:tiny": Spk2VidNet(TINY), "net:told": told}
    blind, sharp = (synthetic_scores({"s": segment}, nets, 2, 10, torch.device("cpu"), blur)["s"] for blur in (None, 0.0))
    assert blind["net:tiny"].psnr.tolist() == sharp["net:tiny"].psnr.tolist()  # not told: --lens-blur passes it by
    assert blind["net:told"].psnr.tolist() != sharp["net:told"].psnr.tolist()


def test_a_narrower_network_reads_the_middle_of_wider_blocks():
    # Untrained, a network outputs the (upsampled) mean of its block: TFP over its window, at the block's centre.
    pool = SourcePool.from_arrays([texture(48, 48, 2)])
    segment = StreamBatch(pool, 2, 2, 16, window=31, generator=torch.Generator().manual_seed(1)).next_segment(3)
    net = Spk2VidNet(TINY).eval()
    assert TINY.window == 21
    expected = score(predict_tfp(segment.blocks, 10, 2, window=21), segment.gt, segment.rate, 2)
    assert np.allclose(net_scores(net, segment).psnr, expected.psnr, atol=1e-3)
    with pytest.raises(ValueError, match="41-frame blocks"):
        net_scores(Spk2VidNet(replace(TINY, window=41)), segment)


def test_cli_prints_a_table_and_writes_json_and_curve(pair_dir, tmp_path, capsys):
    report_path, curve_path = tmp_path / "eval.json", tmp_path / "curve.csv"
    code, printed, _ = run_cli(capsys, "eval", pair_dir, "--json", report_path, "--curve", curve_path)
    assert code == 0 and "TFP41" in printed
    assert "oracle" in json.loads(report_path.read_text())["overall"] and curve_path.is_file()


def test_cli_json_dash_prints_only_json_on_stdout(pair_dir, capsys):
    """`--json -` is for pipes: the report alone on stdout, the table on stderr."""
    code, printed, err = run_cli(capsys, "eval", pair_dir, "--json", "-")
    assert code == 0 and "TFP41" in err
    assert "oracle" in json.loads(printed)["overall"]
    assert not (Path.cwd() / "-").exists()


def test_report_replaces_the_previous_one_whole_and_leaves_no_temporary(pair_dir, tmp_path, capsys):
    report_path = tmp_path / "eval.json"
    report_path.write_text("old")
    code, _, _ = run_cli(capsys, "eval", pair_dir, "--json", report_path)
    assert code == 0 and "overall" in json.loads(report_path.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.json"]


def test_cli_without_input_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "eval")
    assert code == 2 and "no input" in err


def test_streams_are_split_by_conversion_rate_and_gains_are_against_tfp41_and_the_oracle():
    def scores(psnr: list[float]) -> Scores:
        values = np.array(psnr, dtype=float)[:, None].repeat(3, 1)
        return Scores(values, np.full_like(values, 0.5), np.array([0.1, 0.3, 0.6, 0.9]))

    results = {"set": {"net": scores([20, 25, 31, 33]), "TFP41": scores([15, 22, 29, 30]),
                       "oracle": scores([25, 26, 30, 32])}}
    bins = by_rate(results)
    assert list(bins) == ["rate < 0.2", "rate 0.2-0.5", "rate >= 0.5"]
    bright = overall(bins["rate >= 0.5"])["net"]
    assert bright["psnr"] == 32 and bright["streams"] == 2
    assert bright["gain_vs_TFP41"] == 32 - 29.5 and bright["gain_vs_oracle"] == 32 - 31
    assert overall(bins["rate < 0.2"])["net"]["gain_vs_oracle"] == -5
    assert set(report(results)["by_rate"]) == set(bins)


def test_the_network_runs_up_to_the_centre_block_by_block():
    assert list(net_centres(150, 21, 10)) == list(range(10, 151, 10))
    assert list(net_centres(17, 21, 10)) == [17]
    assert list(net_centres(33, 21, 10)) == [13, 23, 33]


@pytest.fixture(scope="module")
def gt_folder(tmp_path_factory):
    """A REDS_BASE-layout folder: spike/scene.dat (61 frames of 32x40, rate 0.6) and gt/scene.png at x1."""
    folder = tmp_path_factory.mktemp("reds")
    still = folder / "still.png"
    image = np.round(texture(32, 40, 3) * 255).astype(np.uint8)
    iio.imwrite(still, image)
    simulate_file(still, folder / "spike" / "scene.dat", frames=61, sensor=SensorModel(rate=0.6), seed=2)
    (folder / "gt").mkdir()
    iio.imwrite(folder / "gt" / "scene.png", image)
    return folder


def test_a_reds_layout_folder_is_scored_at_its_centre_frame(gt_folder):
    results = evaluate_gt_folder(gt_folder, lambda scale: {}, rate=0.6)
    scores = results["scene"]
    assert list(scores) == ["TFP21", "TFP41", "TFI41"]  # no oracle at x1: it would be the truth itself
    assert all(s.psnr.shape == (1, 1) and s.rate.tolist() == [0.6] for s in scores.values())
    assert scores["TFP41"].psnr[0, 0] > scores["TFP21"].psnr[0, 0] > 15  # still scene: more frames, less noise


def test_a_centre_between_two_frames_reads_the_frames_on_either_side():
    assert reads_at(150) == [(150, 1.0)]
    assert reads_at(150.25) == [(150, 0.75), (151, 0.25)]


def test_a_centre_between_two_frames_scores_the_interpolated_frame(gt_folder):
    with open_recording(gt_folder / "spike" / "scene.dat") as recording:
        frames = [TFP(1, 21).reconstruct(Block(0, c, recording.frames(c - 10, c + 11))) for c in (30, 31)]
    truth = torch.from_numpy(read_gt_image(gt_folder / "gt" / "scene.png") * 0.6)
    expected = float(psnr(torch.from_numpy(0.75 * frames[0] + 0.25 * frames[1]), truth, 0.6, 1))
    between = evaluate_gt_folder(gt_folder, lambda scale: {}, rate=0.6, centre=30.25)["scene"]["TFP21"]
    assert between.psnr[0, 0] == pytest.approx(expected, abs=1e-4)
    on_30 = evaluate_gt_folder(gt_folder, lambda scale: {}, rate=0.6, centre=30)["scene"]["TFP21"]
    assert between.psnr[0, 0] != pytest.approx(on_30.psnr[0, 0], abs=1e-3)


def test_a_network_centre_whose_frames_on_either_side_lack_a_block_is_refused(gt_folder, capsys):
    """The bundled x1-lite reads 41-frame blocks: in 61 frames, centres 20 to 40; 40.5 needs 41 too."""
    code, _, err = run_cli(capsys, "eval", gt_folder, "--centre", 40.5)
    assert code == 2 and "41-frame block around --centre 40.5; pick one from 20 to 40" in err


def test_a_reds_layout_folder_runs_the_network_at_the_ground_truth_scale(gt_folder, tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "tiny1.pt"
    save_weights(Spk2VidNet(replace(TINY, name="tiny1", scale=1)), weights, {}, half=False)
    report_path = tmp_path / "reds.json"
    code, _, _ = run_cli(capsys, "eval", gt_folder, "--weights", weights, "--centre", 30, "--json", report_path)
    assert code == 0
    overall_figures = json.loads(report_path.read_text())["overall"]
    assert {"net:tiny1", "TFP21", "TFP41", "TFI41"} <= set(overall_figures)
    # untrained, the network is TFP over its 21-frame block plus a zero residual
    assert overall_figures["net:tiny1"]["psnr"] == pytest.approx(overall_figures["TFP21"]["psnr"], abs=0.01)


def test_weights_files_that_share_a_name_are_all_scored(gt_folder, tmp_path, capsys):
    paths = []
    for run, seed in (("old", 0), ("new", 1)):
        torch.manual_seed(seed)
        net = Spk2VidNet(replace(TINY, name="tiny1", scale=1))
        torch.nn.init.normal_(net.upsample[0].weight, std=0.1)  # a non-zero residual: the two differ
        paths.append(tmp_path / run / "tiny1.pt")
        paths[-1].parent.mkdir()
        save_weights(net, paths[-1], {}, half=False)
    report_path = tmp_path / "reds.json"
    code, _, _ = run_cli(capsys, "eval", gt_folder, "--weights", *paths[:1], "--weights", *paths[1:],
                         "--centre", 30, "--json", report_path)
    figures = json.loads(report_path.read_text())["overall"]
    assert code == 0 and {"net:tiny1", "net:new/tiny1"} <= set(figures)
    assert figures["net:tiny1"]["psnr"] != figures["net:new/tiny1"]["psnr"]


def test_both_ways_is_scored_under_its_own_label(gt_folder, tmp_path, capsys):
    torch.manual_seed(0)
    net = Spk2VidNet(replace(TINY, name="tiny1", scale=1))
    torch.nn.init.normal_(net.upsample[0].weight, std=0.1)  # a non-zero residual: the two runs differ
    weights = tmp_path / "tiny1.pt"
    save_weights(net, weights, {}, half=False)
    figures = {}
    for flags in ([], ["--both-ways"]):
        report_path = tmp_path / f"reds{len(flags)}.json"
        code, _, err = run_cli(capsys, "eval", gt_folder, "--weights", weights, "--centre", 30, "--json",
                               report_path, *flags)
        assert code == 0, err
        figures.update(json.loads(report_path.read_text())["overall"])
    assert figures["net:tiny1 both-ways"]["psnr"] != figures["net:tiny1"]["psnr"]


def test_lens_blur_is_told_to_the_networks_that_take_it_only(gt_folder, tmp_path, capsys):
    paths = {}
    for name, told in (("plain", False), ("told", True)):
        torch.manual_seed(0)
        net = Spk2VidNet(replace(TINY, name=name, scale=1, blur_input=told))
        torch.nn.init.normal_(net.upsample[0].weight, std=0.1)  # a non-zero residual, so the blur can show
        if told:
            torch.nn.init.normal_(net.blur.linear.weight)
        paths[name] = tmp_path / f"{name}.pt"
        save_weights(net, paths[name], {}, half=False)
    figures = {}
    for blur in ([], ["--lens-blur", 0.5]):
        report_path = tmp_path / "reds.json"
        code, _, err = run_cli(capsys, "eval", gt_folder, "--weights", paths["plain"], "--weights", paths["told"],
                               "--centre", 30, "--json", report_path, *blur)
        assert code == 0, err
        figures[len(blur)] = json.loads(report_path.read_text())["overall"]
        report_path.unlink()
    assert figures[0]["net:plain"]["psnr"] == figures[2]["net:plain"]["psnr"]
    assert figures[0]["net:told"]["psnr"] != figures[2]["net:told"]["psnr"]


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "gt" / "scene.png").unlink(), "no ground truth gt/scene.png"),
    (lambda f: (f / "gt" / "scene.png").write_bytes(b"not a png"), "not a readable image"),
    (lambda f: iio.imwrite(f / "gt" / "scene.png", np.zeros((30, 40), np.uint8)), "does not match"),
])
def test_a_bad_reds_layout_folder_is_refused_in_one_line(gt_folder, tmp_path, damage, message, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(gt_folder, folder)
    damage(folder)
    code, _, err = run_cli(capsys, "eval", folder)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_synthetic_eval_adds_a_dense_slice_at_x1_only(tmp_path):
    from spk2vid_cli.commands.evaluate import _synthetic
    from spk2vid_cli.training.sources import file_entry, write_manifest

    path = tmp_path / "val.png"
    iio.imwrite(path, np.round(texture(256, 272, 4) * 255).astype(np.uint8))
    write_manifest(tmp_path, [file_entry(path, tmp_path, kind="image", split="val", licence="test")])
    x1 = _synthetic(tmp_path, 1, {}, "cpu")
    assert list(x1) == ["synthetic-val", "synthetic-dense"]
    # Four times the detail per pixel is harder for the classical methods than a smooth 1:1 crop.
    assert x1["synthetic-dense"]["TFP41"].summary()["psnr"] < x1["synthetic-val"]["TFP41"].summary()["psnr"]
    assert list(_synthetic(tmp_path, 2, {}, "cpu")) == ["synthetic-val"]
