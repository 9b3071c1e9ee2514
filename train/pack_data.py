"""Pack the training/eval photos into the repo (gitignored) so they travel
to a machine that has no ../shared: /work/main/.trainpack/{train,eval,heldout}/
{faces,scenes}/NAME.jpg, each resized so its SHORTER side is --short px
(aspect kept, Lanczos; photos already smaller are not enlarged) and saved
as JPEG --quality. If the pack comes out over --max-mib, it is redone at a
lower quality (then a smaller side) until it fits.

    /usr/bin/python3 train/pack_data.py [--src ../shared/images] [--dst .trainpack]
        [--short 288] [--quality 90] [--max-mib 45]

main.py reads it with --data .trainpack (found automatically when
../shared/images is missing).
"""

import argparse
import os
import shutil
import sys

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resize_short(img, short):
    w, h = img.size
    s = short / min(w, h)
    if s >= 1:
        return img
    return img.resize((max(round(w * s), 1), max(round(h * s), 1)), Image.LANCZOS)


def write_pack(src, dst, short, quality):
    """Write the pack; return (bytes, counts per split)."""
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    total, counts = 0, {}
    for split in data.SPLITS:
        paths = data.list_images(src, split)
        counts[split] = len(paths)
        for rel in paths:
            out = os.path.join(dst, split, os.path.splitext(rel)[0] + ".jpg")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            img = Image.open(os.path.join(src, rel))
            img.draft("RGB", (short, short))  # JPEG: decode at >= short per side, cheaply
            img = resize_short(img.convert("RGB"), short)
            img.save(out, "JPEG", quality=quality)
            total += os.path.getsize(out)
    with open(os.path.join(dst, "PACK.txt"), "w") as f:
        f.write("edgetoon training pack from %s: shorter side %d px (Lanczos), JPEG quality %d; "
                "%d train, %d eval, %d heldout photos\n" % (src, short, quality, counts["train"], counts["eval"],
                                                counts["heldout"]))
    return total, counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", default=data.IMAGES)
    p.add_argument("--dst", default=os.path.join(REPO, ".trainpack"))
    p.add_argument("--short", type=int, default=288)
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--max-mib", type=float, default=45.0)
    args = p.parse_args(argv)
    short, q = args.short, args.quality
    while True:
        total, counts = write_pack(args.src, args.dst, short, q)
        mib = total / 2 ** 20
        print("pack %s: %d train + %d eval photos, shorter side %d px, JPEG q%d: %.1f MiB"
              % (args.dst, counts["train"], counts["eval"], short, q, mib), flush=True)
        if mib <= args.max_mib:
            break
        if q > 80:
            q -= 5
        else:
            short = int(short * 0.9)
        print("over %.0f MiB: again at q%d, %d px" % (args.max_mib, q, short), flush=True)
    return mib


if __name__ == "__main__":
    main()
