"""The fine-tune stage: the pruned student (from the search, or a student
file given by --init) distilled further; writes finetune.pt.

Long runs survive an interruption: every --ckpt-minutes the stage writes
OUT/finetune_ckpt.pt (student, discriminator, both optimisers, the step
and the planned step count), and --resume continues from it on the same
cosine schedule, so a run can be done in pieces of any length: a piece
that ends before the planned steps stops without exporting.

--w-feat adds feature distillation (feature_distill.py): the adapters and
their optimiser are trained here and kept in the checkpoint, never
exported.

--ema D keeps an exponential moving average of the student's weights
(Polyak and Juditsky 1992; decay D, warmed up as min(D, (1+t)/(10+t)) at
step t), kept in the checkpoint, and exports the average instead of the
last step's weights.
"""

import json
import math
import os
import time

import torch

import data
import edgetoon_model as em
import export
import feature_distill as fd
import gotools
import supernet as sn
from stage import (Progress, StageClock, autocast, cached_pairs, device_of, disc_step, distill_loss,
                   load_pt, log, pair_batches, photo_batches)


class WeightAverage:
    """An exponential moving average of a module's floating-point state
    (see --ema)."""

    def __init__(self, module, decay):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    def update(self, module, step):
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in module.state_dict().items():
                if v.is_floating_point():
                    self.state[k].mul_(d).add_(v.detach(), alpha=1 - d)
                else:
                    self.state[k].copy_(v)


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


def run(args, budget=None):
    dev = device_of(args)
    graph, tensors = build_student(args)
    student = em.GraphModule(graph, tensors).to(dev)
    teacher = data.Teacher(gotools.teacher_path(), dev)
    disc = sn.PatchDiscriminator().to(dev)
    if args.channels_last:
        student, disc = student.to(memory_format=torch.channels_last), disc.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(student.parameters(), args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), args.lr, betas=(0.5, 0.999))
    feat = opt_f = None
    if getattr(args, "w_feat", 0) > 0:
        # Node specs resolve per graph: a student may have dropped blocks.
        s_nodes = [em.resolve_node(graph, n) for n in args.feat_nodes]
        t_nodes = [em.resolve_node(teacher.graph, n) for n in args.feat_nodes]
        feat = fd.FeatureDistill(fd.feature_channels(student, s_nodes),
                                 fd.feature_channels(teacher.module, t_nodes)).to(dev)
        opt_f = torch.optim.Adam(feat.parameters(), args.lr, betas=(0.5, 0.999))
        feat_fresh = True  # the adapters start at the first batch's least-squares fit
    ckpt_path = os.path.join(args.out, "finetune_ckpt.pt")
    step, steps = 0, args.finetune_steps
    ema = WeightAverage(student, args.ema) if getattr(args, "ema", 0) > 0 else None
    if args.resume and os.path.exists(ckpt_path):
        ck = load_pt(ckpt_path)
        if ck["graph"] != graph:
            raise SystemExit("--resume: %s is of another architecture than %s" % (ckpt_path, args.init))
        student.load_state_dict(ck["student"])
        if ema is not None and "ema" in ck:
            ema.state = {k: v.to(dev) for k, v in ck["ema"].items()}
        elif ema is not None:
            log("finetune: %s has no weight average: it starts from the resumed weights" % ckpt_path)
        disc.load_state_dict(ck["disc"])
        opt.load_state_dict(ck["opt"])
        opt_d.load_state_dict(ck["opt_d"])
        step, steps = ck["step"], ck["steps"]
        log("finetune: resumed from %s at step %d of %d" % (ckpt_path, step, steps))
        if getattr(args, "replan", False) and args.finetune_steps != steps:
            # Another length for the rest of the run: the cosine rate follows
            # it from here (a step in the rate, small where the two agree).
            steps = max(args.finetune_steps, step)
            log("finetune: --finetune-steps %d: %d steps in all now" % (args.finetune_steps, steps))
        if feat is not None:
            fk = ck.get("feat")
            if fk and fk["nodes"] == list(args.feat_nodes):
                feat.load_state_dict(fk["adapter"])
                opt_f.load_state_dict(fk["opt"])
                feat_fresh = False
            else:
                log("finetune: %s has no adapters for %s: they start afresh" % (ckpt_path, ",".join(args.feat_nodes)))
    if args.cache_targets:
        # A resumed run draws new batches, not the first run's again.
        if feat is not None:
            x, t, f = cached_pairs(args, teacher, args.cache_targets, feat_nodes=t_nodes)
            it = pair_batches(x, t, args.batch, seed=2 + step, feats=f)
        else:
            it = pair_batches(*cached_pairs(args, teacher, args.cache_targets), args.batch, seed=2 + step)
        what = "%d cached crops" % args.cache_targets
    else:
        photos, n = photo_batches(args, 2)
        it = ((x, None) for x in photos)
        what = "%d photos" % n
    if feat is not None:
        what += ", features of %s" % ", ".join("%s (%d -> %d ch)" % (n, a.in_channels, a.out_channels)
                                                for n, a in zip(t_nodes, feat.adapters))
    # A resumable run (--resume) keeps its planned step count: a deadline
    # only stops it, and the next piece goes on from the checkpoint.
    clock = StageClock(budget.deadline("finetune") if budget else None, steps,
                       0 if args.resume else args.calib_steps)
    log("finetune: %.3f GMACs student, %s at %dpx, batch %d, %s steps on %s"
        % (em.macs(graph, tensors) / 1e9, what, args.size, args.batch,
           steps if not clock.deadline else "<= %d" % steps, dev))
    prog = Progress("finetune", steps, args.log_every, start=step)
    t_ckpt = time.time()

    def checkpoint():
        ck = {"graph": graph, "student": student.state_dict(), "disc": disc.state_dict(),
              "opt": opt.state_dict(), "opt_d": opt_d.state_dict(), "step": step, "steps": steps}
        if ema is not None:
            ck["ema"] = ema.state
        if feat is not None and not feat_fresh:
            ck["feat"] = {"nodes": list(args.feat_nodes), "adapter": feat.state_dict(), "opt": opt_f.state_dict()}
        torch.save(ck, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)

    with open(os.path.join(args.out, "finetune_log.jsonl"), "a" if step else "w") as logf:
        while step < steps:
            step += 1
            # Cosine decay over the (possibly re-fitted) step count.
            for o in (opt,) if opt_f is None else (opt, opt_f):
                for gr in o.param_groups:
                    gr["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / max(steps, 1)))
            x01, t, *tf = next(it)
            tf = tf[0] if tf else None  # cached teacher features
            x01 = x01.to(dev, non_blocking=True)
            if args.channels_last:
                x01 = x01.contiguous(memory_format=torch.channels_last)
            if t is None and feat is not None:
                t, tfd = teacher.features(x01, t_nodes)
                tf = [tfd[n] for n in t_nodes]
            elif t is None:
                t = teacher(x01)
            else:
                t = t.to(dev)
                tf = [f.to(dev) for f in tf] if tf is not None else None
            with autocast(args):
                if feat is not None:
                    s, sfd = student(teacher.normalize(x01), return_nodes=s_nodes)
                else:
                    s = student(teacher.normalize(x01))
                g_adv = sn.lsgan_g_loss(disc(s)) if args.w_gan > 0 else torch.zeros((), device=dev)
            s = s.float()
            l1, fit = distill_loss(s, t, args, teacher.graph)
            loss = fit + args.w_gan * g_adv.float()
            if feat is not None:
                sf = [sfd[n] for n in s_nodes]
                if feat_fresh:
                    feat.init_(sf, tf)
                    feat_fresh = False
                f_loss = feat(sf, tf)
                loss = loss + args.w_feat * f_loss
                opt_f.zero_grad(set_to_none=True)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if opt_f is not None:
                opt_f.step()
            if ema is not None:
                ema.update(student, step)
            d_loss = disc_step(disc, opt_d, t, s, args)
            row = dict(step=step, l1=float(l1), g_adv=float(g_adv), d=float(d_loss))
            if feat is not None:
                row["feat"] = float(f_loss)
            logf.write(json.dumps(row) + "\n")
            new_steps, stop = clock.after_step(step)
            if new_steps != steps:
                steps = prog.total = new_steps
            prog(step, "l1 %.4f adv %.3f D %.3f%s" % (float(l1), float(g_adv), float(d_loss),
                                                     " feat %.4f" % row["feat"] if "feat" in row else ""))
            if time.time() - t_ckpt >= 60 * args.ckpt_minutes:
                checkpoint()
                t_ckpt = time.time()
            if stop:
                log("finetune: deadline reached at step %d" % step)
                break
    checkpoint()
    args.finetune_done = step
    if args.resume and step < steps:
        raise SystemExit("finetune: stopped at step %d of %d; checkpoint in %s: continue with the same "
                         "command and --resume" % (step, steps, ckpt_path))
    if ema is not None:
        student.load_state_dict(ema.state)
        log("finetune: exporting the weights' moving average (--ema %g)" % args.ema)
    student = student.to(memory_format=torch.contiguous_format)
    tensors = export.tensors_from_module(student.cpu(), tensors)
    torch.save({"graph": graph, "tensors": tensors, "steps": step, "init": args.init},
               os.path.join(args.out, "finetune.pt"))
    return graph, tensors
