"""`main.py unpaired`: the U-GAT-IT objective (ugatit.py) trained on two
unpaired image folders, photos (X) and anime/cartoons (Y), optionally
searching G's architecture; writes unpaired.pt, unpaired_log.jsonl and
samples.png (and with --search unpaired_arch.json, unpaired_search.pt).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgetoon_model as em  # noqa: E402
import latency_mlp  # noqa: E402
import supernet as sn  # noqa: E402
from ugatit import UGATIT, W_ADV, W_CAM, W_CYC, W_ID, Trainer  # noqa: E402
from ugatit_nets import random_teacher_tensors  # noqa: E402


# ------------------------------------------------------------------- data

EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def list_folder(root):
    """Image files under root (recursive), sorted."""
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in names if n.lower().endswith(EXTS)]
    return sorted(out)


class FolderImages(torch.utils.data.Dataset):
    """Images of one domain: random square crop (scale 0.6-1 of the short
    side), resized to size, random horizontal flip; CHW in [-1, 1]."""

    def __init__(self, root, size, scale=(0.6, 1.0)):
        from PIL import Image  # noqa: F401  (fail early if PIL is missing)
        self.paths, self.size, self.scale = list_folder(root), size, scale
        if not self.paths:
            raise SystemExit("no images (%s) in %s" % ("/".join(EXTS), root))

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image
        img = Image.open(self.paths[i]).convert("RGB")
        w, h = img.size
        side = max(int(min(w, h) * float(torch.empty(()).uniform_(*self.scale))), 1)
        l = int(torch.randint(0, w - side + 1, ()))
        t = int(torch.randint(0, h - side + 1, ()))
        img = img.crop((l, t, l + side, t + side)).resize((self.size, self.size), Image.BILINEAR)
        if float(torch.rand(())) < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        a = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(a.transpose(2, 0, 1).copy())


def endless(ds, batch, workers=0):
    sampler = torch.utils.data.RandomSampler(ds, replacement=True, num_samples=10 ** 9)
    return iter(torch.utils.data.DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers,
                                            drop_last=True))


def save_samples(model, x, path):
    """Rows of photo | G(photo) | G's CAM heatmap (PNG)."""
    from PIL import Image
    with torch.no_grad():
        fy, _, heat = model.G(x)
    heat = F.interpolate(heat, size=x.shape[2:], mode="nearest")
    lo, hi = heat.amin(dim=(2, 3), keepdim=True), heat.amax(dim=(2, 3), keepdim=True)
    heat = ((heat - lo) / (hi - lo + 1e-8)).repeat(1, 3, 1, 1) * 2 - 1
    rows = [torch.cat([x[i], fy[i].clamp(-1, 1), heat[i]], dim=2) for i in range(len(x))]
    img = ((torch.cat(rows, dim=1).permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().clip(0, 255)
    Image.fromarray(img.astype(np.uint8)).save(path)


# -------------------------------------------------------------------- CLI

def parse(argv):
    p = argparse.ArgumentParser(
        prog="main.py unpaired",
        description="Unpaired photo->anime training with the U-GAT-IT objective "
                    "(optionally searching G's architecture with the supernet).")
    p.add_argument("--photos", required=True, help="folder of domain X images (photos)")
    p.add_argument("--anime", required=True, help="folder of domain Y images (anime/cartoons)")
    p.add_argument("--out", default=os.environ.get("OUT") or "/tmp/edgetoon-unpaired")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--ch", type=int, default=64, help="generator base width (CAMGenerator)")
    p.add_argument("--n-blocks", type=int, default=4)
    p.add_argument("--d-ch", type=int, default=64, help="discriminator base width")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--w-adv", type=float, default=W_ADV)
    p.add_argument("--w-cyc", type=float, default=W_CYC)
    p.add_argument("--w-id", type=float, default=W_ID)
    p.add_argument("--w-cam", type=float, default=W_CAM)
    p.add_argument("--w-cam-d", type=float, default=1.0, help="weight of D's CAM LSGAN relative to its patch LSGAN")
    p.add_argument("--search", action="store_true", help="G = the searchable supernet (gates + cost penalty)")
    p.add_argument("--init", choices=["teacher", "random"], default="teacher", help="supernet init (--search)")
    p.add_argument("--target-macs", type=float, default=0.8e9)
    p.add_argument("--latency-json", default=None)
    p.add_argument("--target-latency", type=float, default=None)
    p.add_argument("--lam", type=float, default=0.01)
    p.add_argument("--lam-rate", type=float, default=0.05)
    p.add_argument("--lr-gates", type=float, default=0.01)
    p.add_argument("--gate-warmup", type=int, default=50)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--sample-every", type=int, default=0, help="samples.png every N steps (0: at the end)")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.latency_json and args.target_latency is None:
        p.error("--latency-json needs --target-latency")
    return args


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    dev = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    tensors = None
    if args.search:
        if args.init == "teacher":
            import gotools
            _, tensors = em.read_file(gotools.teacher_path())
        else:
            tensors = random_teacher_tensors(args.seed)
    model = UGATIT(args.ch, args.n_blocks, args.d_ch, args.size, search=args.search, teacher_tensors=tensors,
                   w_adv=args.w_adv, w_cyc=args.w_cyc, w_id=args.w_id, w_cam=args.w_cam,
                   w_cam_d=args.w_cam_d).to(dev)
    lat = latency_mlp.LatencyPredictor.from_json(args.latency_json) if args.latency_json else None
    target = args.target_latency if lat is not None else args.target_macs
    tr = Trainer(model, args.lr, args.lr_gates, args.weight_decay, target, args.lam, args.lam_rate,
                 args.gate_warmup, 256, lat)
    dx, dy = FolderImages(args.photos, args.size), FolderImages(args.anime, args.size)
    it_x, it_y = endless(dx, args.batch, args.workers), endless(dy, args.batch, args.workers)
    print("unpaired: %d photos, %d anime images at %dpx, batch %d, %d steps on %s%s" % (
        len(dx), len(dy), args.size, args.batch, args.steps, dev,
        "; searching G (target %s %.4g)" % ("latency" if lat else "MACs", target) if args.search else ""),
        flush=True)
    x_fixed = next(it_x)[:4].to(dev)
    t0 = time.time()
    with open(os.path.join(args.out, "unpaired_log.jsonl"), "w") as logf:
        for step in range(1, args.steps + 1):
            x, y = next(it_x).to(dev), next(it_y).to(dev)
            terms, _ = tr.step(x, y)
            terms["step"] = step
            if args.search:
                w = model.G.net.widths()
                terms["blocks"] = w.pop("blocks")
                terms["widths"] = w
            logf.write(json.dumps(terms) + "\n")
            if step % max(args.log_every, 1) == 0 or step == args.steps:
                el = time.time() - t0
                print("[unpaired] step %d/%d  G %.3f (adv %.3f+%.3f cyc %.4f id %.4f cam %.4f)  D %.3f%s  "
                      "elapsed %.0fs  ETA %.0fs" % (
                          step, args.steps, terms["g"], terms["gan_x"], terms["gan_y"], terms["cyc"], terms["id"],
                          terms["cam"], terms["d"],
                          "  GMACs %.3f lam %.3g" % (terms["macs"] / 1e9, terms["lam"]) if args.search else "",
                          el, el / step * (args.steps - step)), flush=True)
            if args.sample_every and step % args.sample_every == 0:
                save_samples(model, x_fixed, os.path.join(args.out, "samples.png"))
    save_samples(model, x_fixed, os.path.join(args.out, "samples.png"))
    torch.save({"model": model.state_dict(), "args": vars(args)}, os.path.join(args.out, "unpaired.pt"))
    if args.search:
        arch = model.G.net.arch()
        folded = model.G.fold_cam()
        torch.save({"supernet": folded.state_dict()}, os.path.join(args.out, "unpaired_search.pt"))
        info = dict(arch=arch, macs=sn.arch_macs(arch), widths=model.G.net.widths(arch), steps=args.steps,
                    size=args.size, target=target, cost="latency" if lat else "macs", objective="ugatit")
        with open(os.path.join(args.out, "unpaired_arch.json"), "w") as f:
            json.dump(info, f, indent=1)
        print("unpaired: G architecture %s, %.3f GMACs at 256" % (info["widths"], info["macs"] / 1e9), flush=True)
    print("unpaired: done in %.1fs; outputs in %s" % (time.time() - t0, args.out), flush=True)


if __name__ == "__main__":
    main()
