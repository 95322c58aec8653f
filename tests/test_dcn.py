"""Modulated deformable convolution against a per-pixel float64 reference written out by hand."""

import math

import numpy as np
import pytest
import torch

from spk2vid_model.dcn import DeformConv2d, WarpConv2d, deform_conv2d, warp

pytestmark = pytest.mark.usefixtures("one_thread")


def bilinear(image: np.ndarray, y: float, x: float) -> np.ndarray:
    """Channels of `image` (C, H, W) at (y, x); pixels outside the image count as zero."""
    _, height, width = image.shape
    value = np.zeros(image.shape[0])
    for row in (math.floor(y), math.floor(y) + 1):
        for col in (math.floor(x), math.floor(x) + 1):
            if 0 <= row < height and 0 <= col < width:
                value += (1 - abs(y - row)) * (1 - abs(x - col)) * image[:, row, col]
    return value


def reference(x, offset, mask, weight, bias):
    """DCNv2 by definition: every output pixel, group and tap sampled one by one."""
    x, offset, mask, weight, bias = (t.detach().double().numpy()
                                     for t in (x, offset, mask, weight, bias))
    batch, channels, height, width = x.shape
    groups = mask.shape[1] // 9
    per_group = channels // groups
    out = np.zeros((batch, weight.shape[0], height, width))
    for b in range(batch):
        for y in range(height):
            for x_ in range(width):
                for g in range(groups):
                    part = slice(g * per_group, (g + 1) * per_group)
                    for tap in range(9):
                        i, j = divmod(tap, 3)
                        dy = offset[b, g * 18 + 2 * tap, y, x_]
                        dx = offset[b, g * 18 + 2 * tap + 1, y, x_]
                        sample = bilinear(x[b, part], y + i - 1 + dy, x_ + j - 1 + dx)
                        out[b, :, y, x_] += (weight[:, part, i, j] @ sample
                                             * mask[b, g * 9 + tap, y, x_])
                out[b, :, y, x_] += bias
    return torch.from_numpy(out)


def random_inputs(batch=2, channels=6, out_channels=5, groups=3, height=5, width=7,
                  reach=3.0, dtype=torch.float64, seed=0):
    """Inputs whose offsets (up to `reach` pixels) often leave the image."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, height, width, generator=gen, dtype=dtype)
    offset = (torch.rand(batch, groups * 18, height, width, generator=gen, dtype=dtype)
              * 2 - 1) * reach
    mask = torch.rand(batch, groups * 9, height, width, generator=gen, dtype=dtype)
    weight = torch.randn(out_channels, channels, 3, 3, generator=gen, dtype=dtype)
    bias = torch.randn(out_channels, generator=gen, dtype=dtype)
    return x, offset, mask, weight, bias


@pytest.mark.parametrize("lean", [False, True])
def test_matches_reference(lean):
    inputs = random_inputs()
    assert (inputs[1].abs() > 1.5).any()  # some taps land outside the 5x7 image
    out = deform_conv2d(*inputs, lean=lean)
    assert out.shape == (2, 5, 5, 7)
    torch.testing.assert_close(out, reference(*inputs), rtol=1e-10, atol=1e-10)


def test_zero_offsets_full_mask_is_plain_convolution():
    x, offset, mask, weight, bias = random_inputs(groups=2, channels=4)
    out = deform_conv2d(x, torch.zeros_like(offset), torch.ones_like(mask), weight, bias)
    expected = torch.nn.functional.conv2d(x, weight, bias, padding=1)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_offsets_far_outside_read_zeros():
    x, offset, mask, weight, bias = random_inputs()
    out = deform_conv2d(x, torch.full_like(offset, -50.0), mask, weight, bias)
    torch.testing.assert_close(out, bias.view(1, -1, 1, 1).expand_as(out))


def test_channels_last_inputs_give_the_same_result():
    x, offset, mask, weight, bias = random_inputs()
    channels_last = [t.contiguous(memory_format=torch.channels_last) for t in (x, offset, mask)]
    torch.testing.assert_close(deform_conv2d(*channels_last, weight, bias),
                               deform_conv2d(x, offset, mask, weight, bias))


def test_lean_path_is_chosen_without_grad_and_agrees():
    inputs = random_inputs(dtype=torch.float32, height=9, width=11, seed=1)
    training = deform_conv2d(*inputs)
    with torch.inference_mode():
        lean = deform_conv2d(*inputs)
    torch.testing.assert_close(lean, training, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("lean", [False, True])
def test_gradcheck(lean):
    inputs = [t.requires_grad_() for t in random_inputs(batch=2, channels=4, out_channels=2,
                                                          groups=2, height=3, width=4, seed=2)]
    assert torch.autograd.gradcheck(lambda *args: deform_conv2d(*args, lean=lean), inputs,
                                    fast_mode=True)


def test_module_rejects_indivisible_groups_and_runs():
    with pytest.raises(ValueError):
        DeformConv2d(6, 4, deform_groups=4)
    layer = DeformConv2d(6, 4, deform_groups=3)
    x, offset, mask, _, _ = random_inputs(dtype=torch.float32)
    out = layer(x, offset, mask)
    out.sum().backward()
    assert out.shape == (2, 4, 5, 7)
    assert layer.weight.grad.abs().sum() > 0 and layer.bias.grad.abs().sum() > 0


def test_matches_torchvision():
    ops = pytest.importorskip("torchvision.ops")
    x, offset, mask, weight, bias = random_inputs(seed=3)
    expected = ops.deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    torch.testing.assert_close(deform_conv2d(x, offset, mask, weight, bias), expected)


def warp_reference(x, offset, mask):
    """The modulated warp by definition: each pixel and group sampled at its own offset."""
    x, offset, mask = (t.detach().double().numpy() for t in (x, offset, mask))
    batch, channels, height, width = x.shape
    groups = mask.shape[1]
    per_group = channels // groups
    out = np.zeros_like(x)
    for b in range(batch):
        for g in range(groups):
            part = slice(g * per_group, (g + 1) * per_group)
            for y in range(height):
                for x_ in range(width):
                    dy, dx = offset[b, 2 * g, y, x_], offset[b, 2 * g + 1, y, x_]
                    out[b, part, y, x_] = mask[b, g, y, x_] * bilinear(x[b, part], y + dy, x_ + dx)
    return torch.from_numpy(out)


def warp_inputs(groups=3, seed=0):
    x, offset, mask, _, _ = random_inputs(groups=groups, seed=seed)
    return x, offset[:, :2 * groups], mask[:, :groups]


def test_warp_matches_reference():
    inputs = warp_inputs()
    out = warp(*inputs)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, warp_reference(*inputs))


def test_warp_gradcheck():
    inputs = tuple(t.requires_grad_() for t in warp_inputs(groups=2, seed=1))
    assert torch.autograd.gradcheck(warp, inputs, eps=1e-6, atol=1e-5)


def test_warp_conv_with_zero_offsets_is_a_plain_convolution():
    layer = WarpConv2d(6, 4).double()
    x, offset, mask = warp_inputs()
    expected = layer.conv(x)
    torch.testing.assert_close(layer(x, torch.zeros_like(offset), torch.ones_like(mask)), expected)
    with pytest.raises(ValueError, match="groups"):
        layer(x, torch.zeros(2, 8, 5, 7).double(), torch.ones(2, 4, 5, 7).double())  # 6 channels, 4 groups
