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


class ShrunkTest(unittest.TestCase):
    def test_long_side_and_aspect(self):
        # A 300x120 photo to 128 on its longer side: 128x51 (120 x 128/300
        # = 51.2); a 90x200 one to 128x58 (57.6); kept once made.
        from PIL import Image
        with tempfile.TemporaryDirectory() as d:
            for (w, h), want in (((300, 120), (128, 51)), ((90, 200), (58, 128))):
                src = os.path.join(d, "p%dx%d.png" % (w, h))
                Image.new("RGB", (w, h), (200, 100, 50)).save(src)
                out = os.path.join(d, "s%dx%d.png" % (w, h))
                self.assertEqual(cli_fidelity.shrunk(src, 128, out), out)
                with Image.open(out) as im:
                    self.assertEqual(im.size, want)
                    self.assertEqual(im.getpixel((3, 3)), (200, 100, 50))
                t = os.path.getmtime(out)
                os.remove(src)  # a second call reads nothing of it
                cli_fidelity.shrunk(src, 128, out)
                self.assertEqual(os.path.getmtime(out), t)


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

    def test_shrunk_copies_apart(self):
        # The teacher against itself on shrunk copies: the ceiling again,
        # and its cached PNGs named apart from the whole photos' ones.
        teacher = gotools.teacher_path()
        with tempfile.TemporaryDirectory() as d:
            fid = cli_fidelity.fidelity(teacher, teacher, 64, d, limit=1, shrink=32)
            names = [n for _, _, ns in os.walk(d) for n in ns]
        for name, v in fid["sets"].items():
            self.assertGreater(v["psnr"], 100, name)
        small = [n for n in names if n.startswith("small32-")]
        self.assertEqual(len(small), 4, names)  # 2 shrunk photos, 2 teacher PNGs
        self.assertFalse([n for n in names if n.startswith("eval-") or n.startswith("heldout-")], names)

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
