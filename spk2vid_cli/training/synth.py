"""On-the-fly training streams: moving scenes -> LR spike blocks + HR ground truth (torch, CPU or GPU).

Built only on the simulator of `spk2vid simulate` (`spk2vid_cli/simulate.py`): one implementation.

A `StreamBatch` runs B independent, endless streams; `next_segment(S)` returns the next S blocks of
every stream, so consecutive segments are contiguous pieces of one long stream (camera motion,
sensor charge and per-pixel thresholds carry over). Each stream is, drawn when it starts:

- a still image (random flip / 90-degree rotation) seen by a camera with smooth random motion:
  sub-pixel translation from still up to `max_speed` LR pixels per block, rotation and zoom (their
  rates up to half of that at the view's edge). With motion="auto", FOREGROUND_SHARE of the still
  streams also carry a foreground patch (a crop of another image) moving and turning on its own
  over the background, for occlusions;
- or, for CLIP_SHARE of the streams when the pool has clips, a fixed crop of a real clip shot,
  linearly blended to CLIP_SUBFRAMES spike frames per source frame and played back and forth.

Motion is chained from `smooth_camera_path` legs of LEG_FRAMES frames; every pose component bounces
off its limit (a triangle wave), so the view stays inside its source for ever. HR frames of
(scale*lr_size)^2 are rendered chunk by chunk (memory constant in stream length), area-downscaled to
the LR sensor and fired by `integrate_and_fire`; sensor parameters are drawn from `SensorRanges`.
With `supersample` N > 1 the scene is rendered at N times the ground-truth resolution and area-
downscaled to it, so every ground-truth pixel holds N x N source pixels of detail: the dense,
aliasing-prone content of real scenes at the sensor's resolution, not a smooth 1:1 crop of a photo.

Block i of a stream spans spike frames [i*stride, i*stride + window) and is centred at
t_i = window//2 + i*stride. Its ground truth is the HR frame at t_i times the stream's rate
(firing-rate units, what the network outputs); `lr_clean` is the same frame area-downscaled;
`velocity` is the true motion of the content at t_i, LR pixels per spike frame, where it is known
(camera and foreground motion of still scenes; NaN for clips and at a foreground patch's edge).
Everything random comes from the given generator: the same seed gives the same streams, however
they are cut into segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from spk2vid_cli.errors import InputError
from spk2vid_cli.simulate import (area_downscale, integrate_and_fire, lens_blur, pixel_thresholds, similarity_matrices,
                                  smooth_camera_path, view_thetas, warp_frames)
from spk2vid_cli.training.options import MAX_SPEED
from spk2vid_cli.training.sources import SourcePool
from spk2vid_model.geometry import STRIDE, WINDOW

MOTIONS = ("auto", "none")
MAX_TURN = 0.25                  # radians, camera rotation bounces off +-MAX_TURN
MAX_LOG_ZOOM = 0.25              # camera zoom bounces off exp(+-MAX_LOG_ZOOM)
LEG_FRAMES = 500                 # spike frames per `smooth_camera_path` leg
CLIP_SHARE = 0.3                 # share of clip streams, when the pool has both kinds
CLIP_SUBFRAMES = (5.0, 20.0)     # spike frames per clip frame
DETAIL_WEIGHT_LIMIT = 4.0        # `detail_bias` weights stay within [1/limit, limit] of the median image's
FOREGROUND_SHARE = 0.5           # share of still streams with a moving foreground patch
FOREGROUND_SIDE = (0.25, 0.6)    # patch height and width, fractions of the view side
CHUNK_PIXELS = 2**24             # HR pixels rendered at once (all streams together)
# A camera that may turn and zoom needs a source this many view sides wide (the rotated, zoomed view's extent).
ROTATION_ROOM = math.exp(MAX_LOG_ZOOM) * (math.cos(MAX_TURN) + math.sin(MAX_TURN))


@dataclass(frozen=True)
class SensorRanges:
    """Uniform ranges of the simulated sensor: rate, threshold spread and threshold std per stream,
    dark current and charge noise per `StreamBatch` (the simulator takes them as scalars)."""

    rate: tuple[float, float] = (0.1, 1.0)            # expected spikes per frame at intensity 1
    threshold_std: tuple[float, float] = (0.0, 0.04)  # per-pixel threshold variation (fixed pattern)
    dark_current: tuple[float, float] = (0.0, 0.003)  # charge per frame with no light
    noise_std: tuple[float, float] = (0.0, 0.03)      # Gaussian charge noise per frame


# An ideal sensor: no charge noise, no dark current, one threshold (how REDS_BASE-style data is made).
QUIET_SENSOR = SensorRanges(threshold_std=(0.0, 0.0), dark_current=(0.0, 0.0), noise_std=(0.0, 0.0))


@dataclass
class Segment:
    """S consecutive blocks of B streams.

    blocks: (B, S, window, h, w) float32 0/1 spikes; gt: (B, S, 1, r*h, r*w) HR intensity x rate at
    the block centres; lr_clean: (B, S, 1, h, w) the same, area-downscaled; rate: (B,);
    first_block: index in the stream of the first block; velocity: (B, S, 2, h, w) the content's
    motion (dy, dx) at the block centres in LR pixels per spike frame, NaN where unknown.
    """

    blocks: Tensor
    gt: Tensor
    lr_clean: Tensor
    rate: Tensor
    first_block: int
    velocity: Tensor | None = None

    def to(self, device: torch.device | str) -> Segment:
        return replace(self, blocks=self.blocks.to(device), gt=self.gt.to(device),
                       lr_clean=self.lr_clean.to(device), rate=self.rate.to(device),
                       velocity=None if self.velocity is None else self.velocity.to(device))


def fold(x: Tensor, limit: Tensor) -> Tensor:
    """Triangle wave: x bounces between -limit and +limit (0 where the limit is 0)."""
    period = 4 * limit.clamp_min(1e-12)
    folded = limit - (torch.remainder(x + limit, period) - 2 * limit).abs()
    return torch.where(limit > 0, folded, torch.zeros_like(x))


def pose_parameters(path: Tensor) -> Tensor:
    """(T, 2, 3) similarity matrices of a smooth path -> (T, 4) poses (x, y, angle, log zoom).

    The angle is unwrapped (it may pass +-pi), assuming less than pi of rotation between frames.
    """
    scale_cos, scale_sin = path[:, 0, 0], path[:, 1, 0]
    angle = torch.atan2(scale_sin, scale_cos)
    turns = torch.remainder(angle.diff() + math.pi, 2 * math.pi) - math.pi
    angle = torch.cat([angle[:1], angle[0] + torch.cumsum(turns, 0)])
    return torch.stack([path[:, 0, 2], path[:, 1, 2], angle, torch.log(torch.hypot(scale_cos, scale_sin))], dim=1)


def pose_matrices(poses: Tensor) -> Tensor:
    """(T, 4) poses -> (T, 2, 3) matrices, the convention of `smooth_camera_path`."""
    x, y, angle, log_zoom = poses.unbind(1)
    return similarity_matrices(x, y, angle, torch.exp(log_zoom))


class Trajectory:
    """Endless smooth random motion of one view, in the view units of `smooth_camera_path`.

    Legs of LEG_FRAMES frames are chained end to start; each pose component (x, y, angle, log zoom)
    is folded into [-limit, +limit]. `speed` is the largest translation per frame; turning and
    zooming rates go up to half of it.
    """

    def __init__(self, limits: Tensor, speed: float, generator: torch.Generator):
        self.limits, self.speed, self.generator = limits, speed, generator
        self._poses = ((torch.rand(4, generator=generator, device=limits.device) * 2 - 1) * limits)[None]

    def take(self, count: int, lookahead: int = 0) -> Tensor:
        """Path matrices (count + lookahead, 2, 3) of the next `count` frames and the `lookahead` after
        them; only `count` are used up."""
        while len(self._poses) <= count + lookahead:
            leg = smooth_camera_path(LEG_FRAMES + 1, max_shift=self.speed, max_rotation=self.speed / 2,
                                     max_zoom=self.speed / 2, generator=self.generator, device=self.limits.device)
            self._poses = torch.cat([self._poses[:-1], self._poses[-1] + pose_parameters(leg)])
        poses, self._poses = self._poses[:count + lookahead], self._poses[count:]
        return pose_matrices(fold(poses, self.limits))


def view_flow(now: Tensor, later: Tensor, size: int) -> Tensor:
    """Motion (T, 2, size, size), (dy, dx) in pixels per frame, of the content of a square view of
    size x size pixels between view matrices `now` and `later` (T, 2, 3), one frame apart.

    A scene point s shows at view point v_t = L_t^-1 (s - p_t); its flow at v is v_{t+1} - v.
    View units are half the view's side, so a pixel is 2 / size of them.
    """
    centres = (torch.arange(size, dtype=now.dtype, device=now.device) * 2 + 1) / size - 1
    ys, xs = torch.meshgrid(centres, centres, indexing="ij")
    points = torch.stack([xs, ys]).reshape(2, -1)                          # (2, n) view (x, y)
    scene = now[:, :, :2] @ points + now[:, :, 2:]                         # (T, 2, n)
    seen = torch.linalg.solve(later[:, :, :2], scene - later[:, :, 2:])    # where it shows next
    return ((seen - points) * (size / 2)).flip(1).reshape(-1, 2, size, size)  # (x, y) -> (dy, dx)


def key_views(trajectory: Trajectory, count: int, step: int, lr_size: int) -> tuple[Tensor, Tensor]:
    """View matrices (count, 2, 3) of the next `count` key frames, `step` spike frames apart, and the
    content's motion at each (count, 2, lr_size, lr_size), LR pixels per spike frame."""
    path = trajectory.take(count * step, lookahead=1)
    return path[:-1:step], view_flow(path[:-1:step], path[1::step], lr_size)


def augment(frames: Tensor, code: int) -> Tensor:
    """One of the 8 flips / 90-degree rotations (code 0..7) of the last two dimensions."""
    frames = frames.flip(-1) if code & 4 else frames
    return torch.rot90(frames, code & 3, dims=(-2, -1))


class StillScene:
    """A still image under a moving camera, optionally with a foreground patch moving on its own."""

    def __init__(self, image: Tensor, camera: Trajectory, view: int, step: int,
                 foreground: tuple[Tensor, Trajectory] | None = None):
        self.image, self.camera, self.view, self.step = image[None, None], camera, view, step
        self.foreground = foreground

    def render(self, count: int, lr_size: int) -> tuple[Tensor, Tensor]:
        """The next `count` HR frames (count, view, view), `step` spike frames apart, and the content's
        motion at each (count, 2, lr_size, lr_size), LR pixels per spike frame (NaN where unknown)."""
        hw = (self.view, self.view)
        path, velocity = key_views(self.camera, count, self.step, lr_size)
        frames = warp_frames(self.image, view_thetas(path, self.image.shape[-2:], hw)[None], hw)[0, :, 0]
        if self.foreground is not None:
            canvas, motion = self.foreground
            path, moving = key_views(motion, count, self.step, lr_size)
            patch = warp_frames(canvas[None], view_thetas(path, canvas.shape[-2:], hw)[None], hw)[0]
            frames = frames * (1 - patch[:, 1]) + patch[:, 0]
            cover = area_downscale(patch[:, 1:], self.view // lr_size)       # (count, 1, h, w)
            velocity = torch.where(cover > 0.95, moving, velocity)
            velocity = torch.where((cover > 0.05) & (cover <= 0.95), torch.nan, velocity)
        return frames, velocity


class ClipScene:
    """A fixed crop of a clip shot, blended to `subframes` spike frames per clip frame, back and forth."""

    def __init__(self, frames: Tensor, subframes: float, start: float, step: int):
        self.frames, self.subframes, self.start, self.step, self._frame = frames, subframes, start, step, 0

    def render(self, count: int, lr_size: int) -> tuple[Tensor, Tensor]:
        """The next `count` HR frames (count, view, view) in [0, 1], `step` spike frames apart, and
        their motion: unknown, NaN (count, 2, lr_size, lr_size)."""
        end = self._frame + count * self.step
        time = self.start + torch.arange(self._frame, end, self.step, device=self.frames.device) / self.subframes
        self._frame = end
        middle = torch.tensor((len(self.frames) - 1) / 2, device=self.frames.device)
        position = middle + fold(time - middle, middle)
        before = position.floor().long().clamp(max=len(self.frames) - 2)
        weight = (position - before)[:, None, None]
        frames = torch.lerp(self.frames[before].float(), self.frames[before + 1].float(), weight) / 255
        return frames, frames.new_full((count, 2, lr_size, lr_size), torch.nan)


class Draws:
    """Scalar random draws from one generator."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def integer(self, high: int) -> int:
        """Uniform in [0, high)."""
        return int(torch.randint(high, (1,), generator=self.generator, device=self.generator.device))

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        return low + (high - low) * float(torch.rand(1, generator=self.generator, device=self.generator.device))

    def weighted(self, weights: Tensor) -> int:
        """An index drawn with probability proportional to `weights`."""
        return int(torch.multinomial(weights.to(self.generator.device), 1, generator=self.generator))


def fine_detail(image: Tensor, tile: int) -> float:
    """How much of an (H, W) image's variance lies in its finest octave: the median over its `tile`-pixel
    tiles of mean((x - 2x2 area average)^2) / var(x). In 64-pixel tiles: about 0.05 for a typical
    training photograph as the sensor sees it, 0.07 and 0.14 for the two REDS_BASE ground-truth frames."""
    rows, cols = image.shape[-2] // tile * tile, image.shape[-1] // tile * tile
    tiles = image[:rows, :cols].unfold(0, tile, tile).unfold(1, tile, tile).reshape(-1, tile, tile)
    coarse = area_downscale(tiles, 2).repeat_interleave(2, -1).repeat_interleave(2, -2)
    share = (tiles - coarse).square().mean((-2, -1)) / tiles.var((-2, -1)).clamp(min=1e-6)
    return float(share.median())


def detail_weights(images: list[Tensor], downscale: int, tile: int, bias: float) -> Tensor:
    """Draw weights (fine_detail / its median) ** bias of images seen at 1/`downscale` in `tile`-pixel
    tiles, within DETAIL_WEIGHT_LIMIT of 1, so that the median image keeps weight 1 and none takes over."""
    detail = torch.tensor([fine_detail(area_downscale(image, downscale), tile) for image in images])
    ratio = (detail / detail.median().clamp(min=1e-6)).clamp(min=1e-6)
    return ratio.pow(bias).clamp(1 / DETAIL_WEIGHT_LIMIT, DETAIL_WEIGHT_LIMIT)


class StreamBatch:
    """B independent endless training streams; see the module docstring.

    `motion`: "auto" (stills with camera motion and foreground patches, and clips) or "none"
    (still images only, no motion at all). `generator` must live on `device`. `sensor`: the
    ranges the sensor parameters are drawn from. `render_step`: HR frames are rendered every
    `render_step` spike frames and blended linearly in between (in LR); 1 renders every frame.
    It must divide window//2 and stride, so block centres are always rendered exactly; 5 makes
    CPU rendering about 5x cheaper, with at most 1 LR pixel of motion between renders.
    `supersample`: render at this many times the ground-truth resolution (see the module doc).
    `max_speed`: largest camera and foreground speed, LR pixels per block (speeds are drawn up to it).
    `max_blur`: each stream's sensor sees its scene through a Gaussian lens blur of sigma drawn from
    [0, max_blur] LR pixels; the ground truth (and `lr_clean`) stay sharp, so a network learns to undo it.
    `detail_bias`: images are drawn with weights `detail_weights(..., bias)` (0: all alike), so that
    images dense in fine detail, as street scenes are, come up more often than smooth ones.
    """

    def __init__(self, pool: SourcePool, batch: int, scale: int, lr_size: int = 64, window: int = WINDOW,
                 stride: int = STRIDE, device: torch.device | str = "cpu", generator: torch.Generator | None = None,
                 motion: str = "auto", sensor: SensorRanges = SensorRanges(), render_step: int = 1,
                 supersample: int = 1, max_speed: float = MAX_SPEED, max_blur: float = 0.0,
                 detail_bias: float = 0.0):
        if motion not in MOTIONS:
            raise ValueError(f"motion must be one of {MOTIONS}, got {motion!r}")
        if window < 1 or window % 2 == 0 or stride < 1:
            raise InputError(f"block window must be odd and positive and stride positive, got {window}, {stride}")
        if render_step < 1 or (window // 2) % render_step or stride % render_step:
            raise InputError(f"--render-step {render_step} must divide window//2 = {window // 2} and stride = {stride}; "
                             "use 1 or 5")
        if supersample < 1:
            raise InputError(f"--supersample {supersample}: must be at least 1")
        if max_speed < 0:
            raise InputError(f"--max-speed {max_speed}: must be at least 0")
        if max_blur < 0:
            raise InputError(f"--lens-blur {max_blur}: must be at least 0")
        if detail_bias < 0:
            raise InputError(f"--detail-bias {detail_bias}: must be at least 0")
        self.device = torch.device(device)
        if generator is None:
            generator = torch.Generator(self.device)
            generator.seed()
        if generator.device.type != self.device.type:
            raise ValueError(f"generator on {generator.device}, streams on {self.device}: create the generator there")
        self.pool, self.scale, self.lr_size, self.window, self.stride = pool, scale, lr_size, window, stride
        self.motion, self.generator, self.render_step = motion, generator, render_step
        self.supersample, self.view = supersample, supersample * scale * lr_size
        self.max_speed = max_speed
        self._images = pool.images_at_least(self.view)
        self._clips = pool.clips_at_least(self.view) if motion == "auto" else []
        if not self._images and not self._clips:
            raise InputError(f"no training source of at least {self.view}x{self.view} pixels (supersample "
                             f"{supersample} x scale {scale} x lr_size {lr_size}) among {len(pool)}; lower them or "
                             "add larger sources")
        self._image_weights = (detail_weights([pool.images[i] for i in self._images], supersample * scale, lr_size,
                                              detail_bias)
                               if detail_bias and self._images else None)
        self.rate = self._uniform(sensor.rate, batch)
        spreads = self._uniform(sensor.threshold_std, batch).tolist()
        self.thresholds = torch.stack([pixel_thresholds((lr_size, lr_size), std, generator, self.device)
                                       for std in spreads])
        self.dark_current = self._uniform(sensor.dark_current, 1).item()
        self.noise_std = self._uniform(sensor.noise_std, 1).item()
        seeds = torch.randint(2**62, (batch,), generator=generator, device=self.device).tolist()
        self.scenes = [self._new_scene(Draws(torch.Generator(self.device).manual_seed(seed))) for seed in seeds]
        self.blur = self._uniform((0.0, max_blur), batch) if max_blur > 0 else None  # after the scenes: same content
        self._charge: Tensor | None = None
        self._truth: dict[int, tuple[Tensor, Tensor, Tensor]] = {}  # block -> (gt, lr_clean, velocity), not yet returned
        self._last_key = self._render_keys(0, 1)[:, 0]     # LR key frame at spike frame self._rendered
        self._rendered = 0            # spike frames simulated so far
        self._spikes = torch.empty((batch, 0, lr_size, lr_size), dtype=torch.uint8, device=self.device)  # the last ones
        self._next_block = 0

    def _uniform(self, bounds: tuple[float, float], count: int) -> Tensor:
        low, high = bounds
        return low + (high - low) * torch.rand(count, generator=self.generator, device=self.device)

    def _new_scene(self, draw: Draws) -> StillScene | ClipScene:
        """Draw one stream's content from its own generator."""
        if self._clips and (not self._images or draw.uniform() < CLIP_SHARE):
            clip = self.pool.clips[self._clips[draw.integer(len(self._clips))]]
            top, left = draw.integer(clip.shape[1] - self.view + 1), draw.integer(clip.shape[2] - self.view + 1)
            frames = augment(clip[:, top:top + self.view, left:left + self.view].to(self.device), draw.integer(8))
            return ClipScene(frames, draw.uniform(*CLIP_SUBFRAMES), draw.uniform(0, len(frames) - 1), self.render_step)
        image = augment(self._draw_image(draw).to(self.device), draw.integer(8))
        moving = self.motion == "auto"
        turning = moving and min(image.shape) >= ROTATION_ROOM * self.view
        extent = ROTATION_ROOM if turning else 1.0
        room_x, room_y = (max(0.0, side / self.view - extent) for side in (image.shape[1], image.shape[0]))
        limits = torch.tensor([room_x, room_y, MAX_TURN * turning, MAX_LOG_ZOOM * turning], device=self.device)
        speed = 2 * self.max_speed / (self.stride * self.lr_size) if moving else 0.0   # view units (half views) per frame
        camera = Trajectory(limits, speed, draw.generator)
        foreground = self._foreground(speed, draw) if moving and draw.uniform() < FOREGROUND_SHARE else None
        return StillScene(image, camera, self.view, self.render_step, foreground)

    def _draw_image(self, draw: Draws) -> Tensor:
        """One of the images large enough for the view, weighted by `detail_bias` if it is set."""
        pick = (draw.integer(len(self._images)) if self._image_weights is None
                else draw.weighted(self._image_weights))
        return self.pool.images[self._images[pick]]

    def _foreground(self, speed: float, draw: Draws) -> tuple[Tensor, Trajectory]:
        """A patch of a random image on a zero canvas (channels: patch x mask, mask) and its own motion.

        The canvas is wide enough that no view of the patch, wherever it bounces, samples its border.
        """
        height, width = (max(2, round(draw.uniform(*FOREGROUND_SIDE) * self.view)) for _ in range(2))
        image = self._draw_image(draw)
        top, left = draw.integer(image.shape[0] - height + 1), draw.integer(image.shape[1] - width + 1)
        patch = torch.stack([image[top:top + height, left:left + width], torch.ones((height, width))]).to(self.device)
        reach = math.ceil(math.hypot(self.view, self.view)) + 1
        canvas = torch.zeros((2, 2 * reach, 2 * reach), device=self.device)
        row, column = reach - height // 2, reach - width // 2
        canvas[:, row:row + height, column:column + width] = patch
        limits = torch.tensor([1.0, 1.0, math.pi, 0.0], device=self.device)
        return canvas, Trajectory(limits, speed, draw.generator)

    def _render_keys(self, first_frame: int, count: int) -> Tensor:
        """LR (B, count, h, w) of the next `count` key frames (spike frames first_frame, first_frame + step, ...)
        as the sensor sees them (through `max_blur`'s lens); keeps the sharp gt, lr_clean and velocity of
        the block centres among them."""
        half, rate = self.window // 2, self.rate[:, None, None, None]
        frames = [first_frame + index * self.render_step for index in range(count)]
        centres = [index for index, frame in enumerate(frames) if frame >= half and (frame - half) % self.stride == 0]
        lr, truth, velocity = [], [], []
        for scene in self.scenes:
            hr, motion = scene.render(count, self.lr_size)
            lr.append(area_downscale(hr, self.scale * self.supersample))
            truth.append(area_downscale(hr[centres], self.supersample))
            velocity.append(motion[centres])
        lr, truth, velocity = torch.stack(lr), torch.stack(truth), torch.stack(velocity)
        for order, index in enumerate(centres):
            block = (frames[index] - half) // self.stride
            self._truth[block] = (truth[:, order, None] * rate, lr[:, index, None] * rate, velocity[:, order])
        return lr if self.blur is None else lens_blur(lr, self.blur)

    def _render(self, keys: int) -> None:
        """Render `keys` more key frames; blend and fire the `keys * render_step` spike frames before the last."""
        lr = self._render_keys(self._rendered + self.render_step, keys)
        key_frames = torch.cat([self._last_key[:, None], lr], dim=1)
        weights = (torch.arange(self.render_step, device=self.device) / self.render_step)[:, None, None]
        intensity = torch.lerp(key_frames[:, :-1, None], key_frames[:, 1:, None], weights).flatten(1, 2)
        self._last_key = lr[:, -1]
        spikes, self._charge = integrate_and_fire(intensity, self.rate, threshold=self.thresholds,
                                                  dark_current=self.dark_current, noise_std=self.noise_std,
                                                  charge=self._charge, generator=self.generator)
        self._spikes = torch.cat([self._spikes, spikes], dim=1)
        self._rendered += keys * self.render_step

    def next_segment(self, num_blocks: int) -> Segment:
        """The next `num_blocks` blocks of every stream, contiguous with the previous segment."""
        first, end_block = self._next_block, self._next_block + num_blocks
        start, stop = first * self.stride, (end_block - 1) * self.stride + self.window
        chunk = max(1, CHUNK_PIXELS // (len(self.scenes) * self.view**2))
        while self._rendered < stop:
            self._render(min(chunk, -(-(stop - self._rendered) // self.render_step)))
        buffered_from = self._rendered - self._spikes.shape[1]
        spikes = self._spikes[:, start - buffered_from:stop - buffered_from]
        blocks = spikes.unfold(1, self.window, self.stride).permute(0, 1, 4, 2, 3).float()
        truth = [self._truth.pop(block) for block in range(first, end_block)]
        self._spikes = self._spikes[:, max(0, end_block * self.stride - buffered_from):]
        self._next_block = end_block
        gt, lr_clean, velocity = (torch.stack(parts, 1) for parts in zip(*truth))
        return Segment(blocks, gt, lr_clean, self.rate, first, velocity)


def validation_segments(pool: SourcePool, scale: int, lr_size: int = 64, num_blocks: int = 45, streams: int = 8,
                        seed: int = 0, window: int = WINDOW, stride: int = STRIDE, supersample: int = 1) -> Segment:
    """The fixed validation set: `streams` whole streams of `num_blocks` blocks (first block 0), rendered
    on the CPU from `seed`, so the set is the same on every machine and device. Use a "val" pool."""
    generator = torch.Generator().manual_seed(seed)
    return StreamBatch(pool, streams, scale, lr_size, window, stride, "cpu", generator, "auto",
                       supersample=supersample).next_segment(num_blocks)
