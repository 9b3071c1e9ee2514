"""Pack the training/eval photos into the repo (gitignored) so they travel
to a machine that has no ../shared: /work/main/.trainpack/{train,eval,heldout}/
{faces,scenes}/NAME.jpg, each resized so its LONGER side is at most
--long px (aspect kept, Lanczos; photos already smaller are not enlarged)
and saved as JPEG --quality. The crops of --crop-of long span 0.6 to 1 of
a photo's longer side and are resized to 256 px: a longer side of 512
keeps every crop at or above the resolution the network sees, so a crop
of the whole photo is what `stylize -size 256` makes of it (a pack that
shrank photos further would train on enlarged, softer pictures than
users give it). If the pack comes out over --max-mib, it is redone at a
lower quality (down to q75, then a smaller side) until it fits.

    /usr/bin/python3 train/pack_data.py [--src ../shared/images] [--dst .trainpack]
        [--long 512] [--quality 80] [--max-mib 48]

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


def resize_long(img, long):
    w, h = img.size
    s = long / max(w, h)
    if s >= 1:
        return img
    return img.resize((max(round(w * s), 1), max(round(h * s), 1)), Image.LANCZOS)


def write_pack(src, dst, long, quality):
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
            img.draft("RGB", (long, long))  # JPEG: decode at >= long per side, cheaply
            img = resize_long(img.convert("RGB"), long)
            img.save(out, "JPEG", quality=quality)
            total += os.path.getsize(out)
    with open(os.path.join(dst, "PACK.txt"), "w") as f:
        f.write("edgetoon training pack from %s: longer side at most %d px (Lanczos), JPEG quality %d; "
                "%d train, %d eval, %d heldout photos\n" % (src, long, quality, counts["train"], counts["eval"],
                                                counts["heldout"]))
    return total, counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", default=data.IMAGES)
    p.add_argument("--dst", default=os.path.join(REPO, ".trainpack"))
    p.add_argument("--long", type=int, default=512)
    p.add_argument("--quality", type=int, default=80)
    p.add_argument("--max-mib", type=float, default=48.0)
    args = p.parse_args(argv)
    long, q = args.long, args.quality
    while True:
        total, counts = write_pack(args.src, args.dst, long, q)
        mib = total / 2 ** 20
        print("pack %s: %d train + %d eval photos, longer side <= %d px, JPEG q%d: %.1f MiB"
              % (args.dst, counts["train"], counts["eval"], long, q, mib), flush=True)
        if mib <= args.max_mib:
            break
        if q > 75:
            q -= 5
        else:
            long = int(long * 0.9)
        print("over %.0f MiB: again at q%d, %d px" % (args.max_mib, q, long), flush=True)
    return mib


if __name__ == "__main__":
    main()
