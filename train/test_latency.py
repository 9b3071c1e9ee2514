"""The search's latency cost against the Go side: block features and
predictions equal latency/predictor.py's (itself checked against Go), and
a whole network's predicted latency equals `edgetoon-lab predict-latency` on
the same network exported to our model file."""

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
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "latency"))
import edgetoon_model as em  # noqa: E402
import latency_mlp  # noqa: E402
import export  # noqa: E402
import gotools  # noqa: E402
import predictor  # noqa: E402  (latency/predictor.py)
import supernet as sn  # noqa: E402
from test_supernet import random_arch, set_arch  # noqa: E402

torch.set_num_threads(2)


BLOCKS = [
    dict(kind="conv", k=7, stride=1, cin=3, cout=16, h=256, w=256, act="leaky_relu"),
    dict(kind="conv", k=3, stride=2, cin=16, cout=8, h=256, w=256, act="leaky_relu"),
    dict(kind="conv", k=3, stride=1, cin=20, cout=16, h=128, w=128, act="leaky_relu"),
    dict(kind="conv", k=3, stride=1, cin=12, cout=32, h=64, w=64, residual=True),
    dict(kind="conv", k=7, stride=1, cin=20, cout=3, h=256, w=256),
    dict(kind="resblock", k=3, stride=1, cin=16, cout=16, mid=12, h=64, w=64, act="leaky_relu"),
    dict(kind="upsample_add", cin=8, cout=8, h=32, w=32),
    dict(kind="guided_filter", k=3, cin=3, cout=3, h=128, w=128),
]


def random_mlp(seed, hidden=12):
    """A predictor file with random weights in the Go format, its inputs
    standardized over BLOCKS so that every feature moves the output, which
    stays within a few ms per block."""
    rng = np.random.default_rng(seed)
    n = len(predictor.FEATURE_NAMES)
    f = np.stack([predictor.features(b) for b in BLOCKS])
    return {
        "format": predictor.FORMAT, "features": list(predictor.FEATURE_NAMES),
        "in_mean": f.mean(0).tolist(), "in_std": (f.std(0) + 0.5).tolist(),
        "layers": [{"w": rng.normal(0, 0.5, (hidden, n)).tolist(), "b": rng.normal(0, 0.1, hidden).tolist()},
                   {"w": rng.normal(0, 0.3, (1, hidden)).tolist(), "b": [0.1]}],
        "activation": "relu", "target": "ln_ms", "out_mean": 0.5, "out_std": 0.5, "device": "random",
    }


class BlockTest(unittest.TestCase):
    def test_features_and_predictions_match_numpy(self):
        spec = random_mlp(1)
        lp = latency_mlp.LatencyPredictor(spec)
        for b in BLOCKS:
            np.testing.assert_allclose(lp.features(b).numpy(), predictor.features(b), rtol=0, atol=1e-12,
                                       err_msg=str(b))
            self.assertAlmostEqual(float(lp.block_latency(b)), predictor.predict(spec, b), delta=1e-9, msg=str(b))

    def test_gradient_reaches_widths(self):
        lp = latency_mlp.LatencyPredictor(random_mlp(2))
        cin = torch.tensor(16.0, dtype=torch.float64, requires_grad=True)
        mid = torch.tensor(8.0, dtype=torch.float64, requires_grad=True)
        lat = lp.block_latency(dict(kind="resblock", k=3, stride=1, cin=cin, cout=16, mid=mid, h=64, w=64,
                                    act="leaky_relu"))
        lat.backward()
        self.assertNotEqual(float(cin.grad), 0.0)
        self.assertNotEqual(float(mid.grad), 0.0)

    def test_rejects_other_formats(self):
        with self.assertRaisesRegex(ValueError, "format"):
            latency_mlp.LatencyPredictor({"version": 1, "features": ["cin"], "layers": []})


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
        lp = latency_mlp.LatencyPredictor(self.spec)
        for size in (256, 128):
            got = float(lp.network_latency(net.conv_configs(size)))
            want = self.go_predict(gotools.teacher_path(), size)
            self.assertAlmostEqual(got, want, delta=0.006 + 1e-4 * want, msg="teacher at %d" % size)
        for seed in (1, 2):
            arch = random_arch(net, seed)
            set_arch(net, arch)
            graph, tensors = export.extract_student(net, arch, self.graph)
            path = os.path.join(self.dir.name, "s%d.safetensors" % seed)
            em.write_file(path, graph, tensors, "F32")
            got = float(lp.network_latency(net.conv_configs(256)))
            want = self.go_predict(path, 256)
            self.assertAlmostEqual(got, want, delta=0.006 + 1e-4 * want, msg="student %d" % seed)


if __name__ == "__main__":
    unittest.main()
