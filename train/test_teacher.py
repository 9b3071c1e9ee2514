"""The teacher in PyTorch (edgetoon_model.GraphModule) against independent oracles:
the Go CPU engine on the whole graph, and naive loops for the operators."""

import math
import os
import sys
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgetoon_model as em  # noqa: E402
import gotools  # noqa: E402

torch.set_num_threads(2)


def naive_resize_legacy(x, oh, ow):
    """TF legacy bilinear (no align_corners, no half-pixel) with plain loops, x HWC."""
    h, w, c = x.shape
    out = np.zeros((oh, ow, c), np.float64)
    for oy in range(oh):
        fy = oy * h / oh
        y0, y1 = int(math.floor(fy)), min(int(math.ceil(fy)), h - 1)
        dy = fy - y0
        for ox in range(ow):
            fx = ox * w / ow
            x0, x1 = int(math.floor(fx)), min(int(math.ceil(fx)), w - 1)
            dx = fx - x0
            out[oy, ox] = (x[y0, x0] * (1 - dy) * (1 - dx) + x[y1, x0] * dy * (1 - dx)
                           + x[y0, x1] * (1 - dy) * dx + x[y1, x1] * dy * dx)
    return out


def naive_box_mean(x, r):
    h, w, _ = x.shape
    out = np.zeros_like(x, dtype=np.float64)
    for y in range(h):
        for xx in range(w):
            win = x[max(y - r, 0):min(y + r, h - 1) + 1, max(xx - r, 0):min(xx + r, w - 1) + 1]
            out[y, xx] = win.reshape(-1, x.shape[2]).mean(axis=0)
    return out


def naive_conv_same(x, wt, b, stride):
    """x HWC, wt [O,KH,KW,I]; TF SAME padding, plain loops over output pixels."""
    h, w, _ = x.shape
    o, kh, kw, _ = wt.shape
    oh, ow = -(-h // stride), -(-w // stride)
    pth = max((oh - 1) * stride + kh - h, 0)
    ptw = max((ow - 1) * stride + kw - w, 0)
    top, left = pth // 2, ptw // 2
    out = np.zeros((oh, ow, o))
    for oy in range(oh):
        for ox in range(ow):
            acc = b.astype(np.float64).copy()
            for ky in range(kh):
                for kx in range(kw):
                    iy, ix = oy * stride + ky - top, ox * stride + kx - left
                    if 0 <= iy < h and 0 <= ix < w:
                        acc += wt[:, ky, kx, :] @ x[iy, ix]
            out[oy, ox] = acc
    return out


def to_nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))[None].astype(np.float32))


def to_hwc(t):
    return t[0].detach().permute(1, 2, 0).numpy()


class OpsTest(unittest.TestCase):
    def test_same_pads(self):
        # TF: in 7, stride 2, k 3 -> out 4, total pad 2 -> (1, 1); in 8 -> total 1 -> (0, 1).
        self.assertEqual(em.same_pads(7, 2, 3), (1, 1))
        self.assertEqual(em.same_pads(8, 2, 3), (0, 1))
        self.assertEqual(em.same_pads(8, 1, 7), (3, 3))

    def test_conv_same_stride2_matches_loops(self):
        rng = np.random.default_rng(1)
        for size in (8, 9):
            x = rng.standard_normal((size, size + 1, 3))
            wt = rng.standard_normal((5, 3, 3, 3))
            b = rng.standard_normal(5)
            got = em.conv2d_same(to_nchw(x), torch.from_numpy(wt.transpose(0, 3, 1, 2).astype(np.float32)),
                                 torch.from_numpy(b.astype(np.float32)), (2, 2))
            np.testing.assert_allclose(to_hwc(got), naive_conv_same(x, wt, b, 2), atol=1e-4)

    def test_resize_legacy_matches_loops(self):
        rng = np.random.default_rng(2)
        x = rng.standard_normal((5, 7, 2))
        for oh, ow in ((10, 14), (15, 7), (3, 4)):
            got = to_hwc(em.resize_bilinear(to_nchw(x), oh, ow))
            np.testing.assert_allclose(got, naive_resize_legacy(x, oh, ow), atol=1e-5)
        # Not the half-pixel convention of F.interpolate(align_corners=False).
        ref = torch.nn.functional.interpolate(to_nchw(x), size=(10, 14), mode="bilinear", align_corners=False)
        self.assertGreater(np.abs(to_hwc(ref) - naive_resize_legacy(x, 10, 14)).max(), 1e-2)

    def test_resize_doubling_matches_gathers(self):
        # The 2x path (slices) against the general one (gathers), values
        # and gradients, in both memory formats training uses.
        g = torch.Generator().manual_seed(4)
        x = torch.randn(2, 3, 5, 7, generator=g)
        up = torch.randn(2, 3, 10, 14, generator=g)
        for fmt in (torch.contiguous_format, torch.channels_last):
            xs = [x.clone().contiguous(memory_format=fmt).requires_grad_() for _ in range(2)]
            a = em.resize_bilinear(xs[0], 10, 14)
            b = em._gather_bilinear(xs[1], 10, 14, False, False)
            (a * up).sum().backward()
            (b * up).sum().backward()
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
            torch.testing.assert_close(xs[0].grad, xs[1].grad, atol=1e-5, rtol=0)

    def test_box_mean_matches_loops(self):
        rng = np.random.default_rng(3)
        x = rng.standard_normal((6, 5, 3))
        for r in (1, 2):
            np.testing.assert_allclose(to_hwc(em.box_mean(to_nchw(x), r)), naive_box_mean(x, r), atol=1e-5)
        # The count map is kept per shape: one made under inference_mode
        # (an eval) must still serve a training step's backward.
        with torch.inference_mode():
            em.box_mean(torch.zeros(1, 3, 7, 4), 1)
        x = torch.from_numpy(rng.standard_normal((1, 3, 7, 4))).float().requires_grad_()
        em.box_mean(x, 1).sum().backward()
        # Each pixel feeds the mean of every window that holds it: the
        # sum of 1/taps over those windows.
        h, w = 7, 4
        taps = lambda y, x: (min(y + 1, h - 1) - max(y - 1, 0) + 1) * (min(x + 1, w - 1) - max(x - 1, 0) + 1)  # noqa: E731
        want = np.array([[sum(1 / taps(qy, qx) for qy in range(max(y - 1, 0), min(y + 1, h - 1) + 1)
                              for qx in range(max(x - 1, 0), min(x + 1, w - 1) + 1)) for x in range(w)] for y in range(h)])
        np.testing.assert_allclose(x.grad[0, 0].numpy(), want, atol=1e-6)

    def test_encode_decode_round_trip(self):
        graph = {"version": 1, "name": "t", "input": "x", "input_channels": 3, "output": "c",
                 "nodes": [{"name": "c", "op": "conv2d", "inputs": ["x", "w", "b"], "padding": "same"}]}
        w = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) / 7
        b = np.array([0.5, -1.25], np.float32)
        for dt, tol in (("F32", 0), ("F16", 1e-2)):
            g2, t2 = em.decode(em.encode(graph, {"w": w, "b": b}, dt))
            self.assertEqual(g2["nodes"], graph["nodes"])
            np.testing.assert_allclose(t2["w"], w, atol=tol)
            np.testing.assert_array_equal(t2["b"], b)


@unittest.skipUnless(gotools.have_go(), "needs the Go toolchain")
class TeacherParityTest(unittest.TestCase):
    """PyTorch teacher vs the Go CPU engine on the same input."""

    @classmethod
    def setUpClass(cls):
        cls.path = gotools.teacher_path()
        cls.net, cls.graph = em.load_module(cls.path)

    def test_structure(self):
        ops = [n["op"] for n in self.graph["nodes"]]
        self.assertEqual(len(ops), 44)
        self.assertEqual(ops.count("conv2d"), 18)
        self.assertEqual(ops.count("box_mean"), 6)

    def test_matches_go_cpu_engine(self):
        rng = np.random.default_rng(0)
        # A smooth image plus noise in [-1, 1], 64x64 (non-square to catch H/W swaps).
        yy, xx = np.mgrid[0:64, 0:60] / 64.0
        img = np.stack([np.sin(3 * xx + yy), np.cos(2 * yy), xx * yy], axis=-1)
        x = np.clip(img + 0.2 * rng.standard_normal(img.shape), -1, 1).astype(np.float32)
        want = gotools.go_run_model(self.path, x)
        with torch.no_grad():
            got = to_hwc(self.net(to_nchw(x)))
        self.assertEqual(got.shape, want.shape)
        err = float(np.abs(got - want).max())
        print("\nteacher parity 64x60: max abs error PyTorch vs Go CPU = %.3g" % err)
        self.assertLessEqual(err, 1e-4)
        # The output is not trivially small (so the bound means something).
        self.assertGreater(float(np.abs(want).max()), 0.1)


if __name__ == "__main__":
    unittest.main()
