"""Feature distillation (--w-feat): the adapter + loss on hand-made tensors,
GraphModule's intermediate outputs against the graph run up to that node,
the feature cache, and a 2-step fine-tune that checkpoints and resumes."""

import json
import os
import subprocess
import sys
import tempfile
import types
import unittest

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import edgetoon_model as em  # noqa: E402
import feature_distill as fd  # noqa: E402
import stage  # noqa: E402

torch.set_num_threads(2)
REPO = os.path.dirname(HERE)
# v3: a frozen file (the shipped default changes), 24-channel trunk, 7x7 head.
STUDENT = os.path.join(REPO, "train", "init", "student-v3.safetensors")


def teacher_file():
    """An existing teacher model file (never fetched here), or None."""
    for p in (os.environ.get("EDGETOON_TEACHER"), "/tmp/whitebox.safetensors",
              os.path.join(REPO, "web", "dist", "models", "whitebox.safetensors")):
        if p and os.path.exists(p):
            return p
    return None


def set_adapter(a, w, b):
    with torch.no_grad():
        a.weight.copy_(torch.as_tensor(w, dtype=torch.float32).reshape(a.weight.shape))
        a.bias.copy_(torch.as_tensor(b, dtype=torch.float32))


class LossTest(unittest.TestCase):
    def setUp(self):
        g = torch.Generator().manual_seed(5)
        self.t = [torch.randn(2, 5, 6, 7, generator=g) * torch.tensor([1, 3, 0.5, 2, 1]).view(1, 5, 1, 1),
                  torch.randn(2, 4, 3, 3, generator=g)]
        self.p = [torch.randn(7, 5, generator=g), torch.randn(6, 4, generator=g)]  # C_s x C_t, full column rank
        self.c = [torch.randn(7, generator=g), torch.randn(6, generator=g)]
        # The student's features: a 1x1 projection (with offset) of the teacher's.
        self.s = [torch.einsum("st,nthw->nshw", p, t) + c.view(1, -1, 1, 1) for p, t, c in zip(self.p, self.t, self.c)]
        self.inv = [torch.tensor([1.0, 0.5, 2.0, 0.25, 1.0]), torch.tensor([1.0, 2.0, 1.0, 0.5])]

    def net(self):
        net = fd.FeatureDistill([7, 6], [5, 4])
        with torch.no_grad():
            for i, v in enumerate(self.inv):
                net.inv_std(i).copy_(v)
        return net

    def test_zero_for_a_projection_positive_otherwise(self):
        net = self.net()
        for a, p, c in zip(net.adapters, self.p, self.c):
            pinv = torch.linalg.pinv(p)  # C_t x C_s: pinv(P) (P t + c) - pinv(P) c = t
            set_adapter(a, pinv, -pinv @ c)
        self.assertLess(float(net(self.s, self.t)), 1e-9)
        # Not a projection: the student's features through a tanh.
        self.assertGreater(float(net([torch.tanh(s) for s in self.s], self.t)), 1e-2)
        # One adapter weight off by 0.1: the error is that weight times its
        # student channel, normalised, squared and averaged (a hand-computed oracle).
        with torch.no_grad():
            net.adapters[0].weight[1, 3] += 0.1
        d = 0.1 * self.s[0][:, 3].numpy() * float(self.inv[0][1])
        want = (d ** 2).sum() / self.t[0].numel() / 2  # mean over node 0's elements, then over 2 nodes
        self.assertAlmostEqual(float(net(self.s, self.t)), want, delta=1e-5 * want)

    def test_zero_adapters_give_the_normalised_energy(self):
        net = self.net()
        for a in net.adapters:
            set_adapter(a, torch.zeros_like(a.weight), torch.zeros_like(a.bias))
        want = np.mean([np.mean((t.numpy() * v.numpy().reshape(1, -1, 1, 1)) ** 2)
                        for t, v in zip(self.t, self.inv)])
        self.assertAlmostEqual(float(net(self.s, self.t)), want, places=5)

    def test_init_is_the_least_squares_map_and_the_channel_std(self):
        # Teacher = W s + b exactly: init_ finds W and b, and the loss is ~0.
        g = torch.Generator().manual_seed(6)
        s = [torch.randn(3, 7, 8, 8, generator=g)]
        w, b = torch.randn(5, 7, generator=g), torch.randn(5, generator=g)
        t = [torch.einsum("ts,nshw->nthw", w, s[0]) + b.view(1, -1, 1, 1)]
        net = fd.FeatureDistill([7], [5])
        net.init_(s, t, ridge=0.0)
        torch.testing.assert_close(net.adapters[0].weight.view(5, 7), w, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(net.adapters[0].bias, b, atol=1e-4, rtol=1e-4)
        std = t[0].numpy().transpose(1, 0, 2, 3).reshape(5, -1).std(axis=1)
        np.testing.assert_allclose(net.inv_std(0).numpy(), 1 / std, rtol=1e-5)
        self.assertLess(float(net(s, t)), 1e-8)
        # Gradients reach the student's features and the adapter.
        s0 = s[0].clone().requires_grad_(True)
        with torch.no_grad():
            net.adapters[0].bias += 1.0
        net([s0], t).backward()
        self.assertGreater(float(s0.grad.abs().sum()), 0)
        self.assertGreater(float(net.adapters[0].bias.grad.abs().sum()), 0)


class GraphNodesTest(unittest.TestCase):
    def setUp(self):
        self.graph, self.tensors = em.read_file(STUDENT)
        self.gm = em.GraphModule(self.graph, self.tensors).eval()
        self.x = torch.rand(2, 3, 16, 20, generator=torch.Generator().manual_seed(1)) * 2 - 1

    def prefix(self, node):
        """The graph cut after `node`, which becomes its output."""
        nodes = []
        for n in self.graph["nodes"]:
            nodes.append(n)
            if n["name"] == node:
                break
        used = {i for n in nodes for i in n["inputs"]}
        return dict(self.graph, nodes=nodes, output=node), {k: v for k, v in self.tensors.items() if k in used}

    def test_intermediate_equals_the_graph_prefix(self):
        names = ["generator/block_3/add", "generator/LeakyRelu_7", "generator/LeakyRelu"]
        with torch.no_grad():
            out, feats = self.gm(self.x, return_nodes=names)
            self.assertTrue(torch.equal(out, self.gm(self.x)))  # the default output is unchanged
            for name in names:
                want = em.GraphModule(*self.prefix(name))(self.x)
                self.assertTrue(torch.equal(feats[name], want), name)
        self.assertEqual(tuple(feats["generator/block_3/add"].shape), (2, 24, 4, 5))
        # The first node by hand: a 7x7 conv, TF SAME padding (3 each side at stride 1), leaky ReLU 0.2.
        w = torch.from_numpy(self.tensors["generator/Conv/Conv2D"]).permute(0, 3, 1, 2)
        b = torch.from_numpy(self.tensors["generator/Conv/biases"])
        want = F.leaky_relu(F.conv2d(F.pad(self.x, (3, 3, 3, 3)), w, b), 0.2)
        torch.testing.assert_close(feats["generator/LeakyRelu"], want, atol=1e-5, rtol=1e-5)
        with self.assertRaises(ValueError):
            self.gm(self.x, return_nodes=["no/such/node"])

    def test_resolve_node(self):
        self.assertEqual(em.resolve_node(self.graph, fd.DEFAULT_NODES), "generator/block_3/add")
        self.assertEqual(em.resolve_node(self.graph, "generator/ResizeBilinear_1:in"), "generator/LeakyRelu_7")
        self.assertEqual(em.resolve_node(self.graph, "generator/LeakyRelu_7"), "generator/LeakyRelu_7")
        # A student without block 3: the trunk's output is block 2's.
        nodes = [dict(n) for n in self.graph["nodes"] if not n["name"].startswith("generator/block_3/")]
        for n in nodes:
            n["inputs"] = ["generator/block_2/add" if i == "generator/block_3/add" else i for i in n["inputs"]]
        self.assertEqual(em.resolve_node(dict(self.graph, nodes=nodes), fd.DEFAULT_NODES), "generator/block_2/add")
        for bad in ("generator/Conv_99:in", "nope"):
            with self.assertRaises(ValueError):
                em.resolve_node(self.graph, bad)
        self.assertEqual(fd.feature_channels(self.gm, ["generator/block_3/add", "generator/LeakyRelu_7"]), [24, 16])


def make_pack(root, n=4, h=72, w=90):
    rng = np.random.default_rng(3)
    for sub in ("train/faces", "train/scenes", "eval/faces"):
        os.makedirs(os.path.join(root, sub))
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
                os.path.join(root, sub, "p%d.png" % i))


class FeatureTeacher:
    """A stand-in teacher with features: output and two 'nodes' computed from x."""

    def __init__(self, path):
        self.path, self.calls = path, 0

    def __call__(self, x01):
        self.calls += 1
        return x01 * 2 - 1

    def features(self, x01, nodes):
        self.calls += 1
        f = {"a": F.avg_pool2d(x01, 2) * 3, "b": x01.flip(1)}
        return x01 * 2 - 1, {n: f[n] for n in nodes}


class CacheTest(unittest.TestCase):
    def test_features_cached_beside_the_pairs(self):
        with tempfile.TemporaryDirectory() as d:
            pack, cache = os.path.join(d, "pack"), os.path.join(d, "cache")
            make_pack(pack)
            model = os.path.join(d, "teacher.safetensors")
            with open(model, "wb") as f:
                f.write(b"stand-in")
            args = types.SimpleNamespace(data=pack, subsets=("faces", "scenes"), images=0, size=16, crop_min=0.5,
                                         preload=False, device_aug=False, batch=2, workers=0, device_name="cpu",
                                         cache_dir=cache)
            x0, t0 = stage.cached_pairs(args, FeatureTeacher(model), 5, save_every=4)
            plain = {p: sorted(os.listdir(os.path.join(cache, p))) for p in os.listdir(cache)}
            mtimes = {(p, f): os.path.getmtime(os.path.join(cache, p, f)) for p in plain for f in plain[p]}
            tch = FeatureTeacher(model)
            x, t, feats = stage.cached_pairs(args, tch, 5, save_every=4, feat_nodes=("a", "b"))
            self.assertGreater(tch.calls, 0)
            # A folder of its own; the one without features is untouched.
            self.assertEqual(len(os.listdir(cache)), 2)
            for p, files in plain.items():
                self.assertEqual(sorted(os.listdir(os.path.join(cache, p))), files)
                for f in files:
                    self.assertEqual(os.path.getmtime(os.path.join(cache, p, f)), mtimes[p, f])
            folder = [p for p in os.listdir(cache) if p not in plain][0]
            with open(os.path.join(cache, folder, "KEY.json")) as f:
                self.assertEqual(json.load(f)[-1], ["features", "a", "b"])
            self.assertEqual(sorted(f for f in os.listdir(os.path.join(cache, folder)) if f.endswith(".npy")),
                             ["00000000.f0.npy", "00000000.f1.npy", "00000004.f0.npy", "00000004.f1.npy"])
            self.assertEqual([len(f) for f in feats], [5, 5])
            xf = x.float()
            want = [F.avg_pool2d(xf, 2) * 3, xf.flip(1)]
            for k in range(2):
                got = feats[k].take(range(5))
                self.assertEqual(got.dtype, torch.float32)
                torch.testing.assert_close(got, want[k], atol=4e-3, rtol=1e-3)  # float16 storage
            # Read back without the teacher; fewer crops are the first ones.
            again = FeatureTeacher(model)
            x2, _, f2 = stage.cached_pairs(args, again, 3, save_every=4, feat_nodes=("a", "b"))
            self.assertEqual(again.calls, 0)
            self.assertTrue(torch.equal(x2, x[:3]))
            self.assertEqual(len(f2[0]), 3)
            with self.assertRaises(IndexError):
                f2[0].take([3])
            # Batches: rows of input, target and features that belong together.
            bx, bt, bf = next(stage.pair_batches(x, t, 3, feats=feats))
            for i in range(3):
                j = [k for k in range(5) if torch.equal(x[k].float(), bx[i])][0]
                self.assertTrue(torch.equal(bt[i], t[j].float()))
                torch.testing.assert_close(bf[0][i], want[0][j], atol=4e-3, rtol=1e-3)
                torch.testing.assert_close(bf[1][i], want[1][j], atol=4e-3, rtol=1e-3)


@unittest.skipUnless(teacher_file(), "needs the teacher model file (make model)")
class SmokeTest(unittest.TestCase):
    def run_main(self, out, cache, pack, *extra):
        env = dict(os.environ, EDGETOON_TEACHER=teacher_file(), EDGETOON_CACHE=cache, OUT=out)
        cmd = [sys.executable, os.path.join(HERE, "main.py"), "finetune", "--preset", "smoke", "--out", out,
               "--data", pack, "--cache-dir", cache, "--init", STUDENT, "--size", "64", "--cache-targets", "8",
               "--finetune-steps", "2", "--w-feat", "1", "--w-gan", "0", "--resume", "--threads", "1"] + list(extra)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)

    def test_two_steps_checkpoint_and_resume(self):
        with tempfile.TemporaryDirectory(prefix="edgetoon-featdistill-") as d:
            out, cache, pack = os.path.join(d, "out"), os.path.join(d, "cache"), os.path.join(d, "pack")
            make_pack(pack)
            # A piece whose deadline has passed: one step, checkpointed, stopped.
            r = self.run_main(out, cache, pack, "--minutes", "1e-6", "--export-reserve", "0")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("stopped at step 1 of 2", r.stderr, r.stdout[-3000:] + r.stderr[-3000:])
            ck = stage.load_pt(os.path.join(out, "finetune_ckpt.pt"))
            self.assertEqual((ck["step"], ck["steps"]), (1, 2))
            self.assertEqual(ck["feat"]["nodes"], [fd.DEFAULT_NODES])
            w1 = ck["feat"]["adapter"]["adapters.0.weight"].clone()
            self.assertEqual(tuple(w1.shape), (128, 24, 1, 1))  # student trunk 24 ch -> teacher 128
            [folder] = os.listdir(cache)
            files = sorted(os.listdir(os.path.join(cache, folder)))
            self.assertEqual(files, ["00000000.f0.npy", "00000000.pt", "KEY.json"])
            feats = np.load(os.path.join(cache, folder, "00000000.f0.npy"))
            self.assertEqual((feats.shape, feats.dtype), ((8, 128, 16, 16), np.float16))
            # The next piece resumes: adapters restored and trained on; the export holds no adapter.
            r = self.run_main(out, cache, pack)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            self.assertIn("resumed from", r.stdout)
            self.assertNotIn("start afresh", r.stdout)
            self.assertIn("cache: 8 crops", r.stdout)  # the cached targets and features read back
            ck = stage.load_pt(os.path.join(out, "finetune_ckpt.pt"))
            self.assertEqual((ck["step"], ck["steps"]), (2, 2))
            self.assertFalse(torch.equal(ck["feat"]["adapter"]["adapters.0.weight"], w1))
            with open(os.path.join(out, "finetune_log.jsonl")) as f:
                rows = [json.loads(line) for line in f]
            self.assertEqual([row["step"] for row in rows], [1, 2])
            self.assertTrue(all(row["feat"] > 0 for row in rows))
            done = stage.load_pt(os.path.join(out, "finetune.pt"))
            self.assertEqual(set(done["tensors"]), set(em.read_file(STUDENT)[1]))
            # A checkpoint of a run without --w-feat: resumed with fresh adapters.
            ck["step"], ck["steps"] = 1, 2
            del ck["feat"]
            torch.save(ck, os.path.join(out, "finetune_ckpt.pt"))
            r = self.run_main(out, cache, pack)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            self.assertIn("has no adapters for %s: they start afresh" % fd.DEFAULT_NODES, r.stdout)
            self.assertIn("feat", stage.load_pt(os.path.join(out, "finetune_ckpt.pt")))
            # Without the cache the teacher's features come on the fly.
            fresh = os.path.join(d, "fresh")
            r = self.run_main(fresh, cache, pack, "--cache-targets", "0", "--finetune-steps", "1")
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            with open(os.path.join(fresh, "finetune_log.jsonl")) as f:
                self.assertGreater(json.loads(f.readline())["feat"], 0)
            self.assertEqual(os.listdir(cache), [folder])


if __name__ == "__main__":
    unittest.main()
