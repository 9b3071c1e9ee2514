"""The export and verify stages: the fine-tuned student as our model file
(F16), ONNX, model card, grid and report, its fidelity to the teacher on
the eval split, and the Go checks (inspect, CPU-engine parity).
"""

import json
import os
import subprocess
import sys

import numpy as np
import torch

import data
import edgetoon_model as em
import export
import gotools
import metrics
from stage import TEACHER_MACS, amp_on, device_of, load_pt, log, loss_text


@torch.no_grad()
def fidelity(student, teacher, size, limit=None, dev="cpu", root=None):
    """Student vs teacher on whole photos at size px on the longer side,
    aspect kept (as `edgetoon stylize -size` runs them), RGB in [0,255]:
    for the eval split, its portraits (faces/) and the held-out sources,
    the mean PSNR and SSIM and the sharpness ratio (the student's mean
    gradient magnitude over the teacher's: below 1 is blurrier). Each
    network sees the photo padded to its own size multiple, as the CLI
    pads it."""
    root = root or data.IMAGES
    m_t = teacher.graph.get("size_multiple", 4)
    m_s = getattr(student, "graph", {}).get("size_multiple", m_t)
    rows = {}
    for split in ("eval", "heldout"):
        base = data.split_root(root, split)
        for p in data.list_images(root, split)[:limit or None]:
            x, fw, fh = data.photo_at(os.path.join(base, p), size, 1)  # decoded once, padded per network
            x = x.to(dev)
            t = metrics.to_255(em.denormalize(teacher(data.pad_to(x, m_t)), teacher.graph))[..., :fh, :fw]
            s = metrics.to_255(em.denormalize(student(teacher.normalize(data.pad_to(x, m_s))), teacher.graph))[..., :fh, :fw]
            rows.setdefault(split, []).append(compare(p, s, t))
    return summarize(rows, size)


def compare(photo, s, t):
    """One photo's row for summarize: student and teacher NCHW in [0,255]."""
    return (photo, float(metrics.psnr(s, t)), float(metrics.ssim(s, t)),
            float(metrics.sharpness(s)), float(metrics.sharpness(t)))


def summarize(rows, size):
    """fidelity's result from its rows per split ("eval", "heldout"): the
    eval split, its portraits (faces/) and the held-out sources, each the
    mean PSNR and SSIM and the ratio of summed sharpness."""
    out = dict(size=size, sets={})
    for name, split, keep in (("eval", "eval", None), ("eval portraits", "eval", "faces/"),
                              ("held-out sources", "heldout", None)):
        r = [row for row in rows.get(split, []) if keep is None or row[0].startswith(keep)]
        if r:
            out["sets"][name] = dict(n=len(r), psnr=sum(x[1] for x in r) / len(r), ssim=sum(x[2] for x in r) / len(r),
                                     sharpness=sum(x[3] for x in r) / sum(x[4] for x in r))
    out["sources"] = list(data.HELDOUT_SOURCES)
    return out


def fidelity_text(fid):
    """One line per set of a fidelity() result."""
    return "\n".join("%s (%d photos): PSNR %.2f dB, SSIM %.4f, sharpness %.3fx the teacher's"
                     % (k, v["n"], v["psnr"], v["ssim"], v["sharpness"]) for k, v in fid["sets"].items())


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


def save_curves(log_path, png, title):
    """The fine-tune's learning curve: L1 to the teacher on its training
    batches, per step and as a running mean over 50 steps (PNG). Returns
    False where there is no log or no matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not available (apt-get install python3-matplotlib): no learning curve")
        return False
    if not os.path.exists(log_path):
        return False
    with open(log_path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        return False
    steps = np.array([r["step"] for r in rows])
    l1 = np.array([r["l1"] for r in rows])
    run = np.convolve(l1, np.ones(50) / 50, mode="valid") if len(l1) >= 50 else l1
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    ax.plot(steps, l1, color="0.8", lw=0.6, label="batch")
    ax.plot(steps[len(steps) - len(run):], run, color="C0", lw=1.6, label="running mean (50 steps)")
    ax.set_xlabel("fine-tune step")
    ax.set_ylabel("L1 to the teacher (network range)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return True


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


def run(args):
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
    log("export: fidelity vs teacher, whole photos at %d px on the longer side:\n%s"
        % (args.eval_size, fidelity_text(fid)))
    save_grid(student, teacher, os.path.join(args.out, "grid.png"), args.eval_size, dev=dev, root=args.data)
    sets = fid["sets"]
    save_curves(os.path.join(args.out, "finetune_log.jsonl"), os.path.join(args.out, "curves.png"),
                "; ".join("%s %.2f dB" % (k, v["psnr"]) for k, v in sets.items()) + " (after the last step)")
    dev_name = torch.cuda.get_device_name(0) if dev == "cuda" else "CPU (%d threads)" % args.threads
    common = ("fine-tune: %d steps at %dpx, batch %d, Adam lr %g cosine; loss: %s; photos: %s (%s, minus the "
              "eval split and the held-out sources), random crops (side %g-1 of the photo's %s side%s), flips, brightness/contrast/saturation jitter +-20%%; "
              "targets: the teacher's outputs, %s; device %s%s." % (
                  ft_steps, args.size, args.batch, args.lr, loss_text(args), args.data,
                  " and ".join(s + "/" for s in args.subsets), args.crop_min, getattr(args, "crop_of", "short"),
                  ", mirrored beyond its edges" if getattr(args, "crop_of", "short") == "long" else "",
                  "for %d fixed crops, computed once" % args.cache_targets if args.cache_targets else "on the fly",
                  dev_name,
                  ", bf16 autocast" if amp_on(args) else ""))
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


def evaluate(args):
    """`eval --model F`: F's fidelity to the teacher (fidelity()), printed
    and written to OUT/fidelity.json."""
    path = args.model or os.path.join(args.out, "student.safetensors")
    dev = device_of(args)
    student = em.GraphModule(*em.read_file(path)).eval().to(dev)
    fid = fidelity(student, data.Teacher(gotools.teacher_path(), dev), args.eval_size, args.eval_limit, dev,
                   root=args.data)
    fid["model"] = path
    log("eval: %s vs the teacher, whole photos at %d px on the longer side:\n%s"
        % (path, args.eval_size, fidelity_text(fid)))
    with open(os.path.join(args.out, "fidelity.json"), "w") as f:
        json.dump(fid, f, indent=1)
    return fid


def verify(args):
    """The Go-side checks of a model file made elsewhere (e.g. on a GPU
    machine without Go): `edgetoon inspect` and Go CPU engine vs PyTorch.
    Updates report.json next to the model, if there is one."""
    path = args.model or os.path.join(args.out, "student.safetensors")
    try:
        inspect, parity = go_checks(path, args.parity_size, args.data)
    except (OSError, ValueError) as e:  # unreadable or corrupt file
        sys.exit("verify: %s: %s" % (path, e))
    except subprocess.CalledProcessError as e:  # read here, refused by Go: say Go's reason
        sys.exit("verify: %s: %s\n%s" % (path, e, (e.stderr or "").strip()))
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
