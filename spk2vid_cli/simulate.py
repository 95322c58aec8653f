"""Integrate-and-fire spike-camera simulator (torch, CPU or CUDA).

This is the one simulator of the project: `spk2vid simulate` and the training data engine
(`spk2vid_cli/training/synth.py`) both build on the functions below.

Sensor model, per pixel and spike frame t (FORMATS.md, "Simulation conventions"):

    charge += intensity[t] * rate + dark_current + N(0, noise_std)
    if charge >= threshold: spike, charge -= threshold      (subtract reset, remainder kept)

with intensity in [0, 1] (luminance), `rate` the conversion rate (expected spikes per frame at
intensity 1), a per-pixel threshold 1 + N(0, threshold_std) and a random initial charge in
[0, threshold). The charge never drops below 0 (noise cannot drain an empty pixel). Optionally the
sensor sees the scene through a lens: a Gaussian blur of the intensity (`lens_blur`), while the
ground truth stays sharp.

Random numbers come from an optional `torch.Generator`, which must live on the same device as
the tensors it fills; the same generator state gives the same spikes.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import tifffile
import torch
import torch.nn.functional as F
from torch import Tensor

from spk2vid_cli.atomic import discard, output_error, partial_name
from spk2vid_cli.errors import InputError, OutputError
from spk2vid_cli.spikes import read_config, write_config, write_dat
from spk2vid_cli.windows import block_centres
from spk2vid_model.geometry import STRIDE, WINDOW

# Rec. 601 luma weights, applied to gamma-encoded (not linearised) RGB, as PIL's "L" and
# OpenCV's grey conversion do and as the public simulated spike datasets were made.
LUMA_601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_luminance(rgb: np.ndarray) -> np.ndarray:
    """Grey level in [0, 1] (float32, (H, W)) of an image array.

    Accepts (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA (alpha ignored), as uint8, uint16 or
    float in [0, 1]. RGB becomes Rec. 601 luma of the gamma-encoded values, without sRGB
    decoding, so that firing rates displayed linearly look like the original photo.
    """
    image = np.asarray(rgb)
    if np.issubdtype(image.dtype, np.integer):
        image = image.astype(np.float32) / np.iinfo(image.dtype).max
    else:
        image = image.astype(np.float32)
    if image.ndim == 3:
        image = image[..., :3] @ LUMA_601 if image.shape[2] >= 3 else image[..., 0]
    return np.clip(image, 0.0, 1.0)


def area_downscale(x: Tensor, factor: int) -> Tensor:
    """Mean over non-overlapping factor x factor pixel areas: (..., H, W) -> (..., H//f, W//f).

    This is how a sensor pixel integrates light over its area. Rows and columns beyond the last
    whole multiple of `factor` are cropped.
    """
    if factor == 1:
        return x
    pooled = F.avg_pool2d(x.reshape(-1, 1, *x.shape[-2:]), factor)
    return pooled.reshape(*x.shape[:-2], *pooled.shape[-2:])


def lens_blur(frames: Tensor, sigma: Tensor) -> Tensor:
    """Blur (B, T, H, W) frames by a Gaussian point-spread function of `sigma` (B,) pixels per
    stream (0: unchanged), borders replicated: the lens and pixel crosstalk in front of a sensor."""
    radius = max(1, math.ceil(3 * float(sigma.max())))
    taps = torch.arange(-radius, radius + 1, dtype=frames.dtype, device=frames.device)
    kernel = torch.exp(-0.5 * (taps / sigma.to(frames.device, frames.dtype).clamp_min(1e-3)[:, None]) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)                          # (B, 2r+1)
    x = frames.transpose(0, 1)                                             # streams as channels
    batch = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=batch)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel[:, None, :, None], groups=batch)
    return x.transpose(0, 1)


def pixel_thresholds(
    shape: tuple[int, ...],
    std: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Per-pixel firing thresholds 1 + N(0, std), clamped to at least 0.5 (fixed-pattern noise)."""
    noise = torch.randn(shape, generator=generator, device=device)
    return (1.0 + std * noise).clamp_min(0.5)


def integrate_and_fire(
    intensity: Tensor,
    rate: float | Tensor = 0.6,
    *,
    threshold: float | Tensor = 1.0,
    dark_current: float = 0.0,
    noise_std: float = 0.0,
    charge: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Spikes of a (B, T, H, W) intensity stream in [0, 1]; returns (spikes uint8, final charge).

    `rate` is a scalar or a (B,) tensor; `threshold` a scalar or a tensor broadcastable to
    (B, H, W). `charge` (B, H, W) continues a stream: simulating it in chunks, handing each
    chunk's final charge to the next with the same generator, gives exactly the spikes of one
    call. `charge=None` starts from a random charge in [0, threshold).
    """
    batch, _, height, width = intensity.shape
    device = intensity.device
    threshold = torch.as_tensor(threshold, dtype=torch.float32, device=device).expand(batch, height, width)
    gain = torch.as_tensor(rate, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    if charge is None:
        charge = threshold * torch.rand((batch, height, width), generator=generator, device=device)
    else:
        charge = charge.to(device=device, dtype=torch.float32, copy=True)
    drive = intensity.float() * gain[:, None] + dark_current
    spikes = torch.empty(intensity.shape, dtype=torch.uint8, device=device)
    for t in range(intensity.shape[1]):
        charge += drive[:, t]
        if noise_std > 0:
            charge.add_(torch.randn((batch, height, width), generator=generator, device=device), alpha=noise_std)
            charge.clamp_(min=0.0)
        fired = charge >= threshold
        charge -= fired * threshold
        spikes[:, t] = fired
    return spikes, charge


def smooth_camera_path(
    num_frames: int,
    *,
    max_shift: float,
    max_rotation: float = 0.0,
    max_zoom: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """A smooth random camera motion as (num_frames, 2, 3) affine matrices, starting at identity.

    Each matrix maps a point of the view to the scene: scene = s R(a) view + p. Coordinates are
    isotropic *view units*: 1 = half the view's height, origin at the view centre (the same in
    x and y, so rotations are rigid; `view_thetas` turns them into `F.affine_grid` thetas).
    Velocity, rotation rate and zoom rate each change linearly from a random start to a random
    end value, so the motion has constant acceleration and no jerks:
      - `max_shift`: largest speed of p, in view units per frame (start and end velocities
        have random directions and speeds drawn in [0, max_shift], so a path can be nearly still);
      - `max_rotation`: largest rotation rate, radians per frame;
      - `max_zoom`: largest rate of log s per frame (s > 1 shows a larger scene area).
    """
    def uniform(shape: tuple[int, ...]) -> Tensor:
        return torch.rand(shape, generator=generator, device=device)

    def over_time(start_end: Tensor) -> Tensor:
        """(2, d) start and end rates -> (num_frames, d) positions, frame 0 at 0."""
        ramp = torch.linspace(0, 1, num_frames, device=device)[:, None]
        per_frame = start_end[0] + (start_end[1] - start_end[0]) * ramp
        return torch.cumsum(per_frame, dim=0) - per_frame

    direction = torch.randn((2, 2), generator=generator, device=device)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    shift = over_time(max_shift * uniform((2, 1)) * direction)
    angle = over_time(max_rotation * (2 * uniform((2, 1)) - 1))[:, 0]
    scale = torch.exp(over_time(max_zoom * (2 * uniform((2, 1)) - 1))[:, 0])
    return similarity_matrices(shift[:, 0], shift[:, 1], angle, scale)


def similarity_matrices(x: Tensor, y: Tensor, angle: Tensor, scale: Tensor) -> Tensor:
    """(T,) shifts, angles (radians) and scales -> (T, 2, 3) matrices of scene = scale R(angle) view + (x, y)."""
    cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
    rows = [torch.stack([cos, -sin, x], dim=1), torch.stack([sin, cos, y], dim=1)]
    return torch.stack(rows, dim=1)


def view_thetas(path: Tensor, image_hw: tuple[int, int], view_hw: tuple[int, int]) -> Tensor:
    """`F.affine_grid` thetas showing a (h, w) pixel view of an (H, W) image moved along `path`.

    `path` (..., 2, 3) is in view units (see `smooth_camera_path`); at identity the view is the
    centred (h, w) crop of the image at its native pixel scale.
    """
    (image_h, image_w), (view_h, view_w) = image_hw, view_hw
    view_from_normalised = path.new_tensor([view_w / view_h, 1.0])    # view's [-1, 1] -> view units
    image_from_view = path.new_tensor([view_h / image_w, view_h / image_h])  # view units -> image's [-1, 1]
    linear = image_from_view[:, None] * path[..., :2] * view_from_normalised[None, :]
    offset = image_from_view * path[..., 2]
    return torch.cat([linear, offset[..., None]], dim=-1)


def warp_frames(image: Tensor, thetas: Tensor, out_hw: tuple[int, int]) -> Tensor:
    """Sample (B, T, C, h, w) views of a (B, C, H, W) image at (B, T, 2, 3) `F.affine_grid` thetas.

    Bilinear interpolation, reflection at the borders, align_corners=False. The sampling grid is
    the one `F.affine_grid` makes, built by broadcasting (several times faster on CPU), and the
    image is not copied per frame: the T grids are stacked into one `grid_sample` call.
    """
    batch, steps = thetas.shape[:2]
    height, width = out_hw
    thetas = thetas.to(image.dtype)[:, :, None, None]  # (B, T, 1, 1, 2, 3)
    xs = (torch.arange(width, dtype=image.dtype, device=image.device)[:, None] * 2 + 1) / width - 1
    ys = (torch.arange(height, dtype=image.dtype, device=image.device)[:, None, None] * 2 + 1) / height - 1
    grid = thetas[..., 0] * xs + thetas[..., 1] * ys + thetas[..., 2]  # (B, T, h, w, 2)
    grid = grid.reshape(batch, steps * height, width, 2)
    frames = F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return frames.reshape(batch, image.shape[1], steps, height, width).transpose(1, 2)


# --- Simulating a file: video, image folder or still image -> .dat ---------------------------

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
STILL_FRAMES = 200  # spike frames made from a still image unless told otherwise
CHUNK_PIXELS = 2**22  # HR pixels per chunk of spike frames (16 MiB of float32, ~10x that at peak)


@dataclass(frozen=True)
class SensorModel:
    """Parameters of the simulated sensor (see the module docstring)."""

    rate: float = 0.6
    threshold_std: float = 0.0
    dark_current: float = 0.0
    noise_std: float = 0.0
    lens_blur: float = 0.0  # Gaussian sigma in front of the sensor, sensor pixels; the ground truth stays sharp


@dataclass(frozen=True)
class CameraMotion:
    """Random camera motion over a still: largest speed (sensor pixels per spike frame),
    rotation rate (degrees per spike frame) and zoom rate (fraction per spike frame)."""

    speed: float = 0.05
    rotation: float = 0.0
    zoom: float = 0.0


@dataclass(frozen=True)
class SimulationResult:
    """What `simulate_file` wrote."""

    output: Path
    source: str
    num_frames: int
    height: int
    width: int
    gt_frames: tuple[int, ...]


@dataclass
class _Source:
    """HR intensity of every spike frame, as chunks of (n, h, w) float32 tensors."""

    description: str
    num_frames: int
    height: int
    width: int
    chunks: Iterator[Tensor]
    settings: dict[str, object]  # how the frames were made, for config.yaml


def simulate_file(
    source: str | Path,
    output: str | Path,
    *,
    sensor: SensorModel = SensorModel(),
    downscale: int = 1,
    subframes: int = 10,
    size: tuple[int, int] | None = None,
    frames: int | None = None,
    motion: CameraMotion = CameraMotion(),
    seed: int = 0,
    save_gt: str | Path | None = None,
    gt_window: int = WINDOW,
    gt_stride: int = STRIDE,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate a spike recording of a video, an image folder (sorted) or a still image.

    Frames become luminance (`to_luminance`), are centre-cropped to `size` (HR pixels; rounded
    down to a multiple of `downscale`), averaged over `downscale` x `downscale` areas and fed to
    `integrate_and_fire`. A video or folder gives `subframes` spike frames per source frame,
    linearly blended between consecutive frames ((F - 1) * subframes + 1 in all); a still gives
    `frames` spike frames (default `STILL_FRAMES`) of a view moving along `smooth_camera_path`. `frames`
    also caps the length for a video or folder. Streamed in chunks: memory does not grow with
    length. Writes `output` (.dat, rows bottom-up as usual) and `config.yaml` beside it.

    `save_gt` writes the ground truth as a float32 TIFF stack (N, h, w) at HR (before
    downscale), in firing-rate units (luminance x rate, without dark current), one page per
    block centre t = gt_window // 2 + k * gt_stride of `spk2vid convert`'s default blocks. Its
    JSON metadata (`tifffile.TiffFile(path).shaped_metadata[0]`) holds `spike_frames` (the
    spike-frame index of each page), `rate`, `downscale`, `window`, `stride` and `units`.

    `progress(done, total)` is called with spike-frame counts. Raises `InputError` for a bad
    source or setting, `OutputError` when an output exists (without `overwrite`) or cannot be
    written; a failed run leaves no partial files.
    """
    source, output = Path(source), Path(output)
    gt_path = Path(save_gt) if save_gt is not None else None
    _check_settings(sensor, downscale, subframes, frames)
    _check_outputs(output, gt_path, overwrite)
    generator = torch.Generator().manual_seed(seed)
    src = _open_source(source, downscale, subframes, size, frames, motion, generator)
    low_h, low_w = src.height // downscale, src.width // downscale
    _check_config(output.parent, low_h, low_w, overwrite)
    gt_frames = tuple(block_centres(src.num_frames, gt_window, gt_stride)) if gt_path else ()
    if gt_path and not gt_frames:
        raise InputError(f"{source}: {src.num_frames} spike frames hold no {gt_window}-frame block; "
                         "make the stream longer or lower --gt-window")
    gt_meta = {"spike_frames": list(gt_frames), "rate": sensor.rate, "downscale": downscale,
               "window": gt_window, "stride": gt_stride,
               "units": "firing rate (expected spikes per spike frame) = luminance x rate"}
    temporaries = [partial_name(output)] + ([partial_name(gt_path)] if gt_path else [])
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            gt_writer = stack.enter_context(tifffile.TiffWriter(temporaries[1], bigtiff=True)) if gt_path else None

            def keep_gt(frame: Tensor) -> None:
                gt_writer.write(frame.numpy(), contiguous=True, metadata=gt_meta)

            spikes = _spike_chunks(src, sensor, downscale, generator, set(gt_frames), keep_gt, progress)
            write_dat(temporaries[0], spikes)
        for temporary, final in zip(temporaries, [output, gt_path]):
            os.replace(temporary, final)
        write_config(output.parent, low_h, low_w, source=source.name, downscale=downscale, **src.settings,
                     **asdict(sensor), seed=seed)
    except OSError as err:
        raise output_error(output, err) from None
    finally:
        for temporary in temporaries:
            discard(temporary)
    return SimulationResult(output, src.description, src.num_frames, low_h, low_w, gt_frames)


def _spike_chunks(
    src: _Source,
    sensor: SensorModel,
    downscale: int,
    generator: torch.Generator,
    gt_frames: set[int],
    keep_gt: Callable[[Tensor], None],
    progress: Callable[[int, int], None] | None,
) -> Iterator[np.ndarray]:
    """Spike frames (n, h, w) uint8 of the source, chunk by chunk, passing GT frames to `keep_gt`."""
    low_shape = (1, src.height // downscale, src.width // downscale)
    thresholds = pixel_thresholds(low_shape, sensor.threshold_std, generator)
    charge, done = None, 0
    for hr in src.chunks:
        for t in sorted(gt_frames.intersection(range(done, done + len(hr)))):
            keep_gt(hr[t - done] * sensor.rate)
        low = area_downscale(hr, downscale)[None]
        if sensor.lens_blur:
            low = lens_blur(low, torch.tensor([sensor.lens_blur]))
        spikes, charge = integrate_and_fire(low, sensor.rate, threshold=thresholds, dark_current=sensor.dark_current,
                                            noise_std=sensor.noise_std, charge=charge, generator=generator)
        done += len(hr)
        if progress:
            progress(done, src.num_frames)
        yield spikes[0].numpy()


def _open_source(
    path: Path,
    downscale: int,
    subframes: int,
    size: tuple[int, int] | None,
    frames: int | None,
    motion: CameraMotion,
    generator: torch.Generator,
) -> _Source:
    """The spike-frame intensity stream of a video file, an image folder or a still image."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        count, stream = len(files), _read_images(files)
        kind = f"{count} images"
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        return _still_source(path, downscale, size, frames or STILL_FRAMES, motion, generator)
    else:
        count, stream = _open_video(path)
        kind = f"video, {count} frames"
    first = next(stream)
    height, width = _view_size(path, first.shape, size, downscale)
    total = (count - 1) * subframes + 1
    total = total if frames is None else min(frames, total)
    chunks = _blend(itertools.chain([first], stream), subframes, total, (height, width), path)
    return _Source(f"{path.name} ({kind})", total, height, width, chunks, {"subframes": subframes})


def _still_source(
    path: Path,
    downscale: int,
    size: tuple[int, int] | None,
    frames: int,
    motion: CameraMotion,
    generator: torch.Generator,
) -> _Source:
    image = _read_image(path)
    height, width = _view_size(path, image.shape, size, downscale)
    view_units = 2 / height  # view units per HR pixel: 1 unit = half the view height
    camera = smooth_camera_path(frames, max_shift=motion.speed * downscale * view_units,
                                max_rotation=math.radians(motion.rotation), max_zoom=motion.zoom, generator=generator)
    thetas = view_thetas(camera, image.shape, (height, width))[None]
    scene = torch.from_numpy(image)[None, None]
    step = _chunk_frames(height, width)
    chunks = (warp_frames(scene, thetas[:, a : a + step], (height, width))[0, :, 0] for a in range(0, frames, step))
    settings = {"speed": motion.speed, "rotation": motion.rotation, "zoom": motion.zoom}
    return _Source(f"{path.name} (still, moving camera)", frames, height, width, chunks, settings)


def _blend(
    frames: Iterator[np.ndarray], subframes: int, total: int, view: tuple[int, int], path: Path
) -> Iterator[Tensor]:
    """`subframes` linear blends from each source frame to the next, then the last frame; `total` frames."""
    step, done, previous = _chunk_frames(*view), 0, None
    for frame in frames:
        current = torch.from_numpy(_centre_crop(frame, view))
        if previous is not None:
            for a in range(0, subframes, step):
                weights = torch.arange(a, min(a + step, subframes, a + total - done)) / subframes
                yield previous + (current - previous) * weights[:, None, None]
                done += len(weights)
                if done == total:
                    return
        previous = current
    if done == total - 1:
        yield previous[None]
    else:
        raise InputError(f"{path}: the source ended early ({done} of {total} spike frames); is it damaged?")


def _chunk_frames(height: int, width: int) -> int:
    return max(1, min(256, CHUNK_PIXELS // (height * width)))


def _check_settings(sensor: SensorModel, downscale: int, subframes: int, frames: int | None) -> None:
    checks = [
        (sensor.rate > 0, f"--rate must be positive, got {sensor.rate}"),
        (sensor.threshold_std >= 0, f"--threshold-std must be >= 0, got {sensor.threshold_std}"),
        (sensor.dark_current >= 0, f"--dark-current must be >= 0, got {sensor.dark_current}"),
        (sensor.noise_std >= 0, f"--noise must be >= 0, got {sensor.noise_std}"),
        (sensor.lens_blur >= 0, f"--lens-blur must be >= 0, got {sensor.lens_blur}"),
        (downscale >= 1, f"--downscale must be at least 1, got {downscale}"),
        (subframes >= 1, f"--subframes must be at least 1, got {subframes}"),
        (frames is None or frames >= 1, f"--frames must be at least 1, got {frames}"),
    ]
    for ok, message in checks:
        if not ok:
            raise InputError(message)


def _check_outputs(output: Path, gt_path: Path | None, overwrite: bool) -> None:
    if output.suffix.lower() != ".dat":
        raise OutputError(f"{output}: the output must be a .dat file; name it e.g. {output.with_suffix('.dat').name}")
    if gt_path is not None and gt_path.suffix.lower() not in (".tif", ".tiff"):
        raise OutputError(f"{gt_path}: --save-gt writes a TIFF stack; "
                          f"name it e.g. {gt_path.with_suffix('.tif').name}")
    for path in (output, gt_path):
        if path is not None and path.exists() and not overwrite:
            raise OutputError(f"{path}: already exists; pass --overwrite to replace it")


def _check_config(directory: Path, height: int, width: int, overwrite: bool) -> None:
    """Refuse to change the resolution that an existing config.yaml declares for its folder."""
    config = read_config(directory) if directory.is_dir() else {}
    declared = (config.get("spike_h"), config.get("spike_w"))
    if "spike_h" in config and declared != (height, width) and not overwrite:
        raise OutputError(f"{directory / 'config.yaml'}: declares {declared[0]}x{declared[1]} for this folder, "
                          f"not {height}x{width}; write to another folder or pass --overwrite")


def _read_image(path: Path) -> np.ndarray:
    try:
        return to_luminance(imageio.imread(path))
    except (OSError, ValueError, RuntimeError) as err:
        raise InputError(f"{path}: cannot read this image ({err}); is it a valid image file?") from None


def _read_images(files: list[Path]) -> Iterator[np.ndarray]:
    """Luminance of each image file, all of the first one's size."""
    first = _read_image(files[0])
    yield first
    for path in files[1:]:
        image = _read_image(path)
        if image.shape != first.shape:
            raise InputError(f"{path}: {image.shape[0]}x{image.shape[1]} differs from the "
                             f"{first.shape[0]}x{first.shape[1]} of {files[0].name}; all images must have one size")
        yield image


def _open_video(path: Path) -> tuple[int, Iterator[np.ndarray]]:
    """Frame count and luminance frames of a video file (ffmpeg)."""
    import imageio_ffmpeg  # only video sources need ffmpeg: training from packs runs without it

    try:
        count = imageio_ffmpeg.count_frames_and_secs(str(path))[0]
        reader = imageio.get_reader(path, "ffmpeg")
    except (OSError, RuntimeError, ValueError) as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: not a readable video ({reason}); "
                         "pass a video, an image or a folder of images") from None
    if count < 1:
        reader.close()
        raise InputError(f"{path}: the video holds no frames")

    def frames() -> Iterator[np.ndarray]:
        with reader:
            for frame in reader:
                yield to_luminance(frame)

    return count, frames()


def _view_size(path: Path, shape: tuple[int, ...], size: tuple[int, int] | None, downscale: int) -> tuple[int, int]:
    """The HR view (h, w): `size` or the whole frame, rounded down to a multiple of `downscale`."""
    height, width = size or shape[:2]
    if height > shape[0] or width > shape[1] or min(height, width) < 1:
        raise InputError(f"{path}: --size {height}x{width} does not fit in its {shape[0]}x{shape[1]} frames")
    height, width = height - height % downscale, width - width % downscale
    if not height or not width:
        raise InputError(f"{path}: {shape[0]}x{shape[1]} frames are smaller than --downscale {downscale}")
    return height, width


def _centre_crop(frame: np.ndarray, view: tuple[int, int]) -> np.ndarray:
    (height, width), (view_h, view_w) = frame.shape, view
    top, left = (height - view_h) // 2, (width - view_w) // 2
    return np.ascontiguousarray(frame[top : top + view_h, left : left + view_w])
