"""Fidelity metrics: PSNR and SSIM on RGB images in [0, 255].

SSIM is the standard one of Wang et al. (2004): an 11x11 Gaussian window
with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, computed per channel over
the valid region and averaged.
"""

import math

import torch
import torch.nn.functional as F


def to_255(x01):
    """[0,1] floats -> [0,255] rounded, as a stored 8-bit image would be."""
    return (x01.clamp(0, 1) * 255).round()


def psnr(a, b):
    """Per-image PSNR in dB of NCHW tensors in [0,255]."""
    mse = ((a.double() - b.double()) ** 2).flatten(1).mean(dim=1)
    return 10 * torch.log10(255.0 ** 2 / mse.clamp(min=1e-12))


def _gauss(size=11, sigma=1.5):
    """The normalised 1-D Gaussian; SSIM's 2-D window is its outer product."""
    g = torch.tensor([math.exp(-((i - size // 2) ** 2) / (2 * sigma ** 2)) for i in range(size)],
                     dtype=torch.float64)
    return g / g.sum()


def ssim(a, b, size=11, sigma=1.5, data_range=255.0, dtype=torch.float64):
    """Per-image mean SSIM of NCHW tensors in [0, data_range]. In float32
    and data_range 1 it is also a training loss (1 - ssim): differentiable,
    and the same quantity the eval reports. The window is separable, so
    the five local means are one pass of its rows and one of its columns
    (22 taps a pixel instead of 121)."""
    a, b = a.to(dtype), b.to(dtype)
    c = a.shape[1]
    g = _gauss(size, sigma).to(a.device, dtype)
    stack = torch.cat([a, b, a * a, b * b, a * b], dim=1)
    m = F.conv2d(stack, g.view(1, 1, size, 1).expand(5 * c, 1, size, 1), groups=5 * c)
    m = F.conv2d(m, g.view(1, 1, 1, size).expand(5 * c, 1, 1, size), groups=5 * c)
    mu_a, mu_b, ea, eb, eab = m.split(c, dim=1)
    saa, sbb, sab = ea - mu_a ** 2, eb - mu_b ** 2, eab - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return m.flatten(1).mean(dim=1)


def luma(x):
    """BT.601 luma of RGB images, CHW or NCHW, keeping the channel axis."""
    return 0.299 * x[..., 0:1, :, :] + 0.587 * x[..., 1:2, :, :] + 0.114 * x[..., 2:3, :, :]


def sharpness(x255):
    """Per-image mean gradient magnitude of NCHW RGB in [0,255]: the mean
    absolute difference of horizontally neighbouring pixels of the luma
    image (BT.601 weights) plus that of vertically neighbouring ones. A
    blurred copy of an image scores lower than the image."""
    y = luma(x255)[:, 0].double()
    dx = (y[:, :, 1:] - y[:, :, :-1]).abs().flatten(1).mean(dim=1)
    dy = (y[:, 1:, :] - y[:, :-1, :]).abs().flatten(1).mean(dim=1)
    return dx + dy
