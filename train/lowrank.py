"""Cut a trained network's convs to low rank, fitted to its responses.

The channel decomposition of Zhang et al., "Accelerating Very Deep
Convolutional Networks for Classification and Detection" (2015): a k x k
conv to O channels whose pre-activation outputs y lie near an r-dimensional
subspace becomes a k x k conv to r channels, z = P^T (y - mu), and a 1x1
conv back, y ~ P z + mu, where P holds the top r principal directions of
y on calibration photos. A conv with few outputs (the tail to RGB) is cut
on its input side instead: a 1x1 conv to the top r directions of its
input's second moment (uncentred, so that the zero padding at the border
stays zero), then the k x k conv on those.

It was tried as a start for issue 17's larger student (the teacher itself,
cut to 2 GMACs); docs/students.md has the result: White-box's convs are
not low-rank. Measure a model with

    /usr/bin/python3 train/lowrank.py MODEL.safetensors --energy 0.99 [--out OUT.safetensors]

which prints each conv's ranks and the cut network's MACs and PSNR
against MODEL on the eval portraits.
"""

import argparse
import copy
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import edgetoon_model as em  # noqa: E402


def convs(graph):
    return [n for n in graph["nodes"] if n["op"] == "conv2d"]


@torch.no_grad()
def response_stats(module, graph, photos):
    """{conv node: {"out": (mean, covariance) of its pre-activation output,
    "in": (mean, second moment) of its input}}, over every pixel of photos
    (NCHW [0,1])."""
    acc = {}
    for x in photos:
        vals = module(em.normalize(x, graph), return_values=True)
        for n in convs(graph):
            xin = vals[n["inputs"][0]]
            stride = [s or 1 for s in n.get("stride", [1, 1])]
            y = em.conv2d_same(xin, module.tensor(n["inputs"][1]), module.tensor(n["inputs"][2]), stride)
            for key, v in (("out", y), ("in", xin)):
                m = v.permute(0, 2, 3, 1).reshape(-1, v.shape[1]).double()
                a = acc.setdefault((n["name"], key), [0, 0.0, 0.0])
                a[0] += m.shape[0]
                a[1] = a[1] + m.sum(0)
                a[2] = a[2] + m.T @ m
    out = {}
    for (name, key), (count, s, ss) in acc.items():
        mu = s / count
        second = ss / count
        out.setdefault(name, {})[key] = (mu, second - torch.outer(mu, mu) if key == "out" else second)
    return out


def principal(cov):
    """Eigenvalues (descending, >= 0) and eigenvectors (columns) of cov."""
    ev, vecs = torch.linalg.eigh(cov)
    return ev.flip(0).clamp(min=0), vecs.flip(1)


def side(w):
    """Which side of a conv (weights OHWI) is cut: its output, unless it
    has fewer than 8 output channels."""
    return "in" if w.shape[0] < 8 else "out"


def rank_for(stats, w, energy):
    """The least rank that keeps `energy` of the variance (an input cut: of
    the second moment) on w's cut side."""
    ev, _ = principal(stats[side(w)][1])
    kept = torch.cumsum(ev, 0) / ev.sum()
    return min(int((kept < energy).sum()) + 1, len(ev))


def decompose(graph, tensors, stats, ranks):
    """The graph and tensors with each conv named in ranks cut to its rank
    (None leaves it whole; at full rank the cut computes the same function).
    Consumers see the same node names: the 1x1 conv of an output cut, and
    the k x k conv of an input cut, keep the original's name, activation
    and (for the k x k) stride."""
    g = copy.deepcopy(graph)
    t = dict(tensors)
    nodes = []
    for n in g["nodes"]:
        r = ranks.get(n["name"])
        if n["op"] != "conv2d" or r is None:
            nodes.append(n)
            continue
        w_name, b_name = n["inputs"][1], n["inputs"][2] if len(n["inputs"]) > 2 else None
        w = torch.from_numpy(tensors[w_name]).double()
        b = torch.from_numpy(tensors[b_name]).double() if b_name else torch.zeros(w.shape[0], dtype=torch.float64)
        cut = n["name"] + "_lowrank"
        first = {"name": cut, "op": "conv2d", "inputs": [n["inputs"][0], cut + "/Conv2D", cut + "/bias"]}
        second = dict(n, inputs=[cut, n["name"] + "_restore/Conv2D", n["name"] + "_restore/bias"])
        if side(tensors[w_name]) == "out":
            mu, cov = stats[n["name"]]["out"]
            p = principal(cov)[1][:, :r]  # O x r
            w1, b1 = torch.einsum("or,ohwi->rhwi", p, w), p.T @ (b - mu)
            w2, b2 = p.reshape(w.shape[0], 1, 1, r), mu
            first.update({k: n[k] for k in ("stride", "padding", "pads", "dilation") if k in n})
            second.update(stride=[1, 1], padding="same")
            second.pop("pads", None)
            second.pop("dilation", None)
        else:
            q = principal(stats[n["name"]]["in"][1])[1][:, :r]  # I x r
            w1, b1 = q.T.reshape(r, 1, 1, w.shape[3]), torch.zeros(r, dtype=torch.float64)
            w2, b2 = torch.einsum("ohwi,ir->ohwr", w, q), b
            first["padding"] = "same"
        for name, v in ((cut + "/Conv2D", w1), (cut + "/bias", b1),
                        (n["name"] + "_restore/Conv2D", w2), (n["name"] + "_restore/bias", b2)):
            t[name] = np.ascontiguousarray(v.float().numpy())
        del t[w_name]
        if b_name:
            del t[b_name]
        nodes += [first, second]
    g["nodes"] = nodes
    return g, t


@torch.no_grad()
def psnr(graph_a, module_a, graph_b, module_b, photos):
    """Mean PSNR (dB) of b's pixels against a's over photos [(x, fw, fh)]."""
    out = []
    for x, fw, fh in photos:
        a = em.denormalize(module_a(em.normalize(x, graph_a)), graph_a).clamp(0, 1)[..., :fh, :fw]
        b = em.denormalize(module_b(em.normalize(x, graph_b)), graph_b).clamp(0, 1)[..., :fh, :fw]
        out.append(float(10 * torch.log10(1 / ((a - b) ** 2).mean().clamp(min=1e-12))))
    return float(np.mean(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--energy", type=float, default=0.99, help="variance each cut keeps")
    ap.add_argument("--calibration", type=int, default=16, help="training photos the cuts are fitted on")
    ap.add_argument("--eval", type=int, default=8, help="eval portraits the PSNR is measured on")
    ap.add_argument("--size", type=int, default=256, help="the photos' longer side")
    ap.add_argument("--out", help="write the cut model here")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("EDGETOON_THREADS", "2")))
    graph, tensors = em.read_file(args.model)
    module = em.GraphModule(graph, tensors).eval()
    root = data.default_root()
    paths = data.list_images(root, "train")
    random.Random(0).shuffle(paths)
    multiple = graph.get("size_multiple", 4)
    cal = [data.photo_at(os.path.join(data.split_root(root, "train"), p), args.size, multiple)[0]
           for p in paths[:args.calibration]]
    stats = response_stats(module, graph, cal)
    ranks = {}
    for n in convs(graph):
        w = tensors[n["inputs"][1]]
        r = rank_for(stats[n["name"]], w, args.energy)
        o, kh, kw, i = w.shape
        pays = (kh * kw * i * r + r * o if side(w) == "out" else i * r + kh * kw * r * o) < kh * kw * i * o
        ranks[n["name"]] = r if pays else None
        print("%-40s %s rank %3d of %3d%s" % (n["name"], side(w), r, o if side(w) == "out" else i,
                                              "" if pays else ": kept whole, the cut saves nothing"))
    g, t = decompose(graph, tensors, stats, ranks)
    evals = [data.photo_at(os.path.join(data.split_root(root, "eval"), p), args.size, multiple)
             for p in data.list_images(root, "eval")[:args.eval]]
    score = psnr(graph, module, g, em.GraphModule(g, t).eval(), evals)
    print("energy %g: %.3f GMACs (was %.3f), %.2f dB against the model on %d eval photos"
          % (args.energy, em.macs(g, t, args.size) / 1e9, em.macs(graph, tensors, args.size) / 1e9, score, len(evals)))
    if args.out:
        em.write_file(args.out, g, t)


if __name__ == "__main__":
    main()
