"""The search stage: the gated supernet, initialised from the teacher,
distilled while a cost penalty (MACs or the measured-latency predictor)
thins its channel groups and residual blocks and shrinks the kernels of
its full-resolution convs; writes arch.json,
search.pt, search_log.jsonl and search.png.
"""

import json
import math
import os

import torch

import data
import edgetoon_model as em
import gotools
import latency_mlp
import superkernel as sk
import supernet as sn
from stage import (TEACHER_MACS, Progress, StageClock, autocast, device_of, disc_step, distill_loss,
                   log, photo_batches)


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
        return float(lat.network_latency(net.conv_configs(256, net.gates_of(arch))))


def kernel_candidate(arch, k):
    """The bit of kernel gate k that shrinks its kernel by one choice: the
    big ring's while it counts, else the mid ring's; None at the smallest."""
    bits = arch[k]
    if bits[0] and bits[1]:
        return 1
    return 0 if bits[0] else None


def fix_architecture(net, target, lat=None, min_blocks=1, target_macs=0):
    """The concrete architecture after the search, pruned further (lowest
    logits first: a channel group, a block, or a kernel's outer ring) while
    it is over the target (and, searching latency, over target_macs when
    that is set)."""
    arch = net.arch()
    params = net.gate_params()
    alphas = {k: a.detach().cpu().numpy().copy() for k, a in params.items()}

    def over(ar):
        if lat is not None and target_macs > 0 and sn.arch_macs(ar) > target_macs:
            return True
        return arch_cost(net, ar, lat) > target

    forced = 0
    while over(arch):
        best = None
        for k, bits in arch.items():
            if k in sn.KERNEL_GATES:
                i = kernel_candidate(arch, k) if params[k].requires_grad else None
                if i is not None and (best is None or alphas[k][i] < best[0]):
                    best = (alphas[k][i], k, i)
                continue
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


def run(args, budget=None):
    dev = device_of(args)
    teacher = data.Teacher(gotools.teacher_path(), dev)
    _, tensors = em.read_file(gotools.teacher_path())
    net = sn.Supernet(tensors, min_blocks=args.min_blocks, min_width=args.min_width,
                      min_width_by=args.min_width_gate,
                      search_kernels=getattr(args, "search_kernels", True)).to(dev)
    disc = sn.PatchDiscriminator().to(dev)
    if args.channels_last:
        net, disc = net.to(memory_format=torch.channels_last), disc.to(memory_format=torch.channels_last)
    lat = latency_mlp.LatencyPredictor.from_json(args.latency_json) if args.latency_json else None
    target = args.target_macs
    if lat is not None:
        teacher_ms = arch_cost(net, net.teacher_arch(), lat)
        target = args.target_latency
        if target is None:  # --target-speedup: a fraction of the teacher's predicted latency
            target = teacher_ms / args.target_speedup
        log("search: latency target %.2f ms, teacher %.2f ms (%s)" % (target, teacher_ms, lat.device))
    # The weights adapt to the thinning while the gates move: a higher lr
    # than the fine-tune's.
    lr_w = args.lr_search if args.lr_search is not None else 2 * args.lr
    opt_w = torch.optim.Adam(list(net.weights.values()) + list(net.biases.values()), lr_w, betas=(0.5, 0.999))
    chan = [a for k, a in net.gate_params().items() if k not in sn.DEPTH_GATES and a.requires_grad]  # and kernels
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
        d_loss = disc_step(disc, opt_d, t, s, args)
        w = net.widths()
        row = dict(step=step, l1=float(l1), g_adv=float(g_adv), d=float(d_loss), total=float(total),
                   macs=float(macs), latency=float(cost) if lat else None, target_macs=args.target_macs,
                   penalty=float(pen), lam=lam * ramp,
                   widths={k: v for k, v in w.items() if k not in ("blocks", "kernels")},
                   blocks=w["blocks"], kernels=w["kernels"])
        rows.append(row)
        logf.write(json.dumps(row) + "\n")
        new_steps, stop = clock.after_step(step)
        if new_steps != steps:
            steps = new_steps
            sched = SearchSchedule(args, steps)
            prog.total = steps
            log("  search schedule for %d steps: gates from %d, lambda ramp to %d, depth gates from %d"
                % (steps, sched.warm, sched.warm + sched.ramp, sched.depth_start))
        prog(step, "l1 %.4f adv %.3f D %.3f GMACs %.3f lam %.3g%s blocks %s kernels %s" % (
            row["l1"], row["g_adv"], row["d"], row["macs"] / 1e9, lam * ramp,
            " lat %.3f" % row["latency"] if lat else "", w["blocks"],
            "/".join(str(w["kernels"][c]) for c in sk.KERNEL_CONVS)))
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
