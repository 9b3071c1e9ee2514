"""edgetoon student pipeline: search -> finetune -> export (or all, or smoke).

  /usr/bin/python3 train/main.py search   --out DIR [options]
  /usr/bin/python3 train/main.py finetune --out DIR [options]
  /usr/bin/python3 train/main.py export   --out DIR [options]
  /usr/bin/python3 train/main.py all      --out DIR [options]
  /usr/bin/python3 train/main.py smoke    --out DIR     (tiny, a few minutes on 2 cores)
  /usr/bin/python3 train/main.py verify   --model DIR/student.safetensors   (Go inspect + CPU-engine parity)
  /usr/bin/python3 train/main.py unpaired --photos DIR --anime DIR --out DIR --steps N   (U-GAT-IT, ugatit.py)

--data picks the photos: ../shared/images, or a pack made by pack_data.py
(default: ../shared/images if present, else the repo's .trainpack).
--minutes M bounds the wall clock of the whole command (search, finetune
and export): after a few timed steps each stage sets its step count to fit
its share, and stops at its deadline regardless.

Every stage reads and writes its state in --out (default $OUT or
/tmp/edgetoon-train): search.pt, arch.json, search_log.jsonl,
search.png; finetune.pt; student.safetensors, student.onnx, MODEL_CARD.md,
grid.png, report.json. CUDA is used when available.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import edgetoon_model as em  # noqa: E402
import export  # noqa: E402
import gotools  # noqa: E402
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
    key = (args.data, tuple(paths), args.size, args.crop_min, args.preload)
    if key not in _DATASETS:  # decode once per process (search and finetune share it)
        t0 = time.time()
        _DATASETS[key] = data.PhotoDataset(paths, args.size, root=data.split_root(args.data, "train"),
                                           scale=(args.crop_min, 1.0), preload=args.preload)
        if args.preload:
            log("data: %d photos decoded into memory (%.0f MiB uint8) in %.1fs"
                % (len(paths), _DATASETS[key].nbytes() / 2 ** 20, time.time() - t0))
    ds = _DATASETS[key]
    if args.device_aug:
        if ds.images is None:
            raise SystemExit("--device-aug needs the photos in memory (--preload)")
        return data.DeviceCrops(ds.images, args.size, args.batch, args.device_name, scale=(args.crop_min, 1.0),
                                seed=seed), len(paths)
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


def autocast(args):
    """bf16 autocast on CUDA with --amp, else a no-op context."""
    if args.amp and args.device_name == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
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

    def __init__(self, name, total, every):
        self.name, self.total, self.every, self.t0 = name, total, max(every, 1), time.time()

    def __call__(self, step, msg):
        if step % self.every and step != self.total:
            return
        el = time.time() - self.t0
        eta = el / step * (self.total - step) if step else 0
        log("[%s] step %d/%d  %s  elapsed %.0fs  ETA %.0fs" % (self.name, step, self.total, msg, el, eta))


def distill_loss(s, t, args, graph):
    """The student's fit to the teacher (outputs in the network's range):
    (plain L1 for the logs, the loss) where the loss is L1 + w_edge x the
    L1 of image differences (outlines) + w_ssim x (1 - SSIM) on pixels in
    [0,1], the eval's SSIM (Gaussian 11x11) in float32."""
    l1 = (s - t).abs().mean()
    fit = l1
    if args.w_edge > 0:
        fit = fit + args.w_edge * sn.edge_l1(s, t)
    if args.w_ssim > 0:
        s01, t01 = em.denormalize(s, graph), em.denormalize(t, graph)
        fit = fit + args.w_ssim * (1 - metrics.ssim(s01, t01, data_range=1.0, dtype=torch.float32).mean())
    return l1, fit


def loss_text(args):
    """distill_loss and the GAN term, as the model card says them."""
    parts = ["L1 to the teacher"]
    if args.w_edge > 0:
        parts.append("%g x L1 of image differences" % args.w_edge)
    if args.w_ssim > 0:
        parts.append("%g x (1 - SSIM)" % args.w_ssim)
    if args.w_gan > 0:
        parts.append("%g x LSGAN (patch discriminator, teacher outputs real)" % args.w_gan)
    return " + ".join(parts)


def cost_fn(net, args, lat):
    """The searched cost (MACs, or predicted latency) and the MACs (the
    latter's forward value exact; gradients per-gate normalised, see
    Supernet.cost_gates)."""
    g = net.cost_gates(net.gate_values(), depth_norm=bool(args and args.depth_norm))
    macs = net.macs(256, g)
    if lat is not None:
        return lat.network_latency(net.conv_configs(256, g)), macs
    return macs, macs


class SearchSchedule:
    """When each part of the search acts, as fractions of its steps:
    the weights only for the first gate_warmup steps (gates frozen);
    lambda ramps linearly from 0 to its dual-ascent value over the next
    lam_ramp of the steps; depth gates are frozen until depth_start and
    then move at depth_lr_scale of the channel gates' rate; lambda's
    per-step rate (when not given) lets it grow 1000x over half the search."""

    def __init__(self, args, steps):
        self.steps = steps
        self.warm = min(args.gate_warmup, steps // 4)
        self.ramp = max(int(args.lam_ramp * steps), 1)
        self.depth_start = max(int(args.depth_start * steps), self.warm)
        self.lam_rate = args.lam_rate if args.lam_rate is not None else math.exp(math.log(1000) / (0.5 * steps)) - 1

    def ramp_factor(self, step):
        if step <= self.warm:
            return 0.0
        return min(1.0, (step - self.warm) / self.ramp)


def arch_cost(net, arch, lat=None):
    """MACs of a concrete architecture (dict of 0/1 lists), or with a
    latency predictor its predicted ms at 256x256."""
    if lat is None:
        return sn.arch_macs(arch)
    with torch.no_grad():
        g = {k: torch.tensor(arch[k], dtype=torch.float32, device=a.device) for k, a in net.gates.items()}
        return float(lat.network_latency(net.conv_configs(256, g)))


def fix_architecture(net, target, lat=None, min_blocks=1, target_macs=0):
    """The concrete architecture after the search, pruned further (lowest
    logits first) while it is over the target (and, searching latency,
    over target_macs when that is set)."""
    arch = net.arch()
    alphas = {k: a.detach().cpu().numpy().copy() for k, a in net.gates.items()}

    def over(ar):
        if lat is not None and target_macs > 0 and sn.arch_macs(ar) > target_macs:
            return True
        return arch_cost(net, ar, lat) > target

    forced = 0
    while over(arch):
        best = None
        for k, bits in arch.items():
            on = [i for i, b in enumerate(bits) if b]
            if k not in sn.DEPTH_GATES and len(on) <= net.min_groups(k):
                continue
            if k in sn.DEPTH_GATES and sum(arch[d][0] for d in sn.DEPTH_GATES) <= min_blocks:
                continue
            for i in on:
                if best is None or alphas[k][i] < best[0]:
                    best = (alphas[k][i], k, i)
        if best is None:
            break
        arch[best[1]][best[2]] = 0
        forced += 1
    return arch, forced


def plot_search(rows, path):
    """Latency/MACs, losses and per-gate widths over steps, as one PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not available (apt-get install python3-matplotlib): no plot")
        return False
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.5))
    ax[0].plot(steps, [r["macs"] / 1e9 for r in rows], label="GMACs @256")
    if rows and rows[0].get("latency") is not None:
        ax0b = ax[0].twinx()
        ax0b.plot(steps, [r["latency"] for r in rows], "r", label="pred. latency")
        ax0b.set_ylabel("predicted latency")
    ax[0].axhline(rows[0]["target_macs"] / 1e9 if rows else 0, ls="--", c="k", label="target")
    ax[0].set_title("cost")
    ax[0].legend()
    for key in ("l1", "g_adv", "d", "total"):
        ax[1].plot(steps, [r[key] for r in rows], label=key)
    ax[1].set_yscale("log")
    ax[1].set_title("losses")
    ax[1].legend()
    for k in rows[0]["widths"] if rows else []:
        ax[2].plot(steps, [r["widths"][k] for r in rows], label=k)
    ax[2].plot(steps, [32 * len(r["blocks"]) for r in rows], "k:", label="blocks x32")
    ax[2].set_title("widths per gate (channels)")
    ax[2].legend(fontsize=7, ncol=2)
    for a in ax:
        a.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def cmd_search(args, budget=None):
    dev = device_of(args)
    teacher = data.Teacher(gotools.teacher_path(), dev)
    _, tensors = em.read_file(gotools.teacher_path())
    net = sn.Supernet(tensors, min_blocks=args.min_blocks, min_width=args.min_width,
                      min_width_by=args.min_width_gate).to(dev)
    disc = sn.PatchDiscriminator().to(dev)
    if args.channels_last:
        net, disc = net.to(memory_format=torch.channels_last), disc.to(memory_format=torch.channels_last)
    lat = sn.LatencyPredictor.from_json(args.latency_json) if args.latency_json else None
    target = args.target_macs
    if lat is not None:
        teacher_ms = arch_cost(net, {k: [1] * a.numel() for k, a in net.gates.items()}, lat)
        target = args.target_latency
        if target is None:  # --target-speedup: a fraction of the teacher's predicted latency
            target = teacher_ms / args.target_speedup
        log("search: latency target %.2f ms, teacher %.2f ms (%s)" % (target, teacher_ms, lat.device))
    # The weights adapt to the thinning while the gates move: a higher lr
    # than the fine-tune's.
    lr_w = args.lr_search if args.lr_search is not None else 2 * args.lr
    opt_w = torch.optim.Adam(list(net.weights.values()) + list(net.biases.values()), lr_w, betas=(0.5, 0.999))
    chan = [a for k, a in net.gates.items() if k not in sn.DEPTH_GATES]
    depth = [net.gates[d] for d in sn.DEPTH_GATES]
    lr_depth = args.lr_gates * args.depth_lr_scale
    if args.gate_opt == "sgd":
        # Plain SGD keeps the size of each gate's cost gradient: costly
        # groups (full-resolution, wide inputs) are pushed down faster.
        opt_a = torch.optim.SGD(chan, args.lr_gates, momentum=0.9)
        opt_dp = torch.optim.SGD(depth, lr_depth, momentum=0.9)
    else:
        opt_a = torch.optim.Adam(chan, args.lr_gates, betas=(0.5, 0.999))
        opt_dp = torch.optim.Adam(depth, lr_depth, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), args.lr, betas=(0.5, 0.999))
    it, n = photo_batches(args, 1)
    clock = StageClock(budget.deadline("search") if budget else None, args.search_steps, args.calib_steps)
    steps = args.search_steps
    sched = SearchSchedule(args, steps)
    log("search: %d training photos at %dpx, batch %d, %s steps on %s; target %s %.4g; gates: warm-up %d, "
        "lambda ramp %d, depth gates from step %d at %gx lr, >= %d blocks, depth cost %s"
        % (n, args.size, args.batch, steps if not clock.deadline else "<= %d" % steps, dev,
           "latency" if lat else "MACs", target, sched.warm, sched.ramp, sched.depth_start, args.depth_lr_scale,
           args.min_blocks, "per-group" if args.depth_norm else "whole block"))
    rows, prog = [], Progress("search", steps, args.log_every)
    lam = args.lam
    logf = open(os.path.join(args.out, "search_log.jsonl"), "w")
    step = 0
    while step < steps:
        step += 1
        x01 = next(it).to(dev, non_blocking=True)
        if args.channels_last:
            x01 = x01.contiguous(memory_format=torch.channels_last)
        t = teacher(x01)
        with autocast(args):
            s, _ = net(teacher.normalize(x01))
            g_adv = sn.lsgan_g_loss(disc(s)) if args.w_gan > 0 else torch.zeros((), device=dev)
        s = s.float()
        l1, fit = distill_loss(s, t, args, teacher.graph)
        cost, macs = cost_fn(net, args, lat)
        pen = sn.cost_penalty(cost, target)
        if lat is not None and args.target_macs > 0:  # the MAC budget holds too
            pen = pen + sn.cost_penalty(macs, args.target_macs)
        ramp = sched.ramp_factor(step)
        total = fit + args.w_gan * g_adv.float() + ramp * lam * pen
        opt_w.zero_grad(set_to_none=True)
        opt_a.zero_grad(set_to_none=True)
        opt_dp.zero_grad(set_to_none=True)
        total.backward()
        opt_w.step()
        if step > sched.warm:
            opt_a.step()
        if step > sched.depth_start:
            opt_dp.step()
        net.clamp_gates()
        if step > sched.warm + sched.ramp:
            # Dual ascent on lambda (after the ramp): grows while over the
            # target, shrinks under it, so the search ends at the target with
            # gates ranked by (distillation importance) / (cost).
            lam = lam * (1 + sched.lam_rate) if float(pen) > 0 else max(lam / (1 + sched.lam_rate), 1e-6)
        d_loss = torch.zeros(())
        if args.w_gan > 0:
            with autocast(args):
                d_loss = sn.lsgan_d_loss(disc(t), disc(s.detach())).float()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        w = net.widths()
        row = dict(step=step, l1=float(l1), g_adv=float(g_adv), d=float(d_loss), total=float(total),
                   macs=float(macs), latency=float(cost) if lat else None, target_macs=args.target_macs,
                   penalty=float(pen), lam=lam * ramp, widths={k: v for k, v in w.items() if k != "blocks"},
                   blocks=w["blocks"])
        rows.append(row)
        logf.write(json.dumps(row) + "\n")
        new_steps, stop = clock.after_step(step)
        if new_steps != steps:
            steps = new_steps
            sched = SearchSchedule(args, steps)
            prog.total = steps
            log("  search schedule for %d steps: gates from %d, lambda ramp to %d, depth gates from %d"
                % (steps, sched.warm, sched.warm + sched.ramp, sched.depth_start))
        prog(step, "l1 %.4f adv %.3f D %.3f GMACs %.3f lam %.3g%s blocks %s" % (
            row["l1"], row["g_adv"], row["d"], row["macs"] / 1e9, lam * ramp,
            " lat %.3f" % row["latency"] if lat else "", w["blocks"]))
        if stop:
            log("search: deadline reached at step %d" % step)
            break
    logf.close()
    arch, forced = fix_architecture(net, target, lat, args.min_blocks, args.target_macs)
    if forced:
        log("search: still over target at the end; switched off %d more groups (lowest logits)" % forced)
    info = dict(arch=arch, macs=sn.arch_macs(arch), widths=net.widths(arch), forced_groups=forced,
                steps=step, size=args.size, target=target,
                cost="latency" if lat else "macs", latency_json=args.latency_json,
                final_l1=rows[-1]["l1"] if rows else None,
                schedule=dict(gate_warmup=sched.warm, lam_ramp=sched.ramp, depth_start=sched.depth_start,
                              depth_lr_scale=args.depth_lr_scale, min_blocks=args.min_blocks,
                              depth_norm=args.depth_norm, lam_rate=sched.lam_rate, min_width=args.min_width,
                              min_width_gate=args.min_width_gate, w_edge=args.w_edge,
                              w_ssim=args.w_ssim))
    if lat is not None:
        info.update(predicted_ms=arch_cost(net, arch, lat), teacher_predicted_ms=teacher_ms,
                    latency_device=lat.device)
        log("search: predicted latency %.1f ms, teacher %.1f ms (%.1fx), on %s" % (
            info["predicted_ms"], info["teacher_predicted_ms"],
            info["teacher_predicted_ms"] / info["predicted_ms"], lat.device))
    with open(os.path.join(args.out, "arch.json"), "w") as f:
        json.dump(info, f, indent=1)
    net = net.to(memory_format=torch.contiguous_format)
    torch.save({"supernet": {k: v.cpu() for k, v in net.state_dict().items()}}, os.path.join(args.out, "search.pt"))
    try:
        plot_search(rows, os.path.join(args.out, "search.png"))
    except Exception as e:  # a plot must not cost the run
        log("search: no plot (%s: %s)" % (type(e).__name__, e))
    log("search: architecture %s, %.3f GMACs at 256 (teacher %.2f, %.1fx fewer)"
        % (info["widths"], info["macs"] / 1e9, TEACHER_MACS / 1e9, TEACHER_MACS / info["macs"]))
    return info


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


def build_student(args):
    """The pruned student (GraphModule) from the search's result, or the
    model file named by --init (to continue fine-tuning a student)."""
    if args.init:
        return em.read_file(args.init)
    graph_t, tensors_t = em.read_file(gotools.teacher_path())
    net = sn.Supernet(tensors_t)
    state = load_pt(os.path.join(args.out, "search.pt"))
    net.load_state_dict(state["supernet"])
    with open(os.path.join(args.out, "arch.json")) as f:
        arch = json.load(f)["arch"]
    return export.extract_student(net, arch, graph_t)


def cmd_finetune(args, budget=None):
    dev = device_of(args)
    graph, tensors = build_student(args)
    student = em.GraphModule(graph, tensors).to(dev)
    teacher = data.Teacher(gotools.teacher_path(), dev)
    disc = sn.PatchDiscriminator().to(dev)
    if args.channels_last:
        student, disc = student.to(memory_format=torch.channels_last), disc.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(student.parameters(), args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), args.lr, betas=(0.5, 0.999))
    it, n = photo_batches(args, 2)
    clock = StageClock(budget.deadline("finetune") if budget else None, args.finetune_steps, args.calib_steps)
    steps = args.finetune_steps
    log("finetune: %.3f GMACs student, %d photos at %dpx, batch %d, %s steps on %s"
        % (em.macs(graph, tensors) / 1e9, n, args.size, args.batch,
           steps if not clock.deadline else "<= %d" % steps, dev))
    prog = Progress("finetune", steps, args.log_every)
    step = 0
    with open(os.path.join(args.out, "finetune_log.jsonl"), "w") as logf:
        while step < steps:
            step += 1
            # Cosine decay over the (possibly re-fitted) step count.
            for gr in opt.param_groups:
                gr["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / max(steps, 1)))
            x01 = next(it).to(dev, non_blocking=True)
            if args.channels_last:
                x01 = x01.contiguous(memory_format=torch.channels_last)
            t = teacher(x01)
            with autocast(args):
                s = student(teacher.normalize(x01))
                g_adv = sn.lsgan_g_loss(disc(s)) if args.w_gan > 0 else torch.zeros((), device=dev)
            s = s.float()
            l1, fit = distill_loss(s, t, args, teacher.graph)
            loss = fit + args.w_gan * g_adv.float()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            d_loss = torch.zeros(())
            if args.w_gan > 0:
                with autocast(args):
                    d_loss = sn.lsgan_d_loss(disc(t), disc(s.detach())).float()
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
            logf.write(json.dumps(dict(step=step, l1=float(l1), g_adv=float(g_adv), d=float(d_loss))) + "\n")
            new_steps, stop = clock.after_step(step)
            if new_steps != steps:
                steps = prog.total = new_steps
            prog(step, "l1 %.4f adv %.3f D %.3f" % (float(l1), float(g_adv), float(d_loss)))
            if stop:
                log("finetune: deadline reached at step %d" % step)
                break
    args.finetune_done = step
    student = student.to(memory_format=torch.contiguous_format)
    tensors = export.tensors_from_module(student.cpu(), tensors)
    torch.save({"graph": graph, "tensors": tensors, "steps": step, "init": args.init},
               os.path.join(args.out, "finetune.pt"))
    return graph, tensors


@torch.no_grad()
def fidelity(student, teacher, size, limit=None, dev="cpu", batch=8, root=None):
    """Mean PSNR/SSIM of student vs teacher on the eval split at size (RGB, [0,255])."""
    xs, paths = data.eval_images(size, root=root or data.IMAGES, limit=limit)
    ps, ss = [], []
    for i in range(0, len(xs), batch):
        x01 = xs[i:i + batch].to(dev)
        t = metrics.to_255(em.denormalize(teacher(x01), teacher.graph))
        s = metrics.to_255(em.denormalize(student(teacher.normalize(x01)), teacher.graph))
        ps.append(metrics.psnr(s, t).cpu())
        ss.append(metrics.ssim(s, t).cpu())
    ps, ss = torch.cat(ps), torch.cat(ss)
    faces = [i for i, p in enumerate(paths) if p.startswith("faces/")]
    out = dict(psnr=float(ps.mean()), ssim=float(ss.mean()), n=len(paths), split="eval.txt")
    if faces:
        out.update(psnr_faces=float(ps[faces].mean()), ssim_faces=float(ss[faces].mean()), n_faces=len(faces))
    return out


def save_grid(student, teacher, path, size, n=4, dev="cpu", root=None):
    """Rows of photo | student | teacher for the first n eval photos (PNG)."""
    from PIL import Image
    xs, _ = data.eval_images(size, root=root or data.IMAGES, limit=n)
    with torch.no_grad():
        x01 = xs.to(dev)
        t = em.denormalize(teacher(x01), teacher.graph).clamp(0, 1).cpu()
        s = em.denormalize(student(teacher.normalize(x01)), teacher.graph).clamp(0, 1).cpu()
    rows = [torch.cat([xs[i], s[i], t[i]], dim=2) for i in range(len(xs))]
    img = (torch.cat(rows, dim=1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(img).save(path)


def go_checks(path, parity_size, root=None, write_inspect=None):
    """`edgetoon inspect` on a model file and the Go CPU engine against
    PyTorch on one eval photo crop: (inspect text, max abs error)."""
    graph, tensors = em.read_file(path)
    student = em.GraphModule(graph, tensors).eval()
    inspect = gotools.go_inspect(path)
    if write_inspect:
        with open(write_inspect, "w") as f:
            f.write(inspect)
    xs, _ = data.eval_images(parity_size, root=root or data.IMAGES, limit=1)
    x = em.normalize(xs, graph)
    with torch.no_grad():
        want = student(x)[0].permute(1, 2, 0).numpy()
    got = gotools.go_run_model(path, x[0].permute(1, 2, 0).numpy())
    return inspect, float(np.abs(got - want).max())


def cmd_export(args):
    dev = device_of(args)
    state = load_pt(os.path.join(args.out, "finetune.pt"))
    graph, tensors = state["graph"], state["tensors"]
    ft_steps = state.get("steps", args.finetune_steps)
    init = state.get("init")
    path = os.path.join(args.out, "student.safetensors")
    em.write_file(path, graph, tensors, args.dtype)
    # Everything below uses the file as written (F16 rounding included).
    graph, tensors = em.read_file(path)
    student = em.GraphModule(graph, tensors).eval()
    onnx_error = None
    try:
        export.export_onnx(student, os.path.join(args.out, "student.onnx"), size=args.onnx_size)
    except Exception as e:  # keep the run's other outputs; redo later with `verify --onnx`
        onnx_error = "%s: %s" % (type(e).__name__, e)
        log("export: ONNX export failed (%s); the model file is fine: redo the ONNX here with\n"
            "  /usr/bin/python3 train/main.py verify --model %s --onnx DIR/student.onnx" % (onnx_error, path))
    inspect, parity = None, None
    if gotools.have_go():
        inspect, parity = go_checks(path, args.parity_size, args.data, os.path.join(args.out, "inspect.txt"))
        log("export: Go CPU vs PyTorch on the exported file, %dx%d: max abs error %.3g"
            % (args.parity_size, args.parity_size, parity))
    else:
        log("export: no Go toolchain here: run the Go checks later with\n"
            "  /usr/bin/python3 train/main.py verify --model %s" % path)
    teacher = data.Teacher(gotools.teacher_path(), dev)
    student.to(dev)
    fid = fidelity(student, teacher, args.eval_size, args.eval_limit, dev, root=args.data)
    log("export: fidelity vs teacher on eval at %d: PSNR %.2f dB, SSIM %.4f (%d images)%s"
        % (args.eval_size, fid["psnr"], fid["ssim"], fid["n"],
           "; portraits (faces/): %.2f dB, %.4f (%d)" % (fid["psnr_faces"], fid["ssim_faces"], fid["n_faces"])
           if "psnr_faces" in fid else ""))
    save_grid(student, teacher, os.path.join(args.out, "grid.png"), args.eval_size, dev=dev, root=args.data)
    dev_name = torch.cuda.get_device_name(0) if dev == "cuda" else "CPU (%d threads)" % args.threads
    common = ("fine-tune: %d steps at %dpx, batch %d, Adam lr %g cosine; loss: %s; photos: %s (%s, minus the "
              "eval split), random crops (scale %g-1), flips, brightness/contrast/saturation jitter +-20%%; "
              "targets: the teacher's outputs, on the fly; device %s%s." % (
                  ft_steps, args.size, args.batch, args.lr, loss_text(args), args.data,
                  " and ".join(s + "/" for s in args.subsets), args.crop_min, dev_name,
                  ", bf16 autocast" if args.amp and dev == "cuda" else ""))
    if init:
        # No search in this run: the architecture is the init file's, and
        # so is the history before this fine-tune (its own model card).
        arch = {"init": init}
        training = "No search: the architecture and weights of %s, further trained; %s" % (init, common)
    else:
        with open(os.path.join(args.out, "arch.json")) as f:
            arch = json.load(f)
        training = ("Search: %d steps at %dpx (cost: %s, target %.4g, lambda ramped from 0 then dual ascent, "
                    "GAN weight %g; depth gates frozen for the first %d steps, then at %gx the gates' lr, "
                    "per-group depth cost, >= %d residual blocks); %s" % (
                        arch["steps"], arch["size"], arch["cost"], arch["target"], args.w_gan,
                        arch.get("schedule", {}).get("depth_start", 0), args.depth_lr_scale, args.min_blocks,
                        common))
    latency = None
    if arch.get("predicted_ms"):
        latency = {"predicted latency (%s; %s)" % (arch["latency_device"], os.path.basename(arch["latency_json"])): (
            "%.1f ms (%.1fx lower)" % (arch["predicted_ms"], arch["teacher_predicted_ms"] / arch["predicted_ms"]),
            "%.1f ms" % arch["teacher_predicted_ms"])}
    export.model_card(os.path.join(args.out, "MODEL_CARD.md"), graph, tensors, TEACHER_MACS, fid, training,
                      latency=latency)
    report = dict(file=path, dtype=args.dtype, macs=em.macs(graph, tensors), params=export.param_count(tensors),
                  go_parity_max_abs=parity, fidelity=fid, arch=arch.get("widths"), search=arch,
                  finetune_steps=ft_steps, device=dev_name, torch=torch.__version__, onnx_error=onnx_error)
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    if inspect:
        log(inspect)
    return report


def cmd_verify(args):
    """The Go-side checks of a model file made elsewhere (e.g. on a GPU
    machine without Go): `edgetoon inspect` and Go CPU engine vs PyTorch.
    Updates report.json next to the model, if there is one."""
    path = args.model or os.path.join(args.out, "student.safetensors")
    inspect, parity = go_checks(path, args.parity_size, args.data)
    graph, tensors = em.read_file(path)
    macs = em.macs(graph, tensors)
    log(inspect)
    ok_macs = ("MACs:        %d " % macs) in inspect
    log("verify: %s: Go CPU vs PyTorch at %dx%d: max abs error %.3g (%s); MACs %d (%.3f G, %s the Go count; "
        "%.1fx fewer than the teacher)" % (path, args.parity_size, args.parity_size, parity,
                                           "ok" if parity <= 1e-4 else "FAIL > 1e-4", macs, macs / 1e9,
                                           "matches" if ok_macs else "DIFFERS FROM", TEACHER_MACS / macs))
    if args.onnx:
        export.export_onnx(em.GraphModule(graph, tensors).eval(), args.onnx, size=args.onnx_size)
        log("verify: wrote %s" % args.onnx)
    rep = os.path.join(os.path.dirname(os.path.abspath(path)), "report.json")
    if os.path.exists(rep) and os.access(rep, os.W_OK):
        with open(rep) as f:
            report = json.load(f)
        report.update(go_parity_max_abs=parity, go_inspect_macs_match=ok_macs)
        with open(rep, "w") as f:
            json.dump(report, f, indent=1)
    if parity > 1e-4 or not ok_macs:
        sys.exit(1)
    return parity


# The search's default cost: latency measured in our WebGL2 runtime
# (headless Chromium on SwiftShader; see testdata/latency/README.md), at
# 1/DEFAULT_SPEEDUP of the teacher's predicted latency, MAC budget kept.
DEFAULT_PREDICTOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "testdata", "latency", "swiftshader_fp32_predictor.json")
DEFAULT_SPEEDUP = 8.0

PRESETS = {
    # The full run on 2 CPU cores: `make student` (with --minutes, < 2 h).
    # 96 px crops, batch 4: about 3-5 s a search step on 2 busy cores; the
    # step counts are caps, `make student` passes --minutes 105.
    "full": dict(size=96, batch=4, search_steps=600, finetune_steps=3000, images=0,
                 eval_size=256, eval_limit=0, lr_gates=0.02, gate_warmup=20, log_every=10, crop_min=0.4),
    # One GPU (H100): 256 px crops, bf16 autocast, photos in memory, worker
    # processes; the step counts are caps, --minutes decides.
    "gpu": dict(size=256, batch=32, search_steps=20000, finetune_steps=60000, images=0,
                eval_size=256, eval_limit=0, lr_gates=0.01, gate_warmup=100, log_every=100, crop_min=0.6,
                calib_steps=30),
    # The CI smoke run: tiny crops, a few steps, 4 photos, 4 eval photos.
    "smoke": dict(size=32, batch=2, search_steps=12, finetune_steps=6, images=4,
                  eval_size=64, eval_limit=4, lr_gates=0.05, gate_warmup=2, log_every=4, crop_min=0.4),
}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["search", "finetune", "export", "all", "smoke", "verify"])
    p.add_argument("--out", default=os.environ.get("OUT") or "/tmp/edgetoon-train")
    p.add_argument("--model", default=None, help="verify: the model file (default OUT/student.safetensors)")
    p.add_argument("--onnx", default=None, help="verify: also (re)export the model file as ONNX to this path")
    p.add_argument("--data", default=None,
                   help="photos: ../shared/images-like folder or a pack_data.py pack (default: %s if present, "
                        "else the repo's .trainpack)" % data.IMAGES)
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="defaults for the options below (smoke for the smoke command, gpu with CUDA, else full)")
    p.add_argument("--minutes", type=float, default=None,
                   help="wall-clock budget of the whole command; the step counts become caps")
    p.add_argument("--export-reserve", type=float, default=None,
                   help="seconds kept for export and evaluation under --minutes (default 75 CUDA, 300 CPU)")
    p.add_argument("--search-frac", type=float, default=0.35, help="share of the training time for the search")
    p.add_argument("--calib-steps", type=int, default=None, help="steps timed before fitting the step count")
    p.add_argument("--size", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--search-steps", type=int)
    p.add_argument("--finetune-steps", type=int)
    p.add_argument("--images", type=int, help="use only the first N training photos (0 = all)")
    p.add_argument("--subsets", default="faces,scenes",
                   help="training photo folders, comma-separated (faces: the portraits the target is measured on)")
    p.add_argument("--crop-min", type=float, help="smallest crop side as a fraction of the photo's short side")
    p.add_argument("--preload", dest="preload", action="store_true", default=None,
                   help="decode all photos into memory once (default with CUDA)")
    p.add_argument("--no-preload", dest="preload", action="store_false")
    p.add_argument("--amp", dest="amp", action="store_true", default=True,
                   help="bf16 autocast for student and discriminator on CUDA (default; teacher and eval fp32)")
    p.add_argument("--no-amp", dest="amp", action="store_false")
    p.add_argument("--device-aug", dest="device_aug", action="store_true", default=None,
                   help="crop and jitter on the training device (default with CUDA; needs --preload)")
    p.add_argument("--no-device-aug", dest="device_aug", action="store_false")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (off by default)")
    p.add_argument("--eval-size", type=int)
    p.add_argument("--eval-limit", type=int, help="first N eval photos (0 = all)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--init", default=None, help="finetune: start from this student model file instead of the search's result")
    p.add_argument("--lr-search", type=float, default=None, help="weights' lr during the search (default 2x --lr)")
    p.add_argument("--lr-gates", type=float)
    p.add_argument("--gate-warmup", type=int, help="steps with the gates frozen (weights only)")
    p.add_argument("--gate-opt", choices=["sgd", "adam"], default="adam")
    p.add_argument("--log-every", type=int)
    p.add_argument("--lam", type=float, default=0.01, help="weight of max(0, cost - target)/target after the ramp")
    p.add_argument("--lam-ramp", type=float, default=0.2,
                   help="fraction of the search over which lambda ramps from 0 (after the gate warm-up)")
    p.add_argument("--lam-rate", type=float, default=None,
                   help="after the ramp lambda *= 1+rate per step over target, /= under (default: 1000x over "
                        "half the search)")
    p.add_argument("--depth-start", type=float, default=0.5,
                   help="fraction of the search before the depth gates may move (widths are thinned first)")
    p.add_argument("--depth-lr-scale", type=float, default=0.25, help="depth gates' lr relative to --lr-gates")
    p.add_argument("--depth-norm", dest="depth_norm", action="store_true", default=True,
                   help="depth gate cost gradient per group of its block (default)")
    p.add_argument("--no-depth-norm", dest="depth_norm", action="store_false")
    p.add_argument("--min-blocks", type=int, default=1, help="residual blocks always kept")
    p.add_argument("--min-width", type=float, default=0.125,
                   help="fraction of its channels each channel gate always keeps (the residual stream's gate, "
                        "which costs most per group, collapsed to 4 channels without it)")
    p.add_argument("--w-gan", type=float, default=0.05)
    p.add_argument("--w-edge", type=float, default=0.0,
                   help="weight of an L1 on image differences (edges), added to the L1 to the teacher")
    p.add_argument("--w-ssim", type=float, default=0.0,
                   help="adds W x (1 - SSIM) to the L1 to the teacher (the eval's SSIM, on [0,1] pixels)")
    p.add_argument("--min-width-gate", action="append", default=[], metavar="GATE=FRAC",
                   help="per-gate --min-width, e.g. R=0.25 keeps the residual stream >= 32 channels (repeatable)")
    p.add_argument("--target-macs", type=float, default=0.8e9,
                   help="MAC budget at 256x256; searching latency, a second constraint (0: none)")
    p.add_argument("--cost", choices=["latency", "macs"], default="latency",
                   help="what the search constrains: predicted latency in our runtime (default; the MAC budget "
                        "--target-macs holds too) or MACs alone")
    p.add_argument("--latency-json", default=None,
                   help="latency predictor (MLP JSON from `edgetoon fit-latency`; default: the committed "
                        "SwiftShader one, %s)" % os.path.relpath(DEFAULT_PREDICTOR, os.getcwd()))
    p.add_argument("--target-latency", type=float, default=None, help="with --latency-json: target in ms at 256x256")
    p.add_argument("--target-speedup", type=float, default=None,
                   help="with --latency-json: target = the teacher's predicted latency / this")
    p.add_argument("--dtype", choices=["F16", "F32"], default="F16")
    p.add_argument("--onnx-size", type=int, default=256)
    p.add_argument("--parity-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available() and args.device in ("auto", "cuda")
    args.device_name = "cuda" if cuda else "cpu"
    preset = PRESETS[args.preset or ("smoke" if args.cmd == "smoke" else "gpu" if cuda else "full")]
    for k, v in preset.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    if args.calib_steps is None:
        args.calib_steps = 30 if cuda else 6
    if args.data is None:
        args.data = data.default_root()
    if args.preload is None:
        args.preload = cuda
    if args.device_aug is None:
        args.device_aug = cuda and args.preload
    if args.export_reserve is None:
        args.export_reserve = 75 if cuda else 300
    if args.workers is None:
        args.workers = 0 if args.cmd == "smoke" else min(12, max((os.cpu_count() or 1) - 2, 1)) if cuda else 0
    if args.cost == "macs":
        if args.latency_json or args.target_latency or args.target_speedup:
            p.error("--cost macs takes no --latency-json, --target-latency or --target-speedup")
    else:
        args.latency_json = args.latency_json or DEFAULT_PREDICTOR
        if args.target_latency is None and args.target_speedup is None:
            args.target_speedup = DEFAULT_SPEEDUP
    if args.latency_json and (args.target_latency is None) == (args.target_speedup is None):
        p.error("--latency-json needs one of --target-latency MS or --target-speedup X")
    by = {}
    for item in args.min_width_gate:
        gate, _, frac = item.partition("=")
        try:
            by[gate] = float(frac)
        except ValueError:
            p.error("--min-width-gate %r: want GATE=FRACTION, e.g. R=0.25" % item)
        if gate not in ("a", "c1", "b", "c3", "R", "c6", "c8") and not gate.startswith("blk"):
            p.error("--min-width-gate %r: unknown gate %r" % (item, gate))
    args.min_width_gate = by
    args.subsets = tuple(s for s in args.subsets.split(",") if s)
    if not args.subsets or any(s not in ("faces", "scenes") for s in args.subsets):
        p.error("--subsets %r: want faces, scenes or faces,scenes" % ",".join(args.subsets))
    if args.init and args.cmd == "search":
        p.error("--init starts a fine-tune from a student file: search starts from the teacher")
    return args


def cmd_unpaired(argv):
    """`unpaired --photos DIR --anime DIR --out DIR --steps N [...]`: the U-GAT-IT
    objective on two unpaired folders (ugatit.py; --search also searches G)."""
    import ugatit
    ugatit.main(argv)


def main(argv=None):
    if (sys.argv[1:] if argv is None else argv)[:1] == ["unpaired"]:
        return cmd_unpaired((sys.argv[1:] if argv is None else argv)[1:])
    args = parse(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    if args.cmd == "verify":
        cmd_verify(args)
        return
    t0 = time.time()
    if args.device_name == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    budget = Budget(args, t0)
    log("edgetoon train %s on %s: data %s, teacher %s%s" % (
        args.cmd, torch.cuda.get_device_name(0) if args.device_name == "cuda" else "CPU", args.data,
        gotools.teacher_path(), ", budget %.1f min" % args.minutes if args.minutes else ""))
    if args.cmd in ("search", "all", "smoke") and not args.init:
        cmd_search(args, budget)
    elif args.cmd == "all":
        log("all: --init %s: no search, fine-tune that student and export it" % args.init)
    if args.cmd in ("finetune", "all", "smoke"):
        cmd_finetune(args, budget)
    if args.cmd in ("export", "all", "smoke"):
        cmd_export(args)
    log("done in %.1fs; outputs in %s" % (time.time() - t0, args.out))


if __name__ == "__main__":
    main()
