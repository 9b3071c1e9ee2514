"""Reshape a trained student without starting over: widen channel groups
and shrink kernels, keeping what it has learned.

The shipped student spends most of its MACs on three full-resolution
layers while its residual trunk, where the cartoon is made, is 16 channels
wide. grow moves budget from the first to the second:

  * widen: new output channels of a group's producers start at zero bias
    and tiny weights, the matching new input channels of its consumers at
    tiny weights, so the grown network computes (almost) the same function
    as the old one and every new weight still gets a gradient (Net2Net's
    function-preserving widening, Chen et al. 2016, with noise in place of
    copies so that new channels do not mirror old ones).
  * shrink: a k x k kernel becomes k' x k', refitted by least squares so
    that on training photos it computes what the k x k one did (its input
    features are smooth, so a smaller kernel can take over most of what
    the outer ring did; the centred part alone is a poor start).

    /usr/bin/python3 train/grow.py IN.safetensors OUT.safetensors \\
        [--width R=24 --width inner=24] [--kernel generator/Conv_9/Conv2D=5]

Groups of the White-box family (tensor names as in our model files): R,
the residual stream (Conv_4 and each block's conv2 write it; each block's
conv1 and Conv_5 read it); inner, the blocks' hidden channels; and the
outputs of the convs that only the next conv reads (CHAINS: Conv_1,
Conv_3, Conv_6 and Conv_8, whose reader is Conv_2, Conv_4, Conv_7 and
Conv_9). A kernel named larger than it is grows by a ring of zeros, which
keeps the function exactly.
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import edgetoon_model as em  # noqa: E402


def blocks(tensors):
    """The residual blocks' name prefixes, e.g. "generator/block_0/"."""
    return ["generator/%s/" % b for b in sorted({n.split("/")[1] for n in tensors
                                                 if n.startswith("generator/block_")})]


def residual_stream(tensors, graph=None):
    """(producers, consumers) of the residual stream R: Conv_4 and each
    block's conv2 write it; each block's conv1 and Conv_5 read it, and so
    does each context branch grown on it (add_context at a node of R), whose
    last conv writes it back. Those branches are found in the graph, which
    is needed when a student has any."""
    bs = blocks(tensors)
    producers = ["generator/Conv_4/Conv2D"] + [b + "conv2/Conv2D" for b in bs]
    consumers = [b + "conv1/Conv2D" for b in bs] + ["generator/Conv_5/Conv2D"]
    if not any(n.startswith("generator/context") for n in tensors):
        return producers, consumers
    if graph is None:
        raise ValueError("residual_stream: the student has context branches: pass its graph")
    nodes = graph["nodes"]
    writers = {n["name"]: n["inputs"][1] for n in nodes if n["op"] == "conv2d"}
    on_r = {n for n, w in writers.items() if w in producers}  # conv nodes that write R
    on_r |= {n["name"] for n in nodes if n["op"] == "add" and n["name"].startswith("generator/block_")}
    for n in nodes:
        pre = n["name"].rsplit("/", 1)[0] + "/"
        if n["op"] == "conv2d" and pre.startswith("generator/context") and n["inputs"][0] in on_r:
            convs = sorted((w for w in tensors if w.startswith(pre + "Conv_") and w.endswith("/Conv2D")),
                           key=lambda w: int(w[len(pre) + 5:].split("/")[0]))
            consumers.append(convs[0])
            producers.append(convs[-1])
    return producers, consumers


def widen(tensors, producers, consumers, width, rng, scale=0.05):
    """Grow the channel group that producers write (weights OHWI, axis 0)
    and consumers read (axis 3) to width channels. New producer rows get
    weights of scale x the old ones' std and zero bias; new consumer
    columns likewise. Returns the new tensors (the old ones untouched)."""
    out = dict(tensors)
    for name in producers:
        w = np.asarray(tensors[name], np.float32)
        old = w.shape[0]
        if width < old:
            raise ValueError("%s: %d output channels, cannot widen to %d" % (name, old, width))
        extra = rng.normal(0, scale * w.std(), (width - old,) + w.shape[1:]).astype(np.float32)
        out[name] = np.concatenate([w, extra], axis=0)
        b = name.rsplit("/", 1)[0] + "/biases"
        out[b] = np.concatenate([np.asarray(tensors[b], np.float32), np.zeros(width - old, np.float32)])
    for name in consumers:
        w = np.asarray(tensors[name], np.float32)
        old = w.shape[3]
        extra = rng.normal(0, scale * w.std(), w.shape[:3] + (width - old,)).astype(np.float32)
        out[name] = np.concatenate([w, extra], axis=3)
    return out


def shrink_kernel(tensors, name, k):
    """The centred k x k part of a square kernel (OHWI)."""
    w = np.asarray(tensors[name], np.float32)
    kh = w.shape[1]
    if w.shape[2] != kh or k > kh or (kh - k) % 2:
        raise ValueError("%s: kernel %dx%d cannot become %dx%d" % (name, kh, w.shape[2], k, k))
    c = (kh - k) // 2
    out = dict(tensors)
    out[name] = w[:, c:c + k, c:c + k, :].copy()
    return out


@torch.no_grad()
def refit_kernel(graph, old, new, weight, photos):
    """Least-squares weights and bias of the stride-1 conv whose kernel is
    `weight` in new (already its new size), so that its output (before its
    activation) matches the conv's in old on photos (NCHW in [0,1]).
    Returns new with the refitted conv."""
    node = next(n for n in graph["nodes"] if n["op"] == "conv2d" and n["inputs"][1] == weight)
    if any(s not in (0, 1) for s in node.get("stride", [1, 1])):
        raise ValueError("%s: refit needs a stride-1 conv" % weight)
    vals = em.GraphModule(graph, old).eval()(em.normalize(photos, graph), return_values=True)
    x = vals[node["inputs"][0]].double()
    w_old = torch.from_numpy(np.asarray(old[weight], np.float64)).permute(0, 3, 1, 2)
    b_old = torch.from_numpy(np.asarray(old[node["inputs"][2]], np.float64))
    y = em.conv2d_same(x, w_old, b_old)
    o, k, _, c = np.asarray(new[weight]).shape
    cols = F.unfold(x, k, padding=k // 2)  # SAME for odd k, stride 1; N, c*k*k, HW in (c, kh, kw) order
    cols = torch.cat([cols, torch.ones_like(cols[:, :1])], 1).permute(0, 2, 1).reshape(-1, c * k * k + 1)
    a, b = cols.T @ cols, cols.T @ y.flatten(2).permute(0, 2, 1).reshape(-1, o)
    sol = torch.linalg.solve(a + 1e-6 * a.diagonal().mean() * torch.eye(len(a), dtype=a.dtype), b)
    out = dict(new)
    out[weight] = sol[:-1].T.reshape(o, c, k, k).permute(0, 2, 3, 1).numpy().astype(np.float32)
    out[node["inputs"][2]] = sol[-1].numpy().astype(np.float32)
    return out


def training_crops(n, size=160):
    """n centred crops of training portraits, spread over the split."""
    paths = data.list_images(split="train", subsets=("faces",))
    paths = paths[::max(len(paths) // n, 1)][:n]
    return torch.stack([data.to_tensor(data.center_crop(data.load_rgb(os.path.join(data.IMAGES, p)), size))
                        for p in paths])


def grow(tensors, widths=None, kernels=None, seed=0, graph=None):
    """widths: {"R": n, "inner": n}; kernels: {weight name: k}; graph:
    the student's, needed to widen R past its context branches."""
    rng = np.random.default_rng(seed)
    for group, n in sorted((widths or {}).items()):
        if group == "R":
            tensors = widen(tensors, *residual_stream(tensors, graph), n, rng)
        elif group == "inner":
            for b in blocks(tensors):
                tensors = widen(tensors, [b + "conv1/Conv2D"], [b + "conv2/Conv2D"], n, rng)
        elif group in CHAINS:
            tensors = widen(tensors, ["generator/%s/Conv2D" % group], ["generator/%s/Conv2D" % CHAINS[group]], n, rng)
        else:
            raise ValueError("group %r: want R, inner or one of %s" % (group, ", ".join(sorted(CHAINS))))
    for name, k in (kernels or {}).items():
        if k > np.asarray(tensors[name]).shape[1]:
            tensors = pad_kernel(tensors, name, k)
        else:
            tensors = shrink_kernel(tensors, name, k)
    return tensors


# CHAINS maps each conv of the White-box family whose output only the next
# conv reads (no skip add, not the residual stream) to that reader.
CHAINS = {"Conv_1": "Conv_2", "Conv_3": "Conv_4", "Conv_6": "Conv_7", "Conv_8": "Conv_9"}


def pad_kernel(tensors, name, k):
    """A square kernel (OHWI) grown to k x k by a ring of zeros: the same
    conv (its padding is SAME, so the output keeps its place)."""
    w = np.asarray(tensors[name], np.float32)
    kh = w.shape[1]
    if w.shape[2] != kh or (k - kh) % 2:
        raise ValueError("%s: kernel %dx%d cannot become %dx%d" % (name, kh, w.shape[2], k, k))
    c = (k - kh) // 2
    out = dict(tensors)
    out[name] = np.pad(w, ((0, 0), (c, c), (c, c), (0, 0)))
    return out


def add_context(graph, tensors, at, width, convs=3, seed=0, scale=1e-3):
    """Add a context branch at half the resolution of node `at` (a
    residual-stream sum, e.g. "generator/block_1/add", or a layer of an
    earlier branch, which nests a branch at a quarter): a stride-2 3x3 conv
    to width channels, convs 3x3 convs at width, a 3x3 conv back to the
    stream's channels, bilinear x2, added to the stream. Parameters there
    cost a quarter of the MACs they cost in the trunk, and the branch sees
    four times the context. Its last conv starts with tiny weights and zero
    bias, so the grown network computes (almost) what the old one did.
    The graph's size multiple doubles (the branch halves the trunk).
    Each branch gets the first free prefix of generator/context/,
    generator/context_1/, ... Returns (graph, tensors), the inputs
    untouched."""
    rng = np.random.default_rng(seed)
    nodes = graph["nodes"]
    if not any(n["name"] == at for n in nodes):
        raise ValueError("context: no node %r" % at)
    src = next(n for n in nodes if n["op"] == "conv2d" and at in n["inputs"])
    chans = np.asarray(tensors[src["inputs"][1]]).shape[3]
    tensors, new, prev, cin = dict(tensors), [], at, chans
    names = {n["name"] for n in nodes}
    pre = next(p for p in ("generator/context%s/" % ("_%d" % i if i else "") for i in range(len(nodes)))
               if p + "add" not in names)
    for i in range(convs + 2):
        last = i == convs + 1
        cout = chans if last else width
        w = pre + "Conv_%d/Conv2D" % i
        std = scale if last else np.sqrt(2 / (1 + 0.2 ** 2) / (9 * cin))  # He init for leaky ReLU 0.2
        tensors[w] = rng.normal(0, std, (cout, 3, 3, cin)).astype(np.float32)
        tensors[pre + "Conv_%d/biases" % i] = np.zeros(cout, np.float32)
        node = {"name": pre + ("BiasAdd" if last else "LeakyRelu_%d" % i), "op": "conv2d",
                "inputs": [prev, w, pre + "Conv_%d/biases" % i], "stride": [2, 2] if i == 0 else [1, 1],
                "dilation": [1, 1], "padding": "same"}
        if not last:
            node.update(act="leaky_relu", alpha=0.2)
        new.append(node)
        prev, cin = node["name"], cout
    new.append({"name": pre + "ResizeBilinear", "op": "resize", "inputs": [prev], "mode": "bilinear",
                "scale": [2, 2]})
    new.append({"name": pre + "add", "op": "add", "inputs": [pre + "ResizeBilinear", at]})
    out = []
    for n in nodes:
        if n["name"] != at:
            n = dict(n, inputs=[pre + "add" if x == at else x for x in n["inputs"]])
        out.append(n)
        if n["name"] == at:
            out.extend(new)
    graph = dict(graph, nodes=out, size_multiple=2 * graph.get("size_multiple", 4))
    return graph, tensors


def parse_pairs(items, conv):
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep:
            raise SystemExit("%r: want NAME=VALUE" % it)
        out[k] = conv(v)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--width", action="append", default=[], metavar="GROUP=N")
    p.add_argument("--kernel", action="append", default=[], metavar="TENSOR=K")
    p.add_argument("--context", metavar="NODE=WIDTH",
                   help="add a context branch at half resolution after NODE (see add_context)")
    p.add_argument("--context-convs", type=int, default=3, metavar="N",
                   help="3x3 convs at the context branch's width between its stride-2 conv and its last")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="the grown model's name (default the source's): the page's style picker shows it")
    p.add_argument("--refit", type=int, default=16, metavar="N",
                   help="training portraits for the least-squares refit of shrunk kernels (0: centred part only)")
    a = p.parse_args(argv)
    graph, old = em.read_file(a.src)
    before = em.macs(graph, old)
    kernels = parse_pairs(a.kernel, int)
    tensors = grow(old, parse_pairs(a.width, int), kernels, a.seed, graph)
    shrunk = [name for name, k in kernels.items() if k < np.asarray(old[name]).shape[1]]
    if a.refit and shrunk:
        photos = training_crops(a.refit)
        for name in shrunk:
            tensors = refit_kernel(graph, old, tensors, name, photos)
    if a.context:
        node, width = next(iter(parse_pairs([a.context], int).items()))
        graph, tensors = add_context(graph, tensors, node, width, a.context_convs, seed=a.seed)
    graph = dict(graph, provenance=graph.get("provenance", "") + "; grown by train/grow.py from %s (%s)"
                 % (os.path.basename(a.src), " ".join(sys.argv[3:] if argv is None else argv[2:])))
    if a.name:
        graph["name"] = a.name
    em.write_file(a.dst, graph, tensors, "F32")
    print("%s: %.3f -> %.3f GMACs at 256x256" % (a.dst, before / 1e9, em.macs(graph, tensors) / 1e9))


if __name__ == "__main__":
    main()
