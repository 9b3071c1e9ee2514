"""The whole path on a tiny budget: search -> finetune -> export (F16 file,
ONNX, model card) -> Go inspect -> Go CPU inference matching PyTorch."""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import edgetoon_model as em  # noqa: E402
import gotools  # noqa: E402


@unittest.skipUnless(gotools.have_go() and os.path.exists(os.path.join(data.IMAGES, "eval.txt")),
                     "needs the Go toolchain and ../shared/images")
class SmokeTest(unittest.TestCase):
    def test_smoke_pipeline(self):
        with tempfile.TemporaryDirectory(prefix="edgetoon-smoke-") as out:
            t0 = time.time()
            r = subprocess.run([sys.executable, os.path.join(HERE, "main.py"), "smoke", "--out", out, "--cost", "macs"],
                               capture_output=True, text=True, timeout=600)
            took = time.time() - t0
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            print("\nsmoke pipeline: %.1fs" % took)
            for name in ("arch.json", "search_log.jsonl", "search.pt", "finetune.pt", "student.safetensors",
                         "student.onnx", "MODEL_CARD.md", "grid.png", "report.json", "inspect.txt"):
                self.assertTrue(os.path.exists(os.path.join(out, name)), name)
            with open(os.path.join(out, "report.json")) as f:
                report = json.load(f)
            self.assertLessEqual(report["go_parity_max_abs"], 1e-4)
            # Under the MAC target, and the file's MACs as the Go CLI counts them.
            self.assertLessEqual(report["macs"], 0.8e9)
            with open(os.path.join(out, "inspect.txt")) as f:
                inspect = f.read()
            self.assertIn("MACs:        %d " % report["macs"], inspect)
            self.assertIn("CC BY-NC-SA 4.0", inspect)
            # The search log has one row per step with cost and widths.
            with open(os.path.join(out, "search_log.jsonl")) as f:
                rows = [json.loads(l) for l in f]
            self.assertEqual(len(rows), 12)
            self.assertIn("c8", rows[-1]["widths"])
            # The file stores F16 and reads back.
            graph, tensors = em.read_file(os.path.join(out, "student.safetensors"))
            self.assertEqual(graph["license"], "CC BY-NC-SA 4.0 (derived from the White-box Cartoonization teacher)")
            import onnx
            m = onnx.load(os.path.join(out, "student.onnx"))
            onnx.checker.check_model(m)
            self.assertIn("Conv", {n.op_type for n in m.graph.node})
            with open(os.path.join(out, "MODEL_CARD.md")) as f:
                card = f.read()
            for word in ("MACs", "PSNR", "SSIM", "Licence", "parameters"):
                self.assertIn(word, card)

    def test_all_with_init_finetunes_without_search(self):
        """`all --init F` (what a short GPU lease runs): no search, F's
        architecture fine-tuned on the chosen photo folders and exported."""
        init = os.path.join(gotools.REPO, "web", "models", "student.safetensors")
        with tempfile.TemporaryDirectory(prefix="edgetoon-smoke-init-") as out:
            r = subprocess.run([sys.executable, os.path.join(HERE, "main.py"), "all", "--preset", "smoke",
                                "--out", out, "--init", init, "--subsets", "faces", "--w-ssim", "1"],
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            self.assertIn("no search", r.stdout + r.stderr)
            self.assertFalse(os.path.exists(os.path.join(out, "search.pt")))
            self.assertFalse(os.path.exists(os.path.join(out, "arch.json")))
            g0, t0 = em.read_file(init)
            g1, t1 = em.read_file(os.path.join(out, "student.safetensors"))
            self.assertEqual([n["name"] for n in g0["nodes"]], [n["name"] for n in g1["nodes"]])
            self.assertEqual({k: v.shape for k, v in t0.items()}, {k: v.shape for k, v in t1.items()})
            # Trained: the weights moved (6 steps of Adam at 1e-4 move every conv weight).
            moved = max(float(abs(t1[k].astype("f4") - t0[k].astype("f4")).max()) for k in t0)
            self.assertGreater(moved, 1e-4)
            with open(os.path.join(out, "report.json")) as f:
                report = json.load(f)
            self.assertEqual(report["search"], {"init": init})
            self.assertLessEqual(report["go_parity_max_abs"], 1e-4)
            with open(os.path.join(out, "MODEL_CARD.md")) as f:
                card = f.read()
            self.assertIn("No search: the architecture and weights of %s" % init, card)
            self.assertIn("(faces/, minus the eval split and the held-out sources)", card)
            for row in ("| eval |", "| eval portraits |", "| held-out sources |"):
                self.assertIn(row, card)
            # verify: the Go checks of a file made elsewhere, and a clear failure on a broken one.
            model = os.path.join(out, "student.safetensors")
            v = subprocess.run([sys.executable, os.path.join(HERE, "main.py"), "verify", "--model", model],
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(v.returncode, 0, v.stdout[-3000:] + v.stderr[-3000:])
            self.assertIn("(ok); MACs %d" % report["macs"], v.stdout)
            broken = os.path.join(out, "broken.safetensors")
            with open(model, "rb") as f, open(broken, "wb") as g:
                g.write(f.read()[:5000])
            v = subprocess.run([sys.executable, os.path.join(HERE, "main.py"), "verify", "--model", broken],
                               capture_output=True, text=True, timeout=600)
            self.assertNotEqual(v.returncode, 0)
            self.assertIn("verify: %s: model file: header length" % broken, v.stderr)

    def test_search_refuses_init(self):
        r = subprocess.run([sys.executable, os.path.join(HERE, "main.py"), "search", "--init", "x.safetensors"],
                           capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("search starts from the teacher", r.stderr)

    def test_smoke_search_on_measured_latency(self):
        """The search driven by the committed SwiftShader latency predictor:
        the final architecture's predicted latency is under the target, and
        Go predicts the same for the exported file."""
        pred = os.path.join(os.path.dirname(HERE), "testdata", "latency", "swiftshader_fp32_predictor.json")
        with tempfile.TemporaryDirectory(prefix="edgetoon-smoke-lat-") as out:
            r = subprocess.run([sys.executable, os.path.join(HERE, "main.py"), "smoke", "--out", out,
                                "--latency-json", pred, "--target-speedup", "5"],
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            with open(os.path.join(out, "arch.json")) as f:
                arch = json.load(f)
            self.assertEqual(arch["cost"], "latency")
            self.assertLessEqual(arch["predicted_ms"], arch["teacher_predicted_ms"] / 5 * (1 + 1e-6))
            exe = gotools._build("./cmd/edgetoon-lab", "edgetoon-lab")
            g = subprocess.run([exe, "predict-latency", "-predictor", pred, "-model",
                                os.path.join(out, "student.safetensors")], cwd=gotools.REPO,
                               check=True, capture_output=True, text=True).stdout
            go_ms = float(g.rsplit(": ", 1)[1].split(" ms")[0])
            self.assertAlmostEqual(go_ms, arch["predicted_ms"], delta=0.01 + 1e-4 * go_ms)
            with open(os.path.join(out, "MODEL_CARD.md")) as f:
                self.assertIn("predicted latency", f.read())


if __name__ == "__main__":
    unittest.main()
