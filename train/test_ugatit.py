"""The unpaired U-GAT-IT mode on tiny synthetic data: shapes, each loss term
by hand, the objective's wiring, gradients to every parameter and gate, the
CAM fold, a few steps that reduce the cycle and identity losses, a few
search steps that cut MACs, and the CLI. No teacher file, no Go needed."""

import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import supernet as sn  # noqa: E402
import ugatit as ug  # noqa: E402
import ugatit_nets as nets  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
_THREADS = None


def setUpModule():
    # These nets are tiny, so each op is dominated by overhead; with 2 OpenMP
    # threads on a loaded 2-core machine every op waits on its peer thread
    # (measured: 3.7 s vs 0.3 s per step). One thread here; restored after.
    global _THREADS
    _THREADS = torch.get_num_threads()
    torch.set_num_threads(1)


def tearDownModule():
    torch.set_num_threads(_THREADS)


def smooth_images(n, size=32, seed=0):
    """n smooth random images in [-1, 1] (4x4 noise upsampled bilinearly)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1
    return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def tiny(search=False, seed=0):
    torch.manual_seed(seed)
    return ug.UGATIT(ch=8, n_blocks=1, d_ch=8, size=32, search=search,
                     teacher_tensors=nets.random_teacher_tensors(seed) if search else None)


class ShapesTest(unittest.TestCase):
    def test_generator_shapes(self):
        torch.manual_seed(0)
        x = smooth_images(2)
        out, cam, heat = nets.CAMGenerator(ch=8, n_blocks=2)(x)
        self.assertEqual(tuple(out.shape), (2, 3, 32, 32))
        self.assertLessEqual(float(out.abs().max()), 1.0)
        self.assertEqual(tuple(cam.shape), (2, 2))
        self.assertEqual(tuple(heat.shape), (2, 1, 8, 8))

    def test_supernet_generator_shapes(self):
        g = nets.SupernetCAMGenerator(nets.random_teacher_tensors(0))
        out, cam, heat = g(smooth_images(2))
        self.assertEqual(tuple(out.shape), (2, 3, 32, 32))
        self.assertEqual(tuple(cam.shape), (2, 2))
        self.assertEqual(tuple(heat.shape), (2, 1, 8, 8))

    def test_supernet_generator_splits_gates_from_weights(self):
        # Every gate (channel, depth, kernel) goes to the gate optimiser and
        # none to the weights'; together they are all the parameters.
        g = nets.SupernetCAMGenerator(nets.random_teacher_tensors(0))
        gates = {id(p) for p in g.gate_parameters()}
        weights = {id(p) for p in g.weight_parameters()}
        kernel = {id(p) for p in g.net.kgates.parameters()}
        self.assertTrue(kernel and kernel <= gates)
        self.assertFalse(gates & weights)
        self.assertEqual(gates | weights, {id(p) for p in g.parameters()})

    def test_discriminator_shapes(self):
        self.assertEqual(nets.default_n_down(256), (5, 3))
        ng, nl = nets.default_n_down(32)
        d = nets.MultiScaleDiscriminator(8, ng, nl)
        outs = d(smooth_images(2))
        self.assertEqual(len(outs), 2)
        for (patch, cam, heat), n in zip(outs, (ng, nl)):
            s = 32 // 2 ** n - 2  # n stride-2 convs, then two 4x4 stride-1 convs with pad 1
            self.assertEqual(tuple(patch.shape), (2, 1, s, s))
            self.assertEqual(tuple(cam.shape), (2, 2))
            self.assertEqual(tuple(heat.shape), (2, 1, s + 1, s + 1))
        # At 256 (U-GAT-IT's 5 and 3 downsamplings): global 8x8 -> 6x6 patches, local 32x32 -> 30x30.
        self.assertEqual(tuple(nets.CAMDiscriminator(4, 3)(torch.zeros(1, 3, 256, 256))[0].shape), (1, 1, 30, 30))


class LossTermsTest(unittest.TestCase):
    def test_lsgan(self):
        real, fake = torch.tensor([0.5, 2.0]), torch.tensor([0.1, -1.0])
        self.assertAlmostEqual(float(ug.lsgan_d(real, fake)), (0.25 + 1.0) / 2 + (0.01 + 1.0) / 2, places=6)
        self.assertAlmostEqual(float(ug.lsgan_g(torch.tensor([0.5, 3.0]))), (0.25 + 4.0) / 2, places=6)
        self.assertAlmostEqual(float(ug.cam_d_loss(real, fake)), 1.13, places=6)

    def test_cycle_and_identity(self):
        x, xr = torch.tensor([[1.0, -1.0]]), torch.tensor([[0.5, 0.0]])
        y, yr = torch.tensor([0.0, 0.0, 0.3]), torch.tensor([0.3, 0.0, 0.0])
        self.assertAlmostEqual(float(ug.cycle_loss(x, xr, y, yr)), (0.5 + 1.0) / 2 + 0.6 / 3, places=6)
        # L_id = E|G(y) - y| + E|F(x) - x|
        self.assertAlmostEqual(float(ug.identity_loss(y, yr, x, xr)), 0.6 / 3 + 1.5 / 2, places=6)

    def test_cam_generator_bce(self):
        src, tgt = torch.tensor([[0.0, 2.0]]), torch.tensor([[-1.0, 3.0]])
        want = ((math.log(2) + math.log(1 + math.exp(-2))) / 2          # source -> 1
                + (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(3))) / 2)  # target -> 0
        self.assertAlmostEqual(float(ug.cam_g_loss(src, tgt)), want, places=5)

    def test_adv_sums_over_scales_and_cam(self):
        r = [(torch.tensor([1.0, 0.0]), torch.tensor([[1.0, 1.0]]), None),
             (torch.tensor([2.0]), torch.tensor([[0.0, 1.0]]), None)]
        f = [(torch.tensor([0.0, 1.0]), torch.tensor([[0.5, 0.0]]), None),
             (torch.tensor([1.0]), torch.tensor([[0.0, 0.0]]), None)]
        # scale 1: patch (0+1)/2 + (0+1)/2 = 1; cam 0 + 0.25/2 = 0.125
        # scale 2: patch 1 + 1 = 2;           cam (1+0)/2 + 0 = 0.5
        self.assertAlmostEqual(float(ug.adv_d_loss(r, f)), 1 + 0.125 + 2 + 0.5, places=6)
        self.assertAlmostEqual(float(ug.adv_d_loss(r, f, w_cam_d=2.0)), 1 + 0.25 + 2 + 1.0, places=6)
        # G: fakes -> 1. scale 1: patch (1+0)/2, cam (0.25+1)/2; scale 2: patch 0, cam 1
        self.assertAlmostEqual(float(ug.adv_g_loss(f)), 0.5 + 0.625 + 0 + 1.0, places=6)

    def test_total_weights(self):
        self.assertEqual((ug.W_ADV, ug.W_CYC, ug.W_ID, ug.W_CAM), (1.0, 10.0, 10.0, 1000.0))
        self.assertAlmostEqual(float(ug.total_g_loss(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(0.1),
                                                     torch.tensor(0.2), torch.tensor(0.003))),
                               3 + 1 + 2 + 3, places=5)

    def test_objective_wiring(self):
        """UGATIT.g_loss / d_loss recomputed by hand from the networks."""
        m = tiny()
        x, y = smooth_images(2, seed=1), -smooth_images(2, seed=2)
        with torch.no_grad():
            for _ in range(3):  # settle spectral norm's power iteration, then freeze it (eval)
                m.D_X(x), m.D_Y(y)
        m.eval()
        with torch.no_grad():
            loss, terms, _ = m.g_loss(x, y)
            gx, cgx, _ = m.G(x)
            fy, cfy, _ = m.F(y)
            gy, cgy, _ = m.G(y)
            fx, cfx, _ = m.F(x)
            cyc = (m.F(gx)[0] - x).abs().mean() + (m.G(fy)[0] - y).abs().mean()
            idt = (gy - y).abs().mean() + (fx - x).abs().mean()
            bce = F.binary_cross_entropy_with_logits
            cam = (bce(cgx, torch.ones_like(cgx)) + bce(cgy, torch.zeros_like(cgy))
                   + bce(cfy, torch.ones_like(cfy)) + bce(cfx, torch.zeros_like(cfx)))
            gan_x = sum(((p - 1) ** 2).mean() + ((c - 1) ** 2).mean() for p, c, _ in m.D_X(fy))
            gan_y = sum(((p - 1) ** 2).mean() + ((c - 1) ** 2).mean() for p, c, _ in m.D_Y(gx))
            want = gan_x + gan_y + 10 * cyc + 10 * idt + 1000 * cam
            d, dterms = m.d_loss(x, y)
            want_d = sum(((pr - 1) ** 2).mean() + (pf ** 2).mean() + ((cr - 1) ** 2).mean() + (cf ** 2).mean()
                         for D, real, fake in ((m.D_X, x, fy), (m.D_Y, y, gx))
                         for (pr, cr, _), (pf, cf, _) in zip(D(real), D(fake)))
        for k, v in (("cyc", cyc), ("id", idt), ("cam", cam), ("gan_x", gan_x), ("gan_y", gan_y)):
            self.assertAlmostEqual(terms[k], float(v), places=5, msg=k)
        self.assertAlmostEqual(float(loss), float(want), delta=1e-4 * float(want))
        self.assertAlmostEqual(float(d), float(want_d), places=5)


class GradientTest(unittest.TestCase):
    def check(self, search):
        m = tiny(search=search)
        x, y = smooth_images(2, seed=1), -smooth_images(2, seed=2)
        g_loss, _, _ = m.g_loss(x, y)
        if search:
            g_loss = g_loss + 1.0 * sn.cost_penalty(m.G.cost(256), 1e8)
        g_loss.backward()
        named = [("G." + n, p) for n, p in m.G.named_parameters()] + [("F." + n, p) for n, p in m.F.named_parameters()]
        for n, p in named:
            self.assertIsNotNone(p.grad, n)
            self.assertTrue(bool(torch.isfinite(p.grad).all()), n)
            self.assertGreater(float(p.grad.abs().sum()), 0.0, n)
        if search:
            gates = dict(m.G.gates.named_parameters())
            self.assertEqual(len(gates), len(sn.Supernet.full_widths()) + len(sn.DEPTH_GATES))
            for n, p in gates.items():
                self.assertGreater(float(p.grad.abs().sum()), 0.0, n)
        m.zero_grad()
        d_loss, _ = m.d_loss(x, y)
        d_loss.backward()
        for n, p in list(m.D_X.named_parameters()) + list(m.D_Y.named_parameters()):
            self.assertIsNotNone(p.grad, n)
            self.assertGreater(float(p.grad.abs().sum()), 0.0, n)
        for p in list(m.G.parameters()) + list(m.F.parameters()):  # D's loss leaves G alone
            self.assertTrue(p.grad is None or float(p.grad.abs().sum()) == 0.0)

    def test_gradients_reach_everything(self):
        self.check(search=False)

    def test_gradients_reach_everything_and_gates_supernet(self):
        self.check(search=True)


class FoldTest(unittest.TestCase):
    def test_identity_init_and_exact_fold(self):
        tensors = nets.random_teacher_tensors(3)
        g = nets.SupernetCAMGenerator(tensors)
        plain = sn.Supernet(tensors)
        x = smooth_images(2, seed=4)
        with torch.no_grad():
            self.assertLess(float((g(x)[0] - plain(x)[0]).abs().max()), 1e-4)  # starts as the plain supernet
            for p in g.cam.parameters():
                p.add_(torch.randn_like(p) * 0.05)
            g.net.gates["R"][::3] = 0.2   # a few residual-stream groups off
            g.net.gates["d1"][0] = 0.1    # and a block
            folded = g.fold_cam()
            a, b = g(x)[0], folded(x)[0]
        self.assertIsInstance(folded, sn.Supernet)
        self.assertGreater(float((a - plain(x)[0]).abs().max()), 1e-3)  # the CAM mix does change G
        self.assertLess(float((a - b).abs().max()), 1e-4)


class LearningTest(unittest.TestCase):
    def test_few_steps_reduce_cycle_and_identity(self):
        """Y = colour-inverted X; 30 steps at lr 5e-3 cut L_cyc and L_id on a held-out batch
        (measured over seeds 0-3: by 16-24 % and 22-30 %)."""
        m = tiny(seed=0)
        xs, ys = smooth_images(8, seed=10), -smooth_images(8, seed=11)
        tr = ug.Trainer(m, lr=5e-3, weight_decay=0.0)
        hx, hy = smooth_images(4, seed=12), -smooth_images(4, seed=13)

        def held():
            with torch.no_grad():
                _, t, _ = m.g_loss(hx, hy)
            return t

        before = held()
        g = torch.Generator().manual_seed(0)
        for _ in range(30):
            ix, iy = torch.randint(0, 8, (4,), generator=g), torch.randint(0, 8, (4,), generator=g)
            terms, _ = tr.step(xs[ix], ys[iy])
            for v in terms.values():
                self.assertTrue(math.isfinite(v))
        after = held()
        self.assertLess(after["cyc"], 0.9 * before["cyc"], (before, after))
        self.assertLess(after["id"], 0.85 * before["id"], (before, after))
        self.assertLess(after["gan_x"] + after["gan_y"], before["gan_x"] + before["gan_y"], (before, after))

    def test_search_steps_cut_macs(self):
        """G = supernet: a cost target at half its MACs makes gates switch off."""
        m = tiny(search=True)
        full = float(m.G.net.macs(256))
        tr = ug.Trainer(m, lr=1e-4, lr_gates=0.1, target=0.5 * full, lam=100.0, gate_warmup=0)
        xs, ys = smooth_images(2, seed=20), -smooth_images(2, seed=21)
        for _ in range(6):
            terms, _ = tr.step(xs, ys)
        self.assertLess(float(m.G.net.macs(256)), 0.95 * full)
        self.assertLess(terms["macs"], full)
        for a in m.G.gates.values():
            self.assertTrue(bool(((a >= 0) & (a <= 1)).all()))


class CLITest(unittest.TestCase):
    def test_main_unpaired_subcommand(self):
        from PIL import Image
        with tempfile.TemporaryDirectory() as d:
            rng = np.random.default_rng(0)
            for dom in ("photos", "anime"):
                os.makedirs(os.path.join(d, dom, "sub"))
                for i in range(3):
                    a = rng.integers(0, 256, (40 + i, 48, 3), dtype=np.uint8)
                    Image.fromarray(a).save(os.path.join(d, dom, "sub" if i else "", "%d.png" % i))
            out = os.path.join(d, "out")
            r = subprocess.run([sys.executable, os.path.join(HERE, "main.py"), "unpaired", "--photos",
                                os.path.join(d, "photos"), "--anime", os.path.join(d, "anime"), "--out", out,
                                "--steps", "2", "--size", "32", "--batch", "2", "--ch", "4", "--n-blocks", "1",
                                "--d-ch", "4", "--search", "--init", "random", "--log-every", "1",
                                "--device", "cpu", "--threads", "1"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("3 photos, 3 anime images", r.stdout)
            self.assertIn("step 2/2", r.stdout)
            for f in ("unpaired.pt", "unpaired_log.jsonl", "samples.png", "unpaired_search.pt",
                      "unpaired_arch.json"):
                self.assertTrue(os.path.exists(os.path.join(out, f)), f)


if __name__ == "__main__":
    unittest.main()
