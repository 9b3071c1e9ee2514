"""Parts of the pipeline that need neither the teacher nor the photos: the
photo pack layout, in-memory decoding, the search schedule, the wall-clock
step fitting, min_blocks, the per-group depth cost and the distillation loss."""

import os
import sys
import tempfile
import time
import types
import unittest

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import metrics  # noqa: E402
import pack_data  # noqa: E402
import search  # noqa: E402
import stage  # noqa: E402
import supernet as sn  # noqa: E402

torch.set_num_threads(2)


def fake_teacher_tensors():
    """Random tensors with the teacher's names and shapes (file layout)."""
    rng = np.random.default_rng(0)
    full = sn.Supernet.full_widths()
    t = {"add/y": np.array([1e-2], np.float32)}
    for name, prefix, k, s, gin, gout, scale, act in sn.CONVS:
        cin = 3 if gin is None else full[gin]
        cout = 3 if gout is None else full[gout]
        t[prefix + "/Conv2D"] = (rng.standard_normal((cout, k, k, cin)) * 0.05).astype(np.float32)
        t[prefix + "/biases"] = np.zeros(cout, np.float32)
    return t


class PackTest(unittest.TestCase):
    def test_pack_layout_and_preload(self):
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "src"), os.path.join(d, "pack")
            for sub in ("faces", "scenes"):
                os.makedirs(os.path.join(src, sub))
            rng = np.random.default_rng(1)
            names = ["faces/a.jpg", "faces/b.jpg", "scenes/c.jpg", "scenes/d.jpg"]
            for i, n in enumerate(names):
                arr = rng.integers(0, 255, (300 + 100 * i, 500, 3), dtype=np.uint8)
                Image.fromarray(arr).save(os.path.join(src, n), quality=95)
            with open(os.path.join(src, "eval.txt"), "w") as f:
                f.write("faces/b.jpg\n")
            mib = pack_data.main(["--src", src, "--dst", dst, "--long", "100"])
            self.assertGreater(mib, 0)
            self.assertTrue(data.is_pack(dst))
            self.assertFalse(data.is_pack(src))
            self.assertEqual(data.list_images(dst, "eval"), ["faces/b.jpg"])
            self.assertEqual(data.list_images(dst, "train"), ["faces/a.jpg", "scenes/c.jpg", "scenes/d.jpg"])
            # Longer side 100, aspect kept.
            self.assertEqual(Image.open(os.path.join(dst, "train", "scenes", "d.jpg")).size, (83, 100))  # 500x600
            self.assertEqual(Image.open(os.path.join(dst, "train", "faces", "a.jpg")).size, (100, 60))  # 500x300
            xs, paths = data.eval_images(32, root=dst)
            self.assertEqual(tuple(xs.shape), (1, 3, 32, 32))
            ds = data.PhotoDataset(data.list_images(dst, "train"), 32, root=data.split_root(dst, "train"),
                                   preload=True)
            self.assertEqual(len(ds.images), 3)
            self.assertEqual(ds.images[0].dtype, np.uint8)
            x = ds[0]
            self.assertEqual(tuple(x.shape), (3, 32, 32))
            self.assertTrue(0 <= float(x.min()) and float(x.max()) <= 1)


class FakeTeacher:
    """A stand-in with the Teacher interface cached_pairs uses, counting calls."""

    def __init__(self, path):
        self.path, self.calls = path, 0

    def __call__(self, x01):
        self.calls += 1
        return (x01 * 2 - 1).flip(1)


class CacheTest(unittest.TestCase):
    def test_cached_pairs_hold_the_teachers_outputs_and_are_reused(self):
        with tempfile.TemporaryDirectory() as d:
            pack = os.path.join(d, "pack")
            rng = np.random.default_rng(2)
            for sub in ("train/faces", "train/scenes", "eval/faces"):
                os.makedirs(os.path.join(pack, sub))
                Image.fromarray(rng.integers(0, 255, (48, 60, 3), dtype=np.uint8)).save(
                    os.path.join(pack, sub, "a.png"))
            model = os.path.join(d, "teacher.safetensors")
            with open(model, "wb") as f:
                f.write(b"stand-in")
            args = types.SimpleNamespace(data=pack, subsets=("faces", "scenes"), images=0, size=32, crop_min=0.5,
                                         preload=False, device_aug=False, batch=2, workers=0, device_name="cpu",
                                         cache_dir=os.path.join(d, "cache"))
            t1 = FakeTeacher(model)
            x, t = stage.cached_pairs(args, t1, 5)
            self.assertEqual((tuple(x.shape), x.dtype), ((5, 3, 32, 32), torch.float16))
            self.assertEqual(t.dtype, torch.float16)
            self.assertGreater(t1.calls, 0)
            torch.testing.assert_close(t.float(), (x.float() * 2 - 1).flip(1), atol=2e-3, rtol=0)
            # The same request again: read back, the teacher not called.
            t2 = FakeTeacher(model)
            x2, t2s = stage.cached_pairs(args, t2, 5)
            self.assertEqual(t2.calls, 0)
            self.assertTrue(torch.equal(x, x2) and torch.equal(t, t2s))
            # Fewer crops: the first ones, read back; more: the old ones and new ones after them.
            t3 = FakeTeacher(model)
            x3, _ = stage.cached_pairs(args, t3, 4)
            self.assertEqual(t3.calls, 0)
            self.assertTrue(torch.equal(x3, x[:4]))
            x4, t4s = stage.cached_pairs(args, t3, 9)
            self.assertGreater(t3.calls, 0)
            self.assertEqual(len(x4), 9)
            self.assertTrue(torch.equal(x4[:5], x))
            self.assertFalse(any(torch.equal(x4[5], x[k]) for k in range(5)))  # new crops, not the first again
            torch.testing.assert_close(t4s.float(), (x4.float() * 2 - 1).flip(1), atol=2e-3, rtol=0)
            # A changed teacher file starts afresh.
            os.utime(model, (1, 1))
            t4 = FakeTeacher(model)
            stage.cached_pairs(args, t4, 5)
            self.assertGreater(t4.calls, 0)
            # --crop-of short is the cache made before the flag (same key);
            # long-side crops are another cache.
            t5 = FakeTeacher(model)
            stage.cached_pairs(types.SimpleNamespace(**vars(args), crop_of="short"), t5, 5)
            self.assertEqual(t5.calls, 0)
            folders = len(os.listdir(args.cache_dir))
            xl, _ = stage.cached_pairs(types.SimpleNamespace(**vars(args), crop_of="long"), t5, 3)
            self.assertGreater(t5.calls, 0)
            self.assertEqual(len(os.listdir(args.cache_dir)), folders + 1)
            self.assertEqual(tuple(xl.shape), (3, 3, 32, 32))
            # --degrade 0.25 of 8: the 6 clean crops are the cache without
            # it, used as it is; the 2 degraded ones a cache of their own.
            clean, _ = stage.cached_pairs(args, FakeTeacher(model), 6)
            t6 = FakeTeacher(model)
            folders = len(os.listdir(args.cache_dir))
            xd, td = stage.cached_pairs(types.SimpleNamespace(**vars(args), degrade=0.25), t6, 8)
            self.assertEqual(len(xd), 8)
            self.assertTrue(torch.equal(xd[:6], clean))
            self.assertEqual(t6.calls, 1)  # one batch of 2, the degraded crops
            self.assertEqual(len(os.listdir(args.cache_dir)), folders + 1)
            torch.testing.assert_close(td.float(), (xd.float() * 2 - 1).flip(1), atol=2e-3, rtol=0)
            # The crops are the cache's own: made again elsewhere, after
            # other draws from torch's generator, they are the same, and
            # what the process draws next is what it would have drawn.
            torch.manual_seed(5)
            torch.rand(7)
            after = torch.rand(3)
            torch.manual_seed(5)
            torch.rand(7)
            xo, _ = stage.cached_pairs(types.SimpleNamespace(**{**vars(args), "cache_dir": os.path.join(d, "other")}),
                                       FakeTeacher(model), 5)
            self.assertTrue(torch.equal(torch.rand(3), after))
            self.assertTrue(torch.equal(xo, x))
            # Batches are float32 rows of the cache, input and target together.
            bx, bt = next(stage.pair_batches(x, t, 3))
            self.assertEqual((tuple(bx.shape), bx.dtype), ((3, 3, 32, 32), torch.float32))
            for i in range(3):
                j = [k for k in range(5) if torch.equal(x[k].float(), bx[i])]
                self.assertTrue(j, "batch row %d is not a cached crop" % i)
                self.assertTrue(torch.equal(t[j[0]].float(), bt[i]))


class AmpTest(unittest.TestCase):
    def test_cpu_bf16_from_cpuinfo_flags(self):
        with tempfile.TemporaryDirectory() as d:
            def flags(text):
                p = os.path.join(d, "cpuinfo")
                with open(p, "w") as f:
                    f.write("processor\t: 0\nflags\t\t: " + text + "\n")
                return stage.cpu_bf16_native(p)
            self.assertTrue(flags("fpu sse avx512f avx512_bf16 avx512_vnni"))
            self.assertTrue(flags("fpu amx_bf16 amx_tile"))
            self.assertFalse(flags("fpu sse avx2 avx512f avx512_vnni avx512_bf16x"))
            self.assertFalse(stage.cpu_bf16_native(os.path.join(d, "missing")))

    def test_amp_default_by_device(self):
        on = lambda amp, dev: stage.amp_on(types.SimpleNamespace(amp=amp, device_name=dev))  # noqa: E731
        self.assertEqual([on(None, "cuda"), on(None, "cpu"), on(True, "cpu"), on(False, "cuda")],
                         [True, False, True, False])

    def test_amp_dropped_where_bf16_is_emulated(self):
        got = [stage.amp_for_this_cpu(amp, dev, native)[0] for amp, dev, native in [
            (True, "cpu", False), (True, "cpu", True), (True, "cuda", False), (None, "cpu", False),
            (False, "cpu", True)]]
        self.assertEqual(got, [False, True, True, None, False])
        self.assertIn("--amp dropped", stage.amp_for_this_cpu(True, "cpu", False)[1])
        self.assertIsNone(stage.amp_for_this_cpu(True, "cpu", True)[1])


class WeightAverageTest(unittest.TestCase):
    def test_moving_average_by_hand(self):
        import finetune
        m = torch.nn.Linear(2, 1)
        with torch.no_grad():
            m.weight.copy_(torch.tensor([[1.0, 2.0]]))
            m.bias.fill_(0.0)
        avg = finetune.WeightAverage(m, 0.5)
        with torch.no_grad():
            m.weight.copy_(torch.tensor([[3.0, 6.0]]))
            m.bias.fill_(4.0)
        avg.update(m, 0)  # warm-up: d = min(0.5, 1/10) = 0.1
        self.assertTrue(torch.allclose(avg.state["weight"], torch.tensor([[0.1 * 1 + 0.9 * 3, 0.1 * 2 + 0.9 * 6]])))
        self.assertAlmostEqual(float(avg.state["bias"]), 0.9 * 4, places=6)
        with torch.no_grad():
            m.bias.fill_(0.0)
        avg.update(m, 100)  # d = 0.5
        self.assertAlmostEqual(float(avg.state["bias"]), 0.5 * 3.6, places=6)
        # The module's own weights are left alone.
        self.assertEqual(float(m.weight[0, 0]), 3.0)


class ScheduleTest(unittest.TestCase):
    def args(self, **kw):
        a = dict(gate_warmup=10, lam_ramp=0.2, depth_start=0.5, lam_rate=None)
        a.update(kw)
        return types.SimpleNamespace(**a)

    def test_search_schedule(self):
        s = search.SearchSchedule(self.args(), 150)
        self.assertEqual((s.warm, s.ramp, s.depth_start), (10, 30, 75))
        self.assertEqual(s.ramp_factor(5), 0.0)
        self.assertAlmostEqual(s.ramp_factor(25), 0.5)
        self.assertEqual(s.ramp_factor(100), 1.0)
        self.assertAlmostEqual((1 + s.lam_rate) ** 75, 1000, places=3)

    def test_stage_clock_fits_steps(self):
        c = stage.StageClock(time.time() + 1.0, 10 ** 6, calib=5)
        for step in range(1, 6):
            time.sleep(0.02)
            steps, stop = c.after_step(step)
        self.assertLess(steps, 60)  # about 1 s / 0.02 s, fewer on a busy machine
        self.assertGreaterEqual(steps, 5)
        self.assertFalse(stop)
        self.assertEqual(stage.StageClock(None, 7, 5).after_step(5), (7, False))
        self.assertTrue(stage.StageClock(time.time() - 1, 7, 5).after_step(1)[1])


class GateTest(unittest.TestCase):
    def setUp(self):
        self.net = sn.Supernet(fake_teacher_tensors())

    def test_min_blocks(self):
        with torch.no_grad():
            for i, d in enumerate(sn.DEPTH_GATES):
                self.net.gates[d].fill_(0.1 + 0.1 * i)
        self.assertEqual(self.net.widths()["blocks"], [3])
        self.net.min_blocks = 2
        self.assertEqual(self.net.widths()["blocks"], [2, 3])
        self.net.min_blocks = 0
        self.assertEqual(self.net.widths()["blocks"], [])
        # The kept block still passes gradients to its gate (STE).
        self.net.min_blocks = 1
        self.net.macs(256).backward()
        self.assertGreater(float(self.net.gates["d3"].grad), 0)

    def test_min_width(self):
        self.net.min_width = 0.25
        with torch.no_grad():
            self.net.gates["R"].fill_(0.1)
            self.net.gates["R"][5] = 0.3
        self.assertEqual(self.net.widths()["R"], 32)  # 8 of 32 groups, the strongest among them
        self.assertEqual(self.net.arch()["R"][5], 1)
        self.net.min_width = 0.0
        self.assertEqual(self.net.widths()["R"], 4)
        # A per-gate minimum overrides the global one for that gate only.
        self.net.min_width_by = {"R": 0.5}
        with torch.no_grad():
            self.net.gates["b"].fill_(0.1)
        self.assertEqual(self.net.widths()["R"], 64)
        self.assertEqual(self.net.widths()["b"], 4)

    def test_edge_l1(self):
        t = torch.zeros(1, 1, 3, 3)
        s = torch.zeros(1, 1, 3, 3)
        s[..., 1, 1] = 1.0  # one bright pixel: 2 of 6 x-differences and 2 of 6 y-differences are +-1
        self.assertAlmostEqual(float(sn.edge_l1(s, t)), 2 / 6 + 2 / 6, places=6)
        self.assertAlmostEqual(float(sn.edge_l1(s + 0.3, t)), float(sn.edge_l1(s, t)), places=6)  # blind to an offset

    def test_edge_energy_l1(self):
        # Grey 5x5 images: luma = value, the difference maps are 4x4, one
        # 4x4 tile. A 1-pixel line of height 1 has |dx| = 1 on both of its
        # sides in each of 4 rows: tile energy 8/16; at height 0.5, 4/16.
        t = torch.zeros(1, 3, 5, 5)
        t[..., 2] = 1.0
        self.assertAlmostEqual(float(sn.edge_energy_l1(t * 0.5, t, window=4)), 0.25, places=6)
        # The same line one pixel over holds the same energy in the tile:
        # no cost for where it sits, which edge_l1 does charge.
        moved = torch.roll(t, 1, dims=3)
        self.assertAlmostEqual(float(sn.edge_energy_l1(moved, t, window=4)), 0.0, places=6)
        self.assertGreater(float(sn.edge_l1(moved, t)), 0.1)

    def test_distill_loss_terms(self):
        # The fit is L1 + w_edge x edge L1 + w_ssim x (1 - SSIM of the
        # denormalized images); the logged L1 stays the plain L1.
        graph = {"denorm": {"scale": [0.5] * 3, "bias": [0.5] * 3}}
        s, t = torch.rand(2, 3, 20, 20) * 2 - 1, torch.rand(2, 3, 20, 20) * 2 - 1
        l1 = float((s - t).abs().mean())
        args = types.SimpleNamespace(w_edge=0.0, w_ssim=0.0)
        got_l1, fit = stage.distill_loss(s, t, args, graph)
        self.assertAlmostEqual(float(got_l1), l1, places=6)
        self.assertAlmostEqual(float(fit), l1, places=6)
        args = types.SimpleNamespace(w_edge=0.5, w_ssim=2.0)
        _, fit = stage.distill_loss(s, t, args, graph)
        ssim = float(metrics.ssim((s + 1) / 2, (t + 1) / 2, data_range=1.0).mean())  # float64 oracle
        want = l1 + 0.5 * float(sn.edge_l1(s, t)) + 2.0 * (1 - ssim)
        self.assertAlmostEqual(float(fit), want, places=5)
        args = types.SimpleNamespace(w_edge=0.0, w_ssim=0.0, w_sharp=3.0, w_gan=0.0)
        _, fit = stage.distill_loss(s, t, args, graph)
        self.assertAlmostEqual(float(fit), l1 + 3.0 * float(sn.edge_energy_l1(s, t)), places=5)
        self.assertIn("3 x L1 of 16x16-tile edge energy", stage.loss_text(args))
        # The squared error by hand: mean of the squared differences.
        args = types.SimpleNamespace(w_edge=0.0, w_ssim=0.0, w_mse=10.0, w_gan=0.0)
        _, fit = stage.distill_loss(s, t, args, graph)
        d = (s - t).double().numpy().ravel()
        self.assertAlmostEqual(float(fit), l1 + 10.0 * float((d * d).sum() / d.size), places=5)
        self.assertIn("10 x MSE", stage.loss_text(args))
        self.assertIn("2 x (1 - SSIM)", stage.loss_text(types.SimpleNamespace(w_edge=0, w_ssim=2.0, w_gan=0.05)))

    def test_load_pt_reads_numpy2_pickles(self):
        # A checkpoint saved on a GPU machine under numpy 2 names numpy._core;
        # rewrite one saved here that way and read it back.
        import zipfile
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "a.pt"), os.path.join(d, "b.pt")
            torch.save({"tensors": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "steps": 7}, src)
            with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
                for item in zin.infolist():
                    b = zin.read(item)
                    if item.filename.endswith("data.pkl"):
                        b = b.replace(b"numpy.core.multiarray", b"numpy._core.multiarray")
                        self.assertIn(b"numpy._core", b)
                    zout.writestr(item, b)
            got = stage.load_pt(dst)
        self.assertEqual(got["steps"], 7)
        np.testing.assert_array_equal(got["tensors"]["w"], np.arange(6, dtype=np.float32).reshape(2, 3))

    def test_depth_cost_per_group(self):
        # Thin block 0 to 2 of its 32 groups: its depth gate's cost gradient
        # is the block's MACs / 2 (= what one of its groups costs).
        with torch.no_grad():
            self.net.gates["blk0"][2:].fill_(0.2)
        g = self.net.gate_values()
        whole = torch.autograd.grad(self.net.macs(256, g), self.net.gates["d0"], retain_graph=True)[0]
        per = torch.autograd.grad(self.net.macs(256, self.net.cost_gates(g)), self.net.gates["d0"])[0]
        self.assertAlmostEqual(float(per) * 2, float(whole), delta=float(whole) * 1e-5)
        block = 2 * 64 * 64 * 9 * 128 * 8
        self.assertAlmostEqual(float(whole), block, delta=block * 1e-5)
        # Forward values are unchanged.
        self.assertEqual(float(self.net.macs(256, g)), float(self.net.macs(256, self.net.cost_gates(g))))


if __name__ == "__main__":
    unittest.main()
