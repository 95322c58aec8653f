"""Training streams: shapes, contiguity across segments, ground-truth units, determinism, motion bounds."""

import math

import numpy as np
import pytest
import torch

from spk2vid_cli.errors import InputError
from spk2vid_cli.simulate import area_downscale, lens_blur, similarity_matrices
from spk2vid_cli.training.sources import SourcePool
from spk2vid_cli.training.synth import (DETAIL_WEIGHT_LIMIT, LEG_FRAMES, QUIET_SENSOR, ClipScene, Segment, StreamBatch,
                                        Trajectory, detail_weights, fine_detail, fold, pose_matrices, pose_parameters,
                                        validation_segments, view_flow)
from spk2vid_model.dcn import shifted_grid
from spk2vid_model.geometry import STRIDE

SCALE, LR = 2, 8


def smooth_texture(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random image in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((1, 1, height // 4 + 1, width // 4 + 1), dtype=np.float32))
    fine = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return 0.1 + 0.8 * fine[0, 0].numpy()


@pytest.fixture(scope="module")
def pool() -> SourcePool:
    clip = np.stack([np.roll(smooth_texture(24, 30, 9), shift, axis=1) for shift in range(6)])
    images = [smooth_texture(40, 56, 1), smooth_texture(48, 36, 2)]
    return SourcePool.from_arrays(images, [np.round(clip * 255).astype(np.uint8)])


def streams(pool, seed=0, batch=3, **options) -> StreamBatch:
    return StreamBatch(pool, batch, SCALE, LR, generator=torch.Generator().manual_seed(seed), **options)


def test_segment_shapes_dtypes_and_ranges(pool):
    batch = streams(pool)
    first, second = batch.next_segment(4), batch.next_segment(2)
    assert first.blocks.shape == (3, 4, 21, LR, LR) and first.blocks.dtype == torch.float32
    assert set(first.blocks.unique().tolist()) <= {0.0, 1.0}
    assert first.gt.shape == (3, 4, 1, SCALE * LR, SCALE * LR) and first.lr_clean.shape == (3, 4, 1, LR, LR)
    assert first.rate.shape == (3,) and bool(((first.rate >= 0.1) & (first.rate <= 1.0)).all())
    assert (first.first_block, second.first_block, second.blocks.shape[1]) == (0, 4, 2)
    intensity = first.gt / first.rate[:, None, None, None, None]
    assert float(intensity.min()) >= 0.0 and float(intensity.max()) <= 1.0 + 1e-6


@pytest.mark.parametrize("render_step", [1, 5])
def test_two_segments_equal_one_long_segment(pool, render_step):
    whole = streams(pool, seed=4, render_step=render_step).next_segment(6)
    pieces = streams(pool, seed=4, render_step=render_step)
    parts = [pieces.next_segment(3), pieces.next_segment(3)]
    for field in ("blocks", "gt", "lr_clean"):
        joined = torch.cat([getattr(part, field) for part in parts], dim=1)
        assert torch.equal(joined, getattr(whole, field)), field
    # Overlapping blocks share their spike frames: the last 11 frames of one block open the next.
    assert torch.equal(whole.blocks[:, 2, 10:], whole.blocks[:, 3, :11])


def test_same_seed_same_streams_other_seed_other_streams(pool):
    a, b, c = (streams(pool, seed=seed).next_segment(2) for seed in (7, 7, 8))
    assert torch.equal(a.blocks, b.blocks) and torch.equal(a.gt, b.gt)
    assert not torch.equal(a.blocks, c.blocks)
    first, again = (validation_segments(pool, SCALE, LR, num_blocks=2, streams=2, seed=1) for _ in range(2))
    assert torch.equal(first.gt, again.gt) and first.first_block == 0


def test_lr_clean_is_the_area_mean_of_gt(pool):
    segment = streams(pool).next_segment(3)
    assert torch.allclose(segment.lr_clean, area_downscale(segment.gt, SCALE), atol=1e-6)


def test_spike_rate_of_a_static_scene_matches_ground_truth(pool):
    blocks = 40
    segment = streams(pool, motion="none", sensor=QUIET_SENSOR).next_segment(blocks)
    frames = segment.blocks[:, :, :10].flatten(1, 2)  # the first `stride` frames of each block: frames 0..399
    firing_rate = frames.mean(dim=1)
    # Integrate-and-fire with a constant input fires floor(c0 + n * I * rate) times in n frames.
    assert torch.allclose(firing_rate, segment.lr_clean[:, 0, 0], atol=1.0 / frames.shape[1])


def test_static_streams_have_constant_ground_truth(pool):
    segment = streams(pool, motion="none").next_segment(5)
    assert torch.equal(segment.gt, segment.gt[:, :1].expand_as(segment.gt))


def test_moving_streams_change(pool):
    segment = streams(pool, seed=2, batch=4).next_segment(30)
    change = (segment.gt[:, -1] - segment.gt[:, 0]).abs().amax(dim=(1, 2, 3))
    assert bool((change > 1e-3).all())


def test_max_speed_sets_how_fast_still_scenes_move(pool):
    """Speed 0 freezes camera and foreground; a higher top speed moves the same scenes further."""
    stills = SourcePool.from_arrays(pool.images, [])

    def change(speed: float) -> torch.Tensor:
        segment = streams(stills, seed=3, batch=4, max_speed=speed).next_segment(12)
        return (segment.gt.diff(dim=1) / segment.rate[:, None, None, None, None]).abs().mean()

    assert float(change(0.0)) == 0.0
    assert float(change(1.0)) > 1.5 * float(change(0.5)) > 0   # slow enough not to decorrelate the texture
    with pytest.raises(InputError, match="--max-speed -1"):
        streams(pool, max_speed=-1.0)


def test_lens_blur_softens_what_the_sensor_sees_not_the_ground_truth(pool):
    """Same scenes with and without a lens: equal ground truth; through it, a still scene fires at
    the rate of its clean frame blurred by the stream's own sigma."""
    def still(blur: float) -> tuple[StreamBatch, Segment]:
        batch = streams(pool, seed=4, batch=4, motion="none", sensor=QUIET_SENSOR, max_blur=blur)
        return batch, batch.next_segment(40)

    (_, sharp), (lens, soft) = still(0.0), still(1.0)
    assert torch.equal(sharp.gt, soft.gt) and torch.equal(sharp.lr_clean, soft.lr_clean)
    assert bool((lens.blur > 0).all() and (lens.blur <= 1).all()) and lens.blur.unique().numel() == 4
    firing_rate = soft.blocks[:, :, :10].flatten(1, 2).mean(dim=1)   # frames 0..399
    expected = lens_blur(soft.lr_clean[:, 0], lens.blur)[:, 0]
    assert torch.allclose(firing_rate, expected, atol=1.0 / 400)
    assert not torch.allclose(firing_rate, soft.lr_clean[:, 0, 0], atol=1.0 / 400)
    assert torch.equal(streams(pool, seed=4, max_blur=0.0).next_segment(2).blocks,
                       streams(pool, seed=4).next_segment(2).blocks)   # 0: the streams as before
    with pytest.raises(InputError, match="--lens-blur -1"):
        streams(pool, max_blur=-1.0)


def grainy(height: int, width: int, grain: float, seed: int) -> torch.Tensor:
    """A smooth image with `grain` x uniform pixel noise on top: more grain, more fine detail."""
    noise = np.random.default_rng(seed).random((height, width), dtype=np.float32) - 0.5
    return torch.from_numpy(smooth_texture(height, width, seed) + grain * noise)


def test_fine_detail_is_the_share_of_variance_in_the_finest_octave():
    """White noise keeps 3/4 of its variance within 2x2 pixels; a smooth image almost none."""
    white = torch.from_numpy(np.random.default_rng(0).random((64, 64), dtype=np.float32))
    assert fine_detail(white, 32) == pytest.approx(0.75, abs=0.05)
    assert fine_detail(grainy(64, 64, 0.0, 1), 32) < 0.1 < fine_detail(grainy(64, 64, 0.3, 1), 32)


def test_detail_weights_rise_with_detail_around_the_median_image_and_stay_bounded():
    images = [grainy(32, 32, grain, 1) for grain in (0.0, 0.1, 0.2, 0.4, 1.0)]
    weights = detail_weights(images, 1, 16, 1.0)
    assert bool((weights.diff() > 0).all()) and float(weights[2]) == pytest.approx(1.0)
    assert float(weights.min()) >= 1 / DETAIL_WEIGHT_LIMIT and float(weights.max()) <= DETAIL_WEIGHT_LIMIT
    assert bool((detail_weights(images, 1, 16, 0.0) == 1).all())
    stronger = detail_weights(images, 1, 16, 2.0)
    assert float(stronger[3]) > float(weights[3]) and float(stronger[1]) < float(weights[1])


def test_detail_bias_draws_detailed_images_more_often(pool):
    ramp = np.add.outer(np.linspace(0.2, 0.5, 40), np.linspace(0.0, 0.3, 56)).astype(np.float32)
    noise = np.random.default_rng(2).random(ramp.shape, dtype=np.float32)
    images = SourcePool.from_arrays([ramp, ramp + 0.4 * noise])

    def grainy_share(bias: float) -> float:
        batch = streams(images, seed=6, batch=200, motion="none", detail_bias=bias)
        return float(np.mean([fine_detail(scene.image[0, 0], 8) > 0.2 for scene in batch.scenes]))

    assert grainy_share(0.0) == pytest.approx(0.5, abs=0.1)
    assert grainy_share(2.0) == pytest.approx(DETAIL_WEIGHT_LIMIT / (DETAIL_WEIGHT_LIMIT + 1), abs=0.08)
    with pytest.raises(InputError, match="--detail-bias -1"):
        streams(pool, detail_bias=-1.0)


def test_fold_bounces_between_limits():
    x = torch.linspace(-7, 7, 1401)
    limit = torch.tensor(2.0)
    folded = fold(x, limit)
    assert float(folded.abs().max()) <= 2.0
    inside = x.abs() <= 2
    assert torch.allclose(folded[inside], x[inside], atol=1e-6)
    assert float(folded.diff().abs().max()) <= float(x.diff().abs().max()) + 1e-6  # continuous, no jumps
    assert torch.equal(fold(x, torch.tensor(0.0)), torch.zeros_like(x))


def test_pose_round_trip_unwraps_angles_past_pi():
    frames = torch.arange(1000, dtype=torch.float32)
    poses = torch.stack([0.01 * frames, -0.02 * frames, 0.01 * frames, 0.3 * torch.sin(frames / 100)], dim=1)
    assert float(poses[:, 2].max()) > 2 * math.pi
    assert torch.allclose(pose_parameters(pose_matrices(poses)), poses, atol=1e-4)


def test_trajectory_stays_in_limits_and_under_speed_across_legs():
    limits = torch.tensor([0.5, 0.3, 0.2, 0.1])
    speed = 0.004
    trajectory = Trajectory(limits, speed, torch.Generator().manual_seed(3))
    path = torch.cat([trajectory.take(700), trajectory.take(3 * LEG_FRAMES - 700)])
    shift, linear = path[:, :, 2], path[:, :, :2]
    assert bool((shift.abs() <= limits[:2] + 1e-6).all())
    assert float(shift.diff(dim=0).norm(dim=1).max()) <= speed + 1e-6
    angle = torch.atan2(linear[:, 1, 0], linear[:, 0, 0])
    zoom = torch.log(torch.hypot(linear[:, 0, 0], linear[:, 1, 0]))
    assert float(angle.abs().max()) <= 0.2 + 1e-5 and float(zoom.abs().max()) <= 0.1 + 1e-5
    assert float(shift[:, 0].max() - shift[:, 0].min()) > 0  # it moves


def test_clip_scene_blends_and_plays_back_and_forth():
    frames = torch.tensor([0, 40, 80], dtype=torch.uint8)[:, None, None].expand(3, 2, 2)
    scene = ClipScene(frames, subframes=2.0, start=0.0, step=1)
    values = torch.cat([scene.render(4, 2)[0], scene.render(5, 2)[0]])[:, 0, 0] * 255
    assert torch.allclose(values, torch.tensor([0.0, 20, 40, 60, 80, 60, 40, 20, 0]), atol=1e-4)


def test_sources_smaller_than_the_view_are_refused(pool):
    with pytest.raises(InputError, match="at least 64x64"):
        StreamBatch(pool, 1, 4, 16, generator=torch.Generator().manual_seed(0))


def test_render_step_must_divide_block_spacing(pool):
    with pytest.raises(InputError, match="--render-step"):
        streams(pool, render_step=3)


def test_foreground_patch_stays_in_view_bounds(pool):
    scenes = (scene for seed in range(20) for scene in streams(pool, seed=seed, batch=4).scenes)
    canvas, motion = next(scene.foreground for scene in scenes if getattr(scene, "foreground", None) is not None)
    assert set(canvas[1].unique().tolist()) == {0.0, 1.0}  # the mask: 1 on the patch, 0 around it
    reach = canvas.shape[-1] / 2
    assert reach >= math.hypot(SCALE * LR, SCALE * LR)  # no view of the patch reaches the canvas border
    assert bool((motion.take(100)[:, :, 2].abs() <= 1 + 1e-6).all())


def test_supersampling_packs_more_source_detail_into_each_pixel(pool):
    """The same scene rendered at 2x and area-downscaled spans twice the source: sharper per pixel."""
    plain, dense = (streams(pool, seed=5, batch=4, motion="none", supersample=factor).next_segment(1)
                    for factor in (1, 2))
    assert dense.gt.shape == plain.gt.shape and dense.blocks.shape == plain.blocks.shape

    def detail(segment):
        intensity = segment.gt / segment.rate[:, None, None, None, None]
        return float(intensity.diff(dim=-1).abs().mean())

    assert detail(dense) > 1.4 * detail(plain)
    assert torch.allclose(dense.lr_clean, area_downscale(dense.gt, SCALE), atol=1e-6)


def test_supersampling_needs_sources_that_large_and_a_positive_factor(pool):
    with pytest.raises(InputError, match="supersample 3 x scale 2 x lr_size 8"):
        streams(pool, supersample=3)
    with pytest.raises(InputError, match="--supersample 0"):
        streams(pool, supersample=0)


def test_view_flow_of_a_pan_and_a_turn():
    zero, one = torch.zeros(1), torch.ones(1)
    still = similarity_matrices(zero, zero, zero, one)
    pan = similarity_matrices(torch.tensor([0.1]), zero, zero, one)  # the camera moves right
    flow = view_flow(still, pan, 8)
    assert torch.allclose(flow[0, 1], torch.full((8, 8), -0.4)) and flow[0, 0].abs().max() < 1e-6  # content left
    turn = similarity_matrices(zero, zero, torch.tensor([0.01]), one)
    flow = view_flow(still, turn, 8)[0]
    centres = torch.arange(8) - 3.5
    # a turn moves content around the view centre: perpendicular to the radius, faster further out
    assert torch.allclose(flow[1], 0.01 * centres[:, None].expand(8, 8), atol=5e-4)
    assert torch.allclose(flow[0], -0.01 * centres[None, :].expand(8, 8), atol=5e-4)


def test_velocity_predicts_where_the_content_goes(pool):
    image = smooth_texture(160, 160, 3)
    batch = StreamBatch(SourcePool.from_arrays([image]), 4, 1, 32, generator=torch.Generator().manual_seed(5),
                        max_speed=4)
    segment = batch.next_segment(2)
    now, later = segment.lr_clean[:, 0], segment.lr_clean[:, 1]
    motion = STRIDE * segment.velocity.mean(1)          # content displacement between the two centres
    known = motion.isfinite().all(1, keepdim=True)
    assert known.float().mean() > 0.5 and motion.nan_to_num().abs().max() > 1.0
    def moved(shift: torch.Tensor) -> torch.Tensor:     # `now` with its content moved by `shift`
        dy, dx = (-shift.nan_to_num()).unbind(1)
        return torch.nn.functional.grid_sample(now, shifted_grid(dy, dx, torch.float32), align_corners=False,
                                               padding_mode="border")
    inner = known.clone()
    inner[..., :6, :], inner[..., -6:, :], inner[..., :, :6], inner[..., :, -6:] = False, False, False, False
    error = {name: (moved(shift) - later).abs()[inner].mean() for name, shift in
             (("true", motion), ("none", 0 * motion), ("reversed", -motion))}
    assert error["true"] < 0.3 * error["none"] and error["true"] < 0.3 * error["reversed"]
