"""NetReconstructor: streaming across calls, tiling, weight choice and flag errors."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from spk2vid_cli.errors import InputError
from spk2vid_cli.net import NetReconstructor, available_weights, plan_tiles, tile_spans
from spk2vid_cli.windows import Block
from spk2vid_model import weights
from spk2vid_model.weights import load_weights, save_weights
from torch_helpers import TINY, trained_looking

pytestmark = pytest.mark.usefixtures("one_thread")

# Offsets within 2 px keep the receptive field small, so tiling is checked exactly on most pixels.
SMALL_FIELD = replace(TINY, max_offset=2.0)


def save_network(path, config=SMALL_FIELD, meta=None, seed=0):
    """Weights of a network whose zero-initialised layers have moved, as after training."""
    save_weights(trained_looking(config, seed), path, meta or {}, half=False)
    return path


def stream(count, height, width, window=TINY.window, seed=0):
    """`count` consecutive, non-overlapping blocks of random spikes."""
    frames = (np.random.default_rng(seed).random((count * window, height, width)) < 0.3).astype(np.uint8)
    return [Block(i, i * window + window // 2, frames[i * window:(i + 1) * window]) for i in range(count)]


@pytest.fixture
def tiny_weights(tmp_path):
    return save_network(tmp_path / "tiny.pt")


def test_reconstruct_continues_the_stream_and_reset_restarts_it(tiny_weights):
    blocks = stream(3, 7, 9)
    rec = NetReconstructor(2, weights=tiny_weights, device="cpu")
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


def receptive_radius(net, count, width):
    """LR columns that the centre output column of block `count` depends on, either side (autograd)."""
    blocks = torch.rand(1, count, net.config.window, 4, width).round().requires_grad_()
    hr, _ = net(blocks)
    centre = width // 2 * net.config.scale
    hr[0, -1, 0, :, centre:centre + net.config.scale].sum().backward()
    used = (blocks.grad.abs().sum((0, 1, 2, 3)) > 0).nonzero().flatten()
    return int(max(width // 2 - used.min(), used.max() - width // 2))


def exact_positions(length, spans, radius):
    """LR positions where every tile with weight there sees all the inputs the output depends on."""
    return np.array([all((start == 0 or u - radius >= start) and (stop == length or u + radius < stop)
                         for start, stop in spans if start <= u < stop) for u in range(length)])


def test_tiled_equals_untiled_outside_the_seams_receptive_field(tiny_weights):
    """Each tile sees zero padding at its edges where the whole frame has neighbours, so tiles may
    differ only within the network's receptive field (measured here by autograd, growing with every
    block of history) of an edge shared with another tile; everywhere else, including the blended
    overlaps when they are wide enough, tiled output equals untiled up to float32 rounding."""
    size, tile, overlap, count = 120, 90, 60, 2
    blocks = stream(count, size, size)
    net, _ = load_weights(tiny_weights)
    radius = receptive_radius(net, count, 200)
    whole = NetReconstructor(2, weights=tiny_weights, device="cpu")
    tiled = NetReconstructor(2, weights=tiny_weights, device="cpu", tile=tile, tile_overlap=overlap)
    for block in blocks:
        expected, got = whole.reconstruct(block), tiled.reconstruct(block)
    exact = exact_positions(size, tile_spans(size, tile, overlap), radius).repeat(2)
    inside = exact[:, None] & exact[None, :]
    blended = np.zeros(size, bool)
    blended[tile - overlap:tile] = True
    assert (inside & blended.repeat(2)[:, None]).any()  # some blended pixels are checked
    np.testing.assert_allclose(got[inside], expected[inside], atol=1e-5)
    assert np.abs(got - expected).max() > 1e-4  # the tiles really ran separately


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


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_cuda_without_a_gpu_is_an_input_error(tiny_weights):
    with pytest.raises(InputError, match="no CUDA GPU"):
        NetReconstructor(2, weights=tiny_weights, device="cuda")


def test_bf16_on_cpu_stays_close_to_fp32(tiny_weights):
    block = stream(1, 8, 10)[0]
    fp32 = NetReconstructor(2, weights=tiny_weights, device="cpu").reconstruct(block)
    bf16 = NetReconstructor(2, weights=tiny_weights, device="cpu", precision="bf16").reconstruct(block)
    assert np.abs(bf16 - fp32).max() < 0.05
