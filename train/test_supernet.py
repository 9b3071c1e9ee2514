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
import superkernel as sk  # noqa: E402
import supernet as sn  # noqa: E402

torch.set_num_threads(2)

TEACHER_MACS_256 = 8166309888  # `edgetoon inspect` on the teacher file


def random_arch(net, seed, kernels=None):
    """Random channel groups (block 1 cut, block 2 kept) and the given
    kernel sides by searched conv (default the teacher's)."""
    rng = np.random.default_rng(seed)
    arch = {}
    for k, a in net.gates.items():
        bits = (rng.random(a.numel()) < 0.6).astype(int)
        if k not in sn.DEPTH_GATES and bits.sum() == 0:
            bits[0] = 1
        arch[k] = [int(v) for v in bits]
    arch["d1"] = [0]
    arch["d2"] = [1]
    kernels = dict(sk.TEACHER_KERNELS, **(kernels or {}))
    arch.update({sk.GATE[c]: sk.bits_for(c, k) for c, k in kernels.items()})
    return arch


def set_arch(net, arch):
    gates = net.gate_params()
    with torch.no_grad():
        for k, bits in arch.items():
            gates[k].copy_(torch.tensor(bits, dtype=torch.float32) * 0.9 + 0.05)


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
        set_arch(self.net, self.net.teacher_arch())  # conv8's 5x5 ring starts on, at zero: off
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
        for k, a in self.net.gate_params().items():
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

    def test_c8_superkernel_starts_as_the_teachers_3x3(self):
        w = self.net.weights["c8"].detach()
        t = torch.from_numpy(self.tensors["generator/Conv_8/Conv2D"].transpose(0, 3, 1, 2).copy())
        self.assertEqual(tuple(w.shape[2:]), (5, 5))
        self.assertTrue(torch.equal(w[:, :, 1:4, 1:4], t))
        ring = w.clone()
        ring[:, :, 1:4, 1:4] = 0
        self.assertEqual(float(ring.abs().sum()), 0.0)
        # Its big ring's gate starts on, so that the ring trains.
        self.assertEqual(self.net.widths()["kernels"], {"c0": 7, "c8": 5, "c9": 7})

    def test_kernel_choices_cost(self):
        """MACs per kernel choice against hand counts, and the gradient of
        the effective k*k (kk = 9 + g_mid*16 + g_mid*g_big*24 for c0)."""
        net = self.net
        set_arch(net, net.teacher_arch())
        hw = 256 * 256
        io = {"c0": 3 * 32, "c8": 32 * 32, "c9": 32 * 3}
        for c, choices in sk.KERNEL_CONVS.items():
            for k in choices:
                arch = net.teacher_arch()
                arch[sk.GATE[c]] = sk.bits_for(c, k)
                set_arch(net, arch)
                t = sk.TEACHER_KERNELS[c]
                want = TEACHER_MACS_256 + hw * io[c] * (k * k - t * t)
                self.assertEqual(net.widths()["kernels"][c], k)
                self.assertEqual(sn.arch_macs(net.arch()), want, (c, k))
                self.assertEqual(round(float(net.macs(256))), want, (c, k))
        set_arch(net, net.teacher_arch())
        net.macs(256).backward()
        g0, g8 = net.kgates["c0"].grad, net.kgates["c8"].grad
        self.assertEqual(g0.tolist(), [hw * io["c0"] * (16 + 24), hw * io["c0"] * 24])
        # c8 at 3x3 (big gate off): d/dg_mid = 9 - 1, d/dg_big = g_mid * (25 - 9).
        self.assertEqual(g8.tolist(), [hw * io["c8"] * 8, hw * io["c8"] * 16])

    def test_searched_kernels_export_to_the_go_engine(self):
        """A student with other kernels exports their centre crops; the Go
        CPU engine runs the file to the supernet's output."""
        with torch.no_grad():  # conv8's outer ring learnt something
            ring = torch.randn(self.net.weights["c8"].shape, generator=torch.Generator().manual_seed(5)) * 0.02
            ring[:, :, 1:4, 1:4] = 0
            self.net.weights["c8"].add_(ring)
        x = self.x[:1]
        for seed, kernels in ((3, {"c0": 5, "c8": 1, "c9": 3}), (4, {"c0": 3, "c8": 5, "c9": 5})):
            arch = random_arch(self.net, seed, kernels)
            set_arch(self.net, arch)
            self.assertEqual(self.net.arch(), arch)
            self.assertEqual(self.net.widths()["kernels"], kernels)
            graph, tensors = export.extract_student(self.net, arch, self.graph)
            for c, prefix in (("c0", "generator/Conv"), ("c8", "generator/Conv_8"), ("c9", "generator/Conv_9")):
                self.assertEqual(tensors[prefix + "/Conv2D"].shape[1:3], (kernels[c], kernels[c]), c)
            self.assertEqual(em.macs(graph, tensors, 256), sn.arch_macs(arch))
            self.assertEqual(round(float(self.net.macs(256))), sn.arch_macs(arch))
            with torch.no_grad():
                want, _ = self.net(x)
                teacher_kernels = random_arch(self.net, seed)
                set_arch(self.net, teacher_kernels)
                other, _ = self.net(x)
            self.assertGreater(float((want - other).abs().max()), 1e-3, "the kernels changed nothing")
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "s.safetensors")
                em.write_file(path, graph, tensors, "F32")
                y = gotools.go_run_model(path, x[0].permute(1, 2, 0).numpy())
            err = float(np.abs(y - want[0].permute(1, 2, 0).numpy()).max())
            self.assertLess(err, 2e-5, kernels)

    def test_fix_architecture_shrinks_a_kernel_first_when_its_logit_is_lowest(self):
        import search
        net = self.net
        set_arch(net, net.teacher_arch())  # logits 0.95 / 0.05
        with torch.no_grad():
            net.kgates["c0"][1] = 0.51
        arch, forced = search.fix_architecture(net, TEACHER_MACS_256 - 1)
        self.assertEqual((forced, net.widths(arch)["kernels"]["c0"]), (1, 5))
        self.assertEqual(sn.arch_macs(arch), TEACHER_MACS_256 - 256 * 256 * 3 * 32 * (49 - 25))
        # Kernels not searched: a channel group goes instead.
        fixed = sn.Supernet(self.tensors, search_kernels=False)
        arch, forced = search.fix_architecture(fixed, TEACHER_MACS_256 - 1)
        self.assertEqual(forced, 1)
        self.assertEqual(fixed.widths(arch)["kernels"], sk.TEACHER_KERNELS)
        self.assertEqual(sum(map(sum, arch.values())), sum(map(sum, fixed.teacher_arch().values())) - 1)

    def test_loads_a_state_from_before_kernel_search(self):
        """A search.pt saved before kernels were searched (conv8 3x3, no
        kernel gates) loads as the teacher's kernels."""
        old = {k: v.clone() for k, v in self.net.state_dict().items() if not k.startswith("kgates.")}
        old["weights.c8"] = sk.crop(old["weights.c8"], 3).clone()
        net = sn.Supernet(self.tensors)
        net.load_state_dict(old)
        self.assertEqual(net.widths()["kernels"], sk.TEACHER_KERNELS)
        with torch.no_grad():
            got, _ = net(self.x)
            want = self.teacher(self.x)
        self.assertLess(float((got - want).abs().max()), 1e-5)


if __name__ == "__main__":
    unittest.main()
