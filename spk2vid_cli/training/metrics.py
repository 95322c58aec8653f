"""Image quality metrics: PSNR and SSIM, in torch.

Conventions (the same everywhere in spk2vid, so figures are comparable):
- Inputs are in firing-rate units and are divided by the conversion `rate`, so every sequence is
  judged on the same intensity scale, then clipped to [0, 1] (data range 1). Computed in float64.
- One grey channel; images are the last two dimensions, any leading dimensions are kept in the
  result (one value per image).
- `crop` pixels are removed from every border before comparing (use the SR factor).
- SSIM follows Wang et al. 2004: 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
  statistics over 'valid' windows only (no padding), mean of the SSIM map.
"""

import torch

from spk2vid_cli.errors import InputError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def to_intensity(images: torch.Tensor, rate: float | torch.Tensor = 1.0, crop: int = 0) -> torch.Tensor:
    """Firing-rate images (..., H, W) -> float64 intensities in [0, 1], `crop` border pixels removed.

    `rate` is a number or a tensor whose shape is a prefix of the leading dimensions (e.g. (B,)).
    """
    images = images.double()
    rate = torch.as_tensor(rate, dtype=images.dtype, device=images.device)
    rate = rate.reshape(rate.shape + (1,) * (images.dim() - rate.dim()))
    intensity = (images / rate).clamp(0.0, 1.0)
    if crop:
        intensity = intensity[..., crop:-crop, crop:-crop]
    return intensity


def psnr(pred: torch.Tensor, target: torch.Tensor, rate: float | torch.Tensor = 1.0, crop: int = 0) -> torch.Tensor:
    """PSNR in dB per image (shape `pred.shape[:-2]`); identical images give +inf."""
    x, y = to_intensity(pred, rate, crop), to_intensity(target, rate, crop)
    mse = (x - y).square().mean(dim=(-2, -1))
    return -10.0 * torch.log10(mse)


def _gaussian_blur(x: torch.Tensor) -> torch.Tensor:
    """Weighted means over every whole 11x11 window of (..., H, W): (..., H-10, W-10).

    The Gaussian is separable, so this is 11 shifted sums down the rows, then 11 across: memory
    stays at a few images whatever the batch (an unfolding convolution would take 121 copies).
    """
    coords = torch.arange(SSIM_WINDOW, dtype=x.dtype, device=x.device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-coords.square() / (2 * SSIM_SIGMA**2))
    g = (g / g.sum()).tolist()
    height, width = x.shape[-2] - SSIM_WINDOW + 1, x.shape[-1] - SSIM_WINDOW + 1
    rows = sum(w * x[..., k:k + height, :] for k, w in enumerate(g))
    return sum(w * rows[..., k:k + width] for k, w in enumerate(g))


def ssim(pred: torch.Tensor, target: torch.Tensor, rate: float | torch.Tensor = 1.0, crop: int = 0) -> torch.Tensor:
    """Mean SSIM per image (shape `pred.shape[:-2]`); images must be at least 11x11 after the crop."""
    x, y = to_intensity(pred, rate, crop), to_intensity(target, rate, crop)
    h, w = x.shape[-2:]
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise InputError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} after cropping {crop} border "
                         f"pixels, got {h}x{w}; evaluate larger frames")
    mu_x, mu_y = _gaussian_blur(x), _gaussian_blur(y)
    var_x = _gaussian_blur(x * x) - mu_x.square()
    var_y = _gaussian_blur(y * y) - mu_y.square()
    cov = _gaussian_blur(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(-2, -1))
