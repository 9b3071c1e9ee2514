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
        # Colour: each image's SSIM is the mean over its channels' windows.
        c = rng.uniform(0, 255, (2, 3, 14, 13))
        d = np.clip(c + rng.normal(0, 20, c.shape), 0, 255)
        got = metrics.ssim(torch.from_numpy(c), torch.from_numpy(d))
        for i in range(2):
            want = np.mean([naive_ssim(c[i, k], d[i, k]) for k in range(3)])
            self.assertAlmostEqual(float(got[i]), want, places=6)

    def test_ssim_as_a_loss(self):
        # In [0,1] and float32 it is the eval's SSIM (to float32 rounding), and it has gradients.
        a = torch.rand(2, 3, 24, 24)
        b = (a + 0.1 * torch.randn_like(a)).clamp(0, 1).requires_grad_(True)
        want = metrics.ssim(metrics.to_255(a), metrics.to_255(b.detach()))
        got = metrics.ssim(a, b, data_range=1.0, dtype=torch.float32)
        self.assertLess(float((got.double() - want).abs().max()), 2e-3)
        (1 - got.mean()).backward()
        self.assertGreater(float(b.grad.abs().sum()), 0)


class DeviceCropsTest(unittest.TestCase):
    """DeviceCrops (batched resampling matrices) against per-photo oracles:
    PIL's crop + bilinear resize, a flip, and color_jitter."""

    def setUp(self):
        rng = np.random.default_rng(1)
        # Photos of different sizes and orientations.
        self.images = []
        for h, w in ((40, 60), (64, 32), (50, 50)):
            yy, xx = np.mgrid[0:h, 0:w]
            img = np.stack([127 + 120 * np.sin(xx / 5.0 + c) * np.cos(yy / 7.0 - c) for c in range(3)], -1)
            self.images.append(np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8))
        self.dc = data.DeviceCrops(self.images, 48, 4, "cpu", scale=(0.5, 1.0), jitter=0.0)

    def test_crop_matches_pil(self):
        from PIL import Image
        for i, (left, top, side) in enumerate([(5, 3, 30), (0, 0, 32), (10, 5, 40)]):
            x = self.dc.crops(torch.tensor([i]), torch.tensor([float(left)]), torch.tensor([float(top)]),
                              torch.tensor([float(side)]), torch.tensor([False]))[0]
            want = data.to_tensor(Image.fromarray(self.images[i]).crop((left, top, left + side, top + side))
                                  .resize((48, 48), Image.BILINEAR))
            self.assertEqual(tuple(x.shape), (3, 48, 48))
            self.assertLess(float((x - want).abs().mean()), 2e-3)
            self.assertLess(float((x - want).abs().max()), 1.5 / 255)

    def test_downscaled_crop_matches_pil(self):
        # Windows larger than the output: PIL's bilinear resize filters
        # (antialiasing); a point sample of a noisy photo would not match.
        from PIL import Image
        rng = np.random.default_rng(2)
        images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((90, 70), (60, 100))]
        dc = data.DeviceCrops(images, 24, 1, "cpu", jitter=0.0)
        for i, (left, top, side) in enumerate([(3, 7, 61), (-12, -5, 80)]):
            x = dc.crops(torch.tensor([i]), torch.tensor([float(left)]), torch.tensor([float(top)]),
                         torch.tensor([float(side)]), torch.tensor([False]))[0]
            want = data.to_tensor(data.mirror_crop(Image.fromarray(images[i]), left, top, side)
                                  .resize((24, 24), Image.BILINEAR))
            self.assertLess(float((x - want).abs().max()), 1.5 / 255)

    def test_flip_and_own_pixels_only(self):
        args = (torch.tensor([0, 0]), torch.tensor([20.0, 20.0]), torch.tensor([10.0, 10.0]),
                torch.tensor([30.0, 30.0]), torch.tensor([False, True]))
        x = self.dc.crops(*args)
        self.assertTrue(torch.allclose(x[1], x[0].flip(2), atol=1e-6))
        # Rows 10..40 of a 40-row photo: the crop ends at the photo's last row, so its
        # last output row repeats that row instead of reading the zero padding below it.
        self.assertGreater(float(x[0][:, -1].mean()), 0.05)
        last = torch.from_numpy(self.images[0][-1, 20:50].astype(np.float32) / 255).permute(1, 0)
        self.assertLess(abs(float(x[0][:, -1].mean()) - float(last.mean())), 0.02)

    def test_resample_weights_mirror_like_numpy(self):
        # At scale 1 each output pixel is one source pixel: a window of a
        # 3-pixel row from -7 reads numpy's "symmetric" padding of 0 1 2.
        w = data.resample_weights(torch.tensor([-7.0]), torch.tensor([18.0]), torch.tensor([3.0]), 18, 3)[0]
        want = torch.tensor([0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1])
        self.assertTrue(torch.equal(w.argmax(1), want))
        self.assertTrue(torch.allclose(w.sum(1), torch.ones(18)))
        self.assertTrue(torch.allclose(w.max(1).values, torch.ones(18)))
        # A 2x shrink by hand: output 0 is centred at source 1.0, the triangle
        # of half-width 2 gives pixels 0, 1, 2 the weights 3/4, 3/4, 1/4
        # (pixel -1 lies outside the window), renormalised.
        w = data.resample_weights(torch.tensor([0.0]), torch.tensor([8.0]), torch.tensor([8.0]), 4, 8)[0]
        self.assertTrue(torch.allclose(w[0, :4], torch.tensor([3, 3, 1, 0]) / 7.0))
        self.assertTrue(torch.allclose(w[1, :6], torch.tensor([0, 1, 3, 3, 1, 0]) / 8.0))

    def test_mirror_crop_past_the_edges(self):
        from PIL import Image
        img = Image.fromarray(self.images[1])  # 64 rows x 32 columns
        a = self.images[1]
        for left, top, side in ((-5, 10, 40), (-40, -3, 70), (0, 0, 32), (-20, -20, 110)):
            got = np.asarray(data.mirror_crop(img, left, top, side))
            self.assertEqual(got.shape, (side, side, 3))
            for y in (0, side // 2, side - 1):
                for x in (0, side // 3, side - 1):
                    # Oracle: fold each coordinate back into the photo by hand.
                    sx, sy = left + x, top + y
                    while not 0 <= sx < 32:
                        sx = -1 - sx if sx < 0 else 63 - sx
                    while not 0 <= sy < 64:
                        sy = -1 - sy if sy < 0 else 127 - sy
                    self.assertTrue(np.array_equal(got[y, x], a[sy, sx]), (left, top, side, x, y))
        self.assertTrue(np.array_equal(np.asarray(data.mirror_crop(img, 2, 5, 20)), a[5:25, 2:22]))

    def test_device_crops_mirror_like_pil(self):
        from PIL import Image
        # A window past the photo's edges (the long-side crops): the same
        # pixels as mirror_crop + PIL's bilinear upscale.
        for i, (left, top, side) in enumerate([(-6, 2, 46), (-10, -4, 44), (-9, 8, 47)]):
            x = self.dc.crops(torch.tensor([i]), torch.tensor([float(left)]), torch.tensor([float(top)]),
                              torch.tensor([float(side)]), torch.tensor([False]))[0]
            want = data.to_tensor(data.mirror_crop(Image.fromarray(self.images[i]), left, top, side)
                                  .resize((48, 48), Image.BILINEAR))
            self.assertLess(float((x - want).abs().mean()), 2e-3)
            self.assertLess(float((x - want).abs().max()), 1.5 / 255)

    def test_long_side_windows(self):
        import random
        rng = random.Random(4)
        dc = data.DeviceCrops(self.images, 48, 64, "cpu", scale=(0.6, 1.0), jitter=0.0, seed=5, of_long=True)
        idx, left, top, side, _, _ = dc.params()
        h, w = dc.hw[idx, 0], dc.hw[idx, 1]
        for k in range(len(idx)):
            for dc_left, dc_side, n in ((left[k], side[k], w[k]), (top[k], side[k], h[k])):
                lo, hi = min(0.0, float(n - dc_side)), max(0.0, float(n - dc_side))
                self.assertTrue(lo <= float(dc_left) <= hi)
        long = torch.maximum(h, w)
        self.assertTrue(bool(((side >= (0.6 * long).floor() - 1) & (side <= long)).all()))
        self.assertTrue(bool((side > torch.minimum(h, w)).any()), "some windows pass the short side")
        for _ in range(200):
            wd, ht = rng.choice(((40, 60), (64, 32), (50, 50)))
            u = rng.uniform(0.6, 1.0)
            l, t, s = data.crop_window(wd, ht, u, True, rng)
            self.assertEqual(s, int(max(wd, ht) * u))
            self.assertTrue(min(0, wd - s) <= l <= max(0, wd - s) and min(0, ht - s) <= t <= max(0, ht - s))
            # At 1 of the long side the whole photo is in the window.
            l, t, s = data.crop_window(wd, ht, 1.0, True, rng)
            self.assertTrue(l <= 0 and t <= 0 and l + s >= wd and t + s >= ht)
            l, t, s = data.crop_window(wd, ht, u, False, rng)
            self.assertTrue(0 <= l <= wd - s and 0 <= t <= ht - s)

    def test_batches_in_range_and_jitter_matches(self):
        dc = data.DeviceCrops(self.images, 48, 6, "cpu", scale=(0.5, 1.0), jitter=0.2, seed=3)
        x = next(dc)
        self.assertEqual(tuple(x.shape), (6, 3, 48, 48))
        self.assertGreaterEqual(float(x.min()), 0.0)
        self.assertLessEqual(float(x.max()), 1.0)
        # Same draws replayed: the batch's jitter is color_jitter's, photo by photo.
        dc2 = data.DeviceCrops(self.images, 48, 6, "cpu", scale=(0.5, 1.0), jitter=0.2, seed=3)
        idx, left, top, side, flip, (b, c, s) = dc2.params()
        plain = dc2.crops(idx, left, top, side, flip)

        class Fixed:
            def __init__(self, v):
                self.v = list(v)

            def uniform(self, lo, hi):
                return self.v.pop(0)
        for k in range(6):
            want = data.color_jitter(plain[k], 0.2, Fixed([float(b[k]), float(c[k]), float(s[k])]))
            self.assertTrue(torch.allclose(x[k], want, atol=1e-5))
        # Crops stay inside their photos.
        h, w = dc2.hw[idx, 0], dc2.hw[idx, 1]
        self.assertTrue(bool(((left + side <= w) & (top + side <= h) & (left >= 0) & (top >= 0)).all()))


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

    def test_small_source(self):
        # A crop as from a small photo keeps its size and is softer (its
        # mean gradient lower) than the crop; --degrade 0 draws no more
        # random numbers, so the crops (and caches) made before it are the
        # same crops.
        paths = data.list_images(split="train")[:3]
        img = data.load_rgb(os.path.join(data.split_root(data.IMAGES, "train"), paths[0])).resize((96, 96))
        for seed in range(4):
            soft = data.small_source(img, random.Random(seed))
            self.assertEqual(soft.size, img.size)
            self.assertLess(float(metrics.sharpness(data.to_tensor(soft)[None] * 255)),
                            0.95 * float(metrics.sharpness(data.to_tensor(img)[None] * 255)))
        plain = data.PhotoDataset(paths, 48, seed=5)
        same = data.PhotoDataset(paths, 48, seed=5, degrade=0.0)
        all_soft = data.PhotoDataset(paths, 48, seed=5, degrade=1.0)
        for i in range(3):
            self.assertTrue(torch.equal(plain[i], same[i]))
            self.assertFalse(torch.equal(plain[i], all_soft[i]))

    def test_color_jitter_identity_at_zero(self):
        x = torch.rand(3, 8, 8)
        self.assertTrue(torch.equal(data.color_jitter(x, 0, random.Random(0)), x))
        y = data.color_jitter(x, 0.5, random.Random(1))
        self.assertFalse(torch.equal(x, y))


if __name__ == "__main__":
    unittest.main()
