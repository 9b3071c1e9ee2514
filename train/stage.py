"""Plumbing the training stages share: logging, the wall-clock budget
(--minutes) and progress lines, the photo batches, the distillation loss,
bf16 autocast, and reading our checkpoints.
"""

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import edgetoon_model as em  # noqa: E402
import feature_distill as fd  # noqa: E402
import metrics  # noqa: E402
import supernet as sn  # noqa: E402


TEACHER_MACS = 8166309888


def log(*a):
    print(*a, flush=True)


def device_of(args):
    if args.device != "auto":
        return args.device
    return "cuda" if torch.cuda.is_available() else "cpu"


_DATASETS = {}


def _worker_init(_):
    torch.set_num_threads(1)


def photo_batches(args, seed):
    """Endless NCHW [0,1] batches of augmented training crops."""
    paths = data.list_images(args.data, split="train", subsets=args.subsets)
    if not paths:
        raise SystemExit("no training photos in %s for --subsets %s" % (args.data, ",".join(args.subsets)))
    if args.images:
        paths = paths[:args.images]
    of_long = getattr(args, "crop_of", "short") == "long"
    degrade = getattr(args, "degrade", 0.0)
    key = (args.data, tuple(paths), args.size, args.crop_min, of_long, args.preload, degrade)
    if key not in _DATASETS:  # decode once per process (search and finetune share it)
        t0 = time.time()
        _DATASETS[key] = data.PhotoDataset(paths, args.size, root=data.split_root(args.data, "train"),
                                           scale=(args.crop_min, 1.0), preload=args.preload, of_long=of_long,
                                           degrade=degrade)
        if args.preload:
            log("data: %d photos decoded into memory (%.0f MiB uint8) in %.1fs"
                % (len(paths), _DATASETS[key].nbytes() / 2 ** 20, time.time() - t0))
    ds = _DATASETS[key]
    if args.device_aug:
        if degrade:
            raise SystemExit("--degrade makes its crops with PIL: use --no-device-aug")
        if ds.images is None:
            raise SystemExit("--device-aug needs the photos in memory (--preload)")
        return data.DeviceCrops(ds.images, args.size, args.batch, args.device_name, scale=(args.crop_min, 1.0),
                                seed=seed, of_long=of_long), len(paths)
    sampler = torch.utils.data.RandomSampler(ds, replacement=True, num_samples=10 ** 9)
    mp = {}
    if args.workers > 0:
        # fork: workers share the decoded photos instead of unpickling them
        # (Python 3.14 defaults to forkserver); they never touch CUDA.
        mp = dict(prefetch_factor=4, multiprocessing_context="fork" if sys.platform == "linux" else None)
    dl = torch.utils.data.DataLoader(ds, batch_size=args.batch, sampler=sampler, num_workers=args.workers,
                                     drop_last=True, persistent_workers=args.workers > 0,
                                     pin_memory=args.device_name == "cuda", worker_init_fn=_worker_init,
                                     **mp)
    return iter(dl), len(paths)


def cached_pairs(args, teacher, n, seed=3, save_every=64, feat_nodes=()):
    """n training crops and the teacher's outputs (one_cache), a fraction
    args.degrade of them made as from small photos: those in a cache of
    their own (every crop degraded), the rest in the cache the same
    arguments make without --degrade, so that a clean cache made before is
    used as it is and the degraded crops are added to it. Each cache's
    crops follow from its settings and how many it holds (one_cache); the
    caches v16 to v18 were trained on were drawn before that, from
    wherever torch's generator stood, and a fresh machine makes others."""
    p = getattr(args, "degrade", 0.0)
    if not p:
        return one_cache(args, teacher, n, seed, save_every, feat_nodes)
    n_soft = round(n * p)
    parts = [one_cache(argparse.Namespace(**{**vars(args), "degrade": d}), teacher, k, seed, save_every, feat_nodes)
             for d, k in ((0.0, n - n_soft), (1.0, n_soft)) if k > 0]
    if len(parts) == 1:
        return parts[0]
    if feat_nodes:
        raise SystemExit("--degrade with --w-feat: the features of two caches cannot be joined yet")
    return torch.cat([parts[0][0], parts[1][0]]), torch.cat([parts[0][1], parts[1][1]])


def one_cache(args, teacher, n, seed=3, save_every=64, feat_nodes=()):
    """n training crops (NCHW [0,1]) and the teacher's outputs for them, as
    float16, made once and kept in args.cache_dir (outside the repo). On a
    CPU the teacher's forward pass costs more than the student's whole
    step, so a fine-tune there can reuse a fixed set of pairs. The cache
    grows: it is a folder of chunks of save_every crops, an interrupted run
    goes on where it stopped, and a larger n adds crops after the ones
    made before.

    With feat_nodes (teacher node names, for --w-feat) the teacher's
    activations there are kept too, float16, one .npy file per chunk and
    node, read back memory-mapped (the trunk is 1 MiB a 256-px crop), and
    (x, t, [feature_distill.ChunkRows per node]) is returned. The folder's
    key then names the nodes: caches without features stay as they are."""
    tpath = os.path.abspath(teacher.path)
    items = [os.path.abspath(args.data), list(args.subsets), args.images, args.size, args.crop_min,
             seed, tpath, os.path.getsize(tpath), os.path.getmtime(tpath)]
    if getattr(args, "crop_of", "short") != "short":  # the caches made before --crop-of keep their keys
        items.append(["crop-of", args.crop_of])
    if feat_nodes:
        items.append(["features"] + list(feat_nodes))
    if getattr(args, "degrade", 0.0):  # the caches made before --degrade keep their keys
        items.append(["degrade", args.degrade])
    key = json.dumps(items)
    folder = os.path.join(args.cache_dir, "pairs-%s" % hashlib.sha256(key.encode()).hexdigest()[:16])
    chunks = sorted(f for f in os.listdir(folder) if f.endswith(".pt")) if os.path.isdir(folder) else []
    xs, ts, fs = [], [], [[] for _ in feat_nodes]

    def feat_path(chunk, k):
        return os.path.join(folder, "%s.f%d.npy" % (chunk[:-len(".pt")], k))

    for name in chunks:
        c = torch.load(os.path.join(folder, name))
        xs.append(c["x"])
        ts.append(c["t"])
        for k in range(len(feat_nodes)):
            fs[k].append(np.load(feat_path(name, k), mmap_mode="r"))
    got = sum(len(x) for x in xs)
    if chunks:
        log("cache: %d crops and teacher outputs in %s" % (got, folder))
    if got < n:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "KEY.json"), "w") as f:
            f.write(key)
        # New crops continue the sequence, seeded by how many exist: the
        # GPU's DeviceCrops by its own generator, the CPU's DataLoader by
        # torch's global one, seeded here, so that the crops do not depend
        # on what the process drew before (on a fresh machine, whether
        # another cache was made first), and given back after, so that
        # what the process draws next does not depend on whether this
        # cache was there. A degraded cache starts elsewhere in the
        # sequence: from the same seed its crops would be the clean
        # cache's first ones, degraded.
        draw_seed = seed + 7919 * got + (1000003 if getattr(args, "degrade", 0.0) else 0)
        rng_state = torch.random.get_rng_state()
        torch.manual_seed(draw_seed)
        it, photos = photo_batches(args, draw_seed)
        t0, pend_x, pend_t, pend_f = time.time(), [], [], [[] for _ in feat_nodes]
        prog = Progress("cache", n, max(n // 10 // args.batch, 1) * args.batch, start=got)
        while got < n:
            x01 = next(it).half()  # the teacher sees the input exactly as it is kept
            pend_x.append(x01)
            if feat_nodes:
                out, feats = teacher.features(x01.float(), feat_nodes)
                for k, node in enumerate(feat_nodes):
                    pend_f[k].append(feats[node].cpu().half())
            else:
                out = teacher(x01.float())
            pend_t.append(out.cpu().half())
            got += len(x01)
            if sum(len(x) for x in pend_x) >= save_every or got >= n:
                # One file a chunk: an interruption loses at most one chunk.
                # Its features are written first: a chunk counts once its .pt is there.
                c = {"x": torch.cat(pend_x), "t": torch.cat(pend_t)}
                name = "%08d.pt" % (got - len(c["x"]))
                for k in range(len(feat_nodes)):
                    with open(feat_path(name, k) + ".tmp", "wb") as f:
                        np.save(f, torch.cat(pend_f[k]).numpy())
                    os.replace(feat_path(name, k) + ".tmp", feat_path(name, k))
                    fs[k].append(np.load(feat_path(name, k), mmap_mode="r"))
                path = os.path.join(folder, name)
                torch.save(c, path + ".tmp")
                os.replace(path + ".tmp", path)
                xs.append(c["x"])
                ts.append(c["t"])
                pend_x, pend_t, pend_f = [], [], [[] for _ in feat_nodes]
            prog(min(got, n), "teacher outputs for crops of %d photos" % photos)
        torch.random.set_rng_state(rng_state)
        log("cache: %d pairs in %.0fs, kept in %s" % (got, time.time() - t0, folder))
    if feat_nodes:
        return torch.cat(xs)[:n], torch.cat(ts)[:n], [fd.ChunkRows(f, n) for f in fs]
    return torch.cat(xs)[:n], torch.cat(ts)[:n]


def pair_batches(x, t, batch, seed=2, feats=None):
    """Endless random batches (x01, teacher output) of cached pairs, as
    float32; with feats (ChunkRows per node, from cached_pairs) the
    triples (x01, teacher output, [teacher features])."""
    g = torch.Generator().manual_seed(seed)
    while True:
        idx = torch.randint(0, len(x), (batch,), generator=g)
        if feats is None:
            yield x[idx].float(), t[idx].float()
        else:
            yield x[idx].float(), t[idx].float(), [f.take(idx) for f in feats]


def disc_step(disc, opt_d, t, s, args):
    """One LSGAN step of the patch discriminator (teacher outputs real,
    the student's detached fakes); its loss, 0 without the GAN term."""
    if args.w_gan <= 0:
        return torch.zeros(())
    with autocast(args):
        d_loss = sn.lsgan_d_loss(disc(t), disc(s.detach())).float()
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return d_loss


def amp_on(args):
    """Whether the student and discriminator run under bf16 autocast:
    --amp's default is on for CUDA and off for a CPU (whose bf16 is slow
    without AMX or AVX512-BF16)."""
    if args.amp is None:
        return args.device_name == "cuda"
    return args.amp


def amp_for_this_cpu(amp, device_name, native):
    """--amp as a run on this machine takes it: asked for on a CPU without
    bf16 in hardware (native False), where torch emulates bf16 at a
    fraction of float32's speed, it is dropped, so that a recipe written
    on a CPU with AMX (the Makefile's long pieces) runs at full speed on
    any other. Returns the setting and a note for the log, or None."""
    if amp and device_name == "cpu" and not native:
        return False, ("--amp dropped: this CPU has neither AMX nor AVX512-BF16, where bf16 is emulated "
                       "and slower than float32 (--channels-last still helps)")
    return amp, None


def cpu_bf16_native(cpuinfo="/proc/cpuinfo"):
    """Whether this CPU does bf16 arithmetic in hardware (AMX or
    AVX512-BF16 among Linux's cpuinfo flags); elsewhere torch emulates it,
    slower than float32."""
    try:
        with open(cpuinfo) as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def autocast(args):
    """bf16 autocast on the training device when amp_on, else a no-op context."""
    if amp_on(args):
        return torch.autocast(args.device_name, dtype=torch.bfloat16)
    import contextlib
    return contextlib.nullcontext()


class StageClock:
    """Wall-clock control of one stage under --minutes: after `calib` timed
    steps it fits the step count to the stage's deadline, and says when the
    deadline has passed. Without a deadline it changes nothing."""

    def __init__(self, deadline, steps, calib):
        self.deadline, self.steps, self.calib = deadline, steps, calib
        self.t_first = None

    def after_step(self, step):
        """The (possibly new) total step count, and whether to stop now."""
        if self.deadline is None:
            return self.steps, False
        now = time.time()
        if step == 2:
            self.t_first = now  # steps 1-2 include warm-up (cudnn benchmark, workers)
        if step == self.calib and self.t_first is not None and self.calib > 2:
            rate = (now - self.t_first) / (self.calib - 2)
            fit = self.calib + int(max(self.deadline - now, 0) / rate * 0.97)
            if fit < self.steps:
                self.steps = max(fit, self.calib)
            log("  timing: %.3fs/step (%.1f steps/s): %d steps fit before the deadline; running %d"
                % (rate, 1 / rate, fit, self.steps))
        return self.steps, now >= self.deadline


class Budget:
    """Deadlines of the stages under --minutes (None without it): export
    keeps a fixed reserve, search gets search_frac of the rest."""

    def __init__(self, args, t0):
        self.args = args
        self.end = t0 + 60 * args.minutes if args.minutes else None

    def deadline(self, stage):
        if self.end is None:
            return None
        a = self.args
        train_end = self.end - a.export_reserve
        now = time.time()
        if stage == "search":
            return now + a.search_frac * max(train_end - now, 0)
        return train_end


class Progress:
    """Prints step, losses and ETA every `every` steps."""

    def __init__(self, name, total, every, start=0):
        self.name, self.total, self.every, self.t0 = name, total, max(every, 1), time.time()
        self.start = start  # steps done before this process (a resumed run)

    def __call__(self, step, msg):
        if step % self.every and step != self.total:
            return
        el = time.time() - self.t0
        done = step - self.start
        eta = el / done * (self.total - step) if done > 0 else 0
        log("[%s] step %d/%d  %s  elapsed %.0fs  ETA %.0fs" % (self.name, step, self.total, msg, el, eta))


def distill_loss(s, t, args, graph):
    """The student's fit to the teacher (outputs in the network's range):
    (plain L1 for the logs, the loss) where the loss is L1 + w_edge x the
    L1 of image differences (outlines) + w_sharp x the L1 of tile edge
    energy (sharpness) + w_mse x the mean squared error + w_ssim x
    (1 - SSIM) on pixels in [0,1], the eval's SSIM (Gaussian 11x11) in
    float32."""
    diff = s - t
    l1 = diff.abs().mean()
    fit = l1
    if args.w_edge > 0:
        fit = fit + args.w_edge * sn.edge_l1(s, t)
    if getattr(args, "w_sharp", 0) > 0:
        fit = fit + args.w_sharp * sn.edge_energy_l1(s, t)
    if getattr(args, "w_mse", 0) > 0:
        fit = fit + args.w_mse * diff.square().mean()
    if args.w_ssim > 0:
        s01, t01 = em.denormalize(s, graph), em.denormalize(t, graph)
        fit = fit + args.w_ssim * (1 - metrics.ssim(s01, t01, data_range=1.0, dtype=torch.float32).mean())
    return l1, fit


def loss_text(args):
    """distill_loss and the GAN term, as the model card says them."""
    parts = ["L1 to the teacher"]
    if args.w_edge > 0:
        parts.append("%g x L1 of image differences" % args.w_edge)
    if getattr(args, "w_sharp", 0) > 0:
        parts.append("%g x L1 of 16x16-tile edge energy" % args.w_sharp)
    if getattr(args, "w_mse", 0) > 0:
        parts.append("%g x MSE" % args.w_mse)
    if args.w_ssim > 0:
        parts.append("%g x (1 - SSIM)" % args.w_ssim)
    if getattr(args, "w_feat", 0) > 0:
        parts.append("%g x MSE of per-channel normalised features at %s (1x1 adapters)"
                     % (args.w_feat, ", ".join(args.feat_nodes)))
    if args.w_gan > 0:
        parts.append("%g x LSGAN (patch discriminator, teacher outputs real)" % args.w_gan)
    return " + ".join(parts)


def load_pt(path):
    """torch.load of our own checkpoints (numpy arrays and dicts inside:
    torch >= 2.6 defaults to weights_only=True, which refuses them)."""
    if not hasattr(np, "_core"):
        # Saved under numpy 2 (a GPU machine), read under numpy 1 (Debian):
        # its arrays pickle as numpy._core.*, numpy 1's numpy.core.
        import numpy.core.multiarray
        sys.modules.setdefault("numpy._core", np.core)
        sys.modules.setdefault("numpy._core.multiarray", np.core.multiarray)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # torch without weights_only
        return torch.load(path, map_location="cpu")
