"""train/lowrank.py: a conv cut at full rank computes what it did, a cut
keeps the rank asked for, and the cut model is a valid model file whose
MACs are what its convs' shapes say."""

import os
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import edgetoon_model as em  # noqa: E402
import lowrank  # noqa: E402

torch.set_num_threads(2)
STUDENT = os.path.join(HERE, "init", "student-v1.safetensors")


class LowRankTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.graph, cls.tensors = em.read_file(STUDENT)
        cls.module = em.GraphModule(cls.graph, cls.tensors).eval()
        g = torch.Generator().manual_seed(0)
        # Smooth random pictures: a 16x16 grid of colours upsampled, so
        # the responses have structure as a photo's do.
        cls.photos = [torch.nn.functional.interpolate(torch.rand(1, 3, 16, 16, generator=g), size=(64, 64),
                                                      mode="bilinear", align_corners=False) for _ in range(3)]
        cls.stats = lowrank.response_stats(cls.module, cls.graph, cls.photos)

    def run_cut(self, ranks):
        g, t = lowrank.decompose(self.graph, self.tensors, self.stats, ranks)
        return g, t, em.GraphModule(g, t).eval()

    def full_ranks(self):
        out = {}
        for n in lowrank.convs(self.graph):
            w = self.tensors[n["inputs"][1]]
            out[n["name"]] = w.shape[0] if lowrank.side(w) == "out" else w.shape[3]
        return out

    def test_full_rank_is_the_same_function(self):
        # Every conv cut into two at its full rank computes what it did,
        # to float32 rounding, border pixels included.
        g, t, cut = self.run_cut(self.full_ranks())
        self.assertEqual(len(g["nodes"]), len(self.graph["nodes"]) + len(lowrank.convs(self.graph)))
        with torch.no_grad():
            for x in self.photos:
                want = self.module(em.normalize(x, self.graph))
                got = cut(em.normalize(x, g))
                self.assertLess(float((want - got).abs().max()), 1e-4 * float(want.abs().max()))

    def test_low_rank_loses_what_it_drops(self):
        # Cut at rank 1 everywhere, the network computes something else:
        # the test above would pass a decompose that cut nothing.
        ranks = {k: 1 for k in self.full_ranks()}
        _, _, cut = self.run_cut(ranks)
        with torch.no_grad():
            x = self.photos[0]
            self.assertGreater(float((self.module(em.normalize(x, self.graph)) - cut(em.normalize(x, self.graph))).abs().max()), 1e-2)

    def test_cut_keeps_the_rank_and_counts_its_macs(self):
        ranks = {}
        for n in lowrank.convs(self.graph):
            w = self.tensors[n["inputs"][1]]
            ranks[n["name"]] = 2 if lowrank.side(w) == "out" else 1
        g, t, cut = self.run_cut(ranks)
        want = 0
        for n in lowrank.convs(self.graph):
            w = self.tensors[n["inputs"][1]]
            first = t[n["name"] + "_lowrank/Conv2D"]
            self.assertEqual(first.shape[0], ranks[n["name"]])
            self.assertEqual(t[n["name"] + "_restore/Conv2D"].shape[0], w.shape[0])
        # The cut model's MACs at 64x64, counted from its own convs'
        # weights and output sizes by em.macs, against the same count done
        # here by hand from the original's shapes.
        sizes = {self.graph["input"]: 64}
        for n in self.graph["nodes"]:
            s = sizes[n["inputs"][0]]
            if n["op"] == "conv2d":
                stride = (n.get("stride") or [1, 1])[0] or 1
                s = -(-s // stride)
                o, kh, kw, i = self.tensors[n["inputs"][1]].shape
                r = ranks[n["name"]]
                want += s * s * ((kh * kw * i * r + r * o) if lowrank.side(self.tensors[n["inputs"][1]]) == "out"
                                 else (i * r + kh * kw * r * o))
            elif n["op"] == "resize":
                s *= n["scale"][0]
            sizes[n["name"]] = s
        self.assertEqual(em.macs(g, t, 64), want)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "cut.safetensors")
            em.write_file(path, g, t)
            g2, t2 = em.read_file(path)
            with torch.no_grad():
                x = em.normalize(self.photos[0], g)
                self.assertTrue(torch.allclose(em.GraphModule(g2, t2).eval()(x), cut(x)))

    def test_rank_for_energy(self):
        n = lowrank.convs(self.graph)[1]
        w = self.tensors[n["inputs"][1]]
        ev, _ = lowrank.principal(self.stats[n["name"]][lowrank.side(w)][1])
        self.assertGreater(len(ev), 2)
        for energy in (0.5, 0.9, 0.99):
            r = lowrank.rank_for(self.stats[n["name"]], w, energy)
            self.assertGreaterEqual(float(ev[:r].sum() / ev.sum()), energy)
            if r > 1:
                self.assertLess(float(ev[:r - 1].sum() / ev.sum()), energy)
        self.assertEqual(lowrank.rank_for(self.stats[n["name"]], w, 1.0), len(ev))


if __name__ == "__main__":
    unittest.main()
