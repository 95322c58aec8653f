"""`--method net`: Spk2VidNet behind the same `reconstruct(block)` interface as TFP and TFI.

`NetReconstructor` loads bundled (or given) weights and feeds the network one block per call,
keeping its recurrent state in between, so streams of any length run in bounded memory. With
`tile` > 0, frames are cut into overlapping tiles of `tile` x `tile` LR pixels; each tile keeps its
own recurrent state, and tiles are blended with linear ramps across their overlaps.

With `both_ways`, each frame is the mean of the forward run and a run over the time-reversed
stream, which sees the frames after it as history: a self-ensemble at about twice the cost. The
backward runs go chunk by chunk, so memory stays bounded: at the first block of a chunk, a fresh run
starts RUN_UP blocks beyond the chunk's end and goes back to it, reading those blocks from the
block's recording (`Block.source`), and keeps the chunk's frames until the forward run reaches them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spk2vid_cli.errors import InputError
from spk2vid_cli.windows import Block
from spk2vid_model import weights as weight_files
from spk2vid_model.geometry import STRIDE
from spk2vid_model.model import StreamState

MODELS = ("auto", "full", "lite")
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
BACKWARD_CHUNK = 32  # blocks per backward run at most (`both_ways`)
BACKWARD_BYTES = 256 * 2**20  # and at most this many bytes of the chunk's frames held at once
RUN_UP = 4  # blocks each backward run starts beyond the frames it keeps


def available_weights() -> dict[int, list[str]]:
    """Bundled weights: {scale: ["full", "lite"] or a part of it}."""
    return {scale: sorted(variants) for scale, variants in sorted(weight_files.bundled_weights().items())}


def resolve_device(spec: str) -> torch.device:
    """"auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N"."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise InputError(f"--device {spec}: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if not count:
            raise InputError(f"--device {spec}: PyTorch sees no CUDA GPU; use --device cpu")
        if (device.index or 0) >= count:
            raise InputError(f"--device {spec}: only {count} CUDA GPU(s), cuda:0..cuda:{count - 1}")
    return device


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX), where bf16 autocast pays."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def resolve_precision(spec: str, device: torch.device) -> str:
    """"auto" is bf16 on CUDA and on CPUs with native bf16, else fp32; otherwise one of PRECISIONS."""
    if spec == "auto":
        return "bf16" if device.type == "cuda" or cpu_has_native_bf16() else "fp32"
    if spec not in PRECISIONS:
        raise InputError(f"--precision {spec}: use auto, {', '.join(PRECISIONS)}")
    return spec


def choose_weights(scale: int, model: str, device: torch.device) -> tuple[Path, str]:
    """The bundled weights for `scale` and `model`, and a note on the choice made by "auto"."""
    if model not in MODELS:
        raise InputError(f"--model {model}: use {', '.join(MODELS)}")
    bundled = weight_files.bundled_weights()
    if scale not in bundled:
        have = ", ".join(f"x{s}" for s in sorted(bundled)) or "none"
        raise InputError(f"{weight_files.WEIGHTS_DIR}: no network weights for --scale {scale} (weights exist "
                         f"for: {have}); pass --method tfp, or --weights PATH")
    variants = bundled[scale]
    if model != "auto":
        if model not in variants:
            raise InputError(f"{weight_files.WEIGHTS_DIR}: no {model} weights for x{scale} (have: "
                             f"{', '.join(sorted(variants))}); pick --model auto or --weights PATH")
        return variants[model], ""
    preferred = "full" if device.type == "cuda" else "lite"
    note = f"--model auto: {preferred} on {device.type.upper()}"
    if preferred not in variants:
        (fallback,) = variants
        return variants[fallback], f"{note}, but only {fallback} weights exist"
    return variants[preferred], note


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """[start, stop) of tiles of `tile` pixels overlapping by at least `overlap`, covering length."""
    if tile <= 0 or tile >= length:
        return [(0, length)]
    starts = list(range(0, length - tile, tile - overlap)) + [length - tile]
    return [(start, start + tile) for start in starts]


def ramp(length: int, ramp_in: float, ramp_out: float) -> torch.Tensor:
    """Weights rising linearly over the first `ramp_in` and falling over the last `ramp_out`
    samples (0: no ramp), 1 in between."""
    centres = torch.arange(length, dtype=torch.float32) + 0.5
    rise = centres / ramp_in if ramp_in else torch.ones(length)
    fall = centres.flip(0) / ramp_out if ramp_out else torch.ones(length)
    return torch.minimum(rise, fall).clamp(max=1)


@dataclass(frozen=True)
class Tile:
    """One tile: its LR rows and columns and its HR blend weights (normalised over all tiles)."""

    rows: slice
    cols: slice
    weight: torch.Tensor | None


def plan_tiles(height: int, width: int, tile: int, overlap: int, scale: int) -> list[Tile]:
    """Tiles covering an LR frame; a single tile (no blending) when `tile` covers it."""
    row_spans, col_spans = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
    if len(row_spans) == len(col_spans) == 1:
        return [Tile(slice(0, height), slice(0, width), None)]

    def axis_weights(spans: list[tuple[int, int]]) -> list[torch.Tensor]:
        ramp_length = overlap * scale
        return [ramp((stop - start) * scale, ramp_length * (i > 0),
                     ramp_length * (i < len(spans) - 1)) for i, (start, stop) in enumerate(spans)]

    tiles = [Tile(slice(*rows), slice(*cols), row_weight[:, None] * col_weight[None, :])
             for rows, row_weight in zip(row_spans, axis_weights(row_spans))
             for cols, col_weight in zip(col_spans, axis_weights(col_spans))]
    total = torch.zeros(height * scale, width * scale)
    for t in tiles:
        total[_hr(t.rows, scale), _hr(t.cols, scale)] += t.weight
    return [Tile(t.rows, t.cols, t.weight / total[_hr(t.rows, scale), _hr(t.cols, scale)])
            for t in tiles]


def _hr(span: slice, scale: int) -> slice:
    return slice(span.start * scale, span.stop * scale)


class NetReconstructor:
    """Spk2VidNet as a frame reconstructor; `reconstruct(block)` continues the stream.

    `model` picks bundled weights ("auto": full on CUDA, lite on CPU) unless `weights` names a
    file. `precision` other than fp32 runs under autocast. `lens_blur` tells a network that takes it
    (`blur_input`) the camera's blur, sigma in sensor pixels (None: unknown). `both_ways` averages in
    a backward run (module docstring); its first chunk expects blocks `stride` frames apart, later ones
    the spacing of the stream's last two blocks. Output is clamped to [0, 1].
    """

    def __init__(self, scale: int, model: str = "auto", weights: Path | None = None,
                 device: str = "auto", precision: str = "auto", tile: int = 0,
                 tile_overlap: int = 16, compile: bool = False, lens_blur: float | None = None,
                 both_ways: bool = False, stride: int = STRIDE):
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        if tile < 0 or tile_overlap < 0 or (tile and tile_overlap >= tile):
            raise InputError(f"--tile {tile} --tile-overlap {tile_overlap}: need tile > overlap >= 0 "
                             "(tile 0 turns tiling off)")
        if weights is None:
            weights, note = choose_weights(scale, model, self.device)
            source = f" ({note})" if note else ""
        else:
            source = f" from {weights}"
        net, self.meta = weight_files.load_weights(weights)
        config = net.config
        if config.scale != scale:
            raise InputError(f"{weights}: weights for x{config.scale}, not --scale {scale}; "
                             f"pass --scale {config.scale} or other weights")
        if lens_blur is not None and not config.blur_input:
            raise InputError(f"{weights}: {config.name} weights are not told the lens blur; drop --lens-blur "
                             "or use weights that take it (the bundled x1-lite)")
        if lens_blur is not None and not (math.isfinite(lens_blur) and lens_blur >= 0):
            raise InputError(f"--lens-blur {lens_blur}: give the blur's sigma in sensor pixels, 0 or more")
        self.blur = None if lens_blur is None else torch.tensor([lens_blur], device=self.device)
        self.scale, self.window = scale, config.window
        self.both_ways, self.stride = both_ways, stride
        self.tile, self.tile_overlap = tile, tile_overlap
        net = net.to(self.device, memory_format=torch.channels_last)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one frame size per stream: tune once
        if compile:
            for part in (net.extract, net.first, net.second, net.upsample):
                part.compile()
        self.net = net
        details = [str(self.device), self.precision]
        details += [f"lens blur {lens_blur} px"] if lens_blur is not None else []
        details += [f"tiles {tile} px, overlap {tile_overlap}"] if tile else []
        details += ["compiled"] if compile else []
        details += ["both ways"] if both_ways else []
        self.description = f"Spk2VidNet {config.name}{source}, {', '.join(details)}"
        self._plans: dict[tuple[int, int], list[Tile]] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next block starts a new one."""
        self._states: dict[int, StreamState] = {}  # per tile
        self._backward: dict[int, np.ndarray] = {}  # the backward run's frames still ahead, by centre
        self._spacing, self._previous = self.stride, None  # the stream's block spacing, its last centre

    def reconstruct(self, block: Block) -> np.ndarray:
        """The block's (H*scale, W*scale) float32 frame in firing-rate units."""
        forward = self._frame(block.frames, self._states)
        if not self.both_ways:
            return forward
        if block.centre not in self._backward:
            if self._previous is not None and block.centre > self._previous:  # spaced otherwise: follow
                self._spacing = block.centre - self._previous
            self._backward = self._run_backward(block)
        self._previous = block.centre
        return (forward + self._backward.pop(block.centre)) / 2

    def _run_backward(self, block: Block) -> dict[int, np.ndarray]:
        """Backward frames of the chunk that starts at `block`, by centre: a fresh run over the reversed
        stream from RUN_UP blocks beyond the chunk (or from the recording's last block) back to `block`."""
        if block.source is None:
            raise ValueError("both_ways reads ahead: give blocks cut from a recording (Block.source)")
        half, (height, width) = self.window // 2, block.frames.shape[-2:]
        chunk = max(1, min(BACKWARD_CHUNK, BACKWARD_BYTES // (4 * height * width * self.scale ** 2)))
        last = min(chunk + RUN_UP - 1, (block.source.num_frames - 1 - half - block.centre) // self._spacing)
        states: dict[int, StreamState] = {}
        frames = {}
        for k in range(last, -1, -1):
            centre = block.centre + k * self._spacing
            frame = self._frame(block.source.frames(centre - half, centre + half + 1)[::-1], states)
            if k < chunk:
                frames[centre] = frame
        return frames

    def _frame(self, spikes: np.ndarray, states: dict[int, StreamState]) -> np.ndarray:
        """One block's frame, continuing the runs in `states` (one per tile)."""
        frames = torch.from_numpy(np.ascontiguousarray(spikes)).to(self.device)
        height, width = frames.shape[-2:]
        blocks = frames[None, None].float()
        autocast = torch.autocast(self.device.type, dtype=PRECISIONS[self.precision],
                                  enabled=self.precision != "fp32")
        with torch.inference_mode(), autocast:
            tiles = self._plan(height, width)
            if tiles[0].weight is None:
                frame = self._run(states, 0, blocks)
            else:
                frame = torch.zeros(height * self.scale, width * self.scale, device=self.device)
                for key, t in enumerate(tiles):
                    part = self._run(states, key, blocks[..., t.rows, t.cols])
                    frame[_hr(t.rows, self.scale), _hr(t.cols, self.scale)] += part * t.weight
            return frame.float().clamp_(0, 1).cpu().numpy()

    def _run(self, states: dict[int, StreamState], key: int, blocks: torch.Tensor) -> torch.Tensor:
        hr, states[key] = self.net(blocks, states.get(key), self.blur)
        return hr[0, 0, 0]

    def _plan(self, height: int, width: int) -> list[Tile]:
        if (height, width) not in self._plans:
            tiles = plan_tiles(height, width, self.tile, self.tile_overlap, self.scale)
            self._plans[(height, width)] = [
                Tile(t.rows, t.cols, None if t.weight is None else t.weight.to(self.device))
                for t in tiles]
        return self._plans[(height, width)]
