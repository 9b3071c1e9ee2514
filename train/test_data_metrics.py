"""Data split and augmentation, and the PSNR/SSIM metrics against plain-loop oracles."""

import math
import os
import random
import sys
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import metrics  # noqa: E402

torch.set_num_threads(2)


def naive_ssim(a, b):
    """SSIM of two HxW float64 arrays with loops over 11x11 windows."""
    k = np.array([math.exp(-((i - 5) ** 2) / 4.5) for i in range(11)])
    k = np.outer(k, k)
    k /= k.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for y in range(a.shape[0] - 10):
        for x in range(a.shape[1] - 10):
            pa, pb = a[y:y + 11, x:x + 11], b[y:y + 11, x:x + 11]
            ma, mb = (k * pa).sum(), (k * pb).sum()
            va, vb = (k * (pa - ma) ** 2).sum(), (k * (pb - mb) ** 2).sum()
            cov = (k * (pa - ma) * (pb - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


class MetricsTest(unittest.TestCase):
    def test_psnr(self):
        a = torch.zeros(1, 3, 4, 4)
        b = a + 10  # mse 100
        self.assertAlmostEqual(float(metrics.psnr(a, b)[0]), 10 * math.log10(255 ** 2 / 100), places=6)

    def test_ssim_matches_loops(self):
        rng = np.random.default_rng(0)
        a = rng.uniform(0, 255, (16, 18))
        b = np.clip(a + rng.normal(0, 30, a.shape), 0, 255)
        got = metrics.ssim(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])
        self.assertAlmostEqual(float(got[0]), naive_ssim(a, b), places=6)
        self.assertAlmostEqual(float(metrics.ssim(torch.from_numpy(a)[None, None],
                                                  torch.from_numpy(a)[None, None])[0]), 1.0, places=9)


@unittest.skipUnless(os.path.exists(os.path.join(data.IMAGES, "eval.txt")), "needs ../shared/images")
class DataTest(unittest.TestCase):
    def test_split_is_disjoint_and_covers_both_subsets(self):
        tr, ev = data.list_images(split="train"), data.list_images(split="eval")
        self.assertTrue(tr and ev)
        self.assertFalse(set(tr) & set(ev))
        self.assertTrue(any(p.startswith("faces/") for p in tr))
        self.assertTrue(any(p.startswith("scenes/") for p in tr))

    def test_augmented_crops(self):
        ds = data.PhotoDataset(data.list_images(split="train")[:3], 48)
        xs = [ds[0] for _ in range(4)]
        for x in xs:
            self.assertEqual(tuple(x.shape), (3, 48, 48))
            self.assertGreaterEqual(float(x.min()), 0.0)
            self.assertLessEqual(float(x.max()), 1.0)
        # Random: two draws of the same photo differ.
        self.assertGreater(float((xs[0] - xs[1]).abs().max()), 0.01)

    def test_color_jitter_identity_at_zero(self):
        x = torch.rand(3, 8, 8)
        self.assertTrue(torch.equal(data.color_jitter(x, 0, random.Random(0)), x))
        y = data.color_jitter(x, 0.5, random.Random(1))
        self.assertFalse(torch.equal(x, y))


if __name__ == "__main__":
    unittest.main()
