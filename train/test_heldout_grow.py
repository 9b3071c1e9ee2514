"""The held-out split by source, the sharpness metric, whole-photo eval
inputs, growing a student (train/grow.py) and a fine-tune resumed from its
checkpoint."""

import math
import os
import sys
import tempfile
import types
import unittest

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import edgetoon_model as em  # noqa: E402
import grow  # noqa: E402
import peek  # noqa: E402
import metrics  # noqa: E402

torch.set_num_threads(2)
STUDENT = os.path.join(HERE, "init", "student-v1.safetensors")  # the 16-channel v1: grow from it


def write_tree(root, files):
    """Photos and a FILES.tsv: files is [(relative path, source tag)]."""
    rng = np.random.default_rng(0)
    with open(os.path.join(root, "FILES.tsv"), "w") as f:
        f.write("folder\tfile\tsource_tag\trepo\n")
        for rel, tag in files:
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(os.path.join(root, rel))
            folder, name = rel.split("/")
            f.write("%s\t%s\t%s\tx/y\n" % (folder, name, tag))


class SplitTest(unittest.TestCase):
    def test_heldout_sources_never_train(self):
        held = data.HELDOUT_SOURCES[0]
        with tempfile.TemporaryDirectory() as d:
            write_tree(d, [("faces/a.jpg", "london"), ("faces/b.jpg", held), ("faces/c.jpg", held),
                           ("scenes/d.jpg", "kodak"), ("faces/e.jpg", "london")])
            with open(os.path.join(d, "eval.txt"), "w") as f:
                f.write("faces/e.jpg\nfaces/c.jpg\n")
            self.assertEqual(data.list_images(d, "train"), ["faces/a.jpg", "scenes/d.jpg"])
            self.assertEqual(data.list_images(d, "heldout"), ["faces/b.jpg", "faces/c.jpg"])
            self.assertEqual(data.list_images(d, "eval"), ["faces/c.jpg", "faces/e.jpg"])
            with self.assertRaises(ValueError):
                data.list_images(d, "test")

    @unittest.skipUnless(os.path.exists(os.path.join(data.IMAGES, "FILES.tsv")), "needs ../shared/images")
    def test_shared_images(self):
        src = data.sources(data.IMAGES)
        tr, ho = data.list_images(split="train"), data.list_images(split="heldout")
        self.assertGreater(len(ho), 20)
        self.assertFalse(set(tr) & set(ho))
        self.assertTrue(all(src[p] in data.HELDOUT_SOURCES for p in ho))
        self.assertFalse(any(src.get(p) in data.HELDOUT_SOURCES for p in tr))


class CurvesTest(unittest.TestCase):
    def test_png_from_the_log(self):
        import release
        with tempfile.TemporaryDirectory() as d:
            logp, png = os.path.join(d, "finetune_log.jsonl"), os.path.join(d, "curves.png")
            self.assertFalse(release.save_curves(logp, png, "none"))
            with open(logp, "w") as f:
                for i in range(1, 121):
                    f.write('{"step": %d, "l1": %g, "g_adv": 0, "d": 0}\n' % (i, 0.05 + 0.01 / i))
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                self.skipTest("no matplotlib")
            self.assertTrue(release.save_curves(logp, png, "test"))
            with Image.open(png) as im:
                self.assertGreater(im.size[0], 300)


class SharpnessTest(unittest.TestCase):
    def test_hand_computed(self):
        # A grey ramp along x: luma steps of 10 horizontally, 0 vertically.
        x = torch.arange(5, dtype=torch.float64).mul(10).view(1, 1, 1, 5).expand(1, 3, 4, 5)
        self.assertAlmostEqual(float(metrics.sharpness(x)[0]), 10.0, places=9)
        # Red only: luma weight 0.299; a checkerboard of 0/100 steps 29.9 both ways.
        c = (torch.arange(4).view(4, 1) + torch.arange(4).view(1, 4)) % 2 * 100.0
        img = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
        img[0, 0] = c
        self.assertAlmostEqual(float(metrics.sharpness(img)[0]), 2 * 29.9, places=9)

    def test_blur_lowers_it(self):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, 3, 32, 32, generator=g) * 255
        blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        self.assertLess(float(metrics.sharpness(blurred)[0]), 0.7 * float(metrics.sharpness(x)[0]))


class PhotoAtTest(unittest.TestCase):
    def test_sizes_and_padding(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "p.png")
            Image.fromarray(np.full((300, 500, 3), 77, np.uint8)).save(p)
            x, fw, fh = data.photo_at(p, 256)
            # As internal/photo.Fit: longer side 256, 300*256/500 = 153.6 -> 154, padded to 156.
            self.assertEqual((fw, fh), (256, 154))
            self.assertEqual(tuple(x.shape), (1, 3, 156, 256))
            self.assertTrue(torch.allclose(x, torch.full_like(x, 77 / 255), atol=1e-6))


@unittest.skipUnless(os.path.exists(STUDENT), "needs the committed student")
class GrowTest(unittest.TestCase):
    def setUp(self):
        self.graph, self.tensors = em.read_file(STUDENT)

    def test_widen_keeps_the_function(self):
        grown = grow.grow(self.tensors, {"R": 24, "inner": 20})
        for name in grow.residual_stream(grown)[0]:
            self.assertEqual(grown[name].shape[0], 24)
        self.assertEqual(grown["generator/block_0/conv1/Conv2D"].shape[0], 20)
        self.assertEqual(grown["generator/block_0/conv2/Conv2D"].shape[3], 20)
        self.assertEqual(grown["generator/Conv_5/Conv2D"].shape[3], 24)
        x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
        with torch.no_grad():
            a = em.GraphModule(self.graph, self.tensors)(x)
            b = em.GraphModule(self.graph, grown)(x)
        # Second order in the new weights' scale (0.05 of the old ones' std each way).
        self.assertLess(float((a - b).abs().max()), 2e-2)
        self.assertGreater(float((a - b).abs().max()), 0)  # the new weights are not all zero
        self.assertGreater(em.macs(self.graph, grown), em.macs(self.graph, self.tensors))

    def test_peek_writes_the_checkpoints_average(self):
        # A checkpoint as finetune writes it: the average is what peek
        # writes, and the Go-side reader gets the same weights back.
        net = em.GraphModule(self.graph, self.tensors)
        ema = {k: v + 0.5 for k, v in net.state_dict().items()}
        with tempfile.TemporaryDirectory() as d:
            ck, out = os.path.join(d, "ck.pt"), os.path.join(d, "p.safetensors")
            torch.save({"graph": self.graph, "student": net.state_dict(), "ema": ema, "step": 7}, ck)
            self.assertEqual(peek.peek(ck, STUDENT, out), 7)
            g, t = em.read_file(out)
            self.assertEqual(g, self.graph)
            for name, arr in self.tensors.items():
                np.testing.assert_allclose(t[name], np.asarray(arr) + 0.5, atol=1e-6)

    def test_command_names_the_grown_model(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "g.safetensors")
            grow.main([STUDENT, out, "--width", "R=32", "--name", "edgetoon-student-large"])
            g, t = em.read_file(out)
            self.assertEqual(g["name"], "edgetoon-student-large")
            self.assertIn("grown by train/grow.py from %s (--width R=32 --name edgetoon-student-large)"
                          % os.path.basename(STUDENT), g["provenance"])
            self.assertEqual(t[grow.residual_stream(t)[0][0]].shape[0], 32)
            grow.main([STUDENT, out, "--width", "R=32"])
            self.assertEqual(em.read_file(out)[0]["name"], self.graph["name"])

    def test_context_branch(self):
        at = "generator/block_1/add"
        g, t = grow.add_context(self.graph, self.tensors, at, 8)
        self.assertEqual(g["size_multiple"], 2 * self.graph["size_multiple"])
        self.assertNotIn("generator/context/add", {n["name"] for n in self.graph["nodes"]})  # input untouched
        # Hand count at 256: the trunk is 64x64 with R=16 channels, the
        # branch 32x32: 16->8 stride 2, three 8->8, 8->16, all 3x3.
        px = 32 * 32
        want = px * 9 * (16 * 8 + 3 * 8 * 8 + 8 * 16)
        self.assertEqual(em.macs(g, t) - em.macs(self.graph, self.tensors), want)
        # Every reader of the old sum reads the branch's sum now.
        readers = [n["name"] for n in g["nodes"] if at in n["inputs"]]
        self.assertEqual(sorted(readers), ["generator/context/LeakyRelu_0", "generator/context/add"])
        x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
        with torch.no_grad():
            a = em.GraphModule(self.graph, self.tensors)(x)
            b = em.GraphModule(g, t)(x)
            t2 = dict(t, **{"generator/context/Conv_4/Conv2D": t["generator/context/Conv_4/Conv2D"] * 1e3})
            c = em.GraphModule(g, t2)(x)
        self.assertLess(float((a - b).abs().max()), 1e-2)  # tiny last conv: almost the old function
        self.assertGreater(float((a - c).abs().max()), 0.1)  # and the branch is wired into the output
        with self.assertRaises(ValueError):
            grow.add_context(self.graph, self.tensors, "nope", 8)

    def test_nested_context_branch(self):
        g, t = grow.add_context(self.graph, self.tensors, "generator/block_1/add", 8)
        at = "generator/context/LeakyRelu_1"
        g2, t2 = grow.add_context(g, t, at, 6, convs=1)
        self.assertEqual(g2["size_multiple"], 4 * self.graph["size_multiple"])
        # Hand count at 256: the nested branch is 16x16: 8->6 stride 2,
        # one 6->6, 6->8, all 3x3.
        self.assertEqual(em.macs(g2, t2) - em.macs(g, t), 16 * 16 * 9 * (8 * 6 + 6 * 6 + 6 * 8))
        names = [n["name"] for n in g2["nodes"]]
        self.assertIn("generator/context_1/add", names)
        readers = sorted(n["name"] for n in g2["nodes"] if at in n["inputs"])
        self.assertEqual(readers, ["generator/context_1/LeakyRelu_0", "generator/context_1/add"])
        # The first branch's next layer reads the nested sum.
        nxt = next(n for n in g2["nodes"] if n["name"] == "generator/context/LeakyRelu_2")
        self.assertEqual(nxt["inputs"][0], "generator/context_1/add")
        x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 2 - 1
        with torch.no_grad():
            a = em.GraphModule(g, t)(x)
            b = em.GraphModule(g2, t2)(x)
        self.assertLess(float((a - b).abs().max()), 1e-2)

    def test_widen_past_context_branches(self):
        # R = 16 in this student; a branch on R (width 8) with one nested in
        # it (width 6): widening R grows the outer branch's first conv's
        # input and its last conv's output, and leaves the nested one alone.
        g, t = grow.add_context(self.graph, self.tensors, "generator/block_1/add", 8)
        g, t = grow.add_context(g, t, "generator/context/LeakyRelu_1", 6, convs=1)
        with self.assertRaises(ValueError):  # the branches are found in the graph
            grow.grow(t, {"R": 20})
        grown = grow.grow(t, {"R": 20}, graph=g)
        self.assertEqual(grown["generator/context/Conv_0/Conv2D"].shape, (8, 3, 3, 20))
        self.assertEqual(grown["generator/context/Conv_4/Conv2D"].shape, (20, 3, 3, 8))
        self.assertEqual(grown["generator/context/Conv_4/biases"].shape, (20,))
        for k in ("Conv_0", "Conv_2"):
            name = "generator/context_1/%s/Conv2D" % k
            self.assertEqual(grown[name].shape, t[name].shape)
        x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
        with torch.no_grad():
            a = em.GraphModule(g, t)(x)
            b = em.GraphModule(g, grown)(x)
        self.assertLess(float((a - b).abs().max()), 2e-2)
        self.assertGreater(float((a - b).abs().max()), 0)

    def test_widen_chains_and_pad_kernels(self):
        # The outputs only the next conv reads, widened, and kernels
        # grown by a ring of zeros: the function as before, up to the new
        # weights' second-order term (the padded kernels exactly).
        head, tail = "generator/Conv/Conv2D", "generator/Conv_9/Conv2D"
        kh = np.asarray(self.tensors[tail]).shape[1]
        grown = grow.grow(self.tensors, {"Conv_6": 28, "Conv_8": 32}, {head: kh + 2, tail: kh + 2})
        self.assertEqual(grown["generator/Conv_6/Conv2D"].shape[0], 28)
        self.assertEqual(grown["generator/Conv_7/Conv2D"].shape[3], 28)
        self.assertEqual(grown["generator/Conv_8/Conv2D"].shape[0], 32)
        self.assertEqual(grown[tail].shape, (3, kh + 2, kh + 2, 32))
        np.testing.assert_array_equal(grown[head][:, 1:-1, 1:-1, :], self.tensors[head])
        self.assertEqual(float(np.abs(grown[head][:, 0]).max()), 0)
        x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
        with torch.no_grad():
            a = em.GraphModule(self.graph, self.tensors)(x)
            b = em.GraphModule(self.graph, grown)(x)
            c = em.GraphModule(self.graph, grow.grow(self.tensors, kernels={head: kh + 2, tail: kh + 2}))(x)
        self.assertLess(float((a - b).abs().max()), 2e-2)
        self.assertGreater(float((a - b).abs().max()), 0)
        self.assertLess(float((a - c).abs().max()), 1e-5)
        with self.assertRaises(ValueError):
            grow.grow(self.tensors, {"Conv_5": 32})  # writes a skip add: not a chain

    def test_shrink_kernel(self):
        k = "generator/Conv_9/Conv2D"
        out = grow.grow(self.tensors, kernels={k: 5})
        self.assertEqual(out[k].shape[1:3], (5, 5))
        np.testing.assert_array_equal(out[k], np.asarray(self.tensors[k])[:, 1:6, 1:6, :])
        with self.assertRaises(ValueError):
            grow.shrink_kernel(self.tensors, k, 4)

    def test_refit_recovers_the_dropped_ring(self):
        # A conv whose 5x5 version exists exactly: a 7x7 with a zero ring
        # and the 5x5 centre random. Cropping keeps it; refitting from a
        # perturbed 5x5 must find it again (least squares, exact solution).
        k = "generator/Conv_9/Conv2D"
        t = dict(self.tensors)
        w = np.zeros_like(np.asarray(t[k], np.float32))
        w[:, 1:6, 1:6, :] = np.random.default_rng(3).normal(0, 0.05, (3, 5, 5, w.shape[3]))
        t[k] = w
        small = grow.shrink_kernel(t, k, 5)
        noisy = dict(small, **{k: small[k] + 0.01})
        photos = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
        fit = grow.refit_kernel(self.graph, t, noisy, k, photos)
        np.testing.assert_allclose(fit[k], small[k], atol=1e-4)
        np.testing.assert_allclose(fit["generator/Conv_9/biases"], t["generator/Conv_9/biases"], atol=1e-4)
        with self.assertRaises(ValueError):
            grow.widen(self.tensors, ["generator/Conv_4/Conv2D"], [], 8, np.random.default_rng(0))


@unittest.skipUnless(os.path.exists(STUDENT), "needs the committed student")
class ResumeTest(unittest.TestCase):
    def test_pieces_continue_the_schedule(self):
        import finetune
        import stage
        with tempfile.TemporaryDirectory() as d:
            x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(2))

            class FakeTeacher:
                graph = em.read_file(STUDENT)[0]
                path = STUDENT

                def __init__(self, *a):
                    pass

                def normalize(self, x01):
                    return em.normalize(x01, self.graph)

                def __call__(self, x01):
                    return self.normalize(x01) * 0.5

            args = types.SimpleNamespace(
                init=STUDENT, out=d, channels_last=False, lr=1e-4, cache_targets=16, batch=2, size=32,
                finetune_steps=6, calib_steps=0, log_every=1, w_gan=0.0, w_edge=0.0, w_ssim=0.0, amp=False,
                device_name="cpu", device="cpu", resume=True, ckpt_minutes=0.0)
            orig = (finetune.data.Teacher, finetune.gotools.teacher_path, finetune.cached_pairs)
            finetune.data.Teacher = FakeTeacher
            finetune.gotools.teacher_path = lambda: STUDENT
            finetune.cached_pairs = lambda a, t, n: (x, t(x))
            try:
                # A piece whose deadline has passed stops after one step, checkpointed.
                past = types.SimpleNamespace(deadline=lambda stage_name: 0.0)
                with self.assertRaises(SystemExit):
                    finetune.run(args, past)
                ck = stage.load_pt(os.path.join(d, "finetune_ckpt.pt"))
                self.assertEqual((ck["step"], ck["steps"]), (1, 6))
                finetune.run(args, None)  # the next piece goes on to the planned end
                ck = stage.load_pt(os.path.join(d, "finetune_ckpt.pt"))
                self.assertEqual((ck["step"], ck["steps"]), (6, 6))
                with open(os.path.join(d, "finetune_log.jsonl")) as f:
                    self.assertEqual([int(l.split('"step": ')[1].split(",")[0]) for l in f], list(range(1, 7)))
                # A length given again that differs from the plan replans the
                # rest (steps past it: none); one not given keeps the plan.
                finetune.run(types.SimpleNamespace(**{**vars(args), "finetune_steps": 99}), past)
                ck = stage.load_pt(os.path.join(d, "finetune_ckpt.pt"))
                self.assertEqual((ck["step"], ck["steps"]), (6, 6))
                with self.assertRaises(SystemExit):
                    finetune.run(types.SimpleNamespace(**{**vars(args), "finetune_steps": 99, "replan": True}), past)
                ck = stage.load_pt(os.path.join(d, "finetune_ckpt.pt"))
                self.assertEqual((ck["step"], ck["steps"]), (7, 99))
                self.assertAlmostEqual(ck["opt"]["param_groups"][0]["lr"], 1e-4 * 0.5 * (1 + math.cos(math.pi * 6 / 99)))
                finetune.run(types.SimpleNamespace(**{**vars(args), "finetune_steps": 4, "replan": True}), None)
                ck = stage.load_pt(os.path.join(d, "finetune_ckpt.pt"))
                self.assertEqual((ck["step"], ck["steps"]), (7, 7))
            finally:
                finetune.data.Teacher, finetune.gotools.teacher_path, finetune.cached_pairs = orig


if __name__ == "__main__":
    unittest.main()
