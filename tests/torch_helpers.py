"""Helpers shared by the network tests (CPU suite and the CUDA checks alike): the one tiny configuration,
weights that look trained, streams and the tiling check."""

from dataclasses import replace

import numpy as np
import torch

from spk2vid_cli.net import NetReconstructor, tile_spans
from spk2vid_cli.windows import Block
from spk2vid_model.model import CONFIGS, ModelConfig, Spk2VidNet
from spk2vid_model.weights import load_weights, save_weights

# The tiny network of every test: the real block window and all the architecture's parts (MFCA with
# K=2 and 2 deformable groups, CMF with 2 dilations, direct pixel-shuffle upsampling), 8 channels,
# no residual blocks. Tests that need more derive from it with `replace` and say why.
TINY = replace(CONFIGS["x2"], name="tiny", channels=8, extract_blocks=0, fusion_blocks=0, deform_groups=2,
               cmf_channels=4, cmf_dilations=(1, 2), upsampler="direct")
# Offsets within 2 px keep the receptive field small, so tiling can be checked exactly on most pixels.
TILE_TINY = replace(TINY, max_offset=2.0)


def trained_looking(config: ModelConfig, seed: int = 0, amount: float = 0.05) -> Spk2VidNet:
    """A network whose zero-initialised layers (offsets, output) have moved, as after training.

    `amount` is the spread of the noise added to every weight (the full-size networks need less
    than 0.05 to stay in range through their residual blocks)."""
    torch.manual_seed(seed)
    net = Spk2VidNet(config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(amount * torch.randn_like(p))
    return net


def save_network(path, config=TILE_TINY, meta=None, seed=0):
    """Weights of a network whose zero-initialised layers have moved, as after training."""
    save_weights(trained_looking(config, seed), path, meta or {}, half=False)
    return path


def stream(count, height, width, window=TILE_TINY.window, seed=0):
    """`count` consecutive, non-overlapping blocks of random spikes."""
    frames = (np.random.default_rng(seed).random((count * window, height, width)) < 0.3).astype(np.uint8)
    return [Block(i, i * window + window // 2, frames[i * window:(i + 1) * window]) for i in range(count)]


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """A random image with detail at several scales, in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    layers = [torch.nn.functional.interpolate(torch.from_numpy(rng.random((1, 1, height // f, width // f), np.float32)),
                                              size=(height, width), mode="bilinear", align_corners=False)
              for f in (2, 4, 8)]
    return (0.1 + 0.8 * sum(layers)[0, 0] / 3).numpy()


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


def check_tiled_matches_untiled(weights, device: str = "cpu", atol: float = 1e-5) -> None:
    """Each tile sees zero padding at its edges where the whole frame has neighbours, so tiles may
    differ only within the network's receptive field (measured here by autograd, growing with every
    block of history) of an edge shared with another tile; everywhere else, including the blended
    overlaps when they are wide enough, tiled output equals untiled up to `atol` (float32 rounding).

    `weights`: a TILE_TINY network (its receptive field is small enough to leave such pixels)."""
    size, tile, overlap, count = 120, 90, 60, 2
    blocks = stream(count, size, size)
    net, _ = load_weights(weights)
    radius = receptive_radius(net, count, 200)
    whole = NetReconstructor(2, weights=weights, device=device, precision="fp32")
    tiled = NetReconstructor(2, weights=weights, device=device, precision="fp32", tile=tile, tile_overlap=overlap)
    for block in blocks:
        expected, got = whole.reconstruct(block), tiled.reconstruct(block)
    exact = exact_positions(size, tile_spans(size, tile, overlap), radius).repeat(2)
    inside = exact[:, None] & exact[None, :]
    blended = np.zeros(size, bool)
    blended[tile - overlap:tile] = True
    assert (inside & blended.repeat(2)[:, None]).any()  # some blended pixels are checked
    np.testing.assert_allclose(got[inside], expected[inside], atol=atol)
    assert np.abs(got - expected).max() > 1e-4  # the tiles really ran separately
