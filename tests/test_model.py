"""Spk2VidNet: shapes, gradients, determinism, streaming state, configurations."""

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from spk2vid_model.model import CONFIGS, ModelConfig, Spk2VidNet, StreamState, count_parameters, history
from torch_helpers import TINY, trained_looking

pytestmark = pytest.mark.usefixtures("one_thread")

# A few channels, every part present (deformable groups, dilations, residual blocks).
# The CPU variant's parts: shared-offset alignment, motion and modulation at half resolution.
TINY_WARP = replace(TINY, name="tiny-warp", alignment="warp", align_stride=2)
# In-block motion compensation, on both alignments.
TINY_MC = replace(TINY, name="tiny-mc", compensate=True)
TINY_WARP_MC = replace(TINY_WARP, name="tiny-warp-mc", compensate=True)
# Told the lens blur, as x1-lite.
TINY_BLUR = replace(TINY_WARP_MC, name="tiny-blur", blur_input=True)
TINIES = {net.name: net for net in (TINY, TINY_WARP, TINY_MC, TINY_WARP_MC, TINY_BLUR)}


def spikes(batch: int, count: int, window: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, count, window, height, width, generator=gen) < 0.3).float()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_config_on_odd_frame_sizes(name):
    config = CONFIGS[name]
    net = trained_looking(config)
    with torch.no_grad():
        hr, state = net(spikes(2, 2, config.window, 13, 17))
    r = config.scale
    assert hr.shape == (2, 2, 1, 13 * r, 17 * r)
    assert torch.isfinite(hr).all()
    assert len(state.first) == 2 and len(state.second) == 2


def test_untrained_network_outputs_bicubic_tfp():
    blocks = spikes(1, 3, TINY.window, 9, 11)
    hr, _ = Spk2VidNet(TINY)(blocks)
    tfp = blocks.mean(2).flatten(0, 1)[:, None]
    expected = F.interpolate(tfp, scale_factor=TINY.scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(hr.flatten(0, 1), expected)


@pytest.mark.parametrize("name", sorted(TINIES))
def test_every_parameter_gets_a_gradient(name):
    net = trained_looking(TINIES[name])
    told = torch.tensor([0.3, float("nan")]) if net.config.blur_input else None  # one stream told, one not
    hr, _ = net(spikes(2, 3, TINY.window, 11, 13), blur=told)
    hr.square().mean().backward()
    dead = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead


def test_deterministic_on_cpu():
    blocks = spikes(1, 3, TINY.window, 10, 12)
    first, _ = trained_looking(TINY, seed=3)(blocks)
    second, _ = trained_looking(TINY, seed=3)(blocks)
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", ["tiny", "tiny-warp", "tiny-warp-mc", "x4-lite"])
def test_stream_in_chunks_matches_the_whole_stream(name):
    config = TINIES.get(name) or CONFIGS[name]
    net = trained_looking(config)
    blocks = spikes(1, 7, config.window, 12, 15, seed=1)
    with torch.no_grad():
        whole, _ = net(blocks)
    for chunk in (1, 3):
        state, frames = None, []
        for start in range(0, 7, chunk):
            hr, state = net(blocks[:, start:start + chunk], state)
            state = state.detach()
            frames.append(hr.detach())
        torch.testing.assert_close(torch.cat(frames, 1), whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("base", [TINY, TINY_WARP], ids=["dcn", "warp"])
def test_compensating_network_starts_as_the_network_without_it(base):
    """Its velocity read-out starts at zero, so it warm-starts from weights trained without it."""
    plain = trained_looking(base)
    compensating = Spk2VidNet(replace(base, compensate=True))
    missing = compensating.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["compensate.head.bias", "compensate.head.weight"]
    blocks = spikes(1, 4, base.window, 10, 12)
    with torch.no_grad():
        expected, _ = plain(blocks)
        got, state = compensating(blocks)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert state.velocity.shape == (1, 2, 10, 12) and not state.velocity.any()


@pytest.mark.parametrize("base", [TINY, TINY_WARP_MC], ids=["dcn", "warp-mc"])
def test_network_told_the_blur_starts_and_stays_blind_as_the_network_without_it(base):
    """Its blur embedding starts at zero, so it warm-starts from weights trained blind; an unknown sigma
    (NaN or None) gives exactly the blind network's output, a told one another, per stream."""
    plain = trained_looking(base)
    told = Spk2VidNet(replace(base, blur_input=True))
    assert told.load_state_dict(plain.state_dict(), strict=False).missing_keys == ["blur.linear.weight"]
    blocks = spikes(2, 3, base.window, 10, 12)
    sigmas = torch.tensor([0.5, float("nan")])
    with torch.no_grad():
        expected, _ = plain(blocks)
        torch.testing.assert_close(told(blocks, blur=sigmas)[0], expected, rtol=0, atol=0)
        told.blur.linear.weight.normal_()
        unknown, _ = told(blocks)
        mixed, _ = told(blocks, blur=sigmas)
    torch.testing.assert_close(unknown, expected, rtol=0, atol=0)
    torch.testing.assert_close(mixed[1], expected[1], rtol=0, atol=0)
    assert (mixed[0] - expected[0]).abs().max() > 1e-3


def test_blur_is_refused_by_a_network_that_does_not_take_it():
    with pytest.raises(ValueError, match="takes no lens blur"):
        Spk2VidNet(TINY)(spikes(1, 1, TINY.window, 8, 8), blur=torch.tensor([0.5]))


def test_compensation_undoes_a_known_motion_inside_a_block():
    """Frames of a pattern sliding at (dy, dx) px per frame, read back along that velocity, all show
    the centre frame (away from the edges, which repeat)."""
    compensation = Spk2VidNet(TINY_MC).compensate
    window, (dy, dx) = TINY_MC.window, (0.1, -0.3)
    ys, xs = torch.meshgrid(torch.arange(24.0), torch.arange(32.0), indexing="ij")
    time = torch.arange(window, dtype=torch.float32).view(-1, 1, 1) - window // 2
    pattern = torch.sin(0.35 * (xs - dx * time)) * torch.cos(0.25 * (ys - dy * time))  # moves by (dy, dx) per frame
    velocity = torch.tensor([dy, dx]).view(1, 2, 1, 1).expand(1, 2, 24, 32)
    still = compensation(pattern[None], velocity)[0]
    inner = (slice(None), slice(4, -4), slice(6, -6))
    centre = pattern[window // 2].expand_as(still)
    assert (still - centre)[inner].abs().max() < 0.03                 # bilinear error only
    assert (pattern - centre)[inner].abs().max() > 0.5                # and the motion was large
    torch.testing.assert_close(compensation(pattern[None], torch.zeros_like(velocity))[0], pattern, rtol=0, atol=1e-6)


def test_compensation_needs_the_trunk_at_full_resolution():
    with pytest.raises(ValueError, match="compensate needs trunk_stride 1"):
        replace(TINY, compensate=True, trunk_stride=2)


def test_history_changes_the_output():
    net = trained_looking(TINY)
    blocks = spikes(1, 3, TINY.window, 10, 12)
    with torch.no_grad():
        streamed, _ = net(blocks)
        alone, _ = net(blocks[:, 2:])
    assert (streamed[:, 2] - alone[:, 0]).abs().max() > 1e-4


def test_state_keeps_k_and_2k_outputs_and_detaches():
    net = trained_looking(TINY)
    _, state = net(spikes(1, 6, TINY.window, 8, 9))
    assert len(state.first) == TINY.num_history
    assert len(state.second) == TINY.num_history * TINY.temporal_dilation
    assert all(t.requires_grad for t in state.first + state.second)
    detached = state.detach()
    assert not any(t.requires_grad for t in detached.first + detached.second)


def test_history_fills_missing_entries_with_copies_of_the_current_feature():
    stored = tuple(torch.full((1,), float(i)) for i in range(3))  # oldest first: i-3, i-2, i-1
    current = torch.full((1,), 7.0)
    assert history(stored, 2, 1, current) == [stored[2], stored[1]]
    dilated = history(stored, 2, 2, current)
    assert dilated[0] is stored[1] and torch.equal(dilated[1], current)
    filled = history((), 2, 2, current)
    assert all(torch.equal(t, current) for t in filled)
    # copies, not aliases: torch.compile would otherwise specialise on which inputs are the same tensor
    assert not any(t is current or t.data_ptr() == current.data_ptr() for t in [dilated[1], *filled])


def test_wrong_block_length_is_rejected():
    with pytest.raises(ValueError, match=f"{TINY.window}-frame blocks"):
        Spk2VidNet(TINY)(spikes(1, 1, 7, 8, 8))


def test_config_json_round_trip_and_validation():
    for config in CONFIGS.values():
        assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(TypeError):
        ModelConfig.from_dict({**TINY.to_dict(), "colour": True})
    with pytest.raises(ValueError):
        replace(TINY, deform_groups=3)
    with pytest.raises(ValueError):
        replace(TINY, upsampler="progressive", scale=3)
    with pytest.raises(ValueError):
        replace(TINY, alignment="flow")
    with pytest.raises(ValueError):
        replace(TINY, align_stride=0)


def test_configs_written_before_the_alignment_options_load_as_dcn_at_full_resolution():
    old = {key: value for key, value in TINY.to_dict().items() if key not in ("alignment", "align_stride")}
    assert ModelConfig.from_dict(old) == TINY


def macs(config: ModelConfig) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        Spk2VidNet(config)(spikes(1, 1, config.window, 16, 16))
    return counter.get_total_flops() // 2


def test_sizes_match_the_paper_and_lite_is_at_least_four_times_cheaper():
    paper_millions = {"x4": 3.73, "x8": 3.88}  # METHOD.md results table
    for name, millions in paper_millions.items():
        assert abs(count_parameters(Spk2VidNet(CONFIGS[name])) / 1e6 - millions) < 0.1 * millions
    for scale in (1, 2, 4, 8):
        assert macs(CONFIGS[f"x{scale}"]) >= 4 * macs(CONFIGS[f"x{scale}-lite"])


def test_empty_state_is_a_fresh_stream():
    net = trained_looking(TINY)
    blocks = spikes(1, 2, TINY.window, 8, 9)
    with torch.no_grad():
        assert torch.equal(net(blocks)[0], net(blocks, StreamState())[0])
