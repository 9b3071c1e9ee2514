"""Training and evaluation photos, with augmentation, and teacher targets.

Photos come from ../shared/images (faces/ and scenes/); the eval split is
the list in eval.txt there (paths relative to that folder). The heldout
split is every photo of the sources in HELDOUT_SOURCES (by FILES.tsv's
source_tag): portraits from sources never trained on, so a model cannot
have seen the same people, cameras or framing. Training uses every photo
in neither. Images are read with PIL (JPEG draft mode keeps
decoding cheap) and returned as float tensors in [0,1], CHW.

A pack made by pack_data.py (root/train/{faces,scenes}/..., root/eval/...,
no eval.txt) is read the same way: paths stay "faces/NAME.jpg", relative to
split_root(root, split). default_root() falls back to the repo's .trainpack
when ../shared/images is missing (as on a rented GPU machine).
"""

import io
import os
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import edgetoon_model as em
import metrics

IMAGES = os.environ.get("EDGETOON_IMAGES",
                        os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
                            os.path.abspath(__file__)))), "shared", "images"))
EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
PACK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".trainpack")
# Press and web photos of many people (deepface, facerec): the in-the-wild
# portraits closest to a user's selfie, from sources no other set shares.
HELDOUT_SOURCES = ("deepface", "facerec")
SPLITS = ("train", "eval", "heldout")


def is_pack(root):
    """Whether root is a pack (train/ and eval/ folders, no eval.txt)."""
    return (not os.path.exists(os.path.join(root, "eval.txt"))
            and os.path.isdir(os.path.join(root, "train")) and os.path.isdir(os.path.join(root, "eval")))


def default_root():
    """EDGETOON_IMAGES or ../shared/images if present, else the repo's .trainpack."""
    if os.path.exists(os.path.join(IMAGES, "eval.txt")) or not is_pack(PACK):
        return IMAGES
    return PACK


def split_root(root, split):
    """The folder the split's relative paths are relative to."""
    return os.path.join(root, split) if is_pack(root) else root


def sources(root):
    """{relative path: source tag} from root's FILES.tsv ({} if none)."""
    path = os.path.join(root, "FILES.tsv")
    if not os.path.exists(path):
        return {}
    out = {}
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        i_dir, i_file, i_src = head.index("folder"), head.index("file"), head.index("source_tag")
        for line in f:
            c = line.rstrip("\n").split("\t")
            if len(c) > i_src:
                out[c[i_dir] + "/" + c[i_file]] = c[i_src]
    return out


def list_images(root=IMAGES, split="train", subsets=("faces", "scenes")):
    """Sorted relative paths of the photos of a split ("train", "eval" or
    "heldout"), relative to split_root(root, split)."""
    if split not in SPLITS:
        raise ValueError("split %r: want one of %s" % (split, ", ".join(SPLITS)))
    if is_pack(root):
        out = []
        for sub in subsets:
            d = os.path.join(root, split, sub)
            if os.path.isdir(d):
                out += [sub + "/" + n for n in os.listdir(d) if n.lower().endswith(EXTS)]
        return sorted(out)
    with open(os.path.join(root, "eval.txt")) as f:
        evals = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    if split == "eval":
        return sorted(p for p in evals if os.path.exists(os.path.join(root, p)))
    src = sources(root)
    out = []
    for sub in subsets:
        d = os.path.join(root, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            rel = sub + "/" + name
            if not name.lower().endswith(EXTS):
                continue
            held = src.get(rel) in HELDOUT_SOURCES
            if split == "heldout" and held or split == "train" and not held and rel not in evals:
                out.append(rel)
    return sorted(out)


def load_rgb(path, min_side=None):
    """Open an image as RGB; with min_side, let JPEG decode at a reduced
    scale that still leaves at least min_side pixels on the short side."""
    img = Image.open(path)
    if min_side and img.format == "JPEG":
        w, h = img.size
        s = max(min_side / min(w, h), 1e-3)
        img.draft("RGB", (max(int(w * s), 1), max(int(h * s), 1)))
    return img.convert("RGB")


def to_tensor(img):
    """PIL RGB -> float CHW in [0,1]."""
    a = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


def center_crop(img, size):
    """Largest centred square, resized to size x size (bicubic)."""
    w, h = img.size
    s = min(w, h)
    l, t = (w - s) // 2, (h - s) // 2
    return img.crop((l, t, l + s, t + s)).resize((size, size), Image.BICUBIC)


def crop_window(w, h, u, of_long, rng):
    """A square crop of a w x h photo: (left, top, side) in pixels, side
    the fraction u of the photo's short side or, with of_long, of its long
    side. A side past the photo's extent is centred on it at random, the
    photo mirrored beyond its edges (mirror_crop): at u = 1 of the long
    side the whole photo is in the crop, at the scale `stylize -size`
    gives the network (the short side sees mirrored context)."""
    side = max(int((max(w, h) if of_long else min(w, h)) * u), 1)
    return rng.randint(min(0, w - side), max(0, w - side)), rng.randint(min(0, h - side), max(0, h - side)), side


def mirror_crop(img, left, top, side):
    """img's side x side window at (left, top), the photo mirrored about
    its edges where the window leaves it (numpy's "symmetric" padding,
    repeated for a window more than twice the photo)."""
    w, h = img.size
    if left >= 0 and top >= 0 and left + side <= w and top + side <= h:
        return img.crop((left, top, left + side, top + side))
    pl, pt = max(-left, 0), max(-top, 0)
    a = np.pad(np.asarray(img), ((pt, max(top + side - h, 0)), (pl, max(left + side - w, 0)), (0, 0)),
               mode="symmetric")
    return Image.fromarray(a[top + pt:top + pt + side, left + pl:left + pl + side])


class PhotoDataset(torch.utils.data.Dataset):
    """Random square crops with scale, flip and colour jitter.

    Each item: CHW float in [0,1], size x size. The crop side is a random
    fraction (scale range) of the short side, or with of_long of the long
    side (crop_window), at a random place.
    """

    def __init__(self, paths, size, root=IMAGES, scale=(0.4, 1.0), jitter=0.2, seed=None, preload=False,
                 max_side=None, of_long=False, degrade=0.0):
        self.paths, self.size, self.root = list(paths), size, root
        self.scale, self.jitter, self.of_long = scale, jitter, of_long
        self.degrade = degrade
        self.seed = seed
        self.images = None
        if preload:
            # Decode every photo once (JPEG draft at the smallest scale the
            # crops need) and keep it as uint8 HWC: no decoding per step,
            # and DataLoader workers share the arrays (fork, copy-on-write).
            self.images = []
            for p in self.paths:
                img = load_rgb(os.path.join(root, p), min_side=size / scale[0])
                if max_side and min(img.size) > max_side:
                    s = max_side / min(img.size)
                    img = img.resize((round(img.size[0] * s), round(img.size[1] * s)), Image.BILINEAR)
                self.images.append(np.asarray(img, dtype=np.uint8))

    def __len__(self):
        return len(self.paths)

    def nbytes(self):
        return sum(a.nbytes for a in self.images) if self.images is not None else 0

    def __getitem__(self, i):
        # A fresh generator per item, seeded from torch so DataLoader workers differ.
        rng = random.Random(int(torch.randint(0, 2 ** 31 - 1, ())) if self.seed is None else hash((self.seed, i)))
        if self.images is not None:
            img = Image.fromarray(self.images[i])
        else:
            img = load_rgb(os.path.join(self.root, self.paths[i]), min_side=self.size / self.scale[0])
        l, t, side = crop_window(*img.size, rng.uniform(*self.scale), self.of_long, rng)
        img = mirror_crop(img, l, t, side).resize((self.size, self.size), Image.BILINEAR)
        if self.degrade > 0 and rng.random() < self.degrade:  # no draw without it: old caches keep their crops
            img = small_source(img, rng)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        x = to_tensor(img)
        return color_jitter(x, self.jitter, rng)


def small_source(img, rng):
    """img as if it came from a small photo: shrunk to a random 1/3 to 3/4
    of its side (a box filter, as a camera or an editor makes a small
    copy), half the time saved as JPEG at quality 40 to 90, then enlarged
    back by Catmull-Rom (PIL's bicubic), as `edgetoon stylize` enlarges a
    photo smaller than -size (golang.org/x/image/draw.CatmullRom). The
    crops otherwise come from photos larger than the network's input and
    are only ever shrunk, so a student never saw the soft input a small
    photo gives it, and drew it softer than the teacher does."""
    w, h = img.size
    f = rng.uniform(1 / 3, 3 / 4)
    small = img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.BOX)
    if rng.random() < 0.5:
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=rng.randint(40, 90))
        small = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return small.resize((w, h), Image.BICUBIC)


def color_jitter(x, amount, rng):
    """Random brightness, contrast and saturation factors in [1-amount, 1+amount]."""
    if amount <= 0:
        return x
    b = rng.uniform(1 - amount, 1 + amount)
    c = rng.uniform(1 - amount, 1 + amount)
    s = rng.uniform(1 - amount, 1 + amount)
    return apply_jitter(x, b, c, s)


def apply_jitter(x, b, c, s):
    """x (CHW, or NCHW with factors shaped (N,1,1,1)) times brightness b,
    contrast c about each image's mean, saturation s about its gray."""
    x = x * b
    m = x.mean(dim=(-3, -2, -1), keepdim=True)
    x = (x - m) * c + m
    gray = metrics.luma(x)
    x = (x - gray) * s + gray
    return x.clamp(0, 1)


class DeviceCrops:
    """Endless batches of PhotoDataset's augmentation (random square crop
    of scale x the short side, or the long side with of_long, mirrored
    beyond the photo's edges; PIL's bilinear resize, flip, colour jitter),
    made on the training device from photos held there as uint8.

    On a GPU the per-photo PIL work of DataLoader workers, not the GPU,
    bounded the steps (about 440 crops/s from 12 workers on an H100 box):
    here one batch is two batched matrix products. The photos sit
    zero-padded in one (N, 3, Hmax, Wmax) tensor; each sample's weights
    read only its own photo's pixels.
    """

    def __init__(self, images, size, batch, device, scale=(0.4, 1.0), jitter=0.2, seed=0, of_long=False):
        hmax = max(a.shape[0] for a in images)
        wmax = max(a.shape[1] for a in images)
        self.photos = torch.zeros((len(images), 3, hmax, wmax), dtype=torch.uint8, device=device)
        for i, a in enumerate(images):
            # np.array: a writable copy (arrays of PIL images are read-only).
            self.photos[i, :, :a.shape[0], :a.shape[1]] = torch.from_numpy(np.array(a)).to(device).permute(2, 0, 1)
        self.hw = torch.tensor([[a.shape[0], a.shape[1]] for a in images], dtype=torch.float32)
        self.size, self.batch, self.device = size, batch, device
        self.scale, self.jitter, self.of_long = scale, jitter, of_long
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return self

    def rand(self, n, lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=self.gen)

    def params(self):
        """Per sample: photo index, crop left/top/side in pixels, flip, jitter factors."""
        n = self.batch
        idx = torch.randint(0, len(self.hw), (n,), generator=self.gen)
        h, w = self.hw[idx, 0], self.hw[idx, 1]
        side = ((torch.maximum if self.of_long else torch.minimum)(h, w) * self.rand(n, *self.scale)).floor().clamp(min=1)
        # As crop_window: uniform over [min(0, w-side), max(0, w-side)].
        left = torch.minimum(w - side, torch.zeros(())) + ((w - side).abs() + 1) * torch.rand(n, generator=self.gen)
        top = torch.minimum(h - side, torch.zeros(())) + ((h - side).abs() + 1) * torch.rand(n, generator=self.gen)
        left, top = left.floor(), top.floor()
        flip = torch.rand(n, generator=self.gen) < 0.5
        jit = [self.rand(n, 1 - self.jitter, 1 + self.jitter) for _ in range(3)]
        return idx, left, top, side, flip, jit

    def crops(self, idx, left, top, side, flip):
        """The windows resized to size x size as PIL's BILINEAR resize of
        mirror_crop's window does it: a triangle filter stretched by the
        downscale factor (antialiased, so a crop shrunk 2x is what
        `stylize -size` feeds the network from a photo twice the size, not
        an aliased point sample), taps clipped to the window and
        renormalised. Separable: each output row and column is a weighted
        sum of the photo's, weights folded onto the pixels the mirrored
        window reads (resample_weights)."""
        h, w = self.hw[idx, 0], self.hw[idx, 1]
        wy = resample_weights(top, side, h, self.size, self.photos.shape[2]).to(self.device)
        wx = resample_weights(left, side, w, self.size, self.photos.shape[3])
        wx = torch.where(flip[:, None, None], wx.flip(1), wx).to(self.device)
        src = self.photos[idx.to(self.device)].float() / 255
        return wy[:, None] @ src @ wx.transpose(1, 2)[:, None]

    def __next__(self):
        idx, left, top, side, flip, (b, c, s) = self.params()
        x = self.crops(idx, left, top, side, flip)
        if self.jitter <= 0:
            return x
        return apply_jitter(x, *(v.to(self.device).view(-1, 1, 1, 1) for v in (b, c, s)))


def resample_weights(start, side, extent, size, dim):
    """Per sample, the (size, dim) matrix that resizes the window
    [start, start + side) of a row of extent pixels (mirrored beyond its
    ends, as mirror_crop) to size pixels as PIL's BILINEAR resample does
    (libImaging/Resample.c): output j is centred at start + (j + 0.5) *
    side / size, each pixel i weighted by the triangle 1 - |i + 0.5 -
    centre| / s with s = max(side / size, 1), pixels outside the window
    dropped and the weights renormalised. start, side, extent: (n,)
    whole numbers as floats; dim >= every extent."""
    n = len(start)
    f = side / size
    s = f.clamp(min=1)[:, None, None]
    centre = start[:, None] + (torch.arange(size, dtype=torch.float32)[None, :] + 0.5) * f[:, None]
    k = int(torch.ceil(2 * s.max())) + 2  # taps that can fall inside the triangle
    taps = torch.floor(centre - s[:, :, 0])[..., None] + torch.arange(k, dtype=torch.float32)
    wts = (1 - (taps + 0.5 - centre[..., None]).abs() / s).clamp(min=0)
    wts = wts * ((taps >= start[:, None, None]) & (taps < (start + side)[:, None, None]))
    wts = wts / wts.sum(-1, keepdim=True)
    # Integer form of mirror(): numpy's "symmetric" padding, period 2 * extent.
    e = extent[:, None, None]
    m = torch.remainder(taps, 2 * e)
    src = torch.where(m < e, m, 2 * e - 1 - m).long()
    return torch.zeros(n, size, dim).scatter_add_(2, src, wts)


def eval_images(size, root=IMAGES, limit=None):
    """The eval split as one NCHW [0,1] tensor of centred crops (and the paths)."""
    paths = list_images(root, "eval")[:limit or None]  # 0 or None: all
    base = split_root(root, "eval")
    xs = [to_tensor(center_crop(load_rgb(os.path.join(base, p), min_side=size), size)) for p in paths]
    return torch.stack(xs), paths


def photo_at(path, long, multiple=4):
    """A whole photo as `edgetoon stylize -size long` feeds it to the
    network: resized (bicubic) so its longer side is long, aspect kept,
    then padded to a multiple of `multiple` by repeating edge pixels.
    Returns (1CHW [0,1] tensor, fitted width, fitted height); the network's
    output is cropped back to the fitted size."""
    img = load_rgb(path, min_side=long)
    w, h = img.size
    if w >= h:
        fw, fh = long, max(1, (h * long + w // 2) // w)
    else:
        fw, fh = max(1, (w * long + h // 2) // h), long
    x = to_tensor(img.resize((fw, fh), Image.BICUBIC))[None]
    return pad_to(x, multiple), fw, fh


def pad_to(x, multiple):
    """NCHW x padded on the right and bottom to multiples of `multiple`
    by repeating edge pixels (as the CLI pads a photo for a network)."""
    h, w = x.shape[-2:]
    pw, ph = -(-w // multiple) * multiple, -(-h // multiple) * multiple
    return F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")


class Teacher:
    """The teacher from its model file, producing targets on the fly.

    __call__(x01) maps NCHW photos in [0,1] to the teacher's output in the
    network's range ([-1,1] nominally), without gradients.
    """

    def __init__(self, path, device="cpu"):
        self.path = path
        self.module, self.graph = em.load_module(path)
        self.module.to(device).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.device = device

    def normalize(self, x01):
        return em.normalize(x01, self.graph)

    @torch.no_grad()
    def __call__(self, x01):
        return self.module(self.normalize(x01.to(self.device)))

    @torch.no_grad()
    def features(self, x01, nodes):
        """(output, {node: value}) for the teacher's nodes named (as
        GraphModule.forward's return_nodes), in one forward pass."""
        return self.module(self.normalize(x01.to(self.device)), return_nodes=list(nodes))


def batches(dataset, batch, seed=0):
    """Endless iterator of shuffled NCHW batches from a dataset."""
    rng = random.Random(seed)
    idx = []
    while True:
        if len(idx) < batch:
            more = list(range(len(dataset)))
            rng.shuffle(more)
            idx += more
        take, idx = idx[:batch], idx[batch:]
        yield torch.stack([dataset[i] for i in take])
