"""Turn a searched architecture into a compact model: drop dead channels and
skipped blocks physically, and write it as an edgetoon model file (graph
spec mirroring the teacher's), as ONNX, and with a model card.
"""

import copy
import inspect
import json
import math
import warnings

import numpy as np
import torch

import edgetoon_model as em
import superkernel as sk
from supernet import CONVS, DEPTH_GATES, GROUP, KERNEL_GATES, N_BLOCKS, block_of

LICENSE = "CC BY-NC-SA 4.0 (derived from the White-box Cartoonization teacher)"
PROVENANCE = ("edgetoon student: searched and distilled (train/, issue 6) from the White-box "
              "Cartoonization generator (Wang & Yu, CVPR 2020), itself CC BY-NC-SA 4.0")

# The teacher's node name of each conv's output.
CONV_NODE = {
    "c0": "generator/LeakyRelu", "c1": "generator/LeakyRelu_1", "c2": "generator/LeakyRelu_2",
    "c3": "generator/LeakyRelu_3", "c4": "generator/LeakyRelu_4", "c5": "generator/LeakyRelu_5",
    "c6": "generator/LeakyRelu_6", "c7": "generator/LeakyRelu_7", "c8": "generator/LeakyRelu_8",
    "c9": "generator/Conv_9/BiasAdd",
}
for _i in range(N_BLOCKS):
    CONV_NODE["b%d_1" % _i] = "generator/block_%d/LeakyRelu" % _i
    CONV_NODE["b%d_2" % _i] = "generator/block_%d/conv2/BiasAdd" % _i


def _node(name, op, inputs, **attrs):
    n = {"name": name, "op": op, "inputs": list(inputs)}
    n.update(attrs)
    return n


def _conv_node(name, inputs, stride, act):
    attrs = dict(stride=[stride, stride], dilation=[1, 1], padding="same")
    if act:
        attrs.update(act="leaky_relu", alpha=0.2)
    return _node(name, "conv2d", inputs, **attrs)


def extract_student(net, arch, teacher_graph, name="edgetoon-student"):
    """Physically pruned graph spec and tensors (file layout [O,KH,KW,I]) of
    the supernet `net` restricted to `arch` (0/1 lists per gate): each
    searched conv's kernel is the centre crop of its superkernel at the
    side the arch chooses (the teacher's for an arch without kernel bits).

    The guided filter nodes and the eps constant are copied from the teacher.
    """
    keep = {}
    for g, bits in arch.items():
        if g not in DEPTH_GATES and g not in KERNEL_GATES:
            keep[g] = np.repeat(np.asarray(bits, bool), GROUP)
    tensors, nodes = {}, []
    value = {"x": "input_photo"}  # what feeds the next conv

    def conv(cname, src):
        _, prefix, k, s, gin, gout, scale, act = [c for c in CONVS if c[0] == cname][0]
        w = net.weights[cname].detach().cpu()
        if cname in sk.KERNEL_CONVS:
            w = sk.crop(w, sk.kernel_of(arch, cname))
        w = w.numpy().transpose(0, 2, 3, 1)  # -> [O,KH,KW,I]
        b = net.biases[cname].detach().cpu().numpy()
        if gout is not None:
            w, b = w[keep[gout]], b[keep[gout]]
        if gin is not None:
            w = w[:, :, :, keep[gin]]
        tensors[prefix + "/Conv2D"] = np.ascontiguousarray(w, dtype=np.float32)
        tensors[prefix + "/biases"] = np.ascontiguousarray(b, dtype=np.float32)
        nodes.append(_conv_node(CONV_NODE[cname], [src, prefix + "/Conv2D", prefix + "/biases"], s, act))
        return CONV_NODE[cname]

    a = conv("c0", "input_photo")
    h = conv("c1", a)
    b = conv("c2", h)
    h = conv("c3", b)
    r = conv("c4", h)
    for i in range(N_BLOCKS):
        if not arch["d%d" % i][0]:
            continue
        t = conv("b%d_1" % i, r)
        t = conv("b%d_2" % i, t)
        add = "generator/block_%d/add" % i
        nodes.append(_node(add, "add", [t, r]))
        r = add
    h = conv("c5", r)
    nodes.append(_node("generator/ResizeBilinear", "resize", [h], mode="bilinear", scale=[2, 2]))
    nodes.append(_node("generator/add", "add", ["generator/ResizeBilinear", b]))
    h = conv("c6", "generator/add")
    h = conv("c7", h)
    nodes.append(_node("generator/ResizeBilinear_1", "resize", [h], mode="bilinear", scale=[2, 2]))
    nodes.append(_node("generator/add_1", "add", ["generator/ResizeBilinear_1", a]))
    h = conv("c8", "generator/add_1")
    conv("c9", h)
    # The guided filter, verbatim from the teacher (reads input_photo,
    # generator/Conv_9/BiasAdd and the constant add/y).
    tnodes = teacher_graph["nodes"]
    start = [i for i, n in enumerate(tnodes) if n["name"] == CONV_NODE["c9"]][0] + 1
    for n in tnodes[start:]:
        nodes.append(copy.deepcopy(n))
    tensors["add/y"] = np.array([net.eps], np.float32)
    graph = {
        "version": 1, "name": name, "input": "input_photo", "input_channels": 3,
        "output": teacher_graph["output"],
        "norm": {"scale": [2, 2, 2], "bias": [-1, -1, -1]},
        "denorm": {"scale": [0.5, 0.5, 0.5], "bias": [0.5, 0.5, 0.5]},
        "nominal_size": 256, "size_multiple": 4,
        "nodes": nodes, "provenance": PROVENANCE, "license": LICENSE,
    }
    return graph, tensors


def tensors_from_module(gm, tensors):
    """Current weights of a (fine-tuned) GraphModule in file layout; constants
    that are not parameters are taken from `tensors` unchanged."""
    out = {}
    for name, arr in tensors.items():
        key = gm._pname[name]
        if key not in gm.params:
            out[name] = np.asarray(arr, np.float32)
            continue
        t = gm.params[key].detach().cpu().numpy()
        out[name] = t.transpose(0, 2, 3, 1).copy() if t.ndim == 4 else t.copy()
    return out


def export_onnx(gm, path, size=256):
    """Export a GraphModule to ONNX (opset 13), input NCHW [1,3,size,size]
    normalized to [-1,1]; dynamic height and width are not declared (the
    TF-style index tables are traced for this size)."""
    gm = gm.cpu().eval()
    x = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about int(shape): intended
        kw = dict(opset_version=13, input_names=["input_photo"], output_names=["final_output"])
        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            kw["dynamo"] = False  # torch >= 2.9 defaults to the dynamo exporter (needs onnxscript)
        torch.onnx.export(gm, (x,), path, **kw)
    try:
        import onnx
        onnx.checker.check_model(onnx.load(path))
    except ImportError:
        pass


def param_count(tensors):
    """Number of weights in a model's tensors."""
    return int(sum(np.asarray(t).size for t in tensors.values()))


def describe_arch(graph, tensors, size=256):
    """Rows (node, op, output channels, params, MMACs) of a model at size."""
    rows, shapes = [], {graph["input"]: (size, size, graph["input_channels"])}
    for n in graph["nodes"]:
        x = shapes.get(n["inputs"][0])
        if n["op"] == "conv2d":
            w = tensors[n["inputs"][1]]
            s = n["stride"][0] or 1
            oh = math.ceil(x[0] / s)
            m = oh * oh * w.size
            shapes[n["name"]] = (oh, oh, w.shape[0])
            rows.append((n["name"], "conv%dx%d/s%d" % (w.shape[1], w.shape[2], s),
                         "%dx%dx%d" % (oh, oh, w.shape[0]), w.size + w.shape[0], m / 1e6))
        elif n["op"] == "resize":
            shapes[n["name"]] = (x[0] * 2, x[1] * 2, x[2])
        else:
            shapes[n["name"]] = x
    return rows


def model_card(path, graph, tensors, teacher_macs, fidelity, training, latency=None, size=256):
    """Write a Markdown model card next to the model file."""
    m = em.macs(graph, tensors, size)
    rows = describe_arch(graph, tensors, size)
    lines = [
        "# %s" % graph["name"], "",
        "Compact photo-to-cartoon generator for edgetoon, found by latency/MAC-driven "
        "differentiable architecture search over the White-box Cartoonization generator "
        "(channel gates per group of %d channels, residual-block depth gates, kernel sides of the "
        "full-resolution convs, straight-through estimator) and distilled from it (L1 + LSGAN patch discriminator)." % GROUP, "",
        "## Numbers at %dx%d" % (size, size), "",
        "| | student | teacher |", "|---|---|---|",
        "| MACs | %.3f G | %.3f G |" % (m / 1e9, teacher_macs / 1e9),
        "| reduction | %.1fx | 1x |" % (teacher_macs / max(m, 1)),
        "| parameters | %.3f M | 1.467 M |" % (param_count(tensors) / 1e6),
    ]
    if latency:  # row name -> (student, teacher) or a student-only value
        for k, v in latency.items():
            st, te = v if isinstance(v, tuple) else (v, "")
            lines.append("| %s | %s | %s |" % (k, st, te))
    lines += ["", "## Fidelity to the teacher", ""]
    if fidelity:
        lines += ["Whole photos at %d px on the longer side, aspect kept (as `edgetoon stylize -size %d` runs "
                  "them), RGB in [0,255]; sharpness = the student's mean gradient magnitude (luma, both axes) "
                  "over the teacher's. Held-out sources: every photo of %s (FILES.tsv), kept out of training and model selection."
                  % (fidelity["size"], fidelity["size"], ", ".join(fidelity["sources"])), "",
                  "| set | photos | PSNR | SSIM | sharpness |", "|---|---|---|---|---|"]
        for k, v in fidelity["sets"].items():
            lines.append("| %s | %d | %.2f dB | %.4f | %.3fx |" % (k, v["n"], v["psnr"], v["ssim"], v["sharpness"]))
    else:
        lines += ["Not measured."]
    lines += ["", "## Architecture", "", "| node | op | output | params | MMACs |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %s | %s | %d | %.1f |" % r)
    lines += ["", "Then the teacher's guided filter (radius 1, eps %g), parameter-free." %
              float(np.asarray(tensors["add/y"]).reshape(-1)[0]), "",
              "## Training", "", training, "",
              "## Licence", "",
              "%s. The teacher's weights are CC BY-NC-SA 4.0 (White-box Cartoonization, Wang & Yu, "
              "CVPR 2020); this student is a derivative of them (initialised from and distilled from "
              "the teacher), so the same licence applies: non-commercial use, attribution, share-alike."
              % LICENSE, ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return "\n".join(lines)
