"""train/provenance.py: a shipped model's provenance completed, its
weights bit for bit, read back by the training code and the Go CLI."""

import json
import os
import struct
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import edgetoon_model as em  # noqa: E402
import gotools  # noqa: E402
import provenance  # noqa: E402

STUDENT = os.path.join(HERE, "init", "student-v1.safetensors")


def header_and_body(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    return n, json.loads(data[8:8 + n]), data[8 + n:]


class CompleteTest(unittest.TestCase):
    def setUp(self):
        self.graph, self.tensors = em.read_file(STUDENT)
        self.n, self.header, self.body = header_and_body(STUDENT)
        self.tail = self.graph["provenance"][-12:]

    def test_appends_and_keeps_every_weight_byte(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "s.safetensors")
            extra = "; v99: one more piece, «quoted» (make student-v99)"
            provenance.complete(STUDENT, out, extra, after=self.tail, name="edgetoon-student-x")
            n, header, body = header_and_body(out)
            self.assertEqual(body, self.body)  # the data, byte for byte
            self.assertEqual(n % 8, 0)
            self.assertNotEqual(n, self.n)
            # every tensor's entry (dtype, shape, offsets) is unchanged
            self.assertEqual({k: v for k, v in header.items() if k != "__metadata__"},
                             {k: v for k, v in self.header.items() if k != "__metadata__"})
            g, t = em.read_file(out)
            self.assertEqual(g["provenance"], self.graph["provenance"] + extra)
            self.assertEqual(g["name"], "edgetoon-student-x")
            self.assertEqual({k: v for k, v in g.items() if k not in ("provenance", "name")},
                             {k: v for k, v in self.graph.items() if k not in ("provenance", "name")})
            for k, a in self.tensors.items():
                np.testing.assert_array_equal(t[k], a)
            if gotools.have_go():  # the product's own reader
                text = gotools.go_inspect(out)
                self.assertIn("(make student-v99)", text)
                self.assertIn("edgetoon-student-x", text)

    def test_in_place_twice(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "s.safetensors")
            provenance.complete(STUDENT, out, "; a (make a)")
            provenance.complete(out, out, "; b (make b)", after="(make a)")
            g, _ = em.read_file(out)
            self.assertTrue(g["provenance"].endswith(self.tail + "; a (make a); b (make b)"))
            self.assertEqual(g["name"], self.graph["name"])
            self.assertEqual(header_and_body(out)[2], self.body)
            self.assertEqual(os.listdir(d), ["s.safetensors"])  # no temporary left

    def test_wrong_file_is_refused_and_nothing_written(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "s.safetensors")
            with self.assertRaisesRegex(ValueError, "not '\\(make nothing\\)'"):
                provenance.complete(STUDENT, out, "; x", after="(make nothing)")
            self.assertFalse(os.path.exists(out))
            bad = os.path.join(d, "bad.safetensors")
            with open(bad, "wb") as f:
                f.write(struct.pack("<Q", 1 << 40) + b"{}")
            with self.assertRaisesRegex(ValueError, "exceeds the file"):
                provenance.complete(bad, out, "; x")
            plain = os.path.join(d, "plain.safetensors")
            with open(plain, "wb") as f:
                f.write(em.join({"__metadata__": {}}, b""))
            with self.assertRaisesRegex(ValueError, "not an edgetoon model"):
                provenance.complete(plain, out, "; x")


if __name__ == "__main__":
    unittest.main()
