"""The README's grid: rows of photo | student | teacher, each cartoon made
by the product's own CLI (`edgetoon stylize -size 256`, the Go CPU engine),
so that the grid shows what a user gets.

    /usr/bin/python3 train/readme_grid.py [--model web/models/student.safetensors] [--out docs/student_grid.jpg]

The photos: Obama, Biden and the astronaut from testdata/ (public domain)
and a group photo from White-box Cartoonization's test images in
../shared/images (scenes/whitebox_party7.jpg).
"""

import argparse
import os
import sys
import tempfile

import data
import gotools

PHOTOS = [os.path.join(gotools.REPO, "testdata", n) for n in ("obama.jpg", "biden.jpg", "astronaut.jpg")] + [
    os.path.join(data.IMAGES, "scenes", "whitebox_party7.jpg")]
TILE, GAP = 256, 4


def grid(model, teacher, out, photos=PHOTOS):
    """Writes the grid of photos to out (JPEG)."""
    from PIL import Image, ImageOps
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgetoon-grid-") as d:
        for i, p in enumerate(photos):
            s, t = os.path.join(d, "s%d.png" % i), os.path.join(d, "t%d.png" % i)
            gotools.stylize(model, p, TILE, s)
            gotools.stylize(teacher, p, TILE, t)
            s, t = Image.open(s).convert("RGB"), Image.open(t).convert("RGB")
            # The CLI applies the EXIF orientation, so the photo is shown upright too.
            x = ImageOps.exif_transpose(Image.open(p)).convert("RGB").resize(s.size, Image.LANCZOS)
            rows.append((x, s, t))
    g = Image.new("RGB", (3 * TILE + 2 * GAP, len(rows) * (TILE + GAP) - GAP), "white")
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            g.paste(im, (c * (TILE + GAP) + (TILE - im.size[0]) // 2, r * (TILE + GAP) + (TILE - im.size[1]) // 2))
    g.save(out, quality=88)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=os.path.join(gotools.REPO, "web", "models", "student.safetensors"))
    p.add_argument("--teacher", default=None, help="default: the built teacher (make model)")
    p.add_argument("--out", default=os.path.join(gotools.REPO, "docs", "student_grid.jpg"))
    a = p.parse_args()
    grid(os.path.abspath(a.model), os.path.abspath(a.teacher or gotools.teacher_path()), a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    sys.exit(main())
