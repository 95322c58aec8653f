"""NetReconstructor: streaming across calls, tiling, weight choice and flag errors."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from spk2vid_cli import net as net_module
from spk2vid_cli.errors import InputError
from spk2vid_cli.net import NetReconstructor, available_weights, plan_tiles, resolve_precision
from spk2vid_cli.spikes import SpikeRecording
from spk2vid_cli.training import evaluate
from spk2vid_cli.windows import iter_blocks
from spk2vid_model import weights
from spk2vid_model.weights import load_weights
from torch_helpers import TILE_TINY as TINY
from torch_helpers import check_tiled_matches_untiled, save_network, stream

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def tiny_weights(tmp_path):
    return save_network(tmp_path / "tiny.pt")


def test_reconstruct_continues_the_stream_and_reset_restarts_it(tiny_weights):
    blocks = stream(3, 7, 9)
    rec = NetReconstructor(2, weights=tiny_weights, device="cpu", precision="fp32")
    frames = [rec.reconstruct(block) for block in blocks]
    assert rec.window == TINY.window and rec.scale == 2
    assert "cpu, fp32" in rec.description
    assert all(f.dtype == np.float32 and f.shape == (14, 18) for f in frames)
    net, _ = load_weights(tiny_weights)
    with torch.no_grad():
        whole, _ = net(torch.from_numpy(np.stack([b.frames for b in blocks]))[None].float())
    np.testing.assert_allclose(np.stack(frames), whole[0, :, 0].clamp(0, 1).numpy(), atol=1e-5)
    rec.reset()
    np.testing.assert_allclose(rec.reconstruct(blocks[0]), frames[0], atol=1e-6)


def test_tiled_equals_untiled_outside_the_seams_receptive_field(tiny_weights):
    check_tiled_matches_untiled(tiny_weights)  # the CUDA checks run the same on the GPU


def test_tile_weights_sum_to_one():
    for tile, overlap in ((8, 3), (10, 0), (5, 2)):
        tiles = plan_tiles(23, 17, tile, overlap, scale=3)
        total = torch.zeros(69, 51)
        for t in tiles:
            total[t.rows.start * 3:t.rows.stop * 3, t.cols.start * 3:t.cols.stop * 3] += t.weight
        torch.testing.assert_close(total, torch.ones_like(total))
    assert plan_tiles(23, 17, 32, 8, scale=2)[0].weight is None


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """A weights folder with x4 lite and x4 full and x2 full."""
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    for scale, variant in ((4, "lite"), (4, "full"), (2, "full")):
        save_network(tmp_path / f"x{scale}-{variant}.pt", replace(TINY, scale=scale), {"variant": variant})
    return tmp_path


def test_auto_model_takes_lite_on_cpu_and_says_so(bundled):
    assert available_weights() == {2: ["full"], 4: ["full", "lite"]}
    rec = NetReconstructor(4, device="cpu")
    assert rec.meta == {"variant": "lite"} and "lite on CPU" in rec.description
    assert NetReconstructor(4, model="full", device="cpu").meta == {"variant": "full"}
    fallback = NetReconstructor(2, device="cpu")
    assert fallback.meta == {"variant": "full"} and "only full weights exist" in fallback.description


@pytest.mark.parametrize("kwargs, fragment", [
    ({"scale": 8}, "weights exist for: x2, x4); pass --method tfp"),
    ({"scale": 2, "model": "lite"}, "no lite weights for x2"),
    ({"scale": 4, "model": "huge"}, "--model huge"),
    ({"scale": 4, "device": "tpu"}, "--device tpu"),
    ({"scale": 4, "precision": "fp8"}, "--precision fp8"),
    ({"scale": 4, "tile": 16, "tile_overlap": 16}, "need tile > overlap"),
])
def test_flag_errors_are_one_line(bundled, kwargs, fragment):
    with pytest.raises(InputError) as err:
        NetReconstructor(**kwargs)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_weights_for_another_scale_are_refused(tiny_weights):
    with pytest.raises(InputError, match=r"tiny.pt: weights for x2, not --scale 4"):
        NetReconstructor(4, weights=tiny_weights, device="cpu")


def test_lens_blur_is_told_to_networks_that_take_it_and_refused_by_others(tmp_path, tiny_weights):
    told = save_network(tmp_path / "told.pt", replace(TINY, name="tiny-blur", blur_input=True))
    blocks = stream(2, 8, 10)

    def frames(**kwargs):
        rec = NetReconstructor(2, weights=told, device="cpu", precision="fp32", **kwargs)
        return rec, np.stack([rec.reconstruct(block) for block in blocks])

    rec, sharp = frames(lens_blur=0.0)
    assert "lens blur 0.0 px" in rec.description
    net, _ = load_weights(told)
    with torch.no_grad():
        whole, _ = net(torch.from_numpy(np.stack([b.frames for b in blocks]))[None].float(), blur=torch.tensor([0.0]))
    np.testing.assert_allclose(sharp, whole[0, :, 0].clamp(0, 1).numpy(), atol=1e-5)
    assert np.abs(frames(lens_blur=0.8)[1] - sharp).max() > 1e-3 and np.abs(frames()[1] - sharp).max() > 1e-3
    with pytest.raises(InputError, match=r"tiny.pt: tiny weights are not told the lens blur; drop --lens-blur"):
        NetReconstructor(2, weights=tiny_weights, device="cpu", lens_blur=0.5)
    with pytest.raises(InputError, match="--lens-blur nan"):
        NetReconstructor(2, weights=told, device="cpu", lens_blur=float("nan"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_cuda_without_a_gpu_is_an_input_error(tiny_weights):
    with pytest.raises(InputError, match="no CUDA GPU"):
        NetReconstructor(2, weights=tiny_weights, device="cuda")


def test_bf16_on_cpu_stays_close_to_fp32(tiny_weights):
    block = stream(1, 8, 10)[0]
    fp32 = NetReconstructor(2, weights=tiny_weights, device="cpu", precision="fp32").reconstruct(block)
    bf16 = NetReconstructor(2, weights=tiny_weights, device="cpu", precision="bf16").reconstruct(block)
    assert np.abs(bf16 - fp32).max() < 0.05


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_on_cpus_with_native_bf16(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"


def recording_of(frames: np.ndarray, reads: list) -> SpikeRecording:
    """An in-memory recording of `frames` that logs each `frames(start, stop)` call in `reads`."""
    def read(start, stop):
        reads.append((start, stop))
        return frames[start:stop].copy()

    return SpikeRecording(Path("mem.dat"), "array", *frames.shape[1:], len(frames), "test", False, 0, _read=read)


@pytest.mark.parametrize("chunk, run_up", [(3, 2), (32, 4)])
def test_both_ways_averages_chunked_backward_runs_over_the_reversed_stream(tiny_weights, monkeypatch, chunk, run_up):
    monkeypatch.setattr(net_module, "BACKWARD_CHUNK", chunk)
    monkeypatch.setattr(net_module, "RUN_UP", run_up)
    window, stride = TINY.window, 5
    spikes = (np.random.default_rng(1).random((window + 7 * stride, 8, 10)) < 0.3).astype(np.uint8)
    reads = []
    blocks = list(iter_blocks(recording_of(spikes, reads), window, stride))
    forward = NetReconstructor(2, weights=tiny_weights, device="cpu", precision="fp32")
    both = NetReconstructor(2, weights=tiny_weights, device="cpu", precision="fp32", both_ways=True, stride=stride)
    assert "both ways" in both.description
    reads.clear()
    got = [both.reconstruct(blocks[0])]
    # the first backward run reads only as far as it needs, not the whole recording
    assert max(stop for _, stop in reads) == blocks[min(chunk + run_up, len(blocks)) - 1].centre + window // 2 + 1
    got += [both.reconstruct(block) for block in blocks[1:]]
    for j, block in enumerate(blocks):
        start = j - j % chunk
        forward.reset()  # the backward run of j's chunk: from run_up blocks past the chunk's end, back to it
        for later in blocks[min(start + chunk + run_up, len(blocks)) - 1:j:-1]:
            forward.reconstruct(replace(later, frames=later.frames[::-1]))
        backward = forward.reconstruct(replace(block, frames=block.frames[::-1]))
        forward.reset()
        ahead = [forward.reconstruct(b) for b in blocks[:j + 1]][-1]
        np.testing.assert_allclose(got[j], (ahead + backward) / 2, atol=1e-5)


def test_both_ways_on_the_synthetic_set_matches_the_reconstructor(tiny_weights, monkeypatch):
    for module in (net_module, evaluate):
        monkeypatch.setattr(module, "BACKWARD_CHUNK", 3)
        monkeypatch.setattr(module, "RUN_UP", 2)
    blocks = stream(8, 8, 10)  # consecutive blocks, `window` frames apart
    spikes = np.concatenate([b.frames for b in blocks])
    recording = recording_of(spikes, [])
    rec = NetReconstructor(2, weights=tiny_weights, device="cpu", precision="fp32", both_ways=True,
                           stride=TINY.window)
    frames = np.stack([rec.reconstruct(replace(b, source=recording)) for b in blocks])
    net, _ = load_weights(tiny_weights)
    batched = evaluate.predict_net(net, torch.from_numpy(spikes).float().reshape(1, 8, TINY.window, 8, 10),
                                   chunk=3, both_ways=True)
    np.testing.assert_allclose(frames, batched[0, :, 0].clamp(0, 1).numpy(), atol=1e-5)
    forward = evaluate.predict_net(net, torch.from_numpy(spikes).float().reshape(1, 8, TINY.window, 8, 10), chunk=3)
    assert (forward - batched).abs().max() > 1e-3  # the backward runs do change the frames


def test_both_ways_reads_nothing_past_the_end_of_the_range(tiny_weights):
    window, stride = TINY.window, 5
    spikes = (np.random.default_rng(2).random((window + 9 * stride, 8, 10)) < 0.3).astype(np.uint8)
    reads = []
    end = window + 4 * stride
    both = NetReconstructor(2, weights=tiny_weights, device="cpu", precision="fp32", both_ways=True, stride=stride)
    frames = [both.reconstruct(block) for block in iter_blocks(recording_of(spikes, reads), window, stride, 0, end)]
    assert len(frames) == 5 and max(stop for _, stop in reads) == end


def test_both_ways_follows_the_spacing_of_the_blocks_it_is_given(tiny_weights, monkeypatch):
    monkeypatch.setattr(net_module, "BACKWARD_CHUNK", 3)
    monkeypatch.setattr(net_module, "RUN_UP", 2)
    window, stride = TINY.window, 5
    spikes = (np.random.default_rng(3).random((window + 7 * stride, 8, 10)) < 0.3).astype(np.uint8)
    blocks = list(iter_blocks(recording_of(spikes, []), window, stride))
    runs = []
    both = NetReconstructor(2, weights=tiny_weights, device="cpu", precision="fp32", both_ways=True,
                            stride=stride + 1)  # a wrong guess: every chunk would have to be redone
    backward = both._run_backward
    monkeypatch.setattr(both, "_run_backward", lambda block: runs.append(block.index) or backward(block))
    for block in blocks:
        both.reconstruct(block)
    assert runs == [0, 1, 4, 7]  # the guess, then chunks of 3 at the stream's own spacing
