"""edgetoon student pipeline: search -> finetune -> export (or all, or smoke).

  /usr/bin/python3 train/main.py search   --out DIR [options]
  /usr/bin/python3 train/main.py finetune --out DIR [options]
  /usr/bin/python3 train/main.py export   --out DIR [options]
  /usr/bin/python3 train/main.py all      --out DIR [options]
  /usr/bin/python3 train/main.py smoke    --out DIR     (tiny, a few minutes on 2 cores)
  /usr/bin/python3 train/main.py verify   --model DIR/student.safetensors   (Go inspect + CPU-engine parity)
  /usr/bin/python3 train/main.py unpaired --photos DIR --anime DIR --out DIR --steps N   (U-GAT-IT, unpaired.py)

--data picks the photos: ../shared/images, or a pack made by pack_data.py
(default: ../shared/images if present, else the repo's .trainpack).
--minutes M bounds the wall clock of the whole command (search, finetune
and export): after a few timed steps each stage sets its step count to fit
its share, and stops at its deadline regardless.

Every stage reads and writes its state in --out (default $OUT or
/tmp/edgetoon-train): search.pt, arch.json, search_log.jsonl,
search.png; finetune.pt; student.safetensors, student.onnx, MODEL_CARD.md,
grid.png, report.json. CUDA is used when available.

This file is the command line; the stages are search.py, finetune.py and
release.py (export, verify), and stage.py holds what they share.
"""

import argparse
import os
import sys
import time

# OpenMP's threads spin while they wait for each other; on a CPU shared
# with other busy processes a spinning thread holds the core its partner
# needs, and a 2-thread forward pass ran several times slower than with
# one thread. Passive waiting gives the core back. Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import feature_distill as fd  # noqa: E402
import finetune  # noqa: E402
import gotools  # noqa: E402
import release  # noqa: E402
import search  # noqa: E402
from stage import Budget, amp_for_this_cpu, cpu_bf16_native, log  # noqa: E402


# The search's default cost: latency measured in our WebGL2 runtime
# (headless Chromium on SwiftShader; see testdata/latency/README.md), at
# 1/DEFAULT_SPEEDUP of the teacher's predicted latency, MAC budget kept.
DEFAULT_PREDICTOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "testdata", "latency", "swiftshader_fp32_predictor.json")
DEFAULT_SPEEDUP = 8.0

PRESETS = {
    # A search and fine-tune from the teacher on 2 CPU cores (`make
    # student-search`): 96 px crops, batch 4; the step counts are caps,
    # --minutes decides.
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
    p.add_argument("cmd", choices=["search", "finetune", "export", "all", "smoke", "verify", "eval"])
    p.add_argument("--out", default=os.environ.get("OUT") or "/tmp/edgetoon-train")
    p.add_argument("--model", default=None,
                   help="verify, eval: the model file (default OUT/student.safetensors)")
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
    p.add_argument("--cache-targets", type=int, default=0, metavar="N",
                   help="finetune on N fixed crops whose teacher outputs are computed once and kept in "
                        "--cache-dir (for CPUs, where the teacher costs more than a student step; 0: on the fly)")
    p.add_argument("--cache-dir", default=os.environ.get("EDGETOON_CACHE") or "/tmp/edgetoon-cache")
    p.add_argument("--subsets", default="faces,scenes",
                   help="training photo folders, comma-separated (faces: the portraits the target is measured on)")
    p.add_argument("--crop-min", type=float, help="smallest crop side as a fraction of the photo's short side "
                                                   "(of its long side with --crop-of long)")
    p.add_argument("--crop-of", choices=("short", "long"), default="short",
                   help="crop sides (--crop-min to 1) as fractions of the photo's short side (crops inside the "
                        "photo) or its long side (at 1 the whole photo at the scale `stylize -size` gives it, "
                        "mirrored beyond its edges)")
    p.add_argument("--degrade", type=float, default=0.0,
                   help="the fraction of crops made as from a small photo: shrunk, half of them JPEG-coded, and "
                        "enlarged back as `stylize` enlarges a small photo (data.small_source; CPU crops only)")
    p.add_argument("--preload", dest="preload", action="store_true", default=None,
                   help="decode all photos into memory once (default with CUDA)")
    p.add_argument("--no-preload", dest="preload", action="store_false")
    p.add_argument("--amp", dest="amp", action="store_true", default=None,
                   help="bf16 autocast for student and discriminator (default on CUDA; on a CPU only when asked, "
                        "and dropped on one without AMX or AVX512-BF16, where it is slower; teacher and eval fp32)")
    p.add_argument("--no-amp", dest="amp", action="store_false")
    p.add_argument("--device-aug", dest="device_aug", action="store_true", default=None,
                   help="crop and jitter on the training device (default with CUDA; needs --preload)")
    p.add_argument("--no-device-aug", dest="device_aug", action="store_false")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (off by default)")
    p.add_argument("--eval-size", type=int)
    p.add_argument("--eval-limit", type=int, help="first N eval photos (0 = all)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--init", default=None,
                   help="finetune (and all, then without a search): start from this student model file "
                        "instead of the search's result")
    p.add_argument("--resume", action="store_true",
                   help="finetune in resumable pieces: continue from OUT/finetune_ckpt.pt if there is one, keep its "
                        "planned steps (or take another --finetune-steps: the cosine rate follows the new length "
                        "from there), and export only once they are done")
    p.add_argument("--ckpt-minutes", type=float, default=5.0, help="finetune: minutes between checkpoints")
    p.add_argument("--ema", type=float, default=0, metavar="DECAY",
                   help="finetune: export an exponential moving average of the weights with this decay "
                        "(e.g. 0.999; 0: the last step's weights)")
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
    p.add_argument("--w-sharp", type=float, default=0.0,
                   help="weight of an L1 between the student's and the teacher's edge energy (luma gradient "
                        "magnitude) in 16x16 tiles: keeps the output as sharp as the teacher's")
    p.add_argument("--w-mse", type=float, default=0.0,
                   help="adds W x the mean squared error to the teacher (on [-1,1] pixels): what PSNR measures, "
                        "where L1's optimum is a median")
    p.add_argument("--w-ssim", type=float, default=0.0,
                   help="adds W x (1 - SSIM) to the L1 to the teacher (the eval's SSIM, on [0,1] pixels)")
    p.add_argument("--w-feat", type=float, default=0.0,
                   help="finetune: adds W x the MSE between the student's features at --feat-nodes, through learned "
                        "1x1 adapters, and the teacher's, per channel normalised (GAN Compression's distillation; "
                        "cached with the targets under --cache-targets; 0: off)")
    p.add_argument("--feat-nodes", default=fd.DEFAULT_NODES,
                   help="with --w-feat: comma-separated nodes (a name, or X:in for the input of node or conv X) "
                        "(default %(default)s: the residual trunk's output; generator/LeakyRelu_7 is the decoder's "
                        "feature before the last upsample)")
    p.add_argument("--min-width-gate", action="append", default=[], metavar="GATE=FRAC",
                   help="per-gate --min-width, e.g. R=0.25 keeps the residual stream >= 32 channels (repeatable)")
    p.add_argument("--target-macs", type=float, default=0.8e9,
                   help="MAC budget at 256x256; searching latency, a second constraint (0: none)")
    p.add_argument("--cost", choices=["latency", "macs"], default="latency",
                   help="what the search constrains: predicted latency in our runtime (default; the MAC budget "
                        "--target-macs holds too) or MACs alone")
    p.add_argument("--latency-json", default=None,
                   help="latency predictor (MLP JSON from `edgetoon-lab fit-latency`; default: the committed "
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
    args.replan = args.finetune_steps is not None  # a resumed run takes a length given, not the preset's
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
    try:
        args.feat_nodes = fd.parse_nodes(args.feat_nodes)
    except ValueError as e:
        p.error(str(e))
    if args.w_feat < 0:
        p.error("--w-feat %g: want >= 0" % args.w_feat)
    if args.init and args.cmd == "search":
        p.error("--init starts a fine-tune from a student file: search starts from the teacher")
    return args


def cmd_unpaired(argv):
    """`unpaired --photos DIR --anime DIR --out DIR --steps N [...]`: the U-GAT-IT
    objective on two unpaired folders (unpaired.py; --search also searches G)."""
    import unpaired
    unpaired.main(argv)


def main(argv=None):
    if (sys.argv[1:] if argv is None else argv)[:1] == ["unpaired"]:
        return cmd_unpaired((sys.argv[1:] if argv is None else argv)[1:])
    args = parse(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    if args.cmd == "verify":
        release.verify(args)
        return
    if args.cmd == "eval":
        release.evaluate(args)
        return
    t0 = time.time()
    if args.device_name == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    budget = Budget(args, t0)
    args.amp, note = amp_for_this_cpu(args.amp, args.device_name, cpu_bf16_native())
    if note:
        log(note)
    log("edgetoon train %s on %s: data %s, teacher %s%s" % (
        args.cmd, torch.cuda.get_device_name(0) if args.device_name == "cuda" else "CPU", args.data,
        gotools.teacher_path(), ", budget %.1f min" % args.minutes if args.minutes else ""))
    if args.cmd in ("search", "all", "smoke") and not args.init:
        search.run(args, budget)
    elif args.cmd == "all":
        log("all: --init %s: no search, fine-tune that student and export it" % args.init)
    if args.cmd in ("finetune", "all", "smoke"):
        finetune.run(args, budget)
    if args.cmd in ("export", "all", "smoke"):
        release.run(args)
    log("done in %.1fs; outputs in %s" % (time.time() - t0, args.out))


if __name__ == "__main__":
    main()
