"""Bridges from the Python training code to the Go side of edgetoon.

The Go CPU engine (model/cpu) is the project's numerical reference; these
helpers run it (through train/tools/gorun) and the CLI's `inspect` on a
model file, exchanging activations as .npy files.
"""

import os
import shutil
import subprocess
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BIN_DIR = None


def have_go():
    """Whether a Go toolchain is on PATH."""
    return shutil.which("go") is not None


def _build(pkg, name):
    """Build a Go main package once per process; return the binary path."""
    global _BIN_DIR
    if _BIN_DIR is None:
        _BIN_DIR = tempfile.mkdtemp(prefix="edgetoon-train-go-")
    out = os.path.join(_BIN_DIR, name)
    if not os.path.exists(out):
        subprocess.run(["go", "build", "-o", out, pkg], cwd=REPO, check=True)
    return out


def edgetoon_cli():
    """Path of the product's CLI (cmd/edgetoon), built once per process."""
    return _build("./cmd/edgetoon", "edgetoon")


def go_run_model(model_path, x_hwc):
    """Run a model file on the Go CPU engine.

    x_hwc: the normalized input, float32 [H, W, C]. Returns the output node's
    value as float32 [H, W, C].
    """
    exe = _build("./train/tools/gorun", "gorun")
    with tempfile.TemporaryDirectory(prefix="edgetoon-gorun-") as d:
        src, dst = os.path.join(d, "in.npy"), os.path.join(d, "out.npy")
        np.save(src, np.ascontiguousarray(x_hwc, dtype=np.float32))
        subprocess.run([exe, "-model", os.path.abspath(model_path), "-in", src, "-out", dst],
                       check=True, cwd=REPO)
        return np.load(dst)


def go_inspect(model_path):
    """Return the text of `edgetoon inspect` on a model file (raises on failure)."""
    exe = edgetoon_cli()
    r = subprocess.run([exe, "inspect", os.path.abspath(model_path)], cwd=REPO,
                       check=True, capture_output=True, text=True)
    return r.stdout


def stylize(model_path, photo, size, out):
    """Write the cartoon `edgetoon stylize -size size` makes of photo with
    the model file to out (PNG)."""
    subprocess.run([edgetoon_cli(), "stylize", "-size", str(size), "-model", os.path.abspath(model_path),
                    "-o", out, photo], check=True, stdout=subprocess.DEVNULL, cwd=REPO)


def teacher_path():
    """Path of the teacher model file.

    EDGETOON_TEACHER if set; else /tmp/whitebox.safetensors if it exists;
    else the repo's web/dist/models/whitebox.safetensors (`make model`; this
    one travels to a GPU machine without Go); else made with
    `edgetoon fetch-teacher -o /tmp/whitebox.safetensors`.
    """
    path = os.environ.get("EDGETOON_TEACHER")
    if not path:
        path = "/tmp/whitebox.safetensors"
        dist = os.path.join(REPO, "web", "dist", "models", "whitebox.safetensors")
        if not os.path.exists(path) and os.path.exists(dist):
            return dist
    if not os.path.exists(path):
        exe = edgetoon_cli()
        subprocess.run([exe, "fetch-teacher", "-o", path], cwd=REPO, check=True)
    return path
