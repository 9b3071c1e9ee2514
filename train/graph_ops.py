"""The operators of edgetoon's graphs in PyTorch, with the Go engine's
conventions (edgetoon_model.py lists them): TensorFlow's SAME padding,
its legacy bilinear resize, and box means over the taps inside the image.
They are written for training speed on a CPU as well as for agreement:
test_teacher checks each against loops or the general path."""

import functools

import numpy as np
import torch
import torch.nn.functional as F


def same_pads(size, stride, k, dilation=1):
    """TensorFlow SAME padding for one axis: (before, after)."""
    k = (k - 1) * dilation + 1
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv2d_same(x, weight, bias=None, stride=(1, 1), dilation=(1, 1), groups=1):
    """Conv with TF SAME padding. x NCHW, weight torch layout [O,I/g,KH,KW]."""
    kh, kw = weight.shape[2], weight.shape[3]
    top, bottom = same_pads(int(x.shape[2]), stride[0], int(kh), dilation[0])
    left, right = same_pads(int(x.shape[3]), stride[1], int(kw), dilation[1])
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(x, weight, bias, stride=tuple(stride), dilation=tuple(dilation), groups=groups)


def _resize_axis(in_size, out_size, align_corners, half_pixel):
    """Source indices (lo, hi) and weight of hi for each output index,
    computed in float32 as TFLite's reference kernel does."""
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    i = np.arange(out_size, dtype=np.float32)
    if half_pixel:
        f = (i + np.float32(0.5)) * scale - np.float32(0.5)
    else:
        f = i * scale
    f = f.astype(np.float32)
    lo = np.maximum(np.floor(f), 0).astype(np.int64)
    hi = np.minimum(np.ceil(f), in_size - 1).astype(np.int64)
    # TFLite's weight is f - lo with lo = max(floor(f), 0) (with half-pixel,
    # f may be negative at the first index: a small negative weight).
    frac = (f - lo.astype(np.float32)).astype(np.float32)
    return torch.from_numpy(lo), torch.from_numpy(hi), torch.from_numpy(frac)


def resize_bilinear(x, out_h, out_w, align_corners=False, half_pixel=False):
    """Bilinear resize of NCHW x with explicit index maths (TF conventions).

    Without align_corners or half_pixel this is TensorFlow's legacy
    asymmetric mapping: source = dest * in/out, no offset.
    """
    h, w = int(x.shape[2]), int(x.shape[3])  # ints also while tracing for ONNX
    if not (align_corners or half_pixel) and out_h == 2 * h and out_w == 2 * w:
        return _double(_double(x, 2), 3)
    return _gather_bilinear(x, out_h, out_w, align_corners, half_pixel)


def _gather_bilinear(x, out_h, out_w, align_corners, half_pixel):
    h, w = int(x.shape[2]), int(x.shape[3])
    y0, y1, dy = _resize_axis(h, out_h, align_corners, half_pixel)
    x0, x1, dx = _resize_axis(w, out_w, align_corners, half_pixel)
    dev, dt = x.device, x.dtype
    y0, y1, x0, x1 = y0.to(dev), y1.to(dev), x0.to(dev), x1.to(dev)
    dy = dy.to(dev, dt).view(1, 1, -1, 1)
    dx = dx.to(dev, dt).view(1, 1, 1, -1)
    top = x[:, :, y0, :]
    bot = x[:, :, y1, :]
    v00, v01 = top[:, :, :, x0], top[:, :, :, x1]
    v10, v11 = bot[:, :, :, x0], bot[:, :, :, x1]
    return (v00 * (1 - dy) * (1 - dx) + v10 * dy * (1 - dx)
            + v01 * (1 - dy) * dx + v11 * dy * dx)


def _double(x, dim):
    """The legacy mapping's 2x along dim: source i/2, so output 2i is input
    i and output 2i+1 the mean of inputs i and i+1 (the last repeated).
    The same values as the gathers above; in training the gathers'
    backward (a scattered accumulate) cost several times this one's."""
    n = x.shape[dim]
    nxt = torch.cat([x.narrow(dim, 1, n - 1), x.narrow(dim, n - 1, 1)], dim)
    shape = list(x.shape)
    shape[dim] *= 2
    return torch.stack([x, (x + nxt) * 0.5], dim + 1).reshape(shape)


def resize_nearest(x, out_h, out_w, align_corners=False, half_pixel=False):
    """Nearest resize of NCHW x (TFLite's GetNearestNeighbor)."""
    def axis(n_in, n_out):
        if align_corners and n_out > 1:
            scale = np.float32(n_in - 1) / np.float32(n_out - 1)
        else:
            scale = np.float32(n_in) / np.float32(n_out)
        off = np.float32(0.5) if half_pixel else np.float32(0)
        f = ((np.arange(n_out, dtype=np.float32) + off) * scale).astype(np.float64)
        v = np.floor(f + 0.5) if align_corners else np.floor(f)
        v = np.minimum(v, n_in - 1)
        if half_pixel:
            v = np.maximum(v, 0)
        return torch.from_numpy(v.astype(np.int64)).to(x.device)
    return x[:, :, axis(int(x.shape[2]), out_h), :][:, :, :, axis(int(x.shape[3]), out_w)]


def box_mean(x, radius):
    """Mean over the (2r+1)^2 window of each pixel, counting only taps
    inside the image (so borders divide by fewer taps)."""
    # Sums along each axis in turn, then the count of taps inside: the
    # same means as avg_pool2d(count_include_pad=False), whose backward on
    # the CPU took a quarter of a student's training step.
    return _box_sum(x, radius) / _tap_count(int(x.shape[2]), int(x.shape[3]), radius, x.dtype, x.device)


@functools.lru_cache(maxsize=32)
def _tap_count(h, w, r, dtype, device):
    """The taps inside an h x w image of each pixel's window: one map per
    shape (a guided filter asks for it six times a pass), made as a
    normal tensor even under inference_mode, so that training can use it."""
    with torch.inference_mode(False):
        return _box_sum(torch.ones(1, 1, h, w, dtype=dtype, device=device), r)


def _box_sum(x, r):
    for dim, pad in ((2, (0, 0, r, r)), (3, (r, r))):
        n = x.shape[dim]
        xp = F.pad(x, pad)
        x = xp.narrow(dim, 0, n)
        for k in range(1, 2 * r + 1):
            x = x + xp.narrow(dim, k, n)
    return x


def activation(x, act, alpha=0.0):
    """Apply a fused activation by name ("" = none)."""
    if not act:
        return x
    if act == "leaky_relu":
        return F.leaky_relu(x, alpha)
    if act == "relu":
        return F.relu(x)
    if act == "relu6":
        return F.relu6(x)
    if act == "tanh":
        return torch.tanh(x)
    if act == "sigmoid":
        return torch.sigmoid(x)
    raise ValueError("unknown activation %r" % act)
