"""The trainer on a tiny network and tiny synthetic sources: steps, exact resume, export, stops, CLI."""

import json
import os
import signal
from dataclasses import fields, replace
from types import SimpleNamespace

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from spk2vid_cli.errors import InputError
from spk2vid_cli.training.sources import SourcePool, file_entry, write_manifest
from spk2vid_cli.training.synth import Segment
from spk2vid_cli.training.train import CHECKPOINT, Trainer, TrainOptions, read_checkpoint, velocity_error, warm_start
from spk2vid_model.geometry import STRIDE
from spk2vid_model.model import Spk2VidNet
from spk2vid_model.weights import load_weights, save_weights
from io_helpers import run_cli
from torch_helpers import TINY

pytestmark = pytest.mark.usefixtures("one_thread")

LR = 8  # LR crop side; the HR view is 16x16


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random image in [0.1, 0.9]."""
    coarse = torch.from_numpy(np.random.default_rng(seed).random((1, 1, height // 6 + 2, width // 6 + 2), np.float32))
    fine = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return (0.1 + 0.8 * fine[0, 0].clamp(0, 1)).numpy()


@pytest.fixture(scope="module")
def pools() -> tuple[SourcePool, SourcePool]:
    train = SourcePool.from_arrays([texture(40, 48, 1), texture(44, 36, 2)])
    return train, SourcePool.from_arrays([texture(36, 40, 3)])


def options(tmp_path, **changes) -> TrainOptions:
    base = TrainOptions(out=tmp_path / "run", steps=4, batch=2, segment=2, stream_blocks=5, crop=LR, lr=1e-3,
                        lr_step=2, val_every=1000, val_streams=2, val_blocks=4, ckpt_every=1000, log_every=1,
                        device="cpu", render_step=5)
    return replace(base, **changes)


def trainer(opts: TrainOptions, pools, say=lambda line: None, config=TINY) -> Trainer:
    return Trainer(opts, config, *pools, say=say)


def test_steps_train_the_network_and_log(tmp_path, pools):
    run = trainer(options(tmp_path, val_every=3), pools)
    start = [p.detach().clone() for p in run.net.parameters()]
    summary = run.run()
    assert run.step == 4 and summary["steps"] == 4 and summary["stopped"] == "steps done"
    assert any(not torch.equal(a, b) for a, b in zip(start, run.net.parameters()))
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in lines] == [1, 2, 3, 4]
    assert all(np.isfinite(entry["loss"]) for entry in lines)
    assert lines[1]["lr"] == pytest.approx(1e-3 * 0.7)  # dropped after lr_step = 2 steps
    validated = lines[2]
    assert np.isfinite(validated["val_psnr"]) and validated["val_psnr_oracle"] > validated["val_psnr_tfp41"]
    assert (tmp_path / "run" / "log.csv").read_text().startswith("step,loss,lr,")
    assert len(summary["validation"]["net"]["psnr_by_position"]) == 4


@pytest.mark.parametrize("config", [TINY, replace(TINY, name="tiny-mc", compensate=True)], ids=["plain", "compensate"])
def test_resume_continues_exactly(tmp_path, pools, config):
    # Streams of 5 blocks in segments of 2: the checkpoint after step 2 falls inside a stream (with
    # recurrent state to carry, the velocity too), and step 3 ends that stream, so step 4 starts new ones.
    whole = trainer(options(tmp_path / "a"), pools, config=config)
    whole.run()
    first = trainer(options(tmp_path / "b", steps=2), pools, config=config)
    first.run()
    assert first.streams.state is not None and first.streams.blocks_done == 4
    assert (first.streams.state.velocity is not None) == config.compensate
    resumed = trainer(options(tmp_path / "b", resume=tmp_path / "b" / "run"), pools, config=config)
    assert resumed.step == 2
    resumed.run()
    for net in ("net", "ema"):
        for a, b in zip(getattr(whole, net).parameters(), getattr(resumed, net).parameters()):
            assert torch.equal(a, b)
    assert whole.optimizer.param_groups[0]["lr"] == resumed.optimizer.param_groups[0]["lr"]
    assert len(resumed.sessions) == 2 and resumed.sessions[1]["first_step"] == 3


def test_resume_refuses_another_architecture(tmp_path, pools):
    trainer(options(tmp_path, steps=1), pools).run()
    other = replace(TINY, channels=16)
    with pytest.raises(Exception, match="pass --config"):
        Trainer(options(tmp_path, resume=tmp_path / "run"), other, *pools)


def test_export_writes_loadable_ema_weights_with_a_summary(tmp_path, pools):
    path = tmp_path / "weights" / "tiny.pt"
    run = trainer(options(tmp_path, steps=2, export=path), pools)
    run.run()
    net, meta = load_weights(path)
    assert net.config == TINY
    for exported, average in zip(net.parameters(), run.ema.parameters()):
        assert torch.equal(exported, average.half().float())
    assert meta["steps"] == 2 and meta["validation"]["step"] == 2
    assert meta["validation"]["net"]["psnr"] > 0 and "TFP41" in meta["validation"]
    assert meta["sessions"][0]["steps"] == 2 and "CPU" in meta["sessions"][0]["hardware"]


def test_time_limit_stops_with_a_checkpoint(tmp_path, pools):
    run = trainer(options(tmp_path, steps=100, max_minutes=1e-9), pools)
    run.run()
    assert run.stop_reason == "time limit" and run.step < 100
    saved = read_checkpoint(tmp_path / "run" / CHECKPOINT)
    assert saved["step"] == run.step


def test_sigterm_stops_after_the_current_step_with_a_checkpoint(tmp_path, pools):
    def say(line: str) -> None:
        if line.startswith("step 2/"):
            os.kill(os.getpid(), signal.SIGTERM)

    run = trainer(options(tmp_path, steps=100), pools, say)
    run.run()
    assert run.stop_reason == "SIGTERM" and run.step == 2
    assert read_checkpoint(tmp_path / "run" / CHECKPOINT)["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_cli_trains_from_a_source_folder(tmp_path, capsys):
    data = tmp_path / "data"
    entries = []
    for name, split, seed in (("a", "train", 1), ("b", "train", 2), ("c", "val", 3)):
        path = data / f"{name}.png"
        path.parent.mkdir(exist_ok=True)
        iio.imwrite(path, np.round(texture(40, 40, seed) * 255).astype(np.uint8))
        entries.append(file_entry(path, data, kind="image", split=split, licence="test"))
    write_manifest(data, entries)
    out, weights = tmp_path / "run", tmp_path / "x2-lite.pt"
    code, printed, _ = run_cli(capsys, "train", "--config", "x2-lite", "--data", data, "--out", out, "--steps", 2,
                               "--crop", 8, "--batch", 1, "--segment", 2, "--stream-blocks", 3, "--val-streams", 1,
                               "--val-blocks", 3, "--device", "cpu", "--threads", 1, "--export", weights)
    assert code == 0
    assert "training x2-lite" in printed and "step 2/2" in printed
    assert (out / CHECKPOINT).is_file() and weights.is_file() and weights.with_suffix(".json").is_file()


def test_loss_weights_bright_streams_charbonnier_keeps_small_errors_and_l2_squares(tmp_path, pools):
    gt = torch.full((2, 1, 1, 4, 4), 0.5)
    segment = Segment(torch.zeros(2, 1, 5, 2, 2), gt * torch.tensor([0.2, 0.8]).view(2, 1, 1, 1, 1),
                      torch.zeros(2, 1, 1, 2, 2), torch.tensor([0.2, 0.8]), 0)
    errors = torch.tensor([0.1, 0.3]).view(2, 1, 1, 1, 1)  # in intensity units, per stream
    hr = (gt + errors) * segment.rate.view(2, 1, 1, 1, 1)
    plain = trainer(options(tmp_path), pools).loss(hr, segment)
    bright = trainer(options(tmp_path, bright_weight=3.0), pools).loss(hr, segment)
    assert plain.item() == pytest.approx(0.2) and bright.item() == pytest.approx((0.1 + 3 * 0.3) / 4)
    smooth = trainer(options(tmp_path, loss="charbonnier"), pools)
    assert smooth.loss(gt * segment.rate.view(2, 1, 1, 1, 1), segment).item() == pytest.approx(1e-3)
    squared = trainer(options(tmp_path, loss="l2"), pools).loss(hr, segment)
    assert squared.item() == pytest.approx((0.1 ** 2 + 0.3 ** 2) / 2)


def test_velocity_error_counts_known_motion_in_pixels_per_block():
    truth = torch.tensor([[[[0.1, float("nan")]], [[0.0, float("nan")]]]])  # (1, 2, 1, 2): one known pixel
    read_out = torch.tensor([[[[0.2, 5.0]], [[-0.1, 5.0]]]])
    assert velocity_error(read_out, truth).item() == pytest.approx(STRIDE * 0.1)
    assert velocity_error(read_out, torch.full_like(truth, float("nan"))).item() == 0


def test_velocity_weight_reaches_the_read_out_and_needs_a_compensating_network(tmp_path, pools):
    compensating = replace(TINY, name="tiny-mc", compensate=True)
    heads = {}
    for weight in (0.0, 1.0):
        run = trainer(options(tmp_path / str(weight), steps=3, velocity_weight=weight, max_speed=6.0), pools,
                      config=compensating)
        run.run()
        heads[weight] = run.net.compensate.head.weight.detach().clone()
    assert not torch.equal(heads[0.0], heads[1.0])
    with pytest.raises(InputError, match="--velocity-weight"):
        trainer(options(tmp_path / "plain", velocity_weight=1.0), pools)


def test_warm_start_takes_every_matching_tensor_and_is_recorded(tmp_path, pools):
    torch.manual_seed(5)
    source = Spk2VidNet(replace(TINY, scale=1))  # another scale: only the upsampler differs
    save_weights(source, tmp_path / "x1.pt", {}, half=False)
    net = Spk2VidNet(TINY)
    taken, fresh = warm_start(net, tmp_path / "x1.pt")
    assert taken["tensors"] + taken["fresh"] == len(net.state_dict()) and taken["fresh"] == 2
    assert fresh == ["upsample.0.weight", "upsample.0.bias"]
    assert torch.equal(net.first.fuse[0].weight, source.first.fuse[0].weight)
    run = trainer(options(tmp_path, steps=1, init=tmp_path / "x1.pt"), pools)
    assert run.run()["sessions"][0]["warm_start"]["tensors"] == taken["tensors"]


def test_fresh_tensors_learn_at_their_own_rate_and_keep_it_on_resume(tmp_path, pools):
    """--fresh-lr-factor: the tensors --init did not supply form a second Adam group; a resumed run
    rebuilds the same groups and continues exactly."""
    save_weights(Spk2VidNet(replace(TINY, scale=1)), tmp_path / "x1.pt", {}, half=False)
    opts = options(tmp_path / "a", init=tmp_path / "x1.pt", fresh_lr_factor=10.0, lr_step=100)
    whole = trainer(opts, pools)
    assert [len(g["params"]) for g in whole.optimizer.param_groups] == [len(list(whole.net.parameters())) - 2, 2]
    assert [g["lr"] for g in whole.optimizer.param_groups] == [1e-3, 1e-2]
    whole.run()
    first = trainer(replace(opts, out=tmp_path / "b" / "run", steps=2), pools)
    first.run()
    resumed = trainer(replace(opts, out=tmp_path / "b" / "run", init=None, resume=tmp_path / "b" / "run"), pools)
    assert [g["lr"] for g in resumed.optimizer.param_groups] == [1e-3, 1e-2]
    resumed.run()
    for a, b in zip(whole.net.parameters(), resumed.net.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    plain = trainer(replace(opts, out=tmp_path / "c", fresh_lr_factor=1.0), pools)
    assert len(plain.optimizer.param_groups) == 1


def test_the_command_line_is_made_from_train_options(tmp_path, capsys, monkeypatch):
    """Every TrainOptions field is an option with help, its default the dataclass's; the command passes them on."""
    from spk2vid_cli.commands import train as command

    missing = {field.name for field in fields(TrainOptions)} - set(command.OPTIONS)
    assert not missing, f"give these TrainOptions fields a typer.Option in spk2vid_cli/commands/train.py: {missing}"
    received = []
    monkeypatch.setattr("spk2vid_cli.training.train.Trainer",
                        lambda opts, say: received.append(opts) or SimpleNamespace(run=lambda: None))
    assert run_cli(capsys, "train", "--out", tmp_path, "--steps", 3, "--render-step", 5, "--max-minutes", 1.5)[0] == 0
    assert received == [TrainOptions(out=tmp_path, steps=3, render_step=5, max_minutes=1.5)]
    shown = " ".join(run_cli(capsys, "train", "--help")[1].split())
    assert "--stream-blocks" in shown and "--lr-gamma" in shown and "[default: 0.7]" in shown


def test_a_damaged_checkpoint_is_refused_in_one_line(tmp_path, pools):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        trainer(options(tmp_path, resume=tmp_path / "run"), pools)
    torch.save({"f": print}, tmp_path / "run" / CHECKPOINT)  # code, not data: weights_only refuses it
    with pytest.raises(InputError, match="not a readable checkpoint"):
        trainer(options(tmp_path, resume=tmp_path / "run"), pools)


def test_supersample_draws_a_detail_density_per_set_of_streams(tmp_path, pools):
    run = trainer(options(tmp_path, supersample=2, stream_blocks=2, segment=2), pools)
    drawn = set()
    for _ in range(12):
        run.train_step()
        drawn.add(run.streams.batch.supersample)
    assert drawn == {1, 2}
    assert trainer(options(tmp_path), pools).streams.batch.supersample == 1


def test_quiet_share_draws_ideal_sensors_for_that_share_of_stream_sets(tmp_path, pools):
    def sensors(share):
        run = trainer(options(tmp_path, quiet_share=share, stream_blocks=2, segment=2), pools)
        quiet = []
        for _ in range(16):
            run.train_step()
            batch = run.streams.batch
            quiet.append(batch.noise_std == 0 and batch.dark_current == 0 and bool((batch.thresholds == 1).all()))
        return quiet

    assert all(sensors(1.0)) and not any(sensors(0.0))
    assert 0 < sum(sensors(0.5)) < 16


def test_lens_blur_reaches_every_set_of_streams_and_the_recipe(tmp_path, pools):
    run = trainer(options(tmp_path, lens_blur=0.6, stream_blocks=2, segment=2), pools)
    sigmas = []
    for _ in range(4):
        run.train_step()
        sigmas.append(run.streams.batch.blur)
    assert all(s is not None and bool((s >= 0).all() and (s <= 0.6).all()) for s in sigmas)
    assert not torch.equal(sigmas[0], sigmas[-1])               # new sets of streams draw new lenses
    assert run.summary()["recipe"]["lens_blur"] == 0.6
    assert trainer(options(tmp_path), pools).streams.batch.blur is None


def test_a_network_that_takes_the_blur_is_told_it_except_for_the_hidden_share(tmp_path, pools):
    told = replace(TINY, name="tiny-blur", blur_input=True)

    def told_blur(hidden):
        run = trainer(options(tmp_path / str(hidden), lens_blur=0.6, blur_hidden=hidden, stream_blocks=2, segment=2),
                      pools, config=told)
        seen = []
        for _ in range(8):
            run.train_step()
            truth, blur = run.streams.batch.blur, run.streams.blur
            assert torch.equal(blur.isnan() | (blur == truth), torch.ones_like(truth, dtype=torch.bool))
            seen.append(blur)
        return torch.cat(seen), run

    assert not told_blur(0.0)[0].isnan().any()
    assert told_blur(1.0)[0].isnan().all()
    some, run = told_blur(0.5)
    assert 0 < int(some.isnan().sum()) < len(some)
    assert run.net.blur.linear.weight.abs().sum() > 0  # it learns from the streams it is told
    assert run.summary()["recipe"]["blur_hidden"] == 0.5
    assert trainer(options(tmp_path / "blind", lens_blur=0.6), pools).streams.blur is None  # a blind network
    with pytest.raises(InputError, match="--blur-hidden: tiny is not told the lens blur"):
        trainer(options(tmp_path / "blind", blur_hidden=0.3), pools)
    sharp = trainer(options(tmp_path / "sharp"), pools, config=told).streams.blur
    assert torch.equal(sharp, torch.zeros(2))                                 # told: no blur
