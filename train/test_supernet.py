"""The supernet against the teacher (all gates on), its cost against the Go
CLI's count, the STE and extraction (the latency cost: test_latency.py)."""

import json
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgetoon_model as em  # noqa: E402
import export  # noqa: E402
import gotools  # noqa: E402
import supernet as sn  # noqa: E402

torch.set_num_threads(2)

TEACHER_MACS_256 = 8166309888  # `edgetoon inspect` on the teacher file


def random_arch(net, seed):
    rng = np.random.default_rng(seed)
    arch = {}
    for k, a in net.gates.items():
        bits = (rng.random(a.numel()) < 0.6).astype(int)
        if k not in sn.DEPTH_GATES and bits.sum() == 0:
            bits[0] = 1
        arch[k] = [int(v) for v in bits]
    arch["d1"] = [0]
    arch["d2"] = [1]
    return arch


def set_arch(net, arch):
    with torch.no_grad():
        for k, bits in arch.items():
            net.gates[k].copy_(torch.tensor(bits, dtype=torch.float32) * 0.9 + 0.05)


@unittest.skipUnless(gotools.have_go(), "needs the Go toolchain (teacher file)")
class SupernetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.graph, cls.tensors = em.read_file(gotools.teacher_path())
        cls.teacher = em.GraphModule(cls.graph, cls.tensors)

    def setUp(self):
        self.net = sn.Supernet(self.tensors)
        torch.manual_seed(0)
        self.x = torch.rand(2, 3, 32, 40) * 2 - 1

    def test_full_supernet_is_the_teacher(self):
        with torch.no_grad():
            out, _ = self.net(self.x)
            want = self.teacher(self.x)
        self.assertLess(float((out - want).abs().max()), 1e-5)

    def test_full_macs_match_go_cli(self):
        self.assertEqual(round(float(self.net.macs(256))), TEACHER_MACS_256)
        self.assertEqual(sn.arch_macs(self.net.arch()), TEACHER_MACS_256)
        self.assertEqual(em.macs(self.graph, self.tensors, 256), TEACHER_MACS_256)

    def test_ste_binary_forward_identity_backward(self):
        a = torch.tensor([0.2, 0.7, 0.5001, 0.4999], requires_grad=True)
        g = sn.binarize(a)
        self.assertEqual(g.tolist(), [0.0, 1.0, 1.0, 0.0])
        (g * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
        self.assertEqual(a.grad.tolist(), [1.0, 2.0, 3.0, 4.0])
        # All off: the strongest group stays on.
        self.assertEqual(sn.binarize(torch.tensor([0.1, 0.3, 0.2])).tolist(), [0.0, 1.0, 0.0])

    def test_gates_get_gradients_from_loss_and_cost(self):
        out, _ = self.net(self.x)
        loss = out.abs().mean() + sn.cost_penalty(self.net.macs(256), 1e9)
        loss.backward()
        for k, a in self.net.gates.items():
            self.assertIsNotNone(a.grad, k)
            self.assertGreater(float(a.grad.abs().sum()), 0, k)

    def test_pruned_groups_are_dead_and_extraction_is_exact(self):
        arch = random_arch(self.net, 1)
        set_arch(self.net, arch)
        self.assertEqual(self.net.arch(), arch)
        graph, tensors = export.extract_student(self.net, arch, self.graph)
        # Widths in the file are the kept channels.
        self.assertEqual(tensors["generator/Conv/Conv2D"].shape[0], 4 * sum(arch["a"]))
        self.assertNotIn("generator/block_1/add", [n["name"] for n in graph["nodes"]])
        self.assertEqual(em.macs(graph, tensors, 256), sn.arch_macs(arch))
        self.assertEqual(round(float(self.net.macs(256))), sn.arch_macs(arch))
        student = em.GraphModule(graph, tensors)
        with torch.no_grad():
            want, _ = self.net(self.x)
            got = student(self.x)
        self.assertLess(float((got - want).abs().max()), 1e-5)
        # And differs from the full teacher (the pruning did something).
        with torch.no_grad():
            self.assertGreater(float((self.teacher(self.x) - want).abs().max()), 1e-3)
        # The Go CPU engine agrees with PyTorch on the exported file.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.safetensors")
            em.write_file(path, graph, tensors, "F32")
            text = gotools.go_inspect(path)
            self.assertIn("MACs:", text)
            x = self.x[0].permute(1, 2, 0).numpy()
            y = gotools.go_run_model(path, x)
            self.assertLess(float(np.abs(y - got[0].permute(1, 2, 0).numpy()).max()), 1e-4)


if __name__ == "__main__":
    unittest.main()
