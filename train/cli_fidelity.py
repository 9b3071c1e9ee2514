"""Fidelity through the product: the student and the teacher each run by
the CLI (`edgetoon stylize -size N`, the Go CPU engine) on every photo of
the eval split and of the held-out sources, their 8-bit PNGs compared with
release.fidelity's metrics and sets. It checks the PyTorch evaluation
(`main.py eval`) with another engine, and it is the stricter figure: both
cartoons are rounded to 8 bits, as a user's download is.

    /usr/bin/python3 train/cli_fidelity.py [--model web/models/student.safetensors] [--size 256] [--limit N] [--shrink PX]

--shrink PX first shrinks each photo to PX on its longer side (PIL's
Lanczos), so that stylize enlarges it: how a student does on photos
smaller than the network's input (the model cards' "small copies":
--shrink 128 --limit 60).

The teacher's PNGs are kept (--cache, keyed by the teacher file's size and
time and by the CLI's cartoon of one photo, so that an engine that draws
differently starts afresh) and the next student costs only its own runs.
"""

import argparse
import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import gotools  # noqa: E402
import release  # noqa: E402


def stylize(model, photo, size, out):
    """The CLI's cartoon of photo as NCHW float64 in [0,255], via out (kept)."""
    if not os.path.exists(out):
        tmp = out + ".part.png"
        gotools.stylize(model, photo, size, tmp)
        os.replace(tmp, out)
    a = np.asarray(Image.open(out).convert("RGB"), np.float64)
    return torch.from_numpy(a).permute(2, 0, 1)[None]


def teacher_dir(cache, teacher, size, probe):
    """The folder in cache for the teacher's PNGs: named by the teacher
    file's path, size and time, the size, and probe, the bytes of the CLI's
    cartoon of one photo. The CLI binary itself is no key: it embeds the
    default student, so it changes with every student."""
    st = os.stat(teacher)
    key = json.dumps([os.path.abspath(teacher), st.st_size, st.st_mtime, size,
                      hashlib.sha1(probe).hexdigest()])
    return os.path.join(cache, "teacher-" + hashlib.sha1(key.encode()).hexdigest()[:16])


def probe(teacher, root, size, cache):
    """The bytes of the CLI's cartoon, by teacher, of the first eval photo."""
    photo = os.path.join(data.split_root(root, "eval"), data.list_images(root, "eval")[0])
    os.makedirs(cache, exist_ok=True)
    out = os.path.join(cache, "probe-%d.png" % os.getpid())
    gotools.stylize(teacher, photo, size, out)
    with open(out, "rb") as f:
        b = f.read()
    os.remove(out)
    return b


def shrunk(photo, px, out):
    """photo shrunk to px on its longer side (aspect kept, Lanczos) as a
    PNG at out (kept), returned."""
    if not os.path.exists(out):
        im = Image.open(photo).convert("RGB")
        w, h = im.size
        s = px / max(w, h)
        tmp = out + ".part.png"
        im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS).save(tmp)
        os.replace(tmp, out)
    return out


def fidelity(model, teacher, size, cache, limit=None, root=None, workers=2, shrink=None):
    """release.fidelity's result for the CLI's PNGs of model and teacher,
    of each photo or, with shrink, of its copy shrunk to that many pixels
    on its longer side."""
    root = root or data.IMAGES
    tdir = teacher_dir(cache, teacher, size, probe(teacher, root, size, cache))
    sdir = os.path.join(cache, "student-%d" % os.getpid())
    os.makedirs(tdir, exist_ok=True)
    os.makedirs(sdir, exist_ok=True)
    small = os.path.join(cache, "shrunk")
    if shrink:
        os.makedirs(small, exist_ok=True)
    jobs = []
    for split in ("eval", "heldout"):
        base = data.split_root(root, split)
        for p in data.list_images(root, split)[:limit or None]:
            # Named by the photo, so that another data root or order never
            # reads another photo's cached cartoon.
            name = "%s-%s.png" % (split, p.replace("/", "_"))
            photo = os.path.join(base, p)
            if shrink:
                name = "small%d-%s" % (shrink, name)
                photo = shrunk(photo, shrink, os.path.join(small, name))
            jobs.append((split, p, photo, os.path.join(sdir, name), os.path.join(tdir, name)))

    def row(job):
        split, p, photo, s_png, t_png = job
        s = stylize(model, photo, size, s_png)
        t = stylize(teacher, photo, size, t_png)
        os.remove(s_png)
        return split, release.compare(p, s, t)

    rows = {}
    with ThreadPoolExecutor(workers) as ex:
        for split, r in ex.map(row, jobs):
            rows.setdefault(split, []).append(r)
    os.rmdir(sdir)
    return release.summarize(rows, size)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(gotools.REPO, "web", "models", "student.safetensors"))
    p.add_argument("--teacher", help="default: gotools.teacher_path()")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--limit", type=int, help="first N photos of each split")
    p.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "edgetoon", "cli-fidelity"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--shrink", type=int, help="shrink each photo to PX on its longer side first")
    a = p.parse_args(argv)
    fid = fidelity(a.model, a.teacher or gotools.teacher_path(), a.size, a.cache, a.limit, workers=a.workers,
                   shrink=a.shrink)
    print("%s through `edgetoon stylize -size %d`%s:" % (a.model, a.size,
                                                        ", each photo shrunk to %d px first" % a.shrink if a.shrink else ""))
    print(release.fidelity_text(fid))
    print(json.dumps(fid["sets"]))
    return fid


if __name__ == "__main__":
    main()
