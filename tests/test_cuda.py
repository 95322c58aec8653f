"""CUDA checks of Spk2VidNet (`pytest -m cuda`; `scripts/gpu_run.sh` runs them on the GPU machine).

Tests marked `cuda` run the real x4 and x4-lite networks on `SPK2VID_TEST_DEVICE` (default `cuda`)
and skip where PyTorch sees no CUDA GPU, so CI stays green; `SPK2VID_TEST_DEVICE=cpu` runs the
same checks on the CPU on smaller frames (the script's CPU dry run does). The comparisons are
helpers that the unmarked tests below also run on the CPU with tiny networks in the normal suite,
so their logic is known to work before a GPU sees it:
- fp32 on the device matches the CPU within 1e-4 relative, block by block with the recurrent state
  carried across calls (TF32 off: PyTorch lets cuDNN convolutions use it by default);
- bf16 is within 0.1 dB PSNR of fp32 on a small synthetic validation set (`validation_segments`,
  from data/pack's held-out sources when present, else random textures);
- tiled output matches untiled outside the seams' receptive field (`check_tiled_matches_untiled`);
- `NetReconstructor(compile=True)` runs and matches eager.
x4-lite uses the bundled trained weights; x4 uses committed full weights when present, else an
untrained network with slightly moved weights (its PSNR means nothing, the gap between precisions does).
"""

import copy
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from spk2vid_cli.net import PRECISIONS, NetReconstructor
from spk2vid_cli.training.evaluate import score
from spk2vid_cli.training.sources import SourcePool
from spk2vid_cli.training.synth import Segment, validation_segments
from spk2vid_cli.windows import Block
from spk2vid_model.model import CONFIGS, Spk2VidNet
from spk2vid_model.weights import WEIGHTS_DIR, load_weights, save_weights
from torch_helpers import check_tiled_matches_untiled, save_network, texture, trained_looking

DEVICE = os.environ.get("SPK2VID_TEST_DEVICE", "cuda")
ON_GPU = DEVICE.startswith("cuda")
needs_device = pytest.mark.skipif(
    ON_GPU and not torch.cuda.is_available(),
    reason="CUDA check: PyTorch sees no CUDA GPU here (SPK2VID_TEST_DEVICE=cpu runs it on the CPU)")
LR_SIZE = (64, 96) if ON_GPU else (16, 24)  # frames of the stream comparisons
PACK = Path(__file__).resolve().parents[1] / "data" / "pack"
TRAINED = {"x4-lite": ("x4-lite.pt",), "x4": ("x4-full.pt", "x4-full-wip.pt")}
MOVED = {"x4": 0.01}  # weight noise of an untrained network that stays in range (trained_looking)
TINY = replace(CONFIGS["x2-lite"], name="tiny", window=5, channels=8, cmf_channels=4)


def on_device(test):
    """Mark a test as a CUDA check that skips without the device."""
    return pytest.mark.cuda(needs_device(test))


@pytest.fixture
def exact_fp32():
    """fp32 as fp32 on CUDA: TF32 off for convolutions and matrix products while the test runs."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# --- the comparisons (run on the CPU by the unmarked tests, on the device by the marked ones) ------------


def network(name: str) -> Spk2VidNet:
    """Trained weights of `name` from model/weights when there are some, else moved untrained ones."""
    for file in TRAINED.get(name, ()):
        if (WEIGHTS_DIR / file).is_file():
            return load_weights(WEIGHTS_DIR / file)[0]
    return trained_looking(CONFIGS[name], amount=MOVED.get(name, 0.05)).eval()


def spikes(count: int, height: int, width: int, window: int, seed: int = 0) -> torch.Tensor:
    """A stream of `count` random spike blocks, (1, count, window, height, width) float."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(1, count, window, height, width, generator=generator) < 0.3).float()


def stream_outputs(net: Spk2VidNet, blocks: torch.Tensor, device: str, precision: str = "fp32",
                   per_call: int = 1) -> torch.Tensor:
    """The network over streams (B, N, window, h, w) on `device`, `per_call` blocks per call with the
    recurrent state carried between calls, channels-last as `spk2vid convert` runs it: (B, N, 1, rH, rW)
    float32 on the CPU."""
    net = copy.deepcopy(net).to(device, memory_format=torch.channels_last).eval()
    blocks = blocks.to(device)
    autocast = torch.autocast(torch.device(device).type, dtype=PRECISIONS[precision], enabled=precision != "fp32")
    outputs, state = [], None
    with torch.inference_mode(), autocast:
        for start in range(0, blocks.shape[1], per_call):
            hr, state = net(blocks[:, start:start + per_call], state)
            outputs.append(hr.float().cpu())
    return torch.cat(outputs, 1)


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest absolute difference over the largest magnitude of `expected`."""
    return float((got - expected).abs().max() / expected.abs().max())


def validation_set(scale: int, window: int, lr_size: int, blocks: int, streams: int) -> Segment:
    """A small fixed synthetic validation set: data/pack's held-out sources, else random textures."""
    pool = SourcePool(PACK, "val") if PACK.is_dir() else SourcePool.from_arrays(
        [texture(4 * lr_size, 4 * lr_size, seed) for seed in range(3)])
    return validation_segments(pool, scale, lr_size, blocks, streams, window=window, stride=10)


def psnr_gap(net: Spk2VidNet, segment: Segment, device: str) -> tuple[float, float]:
    """PSNR (dB) of the network in fp32 and in bf16 on a validation segment."""
    crop = net.config.scale
    return tuple(score(stream_outputs(net, segment.blocks, device, precision, per_call=3), segment.gt,
                       segment.rate, crop).summary()["psnr"] for precision in ("fp32", "bf16"))


def compiled_vs_eager(weights: Path, device: str, height: int, width: int, count: int = 6) -> float:
    """Relative error of `NetReconstructor(compile=True)` against eager over a stream of `count` blocks.

    Only the first block may compile: a recompilation on a later one (while the history fills up,
    or when it is full) raises."""
    net, _ = load_weights(weights)
    blocks = spikes(count, height, width, net.config.window)[0].numpy().astype(np.uint8)
    runs = []
    torch._dynamo.reset()
    for compile in (False, True):
        rec = NetReconstructor(net.config.scale, weights=weights, device=device, precision="fp32", compile=compile)
        frames = [rec.reconstruct(Block(0, 0, blocks[0]))]
        with torch._dynamo.config.patch(error_on_recompile=True):
            frames += [rec.reconstruct(Block(i, i, b)) for i, b in enumerate(blocks[1:], 1)]
        runs.append(np.stack(frames))
    return relative_error(torch.from_numpy(runs[1]), torch.from_numpy(runs[0]))


# --- the same logic on the CPU, tiny networks (normal suite) ---------------------------------------------


def test_block_by_block_calls_carry_the_state_like_one_call(one_thread):
    net = trained_looking(TINY)
    blocks = spikes(4, 10, 12, TINY.window)
    one_call = stream_outputs(net, blocks, "cpu", per_call=4)
    assert relative_error(stream_outputs(net, blocks, "cpu", per_call=1), one_call) <= 1e-5
    assert relative_error(stream_outputs(net, blocks[:, 1:], "cpu"), one_call[:, 1:]) > 1e-3  # state matters


def test_compiled_network_matches_eager_and_compiles_once(tmp_path, one_thread):
    weights = save_network(tmp_path / "tiny.pt", TINY)
    assert compiled_vs_eager(weights, "cpu", 12, 16) <= 1e-4


def test_bf16_psnr_gap_on_a_tiny_synthetic_set(one_thread):
    net = trained_looking(replace(TINY, scale=4))
    pool = SourcePool.from_arrays([texture(64, 64, 0)])
    segment = validation_segments(pool, 4, 12, num_blocks=3, streams=2, window=TINY.window)
    fp32, bf16 = psnr_gap(net, segment, "cpu")
    assert np.isfinite([fp32, bf16]).all() and fp32 != bf16
    assert abs(fp32 - bf16) < 0.5


# --- the CUDA checks ---------------------------------------------------------------------------------------


@on_device
@pytest.mark.parametrize("name", ["x4-lite", "x4"])
def test_fp32_on_the_device_matches_the_cpu_across_calls(name, exact_fp32):
    net = network(name)
    blocks = spikes(4, *LR_SIZE, net.config.window)
    expected = stream_outputs(net, blocks, "cpu")
    error = relative_error(stream_outputs(net, blocks, DEVICE), expected)
    print(f"{name}: fp32 {DEVICE} vs CPU over 4 calls, relative error {error:.2e}")
    assert error <= 1e-4


@on_device
@pytest.mark.parametrize("name", ["x4-lite", "x4"])
def test_bf16_is_within_a_tenth_of_a_db_of_fp32_on_the_synthetic_set(name, exact_fp32):
    net = network(name)
    lr_size, blocks, streams = (64, 12, 4) if ON_GPU else (16, 3, 2)
    segment = validation_set(net.config.scale, net.config.window, lr_size, blocks, streams)
    fp32, bf16 = psnr_gap(net, segment, DEVICE)
    print(f"{name}: {streams} streams x {blocks} blocks of {lr_size}x{lr_size}: fp32 {fp32:.3f} dB, "
          f"bf16 {bf16:.3f} dB")
    assert abs(fp32 - bf16) <= 0.1


@on_device
def test_tiled_matches_untiled_on_the_device(tmp_path, exact_fp32):
    check_tiled_matches_untiled(save_network(tmp_path / "tiny.pt"), DEVICE, atol=1e-5 if not ON_GPU else 1e-4)


@on_device
def test_compiled_network_matches_eager(tmp_path, exact_fp32):
    weights = tmp_path / "x4-lite.pt"
    save_weights(network("x4-lite"), weights, {}, half=False)
    error = compiled_vs_eager(weights, DEVICE, *LR_SIZE)
    print(f"x4-lite: compiled vs eager, relative error {error:.2e}")
    assert error <= 1e-3
