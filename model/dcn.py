"""Modulated deformable convolution (DCNv2), 3x3 kernel, stride 1, padding 1, in plain PyTorch.

Layout (the same as `torchvision.ops.deform_conv2d`), for an input with C channels split into G
deformable groups of C/G consecutive channels:

- `offset` (B, G*2*9, H, W): for group g and tap k = 3*i + j (row i, column j of the kernel),
  channel g*18 + 2*k holds dy and g*18 + 2*k + 1 holds dx, in input pixels.
- `mask` (B, G*9, H, W): modulation in [0, 1] (already through a sigmoid), channel g*9 + k.

Output pixel (y, x) reads tap k of group g at (y + i - 1 + dy, x + j - 1 + dx) with bilinear
interpolation (`grid_sample`, on a channels-last input, where it is fastest on CPU); positions
outside the image read zeros. Sampling runs in float32 at least: bf16 cannot even hold pixel
positions beyond 256 exactly.

Two paths compute the same result: with autograd on, all 9 taps are sampled into one
(pixels, 9*C) column matrix and multiplied by the weights once; without it (inference), taps
are sampled and accumulated one at a time, so memory stays at a few C-channel maps.

`WarpConv2d` is the cheap variant for CPUs: one offset and one mask per pixel and group, shared
by the 9 taps, so the input is sampled once (`warp`) and then convolved by an ordinary 3x3
convolution: flow-guided alignment with DCNv2's modulation, at 1/9 of the sampling work.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

TAPS = 9


def deform_conv2d(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor,
                  weight: torch.Tensor, bias: torch.Tensor | None = None,
                  lean: bool | None = None) -> torch.Tensor:
    """Modulated 3x3 deformable convolution; returns (B, C_out, H, W), channels-last.

    `weight` is (C_out, C, 3, 3). `lean` picks the tap-by-tap path; by default it is used
    exactly when autograd is off.
    """
    batch, channels, height, width = x.shape
    groups = mask.shape[1] // TAPS
    if offset.shape[1] != 2 * TAPS * groups or channels % groups:
        raise ValueError(f"offset {tuple(offset.shape)} / mask {tuple(mask.shape)} do not fit "
                         f"{channels} channels in {groups} deformable groups")
    if lean is None:
        lean = not torch.is_grad_enabled()
    dtype = torch.promote_types(x.dtype, torch.float32)
    images = _group_images(x, groups, dtype)
    grid = _sampling_grid(offset.to(dtype), groups)
    mask = mask.to(dtype).reshape(batch * groups, TAPS, height, width)
    weight = weight.to(dtype).reshape(-1, channels, TAPS)  # (C_out, C, tap)
    if lean:
        out = None
        for tap in range(TAPS):
            samples = _samples(images, grid, mask, slice(tap, tap + 1), batch)
            term = torch.bmm(samples, weight[:, :, tap].t().expand(batch, -1, -1))
            out = term.to(dtype) if out is None else out.add_(term)  # sum at >= fp32 under autocast
    else:
        samples = _samples(images, grid, mask, slice(0, TAPS), batch)
        out = torch.bmm(samples, weight.flatten(1).t().expand(batch, -1, -1))
    if bias is not None:
        out = out + bias
    return out.view(batch, height, width, -1).permute(0, 3, 1, 2)


def _group_images(x: torch.Tensor, groups: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, C, H, W) -> one channels-last image per (batch, group): (B*G, C/G, H, W), in `dtype`.

    One copy does both the regrouping and the cast."""
    batch, channels, height, width = x.shape
    images = torch.empty(batch, groups, height, width, channels // groups, dtype=dtype, device=x.device)
    images.copy_(x.unflatten(1, (groups, -1)).permute(0, 1, 3, 4, 2))
    return images.flatten(0, 1).permute(0, 3, 1, 2)


def warp(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Modulated bilinear warp: out[g](y, x) = mask[g](y, x) * x[g](y + dy, x + dx), zeros outside.

    `offset` (B, 2G, H, W) holds (dy, dx) per group g, `mask` (B, G, H, W) in [0, 1]; the input's
    C channels split into G groups of consecutive channels. Returns (B, C, H, W), channels-last.
    """
    batch, channels, height, width = x.shape
    groups = mask.shape[1]
    if offset.shape[1] != 2 * groups or channels % groups:
        raise ValueError(f"offset {tuple(offset.shape)} / mask {tuple(mask.shape)} do not fit "
                         f"{channels} channels in {groups} groups")
    dtype = torch.promote_types(x.dtype, torch.float32)
    dy, dx = offset.unflatten(1, (groups, 2)).unbind(2)  # (B, G, H, W) views
    grid = shifted_grid(dy, dx, dtype)
    sampled = F.grid_sample(_group_images(x, groups, dtype), grid.flatten(0, 1), mode="bilinear",
                            padding_mode="zeros", align_corners=False)
    # (B*G, C/G, H, W) back to channels-last (B, C, H, W), channel g*C/G + c, in x's dtype (one
    # copy), then modulated.
    pixels = torch.empty(batch, height, width, groups, channels // groups, dtype=x.dtype, device=x.device)
    pixels.copy_(sampled.unflatten(0, (batch, groups)).permute(0, 3, 4, 1, 2))
    pixels = pixels * mask.to(x.dtype).permute(0, 2, 3, 1).unsqueeze(-1)
    return pixels.flatten(3).permute(0, 3, 1, 2)


def _positions(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Pixel centres 0..size-1 as `grid_sample` coordinates in [-1, 1] (align_corners=False); a
    shift of d pixels adds 2d/size."""
    return (2 * torch.arange(size, device=device, dtype=dtype) + 1) / size - 1


def shifted_grid(dy: torch.Tensor, dx: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`grid_sample` coordinates (..., H, W, 2), in `dtype`, of every pixel centre moved by (dy, dx)
    pixels; `dy` and `dx` are (..., H, W)."""
    height, width = dy.shape[-2:]
    return torch.stack([torch.add(_positions(width, dtype, dx.device), dx, alpha=2 / width),
                        torch.add(_positions(height, dtype, dy.device).view(height, 1), dy, alpha=2 / height)],
                       -1)


def _sampling_grid(offset: torch.Tensor, groups: int) -> torch.Tensor:
    """`grid_sample` coordinates (B*G, 9, H, W, 2) as (x, y) in [-1, 1] (align_corners=False)."""
    batch, _, height, width = offset.shape
    dy, dx = offset.reshape(batch * groups, TAPS, 2, height, width).unbind(2)
    taps = torch.arange(TAPS, device=offset.device, dtype=offset.dtype)
    # tap k reads pixel (y + k // 3 - 1 + dy, x + k % 3 - 1 + dx); a shift of d pixels adds 2d/size
    cols = (_positions(width, offset.dtype, offset.device).view(1, 1, width)
            + (2 / width) * (taps % 3 - 1).view(TAPS, 1, 1))
    rows = (_positions(height, offset.dtype, offset.device).view(1, height, 1)
            + (2 / height) * (taps // 3 - 1).view(TAPS, 1, 1))
    return torch.stack([torch.add(cols, dx, alpha=2 / width), torch.add(rows, dy, alpha=2 / height)], -1)


def _samples(images: torch.Tensor, grid: torch.Tensor, mask: torch.Tensor, taps: slice,
             batch: int) -> torch.Tensor:
    """Modulated samples of the given taps as (B, H*W, C*T), columns ordered (channel, tap)."""
    groups_batch, _, height, width = images.shape
    count = len(range(*taps.indices(TAPS)))
    sampled = F.grid_sample(images, grid[:, taps].reshape(groups_batch, count * height, width, 2),
                            mode="bilinear", padding_mode="zeros", align_corners=False)
    sampled = sampled * mask[:, taps].reshape(groups_batch, 1, count * height, width)
    # (B*G, C/G, T*H, W) holds the same elements in the same order as (B, C*T, H*W).
    return sampled.reshape(batch, -1, height * width).transpose(1, 2)


class DeformConv2d(nn.Module):
    """3x3 modulated deformable convolution layer: `layer(x, offset, mask)` (layout: module doc)."""

    def __init__(self, in_channels: int, out_channels: int, deform_groups: int = 1):
        super().__init__()
        if in_channels % deform_groups:
            raise ValueError(f"{in_channels} channels do not split into {deform_groups} groups")
        self.deform_groups = deform_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.empty(out_channels))
        bound = 1 / math.sqrt(in_channels * TAPS)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return deform_conv2d(x, offset, mask, self.weight, self.bias)

    def extra_repr(self) -> str:
        out_channels, in_channels = self.weight.shape[:2]
        return f"{in_channels}, {out_channels}, deform_groups={self.deform_groups}"


class WarpConv2d(nn.Module):
    """`layer(x, offset, mask)` = conv3x3(warp(x, offset, mask)): the shared-offset alignment (the
    groups are those of `mask`; `warp` checks that they split the channels)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.conv(warp(x, offset, mask))
