"""Spk2VidNet: recurrent super-resolution of spike streams (see ../../shared/METHOD.md).

`hr, state = Spk2VidNet(config)(blocks, state)` maps blocks (B, N, 2w+1, H, W) of 0/1 spikes to
frames (B, N, 1, rH, rW) in firing-rate units. Read bottom-up: configuration, stream state, layers,
then the network. Layout of the network, per block i:

    Y_i = extract(block_i)                                   feature extraction
          (with `compensate`: of block_i's frames shifted along the velocity V_{i-1})
    F_i = RP-I(Y_i; F_{i-1}, .., F_{i-K})                    first recurrent layer
    M_i = RP-II(F_i; M_{i-2}, M_{i-4}, .., M_{i-2K})         second layer, temporal dilation 2
    I_i = bicubic(mean spike rate of block_i) + upsample(M_i)
    V_i = head(RP-I's offsets of F_{i-1})                    velocity, with `compensate` only

Each recurrent layer aligns its K history features to the current one (MFCA), modulates them by
how well they agree with it (CMF), fuses them with it and adds the current feature back.
The global bicubic skip makes the untrained network (zero-initialised last convolution) output
plain upsampled TFP, so training only learns the correction. At the start of a stream, history
that does not exist yet is replaced by the layer's current input.

A block reaches w frames either side of its centre (10 for 21-frame blocks, 20 for x1-lite's 41),
so a moving scene is blurred inside each block before any alignment. `compensate` shifts frame k of
block i by V_{i-1} * (k - w) before extraction (and in the skip), V_{i-1} being a learned linear
read-out of the motion RP-I found between the previous two blocks (constant velocity). The read-out
starts at zero: a compensating network starts as exactly the network without it, so it warm-starts
from its weights.

A camera's lens and pixels blur the scene before it is sampled. With `blur_input` the network is
told that blur, a Gaussian sigma per stream or "unknown", as per-channel shifts of the features
(BlurEmbedding), and so learns to undo that much and no more; told nothing, it is exactly the
network without the input.
"""

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from spk2vid_model.dcn import TAPS, DeformConv2d, WarpConv2d, shifted_grid
from spk2vid_model.geometry import WINDOW


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one Spk2VidNet; stored as JSON next to its weights."""

    name: str
    scale: int                     # super-resolution factor r
    window: int = WINDOW           # spike frames per block, 2w+1
    channels: int = 64             # feature channels C
    num_history: int = 2           # K, history features per recurrent layer
    temporal_dilation: int = 2     # RP-II looks at M_{i-d}, M_{i-2d}, ..
    extract_blocks: int = 5        # residual blocks of the feature extractor
    fusion_blocks: int = 5         # residual blocks after the fusion in each recurrent layer
    deform_groups: int = 8         # deformable groups of the alignment DCN
    alignment: str = "dcn"         # "dcn": 9-tap DCNv2; "warp": one offset per group, then a 3x3 conv
    max_offset: float = 10.0       # offsets are softly bounded to +-max_offset pixels
    cmf_dilations: tuple[int, ...] = (1, 2, 4)
    cmf_channels: int = 32         # channels of each CMF dilation branch
    trunk_stride: int = 1          # 2: the trunk runs at half resolution (pixel unshuffle)
    align_stride: int = 1          # 2: MFCA motion and CMF modulation are estimated at half resolution
    upsampler: str = "progressive"  # "progressive" (x2 stages of C channels) or "direct"
    compensate: bool = False       # shift each block's frames along the previous block's motion
    blur_input: bool = False       # takes the lens blur's sigma (or "unknown") as an input

    def __post_init__(self):
        factor = self.scale * self.trunk_stride
        if self.alignment not in ("dcn", "warp"):
            raise ValueError(f"unknown alignment {self.alignment!r}")
        if self.upsampler not in ("progressive", "direct"):
            raise ValueError(f"unknown upsampler {self.upsampler!r}")
        if self.upsampler == "progressive" and factor & (factor - 1):
            raise ValueError(f"progressive upsampling needs a power of two, not x{factor}")
        if self.align_stride < 1:
            raise ValueError(f"align_stride must be >= 1, not {self.align_stride}")
        if self.compensate and self.trunk_stride != 1:
            raise ValueError("compensate needs trunk_stride 1 (velocities live on the frames' grid)")
        if self.channels % self.deform_groups:
            raise ValueError(f"{self.channels} channels do not split into "
                             f"{self.deform_groups} deformable groups")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Inverse of `to_dict` (JSON turns tuples into lists); unknown keys raise TypeError."""
        known = {f.name for f in fields(cls)}
        if set(data) - known:
            raise TypeError(f"unknown config keys {sorted(set(data) - known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


LITE_WINDOW = 41  # spike frames per block of the -lite networks (the paper size: WINDOW)


def _configs() -> dict[str, ModelConfig]:
    """Paper-size configurations per scale (x4: 3.75M parameters, the paper's 3.73M), plus
    `-lite` ones for CPUs: 24 channels at full LR resolution, one residual block per recurrent
    layer, shared-offset alignment ("warp", 4 groups) and CMF estimated at half resolution, and a
    direct pixel shuffle; about 1/35 of the multiply-accumulates of the paper size. The lite ones
    also compensate motion inside each block (`compensate`) and read blocks of LITE_WINDOW frames:
    twice the light per output frame, for the dark and textured parts of a scene; `x1-lite` is
    also told the lens blur (`blur_input`)."""
    configs = {}
    for scale in (1, 2, 4, 8):
        full = ModelConfig(name=f"x{scale}", scale=scale)
        configs[full.name] = full
        configs[f"{full.name}-lite"] = replace(
            full, name=f"{full.name}-lite", channels=24, extract_blocks=2, fusion_blocks=1,
            deform_groups=4, alignment="warp", align_stride=2, cmf_channels=8, upsampler="direct",
            compensate=True, window=LITE_WINDOW, blur_input=scale == 1)
    return configs


CONFIGS = _configs()


@dataclass(frozen=True)
class StreamState:
    """Recurrent history carried from one call to the next: latest layer outputs, oldest first."""

    first: tuple[torch.Tensor, ...] = ()   # RP-I outputs F, at most K
    second: tuple[torch.Tensor, ...] = ()  # RP-II outputs M, at most K * temporal_dilation
    velocity: torch.Tensor | None = None   # V (B, 2, H, W), with `compensate` only

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "StreamState":
        """The same state with `fn` applied to every tensor (detaching, moving to a device)."""
        return StreamState(tuple(map(fn, self.first)), tuple(map(fn, self.second)),
                           None if self.velocity is None else fn(self.velocity))

    def detach(self) -> "StreamState":
        """The same history cut from the autograd graph (truncated back-propagation)."""
        return self.map(torch.Tensor.detach)

    def push(self, first: torch.Tensor, second: torch.Tensor, velocity: torch.Tensor | None,
             config: ModelConfig) -> "StreamState":
        keep = config.num_history
        return StreamState((*self.first, first)[-keep:],
                           (*self.second, second)[-keep * config.temporal_dilation:], velocity)


def history(stored: tuple[torch.Tensor, ...], count: int, dilation: int,
            current: torch.Tensor) -> list[torch.Tensor]:
    """[X_{i-d}, X_{i-2d}, .., X_{i-count*d}] from `stored` (oldest first); `current` if missing.

    Missing entries are copies, not `current` itself: with no aliased inputs, `torch.compile` sees
    the same graph from the first block on instead of recompiling while the history fills up."""
    steps = [n * dilation for n in range(1, count + 1)]
    return [stored[-step] if step <= len(stored) else current.clone() for step in steps]


def conv3x3(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation)


def leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.1, inplace=True)


def shrink(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Average over stride x stride cells (a partial cell at the edge averages what it has)."""
    return x if stride == 1 else F.avg_pool2d(x, stride, ceil_mode=True)


def grow(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize back to `size` (the inverse of `shrink`, for smooth fields)."""
    return x if x.shape[-2:] == size else F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ResidualBlock(nn.Module):
    """x + conv(lrelu(conv(x)))."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv3x3(channels, channels), leaky(),
                                  conv3x3(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FeatureExtractor(nn.Sequential):
    """Block of spike frames (as channels) -> base intensity features Y_i; `shift` (a BlurEmbedding's
    vector) is added after the first convolution."""

    def __init__(self, in_channels: int, channels: int, num_blocks: int):
        super().__init__(conv3x3(in_channels, channels), leaky(),
                         *(ResidualBlock(channels) for _ in range(num_blocks)))

    def forward(self, frames: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        stem, *rest = self
        x = stem(frames)
        if shift is not None:
            x = x + shift
        for layer in rest:
            x = layer(x)
        return x


class BlurEmbedding(nn.Module):
    """The lens blur as per-channel shifts of the features (`blur_input`), like a noise-level map.

    sigma (B,) in sensor pixels, NaN where unknown -> [sigma, known] -> one (B, C, 1, 1) shift for
    each of `places`. Zero-initialised, and an unknown sigma gives exactly zero: a network with
    this input starts as, and when told nothing stays, the network without it (warm starts)."""

    def __init__(self, channels: int, places: int):
        super().__init__()
        self.places = places
        self.linear = nn.Linear(2, channels * places, bias=False)
        nn.init.zeros_(self.linear.weight)

    def forward(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        known = ~torch.isnan(sigma)
        code = torch.stack([torch.where(known, sigma, 0.0), known.to(sigma.dtype)], -1)
        shifts = self.linear(code.to(self.linear.weight.dtype))
        return tuple(shifts[:, :, None, None].chunk(self.places, 1))


class MFCA(nn.Module):
    """Multi-frame consistency-guided alignment of K history features to the current feature.

    Motion cues X = m([current, history]); K offset/mask fields O_n = f_n(X), predicted by one
    stacked convolution; cross-correction O^R_n = O_n + h_n([O_1, .., O_K]), the K heads h_n
    sharing their first layer; then DCN(history_n, O^R_n) with one DCN shared by all n.
    Field n is 18G offsets (dy, dx per tap, `dcn` layout) followed by 9G mask logits; with
    alignment "warp" (`dcn.WarpConv2d`) it is 2G offsets and G mask logits, shared by the taps.
    Tensors over the K history features are stacked along the batch axis, nearest first.
    With `align_stride` s > 1 the fields are estimated on s x s averaged features and resized
    back (offsets times s): motion is smooth, so this costs little accuracy and saves ~s^2 work.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        channels, count = config.channels, config.num_history
        self.groups, self.max_offset = config.deform_groups, config.max_offset
        self.stride = config.align_stride
        self.taps = TAPS if config.alignment == "dcn" else 1
        field = 3 * self.taps * self.groups
        self.motion = nn.Sequential(conv3x3((count + 1) * channels, channels), leaky(),
                                    conv3x3(channels, channels), leaky())
        self.initial = conv3x3(channels, count * field)
        self.correction = nn.Sequential(conv3x3(count * field, channels), leaky(),
                                        conv3x3(channels, count * field))
        for layer in (self.initial, self.correction[-1]):  # start from identity alignment
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.deform = (DeformConv2d(channels, channels, self.groups) if config.alignment == "dcn"
                       else WarpConv2d(channels, channels))

    def forward(self, current: torch.Tensor, history: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) and K x (B, C, H, W) -> aligned history (K*B, C, H, W) and the offsets
        used (K*B, 2*taps*G, H, W), in pixels."""
        cues = torch.cat([shrink(x, self.stride) for x in (current, *history)], 1)
        fields = self.initial(self.motion(cues))
        fields = fields + self.correction(fields)
        fields = grow(torch.cat(fields.chunk(len(history), 1), 0), current.shape[-2:])
        offset, mask = fields.split([2 * self.taps * self.groups, self.taps * self.groups], 1)
        offset = self.max_offset * torch.tanh(offset * (self.stride / self.max_offset))
        return self.deform(torch.cat(history, 0), offset, torch.sigmoid(mask)), offset


class CMF(nn.Module):
    """Content-aware modulation: F^ = (alpha * F~ + beta) + F~, with alpha and beta from
    parallel dilated convolutions over [F~, current]. Shared by the K aligned features.
    Like MFCA, alpha and beta are estimated at 1/`align_stride` resolution and resized back."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        channels, width = config.channels, config.cmf_channels
        self.branches = nn.ModuleList(
            nn.Sequential(conv3x3(2 * channels, width, dilation), leaky())
            for dilation in config.cmf_dilations)
        self.scale_shift = nn.Conv2d(width * len(self.branches), 2 * channels, 1)
        self.stride = config.align_stride

    def forward(self, aligned: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """(K*B, C, H, W) aligned features and (B, C, H, W) current -> modulated (K*B, C, H, W)."""
        aligned_small, current_small = shrink(aligned, self.stride), shrink(current, self.stride)
        repeats = aligned.shape[0] // current.shape[0]
        pair = torch.cat([aligned_small, current_small.repeat(repeats, 1, 1, 1)], 1)
        modulation = self.scale_shift(torch.cat([b(pair) for b in self.branches], 1))
        alpha, beta = grow(modulation, aligned.shape[-2:]).chunk(2, 1)
        return torch.addcmul(beta, alpha, aligned).add_(aligned)


class RecurrentLayer(nn.Module):
    """One propagation layer (RP-I or RP-II): MFCA, CMF, fusion with the current feature."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        channels = config.channels
        self.align = MFCA(config)
        self.modulate = CMF(config)
        self.fuse = nn.Sequential(conv3x3((config.num_history + 1) * channels, channels), leaky(),
                                  *(ResidualBlock(channels) for _ in range(config.fusion_blocks)))

    def forward(self, current: torch.Tensor, history: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> the layer's output and the alignment offsets of the nearest history feature."""
        aligned, offset = self.align(current, history)
        modulated = self.modulate(aligned, current)
        output = current + self.fuse(torch.cat([current, *modulated.chunk(len(history), 0)], 1))
        return output, offset[:current.shape[0]]


class MotionCompensation(nn.Module):
    """Velocity read-out and in-block motion compensation (`compensate`; module docstring).

    `velocity(offset)`: RP-I's offsets of F_{i-1} (B, 2*taps*G, H, W) -> V (B, 2, H, W), (dy, dx)
    in pixels per spike frame, by a 1x1 convolution that starts at zero.
    `forward(frames, V)`: frame k of (B, 2w+1, H, W) read at (y, x) + V * (k - w), bilinear,
    edges repeated.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        taps = TAPS if config.alignment == "dcn" else 1
        self.head = nn.Conv2d(2 * taps * config.deform_groups, 2, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def velocity(self, offset: torch.Tensor) -> torch.Tensor:
        return self.head(offset)

    def forward(self, frames: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        batch, window, height, width = frames.shape
        dtype = torch.promote_types(frames.dtype, torch.float32)
        time = (torch.arange(window, device=frames.device, dtype=dtype) - window // 2).view(1, window, 1, 1)
        dy, dx = (velocity.to(dtype)[:, :, None] * time).unbind(1)  # (B, 2w+1, H, W) each
        shifted = F.grid_sample(frames.to(dtype).reshape(batch * window, 1, height, width),
                                shifted_grid(dy, dx, dtype).flatten(0, 1),
                                mode="bilinear", padding_mode="border", align_corners=False)
        return shifted.view(batch, window, height, width).to(frames.dtype)


class Upsampler(nn.Sequential):
    """Features (C channels) -> one channel at `factor` times the resolution, by pixel shuffle.

    "progressive": x2 stages of conv(C -> 4C) + shuffle, then conv(C -> 1);
    "direct": conv(C -> factor^2) + one shuffle. The last convolution starts at zero.
    """

    def __init__(self, channels: int, factor: int, kind: str):
        if kind == "progressive":
            output = conv3x3(channels, 1)
            layers = [*(layer for _ in range(int(math.log2(factor)))
                        for layer in (conv3x3(channels, 4 * channels), nn.PixelShuffle(2), leaky())),
                      output]
        else:
            output = conv3x3(channels, factor * factor)
            layers = [output, nn.PixelShuffle(factor)]
        super().__init__(*layers)
        nn.init.zeros_(output.weight)
        nn.init.zeros_(output.bias)


class Spk2VidNet(nn.Module):
    """The network; `hr, state = net(blocks, state)` (see the module docstring)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        stride = config.trunk_stride
        self.extract = FeatureExtractor(config.window * stride * stride, config.channels,
                                        config.extract_blocks)
        self.first = RecurrentLayer(config)
        self.second = RecurrentLayer(config)
        self.upsample = Upsampler(config.channels, config.scale * stride, config.upsampler)
        self.compensate = MotionCompensation(config) if config.compensate else None
        # shifts at the extractor's stem and at the inputs of RP-I and RP-II
        self.blur = BlurEmbedding(config.channels, 3) if config.blur_input else None

    def _extract(self, frames: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
        """Spike frames (n, 2w+1, H, W) -> features (n, C, H/s, W/s), channels-last."""
        stride = self.config.trunk_stride
        if stride > 1:  # space to depth: the trunk runs on a 1/stride grid
            height, width = frames.shape[-2:]
            padded = F.pad(frames, (0, -width % stride, 0, -height % stride), mode="replicate")
            frames = F.pixel_unshuffle(padded, stride)
        return self.extract(frames.contiguous(memory_format=torch.channels_last), shift)

    def _blur_shifts(self, blur: torch.Tensor | None, batch: int,
                     device: torch.device) -> tuple[torch.Tensor | None, ...]:
        """The BlurEmbedding's three shifts for sigma (B,) (NaN or None: unknown); Nones without one."""
        if self.blur is None:
            if blur is not None:
                raise ValueError(f"{self.config.name} takes no lens blur (its config has no blur_input)")
            return None, None, None
        sigma = torch.full((batch,), math.nan, device=device) if blur is None else blur.to(device, torch.float32)
        return self.blur(sigma)

    def forward(self, blocks: torch.Tensor, state: StreamState | None = None,
                blur: torch.Tensor | None = None) -> tuple[torch.Tensor, StreamState]:
        """Blocks (B, N, 2w+1, H, W) of 0/1 spikes, in stream order, continuing `state`; `blur`
        (B,): each stream's lens blur sigma in sensor pixels, NaN where unknown (`blur_input` only).

        Returns frames (B, N, 1, rH, rW) in firing-rate units and the state after the last block.
        """
        config = self.config
        batch, count, window, height, width = blocks.shape
        if window != config.window:
            raise ValueError(f"{config.name} expects {config.window}-frame blocks, got {window}")
        state = StreamState() if state is None else state
        stem, into_first, into_second = self._blur_shifts(blur, batch, blocks.device)
        # (block, batch) order: each block's features are then a slice of the extractor's output with
        # the strides of the layer outputs (one compiled graph serves every block), and the outputs
        # come out in that order too.
        frames = blocks.transpose(0, 1).flatten(0, 1)
        if self.compensate is None:  # every block's features at once
            features = self._extract(frames, None if stem is None else stem.repeat(count, 1, 1, 1)).split(batch)
        outputs, bases = [], []
        for index, block in enumerate(frames.split(batch)):
            if self.compensate is None:
                current = features[index]
            else:  # each block needs the velocity its predecessor left
                if state.velocity is not None:
                    block = self.compensate(block, state.velocity)
                current = self._extract(block, stem)
            if into_first is not None:
                current = current + into_first
            first, offset = self.first(current, history(state.first, config.num_history, 1, current))
            told = first if into_second is None else first + into_second  # F_i itself is what RP-I keeps
            second, _ = self.second(told, history(state.second, config.num_history,
                                                  config.temporal_dilation, told))
            velocity = None if self.compensate is None else self.compensate.velocity(offset)
            state = state.push(first, second, velocity, config)
            outputs.append(second)
            bases.append(block.mean(1, keepdim=True))
        scale = config.scale
        residual = self.upsample(torch.cat(outputs, 0))[..., :height * scale, :width * scale]
        base = torch.cat(bases, 0)
        if scale > 1:
            base = F.interpolate(base, scale_factor=scale, mode="bicubic", align_corners=False)
        # back from (block, batch) to (batch, block)
        return (base + residual).unflatten(0, (count, batch)).transpose(0, 1), state


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
