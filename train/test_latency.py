"""The search's latency cost against the Go side. The Go side generates
latency_features.json (the family's blocks, their features as a closed
form in the widths, and checks); here the torch evaluation reproduces the
table's Go-computed features and predictions for odd blocks and family
members, and a whole network's predicted latency equals `edgetoon-lab
predict-latency` on the same network exported to our model file."""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import edgetoon_model as em  # noqa: E402
import latency_mlp  # noqa: E402
import export  # noqa: E402
import gotools  # noqa: E402
import superkernel as sk  # noqa: E402
import supernet as sn  # noqa: E402
from test_supernet import random_arch, set_arch  # noqa: E402

torch.set_num_threads(2)

TABLE = latency_mlp.load_table()
COMMITTED = os.path.join(os.path.dirname(HERE), "testdata", "latency", "swiftshader_fp32_predictor.json")


def random_mlp(seed, hidden=12):
    """A predictor file with random weights in the Go format, its inputs
    standardized over the table's check blocks so that every feature
    moves the output, which stays within a few ms per block."""
    rng = np.random.default_rng(seed)
    n = len(TABLE["features"])
    f = np.array([c["features"] for c in TABLE["block_checks"]])
    return {
        "format": latency_mlp.LatencyPredictor.FORMAT, "features": list(TABLE["features"]),
        "in_mean": f.mean(0).tolist(), "in_std": (f.std(0) + 0.5).tolist(),
        "layers": [{"w": rng.normal(0, 0.5, (hidden, n)).tolist(), "b": rng.normal(0, 0.1, hidden).tolist()},
                   {"w": rng.normal(0, 0.3, (1, hidden)).tolist(), "b": [0.1]}],
        "activation": "relu", "target": "ln_ms", "out_mean": 0.5, "out_std": 0.5, "device": "random",
    }


def arch_widths(arch):
    """latency.Arch's JSON as the table's width names."""
    w = {k: arch[k] for k in ("c0", "c1", "c2", "c3", "r", "c6", "c8")}
    for i, m in enumerate(arch["mids"] or []):
        w["mid%d" % i] = m
    return w


class TableTest(unittest.TestCase):
    """The table's checks, computed in Go with the committed predictor."""

    def setUp(self):
        self.lp = latency_mlp.LatencyPredictor.from_json(COMMITTED)

    def test_predictor_is_the_tables(self):
        self.assertEqual(self.lp.spec["table"], TABLE["predictor"],
                         "the committed predictor changed: go generate ./latency")

    def test_block_features_and_predictions(self):
        for c in TABLE["block_checks"]:
            f = self.lp.features(c["terms"], latency_mlp.block_slices(c["block"]))
            np.testing.assert_allclose(f.numpy(), c["features"], rtol=0, atol=1e-12, err_msg=str(c["block"]))
            got = float(self.lp.latency(f))
            self.assertAlmostEqual(got, c["ms"], delta=1e-9 * c["ms"], msg=str(c["block"]))

    def test_family_members(self):
        for c in TABLE["arch_checks"]:
            widths = arch_widths(c["arch"])
            feats, total = [], 0.0
            for tb in self.lp.network_blocks(c["size"]):
                if tb["depth"] >= len(c["arch"]["mids"] or []):
                    continue  # a cut residual block (its depth gate is 0)
                f = self.lp.block_features(tb, widths, c["arch"].get(tb.get("kernel")))  # k0..: 0 omitted
                feats.append(f.numpy())
                total += float(self.lp.latency(f))
            self.assertEqual(len(feats), len(c["features"]), c["arch"])
            np.testing.assert_allclose(np.array(feats), c["features"], rtol=0, atol=1e-12, err_msg=str(c["arch"]))
            self.assertAlmostEqual(total, c["ms"], delta=1e-9 * c["ms"], msg=str(c["arch"]))

    def test_kernel_checks_are_there(self):
        """The checks above cover members with other kernels than the teacher's."""
        kernels = {(c["arch"].get("k0"), c["arch"].get("k8"), c["arch"].get("k9")) for c in TABLE["arch_checks"]}
        self.assertIn((5, 1, 3), kernels)
        self.assertIn((3, 5, 5), kernels)

    def test_unknown_size(self):
        with self.assertRaisesRegex(ValueError, "sizes"):
            self.lp.network_blocks(200)


class PredictorTest(unittest.TestCase):
    def test_gradient_reaches_widths(self):
        lp = latency_mlp.LatencyPredictor(random_mlp(2))
        tb = next(b for b in lp.network_blocks(256) if b["kind"] == "resblock")
        r = torch.tensor(16.0, dtype=torch.float64, requires_grad=True)
        mid = torch.tensor(8.0, dtype=torch.float64, requires_grad=True)
        widths = {tb["widths"]["cin"]: r, tb["widths"]["mid"]: mid}
        lp.latency(lp.block_features(tb, widths)).backward()
        self.assertNotEqual(float(r.grad), 0.0)
        self.assertNotEqual(float(mid.grad), 0.0)

    def test_kernel_mix(self):
        """A searched kernel's block latency is its latencies at the three
        choices mixed by the gates: lat(s) + g_mid*(lat(m)-lat(s)) +
        g_mid*g_big*(lat(b)-lat(m)); each choice's latency is the one
        test_block_features checks against Go."""
        lp = latency_mlp.LatencyPredictor(random_mlp(4))
        widths = {"c0": 16, "c8": 12}
        for tb in lp.network_blocks(256):
            if not tb.get("kernel"):
                continue
            conv = latency_mlp.KERNEL_CONVS[tb["kernel"]]
            choices = sk.KERNEL_CONVS[conv]
            lat = [float(lp.latency(lp.block_features(tb, widths, k))) for k in choices]
            self.assertEqual(len(set(lat)), 3, "the kernel changes the latency")
            for bits, want in (([0, 0], lat[0]), ([0, 1], lat[0]), ([1, 0], lat[1]), ([1, 1], lat[2])):
                g = torch.tensor(bits, dtype=torch.float64)
                got = float(lp.kernel_latency(tb, widths, {"k": None, "kernels": choices, "kgates": g}))
                self.assertAlmostEqual(got, want, delta=1e-12 * want, msg=(conv, bits))
            g = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
            lp.kernel_latency(tb, widths, {"kernels": choices, "kgates": g}).backward()
            self.assertAlmostEqual(float(g.grad[0]), lat[1] - lat[0], delta=1e-9)
            self.assertAlmostEqual(float(g.grad[1]), lat[2] - lat[1], delta=1e-9)
            self.assertEqual(float(lp.kernel_latency(tb, widths, {"k": choices[0], "kernels": choices})), lat[0])

    def test_rejects_other_formats(self):
        with self.assertRaisesRegex(ValueError, "format"):
            latency_mlp.LatencyPredictor({"version": 1, "features": ["cin"], "layers": []})

    def test_rejects_other_features(self):
        spec = random_mlp(1)
        spec["features"] = spec["features"][:-1]
        with self.assertRaisesRegex(ValueError, "features"):
            latency_mlp.LatencyPredictor(spec)


@unittest.skipUnless(gotools.have_go(), "needs the Go toolchain")
class NetworkTest(unittest.TestCase):
    """The supernet's differentiable latency equals Go's prediction for the
    same network (latency.Decompose on the exported graph)."""

    @classmethod
    def setUpClass(cls):
        cls.graph, cls.tensors = em.read_file(gotools.teacher_path())
        cls.dir = tempfile.TemporaryDirectory(prefix="edgetoon-latency-test-")
        cls.pred = os.path.join(cls.dir.name, "pred.json")
        cls.spec = random_mlp(3)
        with open(cls.pred, "w") as f:
            json.dump(cls.spec, f)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def go_predict(self, model_path, size):
        exe = gotools._build("./cmd/edgetoon-lab", "edgetoon-lab")
        r = subprocess.run([exe, "predict-latency", "-predictor", self.pred, "-model", model_path,
                            "-size", str(size)], cwd=gotools.REPO, check=True, capture_output=True, text=True)
        m = re.search(r"predicted latency of .* at \d+x\d+: ([0-9.]+) ms", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        return float(m.group(1))

    def test_teacher_and_pruned_students(self):
        net = sn.Supernet(self.tensors)
        set_arch(net, net.teacher_arch())  # conv8's 5x5 ring starts on, at zero: off
        lp = latency_mlp.LatencyPredictor(self.spec)
        for size in (256, 128):
            got = float(lp.network_latency(net.conv_configs(size)))
            want = self.go_predict(gotools.teacher_path(), size)
            self.assertAlmostEqual(got, want, delta=0.006 + 1e-4 * want, msg="teacher at %d" % size)
        for seed, kernels in ((1, None), (2, None), (3, {"c0": 5, "c8": 1, "c9": 3}), (4, {"c0": 3, "c8": 5})):
            arch = random_arch(net, seed, kernels)
            set_arch(net, arch)
            graph, tensors = export.extract_student(net, arch, self.graph)
            path = os.path.join(self.dir.name, "s%d.safetensors" % seed)
            em.write_file(path, graph, tensors, "F32")
            got = float(lp.network_latency(net.conv_configs(256)))
            want = self.go_predict(path, 256)
            self.assertAlmostEqual(got, want, delta=0.006 + 1e-4 * want, msg="student %d" % seed)


if __name__ == "__main__":
    unittest.main()
