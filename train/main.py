"""edgetoon student pipeline: search -> finetune -> export (or all, or smoke).

  /usr/bin/python3 train/main.py search   --out DIR [options]
  /usr/bin/python3 train/main.py finetune --out DIR [options]
  /usr/bin/python3 train/main.py export   --out DIR [options]
  /usr/bin/python3 train/main.py all      --out DIR [options]
  /usr/bin/python3 train/main.py smoke    --out DIR     (tiny, a few minutes on 2 cores)

Every stage reads and writes its state in --out (default $OUT or
/tmp/edgetoon-train): search.pt, arch.json, search_log.jsonl,
search.png; finetune.pt; student.safetensors, student.onnx, MODEL_CARD.md,
grid.png, report.json. CUDA is used when available.
"""

import argparse
import json
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


def photo_batches(args, seed):
    """Endless NCHW [0,1] batches of augmented training crops."""
    paths = data.list_images(split="train")
    if args.images:
        paths = paths[:args.images]
    ds = data.PhotoDataset(paths, args.size)
    sampler = torch.utils.data.RandomSampler(ds, replacement=True, num_samples=10 ** 9)
    dl = torch.utils.data.DataLoader(ds, batch_size=args.batch, sampler=sampler, num_workers=args.workers,
                                     drop_last=True, persistent_workers=args.workers > 0)
    return iter(dl), len(paths)


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


def cost_fn(net, args, lat):
    """The searched cost (MACs, or predicted latency) and the MACs."""
    g = net.gate_values()
    macs = net.macs(256, g)
    if lat is not None:
        return lat.network_latency(net.conv_configs(256, g)), macs
    return macs, macs


def fix_architecture(net, target, lat=None):
    """The concrete architecture after the search, pruned further (lowest
    logits first) if it is still over the target."""
    arch = net.arch()
    alphas = {k: a.detach().cpu().numpy().copy() for k, a in net.gates.items()}

    def cost(ar):
        if lat is None:
            return sn.arch_macs(ar)
        with torch.no_grad():
            saved = {k: a.detach().clone() for k, a in net.gates.items()}
            for k, bits in ar.items():
                net.gates[k].copy_(torch.tensor(bits, dtype=torch.float32, device=net.gates[k].device))
            c = float(cost_fn(net, None, lat)[0])
            for k, v in saved.items():
                net.gates[k].copy_(v)
            return c

    forced = 0
    while cost(arch) > target:
        best = None
        for k, bits in arch.items():
            on = [i for i, b in enumerate(bits) if b]
            if k not in sn.DEPTH_GATES and len(on) <= 1:
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


def cmd_search(args):
    dev = device_of(args)
    teacher = data.Teacher(gotools.teacher_path(), dev)
    _, tensors = em.read_file(gotools.teacher_path())
    net = sn.Supernet(tensors).to(dev)
    disc = sn.PatchDiscriminator().to(dev)
    lat = sn.LatencyPredictor.from_json(args.latency_json) if args.latency_json else None
    target = args.target_latency if lat is not None else args.target_macs
    opt_w = torch.optim.Adam(list(net.weights.values()) + list(net.biases.values()), args.lr, betas=(0.5, 0.999))
    if args.gate_opt == "sgd":
        # Plain SGD keeps the size of each gate's cost gradient: costly
        # groups (full-resolution, wide inputs) are pushed down faster.
        opt_a = torch.optim.SGD(net.gates.values(), args.lr_gates, momentum=0.9)
    else:
        opt_a = torch.optim.Adam(net.gates.values(), args.lr_gates, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), args.lr, betas=(0.5, 0.999))
    it, n = photo_batches(args, 1)
    log("search: %d training photos at %dpx, batch %d, %d steps on %s; target %s %.4g"
        % (n, args.size, args.batch, args.search_steps, dev, "latency" if lat else "MACs", target))
    rows, prog = [], Progress("search", args.search_steps, args.log_every)
    lam = args.lam
    logf = open(os.path.join(args.out, "search_log.jsonl"), "w")
    for step in range(1, args.search_steps + 1):
        x01 = next(it).to(dev)
        t = teacher(x01)
        s, _ = net(teacher.normalize(x01))
        l1 = (s - t).abs().mean()
        cost, macs = cost_fn(net, args, lat)
        pen = sn.cost_penalty(cost, target)
        g_adv = sn.lsgan_g_loss(disc(s)) if args.w_gan > 0 else torch.zeros((), device=dev)
        total = l1 + args.w_gan * g_adv + lam * pen
        opt_w.zero_grad()
        opt_a.zero_grad()
        total.backward()
        opt_w.step()
        if step > args.gate_warmup:
            opt_a.step()
        net.clamp_gates()
        if step > args.gate_warmup:
            # Dual ascent on lambda: grows while over target, shrinks under it,
            # so the search ends at the target with gates ranked by
            # (distillation importance) / (cost).
            lam = lam * (1 + args.lam_rate) if float(pen) > 0 else max(lam / (1 + args.lam_rate), 1e-6)
        d_loss = torch.zeros(())
        if args.w_gan > 0:
            d_loss = sn.lsgan_d_loss(disc(t), disc(s.detach()))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        w = net.widths()
        row = dict(step=step, l1=float(l1), g_adv=float(g_adv), d=float(d_loss), total=float(total),
                   macs=float(macs), latency=float(cost) if lat else None, target_macs=args.target_macs,
                   penalty=float(pen), lam=lam, widths={k: v for k, v in w.items() if k != "blocks"},
                   blocks=w["blocks"])
        rows.append(row)
        logf.write(json.dumps(row) + "\n")
        prog(step, "l1 %.4f adv %.3f D %.3f GMACs %.3f lam %.3g%s blocks %s" % (
            row["l1"], row["g_adv"], row["d"], row["macs"] / 1e9, lam,
            " lat %.3f" % row["latency"] if lat else "", w["blocks"]))
    logf.close()
    arch, forced = fix_architecture(net, target, lat)
    if forced:
        log("search: still over target at the end; switched off %d more groups (lowest logits)" % forced)
    info = dict(arch=arch, macs=sn.arch_macs(arch), widths=net.widths(arch), forced_groups=forced,
                steps=args.search_steps, size=args.size, target=target,
                cost="latency" if lat else "macs", latency_json=args.latency_json)
    with open(os.path.join(args.out, "arch.json"), "w") as f:
        json.dump(info, f, indent=1)
    torch.save({"supernet": net.state_dict()}, os.path.join(args.out, "search.pt"))
    plot_search(rows, os.path.join(args.out, "search.png"))
    log("search: architecture %s, %.3f GMACs at 256 (teacher %.2f, %.1fx fewer)"
        % (info["widths"], info["macs"] / 1e9, TEACHER_MACS / 1e9, TEACHER_MACS / info["macs"]))
    return info


def build_student(args):
    """The pruned student (GraphModule) from the search's result."""
    graph_t, tensors_t = em.read_file(gotools.teacher_path())
    net = sn.Supernet(tensors_t)
    state = torch.load(os.path.join(args.out, "search.pt"), map_location="cpu")
    net.load_state_dict(state["supernet"])
    with open(os.path.join(args.out, "arch.json")) as f:
        arch = json.load(f)["arch"]
    return export.extract_student(net, arch, graph_t)


def cmd_finetune(args):
    dev = device_of(args)
    graph, tensors = build_student(args)
    student = em.GraphModule(graph, tensors).to(dev)
    teacher = data.Teacher(gotools.teacher_path(), dev)
    disc = sn.PatchDiscriminator().to(dev)
    opt = torch.optim.Adam(student.parameters(), args.lr, betas=(0.5, 0.999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(args.finetune_steps, 1))
    opt_d = torch.optim.Adam(disc.parameters(), args.lr, betas=(0.5, 0.999))
    it, n = photo_batches(args, 2)
    log("finetune: %.3f GMACs student, %d photos at %dpx, batch %d, %d steps on %s"
        % (em.macs(graph, tensors) / 1e9, n, args.size, args.batch, args.finetune_steps, dev))
    prog = Progress("finetune", args.finetune_steps, args.log_every)
    with open(os.path.join(args.out, "finetune_log.jsonl"), "w") as logf:
        for step in range(1, args.finetune_steps + 1):
            x01 = next(it).to(dev)
            t = teacher(x01)
            s = student(teacher.normalize(x01))
            l1 = (s - t).abs().mean()
            g_adv = sn.lsgan_g_loss(disc(s)) if args.w_gan > 0 else torch.zeros((), device=dev)
            loss = l1 + args.w_gan * g_adv
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            d_loss = torch.zeros(())
            if args.w_gan > 0:
                d_loss = sn.lsgan_d_loss(disc(t), disc(s.detach()))
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
            logf.write(json.dumps(dict(step=step, l1=float(l1), g_adv=float(g_adv), d=float(d_loss))) + "\n")
            prog(step, "l1 %.4f adv %.3f D %.3f" % (float(l1), float(g_adv), float(d_loss)))
    tensors = export.tensors_from_module(student.cpu(), tensors)
    torch.save({"graph": graph, "tensors": tensors}, os.path.join(args.out, "finetune.pt"))
    return graph, tensors


@torch.no_grad()
def fidelity(student, teacher, size, limit=None, dev="cpu", batch=8):
    """Mean PSNR/SSIM of student vs teacher on the eval split at size (RGB, [0,255])."""
    xs, paths = data.eval_images(size, limit=limit)
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


def save_grid(student, teacher, path, size, n=4, dev="cpu"):
    """Rows of photo | student | teacher for the first n eval photos (PNG)."""
    from PIL import Image
    xs, _ = data.eval_images(size, limit=n)
    with torch.no_grad():
        x01 = xs.to(dev)
        t = em.denormalize(teacher(x01), teacher.graph).clamp(0, 1).cpu()
        s = em.denormalize(student(teacher.normalize(x01)), teacher.graph).clamp(0, 1).cpu()
    rows = [torch.cat([xs[i], s[i], t[i]], dim=2) for i in range(len(xs))]
    img = (torch.cat(rows, dim=1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(img).save(path)


def cmd_export(args):
    dev = device_of(args)
    state = torch.load(os.path.join(args.out, "finetune.pt"), map_location="cpu")
    graph, tensors = state["graph"], state["tensors"]
    path = os.path.join(args.out, "student.safetensors")
    em.write_file(path, graph, tensors, args.dtype)
    # Everything below uses the file as written (F16 rounding included).
    graph, tensors = em.read_file(path)
    student = em.GraphModule(graph, tensors).eval()
    export.export_onnx(student, os.path.join(args.out, "student.onnx"), size=args.onnx_size)
    inspect = gotools.go_inspect(path)
    with open(os.path.join(args.out, "inspect.txt"), "w") as f:
        f.write(inspect)
    # Parity with the Go CPU engine on a small photo crop.
    xs, _ = data.eval_images(args.parity_size, limit=1)
    x = em.normalize(xs, graph)
    with torch.no_grad():
        want = student(x)[0].permute(1, 2, 0).numpy()
    got = gotools.go_run_model(path, x[0].permute(1, 2, 0).numpy())
    parity = float(np.abs(got - want).max())
    log("export: Go CPU vs PyTorch on the exported file, %dx%d: max abs error %.3g"
        % (args.parity_size, args.parity_size, parity))
    teacher = data.Teacher(gotools.teacher_path(), dev)
    student.to(dev)
    fid = fidelity(student, teacher, args.eval_size, args.eval_limit, dev)
    log("export: fidelity vs teacher on eval at %d: PSNR %.2f dB, SSIM %.4f (%d images)"
        % (args.eval_size, fid["psnr"], fid["ssim"], fid["n"]))
    save_grid(student, teacher, os.path.join(args.out, "grid.png"), args.eval_size, dev=dev)
    with open(os.path.join(args.out, "arch.json")) as f:
        arch = json.load(f)
    training = ("Search: %d steps at %dpx (cost: %s, target %.4g, lambda %g, GAN weight %g); fine-tune: %d steps, "
                "batch %d, Adam lr %g cosine; photos: %s (faces/ and scenes/, minus eval.txt), random crops "
                "(scale 0.4-1), flips, brightness/contrast/saturation jitter +-20%%; targets: the teacher's "
                "outputs, on the fly; device %s." % (
                    arch["steps"], arch["size"], arch["cost"], arch["target"], args.lam, args.w_gan,
                    args.finetune_steps, args.batch, args.lr, data.IMAGES, dev))
    export.model_card(os.path.join(args.out, "MODEL_CARD.md"), graph, tensors, TEACHER_MACS, fid, training)
    report = dict(file=path, macs=em.macs(graph, tensors), params=export.param_count(tensors),
                  go_parity_max_abs=parity, fidelity=fid, arch=arch["widths"])
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    log(inspect)
    return report


PRESETS = {
    # The full run (2-core CPU budget about 2 h; much faster with CUDA).
    "full": dict(size=128, batch=8, search_steps=1500, finetune_steps=3000, images=0,
                 eval_size=256, eval_limit=0, lr_gates=0.01, gate_warmup=50, log_every=25),
    # The CI smoke run: tiny crops, a few steps, 4 photos, 4 eval photos.
    "smoke": dict(size=32, batch=2, search_steps=12, finetune_steps=6, images=4,
                  eval_size=64, eval_limit=4, lr_gates=0.05, gate_warmup=2, log_every=4),
}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["search", "finetune", "export", "all", "smoke"])
    p.add_argument("--out", default=os.environ.get("OUT") or "/tmp/edgetoon-train")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="defaults for the options below (smoke for the smoke command, else full)")
    p.add_argument("--size", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--search-steps", type=int)
    p.add_argument("--finetune-steps", type=int)
    p.add_argument("--images", type=int, help="use only the first N training photos (0 = all)")
    p.add_argument("--eval-size", type=int)
    p.add_argument("--eval-limit", type=int, help="first N eval photos (0 = all)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lr-gates", type=float)
    p.add_argument("--gate-warmup", type=int)
    p.add_argument("--gate-opt", choices=["sgd", "adam"], default="adam")
    p.add_argument("--log-every", type=int)
    p.add_argument("--lam", type=float, default=0.01, help="initial weight of max(0, cost - target)/target")
    p.add_argument("--lam-rate", type=float, default=0.05, help="lambda *= 1+rate per step over target, /= under")
    p.add_argument("--w-gan", type=float, default=0.05)
    p.add_argument("--target-macs", type=float, default=0.8e9)
    p.add_argument("--latency-json", default=None, help="latency predictor (MLP JSON); search latency, not MACs")
    p.add_argument("--target-latency", type=float, default=None)
    p.add_argument("--dtype", choices=["F16", "F32"], default="F16")
    p.add_argument("--onnx-size", type=int, default=256)
    p.add_argument("--parity-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    preset = PRESETS[args.preset or ("smoke" if args.cmd == "smoke" else "full")]
    for k, v in preset.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.workers is None:
        args.workers = 0 if args.cmd == "smoke" else min(4, os.cpu_count() or 1) if torch.cuda.is_available() else 0
    if args.latency_json and args.target_latency is None:
        p.error("--latency-json needs --target-latency")
    return args


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    if args.cmd in ("search", "all", "smoke"):
        cmd_search(args)
    if args.cmd in ("finetune", "all", "smoke"):
        cmd_finetune(args)
    if args.cmd in ("export", "all", "smoke"):
        cmd_export(args)
    log("done in %.1fs; outputs in %s" % (time.time() - t0, args.out))


if __name__ == "__main__":
    main()
