"""Evaluate an edgetoon latency predictor (format edgetoon-latency-mlp/1).

The predictor is the JSON that `latency.MLP.Encode` writes in Go. This file
computes the same block features as latency/features.go and runs the same
network, with NumPy only, so the architecture search (Python) and the Go
tools predict the same milliseconds for a block.

    import json, predictor
    m = predictor.load("predictor.json")
    ms = predictor.predict(m, {"kind": "conv", "k": 3, "stride": 1,
                               "cin": 32, "cout": 64, "h": 64, "w": 64,
                               "act": "leaky_relu"})

A block is a dict with the JSON field names of latency.Block: kind, k,
stride, cin, cout, mid, h, w, act, residual (absent means 0, "" or
false). A network's latency is the sum of its blocks' predictions.
"""

import json
import math

import numpy as np

FORMAT = "edgetoon-latency-mlp/1"
KINDS = ("conv", "resblock", "upsample_add", "guided_filter")
FEATURE_NAMES = (
    "conv", "resblock", "upsample_add", "guided_filter",
    "log2_cin_slices", "log2_cout_slices", "log2_mid_slices",
    "log2_in_pixels", "log2_out_pixels",
    "kernel", "stride", "act", "residual",
    "log2_texel_macs", "log2_texel_io",
)


def load(path):
    """Read a predictor file and check it."""
    with open(path, encoding="utf-8") as f:
        return check(json.load(f))


def check(model):
    """Check that model (a parsed predictor) is one this file evaluates."""
    if model.get("format") != FORMAT:
        raise ValueError("predictor format %r: want %r" % (model.get("format"), FORMAT))
    if tuple(model.get("features", ())) != FEATURE_NAMES:
        raise ValueError("predictor features %r: want %r" % (model.get("features"), FEATURE_NAMES))
    if model.get("activation") != "relu" or model.get("target") != "ln_ms":
        raise ValueError("predictor activation/target: want relu, ln_ms")
    return model


def _texels(c):
    return float((int(c) + 3) // 4)


def features(block):
    """The predictor inputs of a block, in the order of FEATURE_NAMES."""
    kind = block["kind"]
    if kind not in KINDS:
        raise ValueError("block kind %r: want one of %s" % (kind, ", ".join(KINDS)))
    k = int(block.get("k", 0))
    stride = int(block.get("stride", 0))
    cin, cout, mid = int(block["cin"]), int(block["cout"]), int(block.get("mid", 0))
    h, w = int(block["h"]), int(block["w"])
    residual = bool(block.get("residual", False))
    up = 2 if kind == "upsample_add" else 1
    s = max(stride, 1)
    out_h, out_w = -(-h * up // s), -(-w * up // s)
    sin, sout, smid = _texels(cin), _texels(cout), _texels(mid)
    in_pix = float(h) * float(w)
    out_pix = float(out_h) * float(out_w)
    kk = float(k) * float(k)
    macs = io = 0.0
    if kind == "conv":
        macs = out_pix * kk * 16 * sin * sout
        io = in_pix * sin + out_pix * sout
        if residual:
            io += out_pix * sout
    elif kind == "resblock":
        macs = 2 * out_pix * kk * 16 * sin * smid
        io = 3 * in_pix * sin + 2 * in_pix * smid
    elif kind == "upsample_add":
        io = in_pix * sin + 8 * in_pix * sin
    else:  # guided_filter
        io = 3 * in_pix * sin
    f = [1.0 if kind == x else 0.0 for x in KINDS]
    f += [
        math.log2(sin), math.log2(sout), math.log2(smid) if mid > 0 else 0.0,
        math.log2(in_pix), math.log2(out_pix),
        float(k), float(stride),
        1.0 if block.get("act", "") else 0.0, 1.0 if residual else 0.0,
        math.log2(1 + macs), math.log2(1 + io),
    ]
    return np.array(f, dtype=np.float64)


def predict(model, block):
    """Predicted latency of block in milliseconds. model is a parsed
    predictor (dict) or its JSON text."""
    if isinstance(model, (str, bytes)):
        model = check(json.loads(model))
    x = (features(block) - np.asarray(model["in_mean"], dtype=np.float64)) / np.asarray(
        model["in_std"], dtype=np.float64)
    layers = model["layers"]
    for i, layer in enumerate(layers):
        x = np.asarray(layer["w"], dtype=np.float64) @ x + np.asarray(layer["b"], dtype=np.float64)
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return float(np.exp(x[0] * model["out_std"] + model["out_mean"]))


def predict_network(model, blocks):
    """Predicted latency of a network given as its list of blocks, in ms."""
    return sum(predict(model, b) for b in blocks)


if __name__ == "__main__":
    # python3 predictor.py PREDICTOR.json BLOCKS.json: print one latency per block.
    import sys

    m = load(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as fb:
        for b in json.load(fb):
            print(repr(predict(m, b)))
