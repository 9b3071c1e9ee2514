"""cli_fidelity: the CLI's PNGs compared as release.fidelity compares the
networks' outputs."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_fidelity  # noqa: E402
import data  # noqa: E402
import edgetoon_model as em  # noqa: E402
import gotools  # noqa: E402
import release  # noqa: E402

STUDENT = os.path.join(gotools.REPO, "web", "models", "student.safetensors")


class TeacherDirTest(unittest.TestCase):
    def test_key(self):
        # Another engine's cartoon (the probe) or output size gets other
        # PNGs; the same inputs find the same folder.
        with tempfile.TemporaryDirectory() as d:
            teacher = os.path.join(d, "teacher")
            with open(teacher, "wb") as f:
                f.write(b"w")
            a = cli_fidelity.teacher_dir(d, teacher, 256, b"png a")
            self.assertEqual(a, cli_fidelity.teacher_dir(d, teacher, 256, b"png a"))
            self.assertNotEqual(a, cli_fidelity.teacher_dir(d, teacher, 256, b"png b"))
            self.assertNotEqual(a, cli_fidelity.teacher_dir(d, teacher, 128, b"png a"))
            self.assertEqual(os.path.dirname(a), d)


@unittest.skipUnless(os.path.exists(os.path.join(data.IMAGES, "eval.txt")) and gotools.have_go(),
                     "needs ../shared/images and Go")
class CLIFidelityTest(unittest.TestCase):
    def test_teacher_against_itself(self):
        # The same model twice: the same PNGs, so SSIM 1, sharpness 1x and
        # PSNR at the metric's ceiling, in every set.
        teacher = gotools.teacher_path()
        with tempfile.TemporaryDirectory() as d:
            fid = cli_fidelity.fidelity(teacher, teacher, 64, d, limit=1)
        self.assertLessEqual({"eval", "held-out sources"}, set(fid["sets"]))
        for name, v in fid["sets"].items():
            self.assertEqual(v["n"], 1, name)
            self.assertGreater(v["psnr"], 100, name)
            self.assertAlmostEqual(v["ssim"], 1, places=9, msg=name)
            self.assertAlmostEqual(v["sharpness"], 1, places=9, msg=name)

    def test_agrees_with_pytorch(self):
        # The student through the CLI (Go CPU engine, 8-bit PNGs) against
        # release.fidelity (PyTorch, rounded to 8 bits in memory): the
        # engines agree to 1e-6, so what differs is the PNGs' rounding.
        teacher = gotools.teacher_path()
        with tempfile.TemporaryDirectory() as d:
            cli = cli_fidelity.fidelity(STUDENT, teacher, 64, d, limit=2)
        torch_fid = release.fidelity(em.GraphModule(*em.read_file(STUDENT)).eval(), data.Teacher(teacher, "cpu"), 64, 2)
        self.assertEqual(sorted(cli["sets"]), sorted(torch_fid["sets"]))
        for name, v in cli["sets"].items():
            w = torch_fid["sets"][name]
            self.assertEqual(v["n"], w["n"], name)
            self.assertAlmostEqual(v["psnr"], w["psnr"], delta=0.3, msg=name)
            self.assertAlmostEqual(v["ssim"], w["ssim"], delta=0.01, msg=name)
            self.assertAlmostEqual(v["sharpness"], w["sharpness"], delta=0.02, msg=name)
            self.assertLess(v["psnr"], 60, name)  # a student, not the teacher


if __name__ == "__main__":
    unittest.main()
