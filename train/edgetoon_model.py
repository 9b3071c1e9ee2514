"""Read and write edgetoon model files, and run their graphs in PyTorch.

An edgetoon model file is a safetensors container: an 8-byte little-endian
header length, a JSON header naming each tensor's dtype (F16 or F32), shape
and byte range, then the raw little-endian tensor bytes. The graph spec
(see model/graph.go) is JSON stored as a string in
``__metadata__["edgetoon.graph"]``.

Conventions of the Go side that this module mirrors:
  * activations are HWC single images (here NCHW batches, converted at the
    boundary);
  * conv weights are stored [O, KH, KW, I/groups] (torch wants
    [O, I/groups, KH, KW]);
  * SAME padding follows TensorFlow: total = max((ceil(in/s)-1)*s + k - in, 0),
    ``total // 2`` before, the rest after (asymmetric for stride 2);
  * bilinear resize without align_corners/half_pixel is TensorFlow's legacy
    asymmetric mapping src = dst * in/out, no offset, clamped at the edge;
  * box_mean averages a (2r+1)^2 window over the taps inside the image.
"""

import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The operators live in graph_ops; their names stay importable from here.
from graph_ops import (  # noqa: F401
    _gather_bilinear, _resize_axis, activation, box_mean, conv2d_same, resize_bilinear, resize_nearest,
    same_pads)

FORMAT_NAME = "edgetoon"
GRAPH_KEY = "edgetoon.graph"  # the graph spec, JSON, in the header's __metadata__
FORMAT_VERSION = 1
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}


# ---------------------------------------------------------------- file I/O

def read_file(path):
    """Read a model file; return (graph spec dict, {name: float32 ndarray}).

    Raises ValueError on anything that is not a well-formed edgetoon file.
    """
    with open(path, "rb") as f:
        data = f.read()
    return decode(data)


def split(data):
    """The header (a dict, its __metadata__ included) and the tensor data
    of a model file's bytes; raises ValueError unless it is an edgetoon
    model file."""
    if len(data) < 8:
        raise ValueError("model file: too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("model file: header length %d exceeds the file" % n)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT_NAME:
        raise ValueError("model file: not an edgetoon model (format %r)" % meta.get("format"))
    return header, data[8 + n:]


def decode(data):
    """Parse the bytes of a model file (see read_file)."""
    header, body = split(data)
    meta = header.pop("__metadata__")
    graph = json.loads(meta[GRAPH_KEY])
    tensors = {}
    for name, h in header.items():
        dt = _DTYPES.get(h["dtype"])
        if dt is None:
            raise ValueError("tensor %r: dtype %r not supported" % (name, h["dtype"]))
        b, e = h["data_offsets"]
        count = int(np.prod(h["shape"])) if h["shape"] else 1
        if e - b != count * dt.itemsize or e > len(body):
            raise ValueError("tensor %r: bad data offsets %r" % (name, (b, e)))
        arr = np.frombuffer(body[b:e], dtype=dt).astype(np.float32)
        tensors[name] = arr.reshape(h["shape"])
    return graph, tensors


def encode(graph, tensors, dtype="F32"):
    """Return the bytes of a model file holding graph and tensors.

    Tensors are laid out in the order the nodes first use them (as the Go
    encoder does); the header is padded with spaces to a multiple of 8.
    """
    dt = _DTYPES[dtype]
    graph = dict(graph)
    graph.setdefault("version", FORMAT_VERSION)
    order, seen = [], set()
    for node in graph["nodes"]:
        for name in node["inputs"]:
            if name in tensors and name not in seen:
                seen.add(name)
                order.append(name)
    order += sorted(set(tensors) - seen)
    header = {"__metadata__": {
        "format": FORMAT_NAME,
        "edgetoon.version": str(graph["version"]),
        GRAPH_KEY: json.dumps(graph, separators=(",", ":")),
    }}
    chunks, at = [], 0
    for name in order:
        arr = np.ascontiguousarray(np.asarray(tensors[name], dtype=np.float32).astype(dt))
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [at, at + len(raw)]}
        chunks.append(raw)
        at += len(raw)
    return join(header, b"".join(chunks))


def join(header, body):
    """A model file's bytes from its header (a dict) and tensor data, the
    inverse of split: the header padded with spaces to a multiple of 8
    bytes, as safetensors allows, so that the data stays aligned."""
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


def write_file(path, graph, tensors, dtype="F32"):
    """Write a model file (see encode)."""
    with open(path, "wb") as f:
        f.write(encode(graph, tensors, dtype))


def const_to_torch(arr):
    """A constant operand of an elementwise op as an NCHW-broadcastable tensor.

    Go broadcasts NumPy-style against HWC values, so a rank-1 [C] (or [1])
    constant lines up with channels: move it to shape [C,1,1]; rank-3 HWC
    becomes CHW.
    """
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if t.dim() == 1:
        return t.view(-1, 1, 1)
    if t.dim() == 2:  # [W, C]
        return t.permute(1, 0).unsqueeze(1)
    if t.dim() == 3:
        return t.permute(2, 0, 1)
    return t


# ---------------------------------------------------------------- graph module

class GraphModule(nn.Module):
    """Executes an edgetoon graph spec in PyTorch.

    forward(x) takes the already-normalized input as NCHW (N, C, H, W) and
    returns the output node's value as NCHW; conv weights and biases are
    nn.Parameters (named after the tensors, '/' replaced by '.'), so the
    module can also be fine-tuned.
    """

    def __init__(self, graph, tensors):
        super().__init__()
        self.graph = graph
        self.nodes = graph["nodes"]
        self.input_name = graph["input"]
        self.output_name = graph["output"]
        self._pname = {}
        self.params = nn.ParameterDict()
        consts = {}
        conv_weights = {n["inputs"][1] for n in self.nodes if n["op"] == "conv2d"}
        conv_biases = {n["inputs"][2] for n in self.nodes if n["op"] == "conv2d" and len(n["inputs"]) > 2}
        for name, arr in tensors.items():
            key = "p%d" % len(self._pname)
            self._pname[name] = key
            if name in conv_weights:
                t = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
                self.params[key] = nn.Parameter(t)
            elif name in conv_biases:
                self.params[key] = nn.Parameter(torch.from_numpy(np.array(arr, dtype=np.float32)))
            else:
                consts[name] = const_to_torch(arr)
        self._consts = list(consts)
        for name, t in consts.items():
            self.register_buffer(self._pname[name], t)
        # Last use of each value, to free intermediate values early.
        self._last = {}
        for i, n in enumerate(self.nodes):
            for name in n["inputs"]:
                self._last[name] = i

    def tensor(self, name):
        """The parameter or buffer holding the file tensor `name`."""
        key = self._pname[name]
        return self.params[key] if key in self.params else getattr(self, key)

    def forward(self, x, return_values=False, return_nodes=None):
        """The output node's value; with return_values every node's value
        (a dict); with return_nodes (node names) the pair (output, {name:
        value}) for those nodes, kept from being freed, at no extra cost
        (for feature distillation)."""
        keep = set(return_nodes or ())
        missing = keep - {n["name"] for n in self.nodes} - {self.input_name}
        if missing:
            raise ValueError("return_nodes: no node %s in graph %r" % (", ".join(sorted(missing)),
                                                                       self.graph.get("name")))
        vals = {self.input_name: x}
        for i, n in enumerate(self.nodes):
            vals[n["name"]] = self._exec(n, vals)
            if not return_values:
                for name in n["inputs"]:
                    if (self._last.get(name) == i and name != self.output_name and name not in keep
                            and name in vals):
                        del vals[name]
        if return_values:
            return vals
        if return_nodes is not None:
            return vals[self.output_name], {name: vals[name] for name in return_nodes}
        return vals[self.output_name]

    def _value(self, name, vals):
        if name in vals:
            return vals[name]
        return self.tensor(name)

    def _exec(self, n, vals):
        op = n["op"]
        ins = [self._value(name, vals) for name in n["inputs"]]
        act, alpha = n.get("act", ""), n.get("alpha", 0.0)
        if op == "conv2d":
            stride = [s or 1 for s in n.get("stride", [1, 1])]
            dil = [d or 1 for d in n.get("dilation", [1, 1])]
            groups = n.get("groups", 0) or 1
            bias = ins[2] if len(ins) > 2 else None
            pad = n.get("padding", "same")
            if pad == "same":
                y = conv2d_same(ins[0], ins[1], bias, stride, dil, groups)
            elif pad == "valid":
                y = F.conv2d(ins[0], ins[1], bias, stride=stride, dilation=dil, groups=groups)
            elif pad == "explicit":
                t, l, b, r = n["pads"]
                y = F.conv2d(F.pad(ins[0], (l, r, t, b)), ins[1], bias,
                             stride=stride, dilation=dil, groups=groups)
            else:
                raise ValueError("node %r: padding %r" % (n["name"], pad))
        elif op == "add":
            y = ins[0] + ins[1]
        elif op == "sub":
            y = ins[0] - ins[1]
        elif op == "mul":
            y = ins[0] * ins[1]
        elif op == "div":
            y = ins[0] / ins[1]
        elif op in ("leaky_relu", "relu", "tanh", "sigmoid"):
            y = activation(ins[0], op, n.get("alpha", 0.0))
        elif op == "clip":
            y = torch.clamp(ins[0], n.get("min", 0.0), n.get("max", 0.0))
        elif op == "resize":
            sy, sx = n["scale"]
            oh, ow = int(ins[0].shape[2]) * sy, int(ins[0].shape[3]) * sx
            fn = resize_nearest if n.get("mode") == "nearest" else resize_bilinear
            y = fn(ins[0], oh, ow, n.get("align_corners", False), n.get("half_pixel", False))
        elif op == "box_mean":
            y = box_mean(ins[0], n["radius"])
        elif op == "concat":
            y = torch.cat(ins, dim=1)
        elif op == "instance_norm":
            mu = ins[0].mean(dim=(2, 3), keepdim=True)
            var = ins[0].var(dim=(2, 3), keepdim=True, unbiased=False)
            y = (ins[0] - mu) / torch.sqrt(var + n.get("eps", 0.0)) * ins[1] + ins[2]
        elif op == "pad":
            t, l, b, r = n["pads"]
            mode = "reflect" if n.get("mode") == "reflect" else "constant"
            y = F.pad(ins[0], (l, r, t, b), mode=mode)
        else:
            raise ValueError("node %r: unsupported op %r" % (n["name"], op))
        if op in ("conv2d", "add", "sub", "mul", "div"):
            y = activation(y, act, alpha)
        return y


def resolve_node(graph, spec):
    """The node name `spec` stands for in graph: a node's name as it is, or
    "X:in" for the data input of node X or of the conv whose weight is
    X/Conv2D. "generator/Conv_5:in" is the residual trunk's output in
    every White-box-family graph, whichever residual blocks it kept."""
    names = {n["name"] for n in graph["nodes"]} | {graph["input"]}
    if not spec.endswith(":in"):
        if spec not in names:
            raise ValueError("graph %r has no node %r" % (graph.get("name"), spec))
        return spec
    base = spec[:-len(":in")]
    for n in graph["nodes"]:
        if n["name"] == base or (n["op"] == "conv2d" and n["inputs"][1] == base + "/Conv2D"):
            return n["inputs"][0]
    raise ValueError("graph %r has no node or conv %r (in %r)" % (graph.get("name"), base, spec))


def load_module(path):
    """Read a model file and return (GraphModule, graph spec)."""
    graph, tensors = read_file(path)
    return GraphModule(graph, tensors), graph


def normalize(img01, graph):
    """Map NCHW pixels in [0,1] to the network's input range (graph Norm)."""
    s = torch.tensor(graph["norm"]["scale"], dtype=img01.dtype, device=img01.device).view(1, -1, 1, 1)
    b = torch.tensor(graph["norm"]["bias"], dtype=img01.dtype, device=img01.device).view(1, -1, 1, 1)
    return img01 * s + b


def denormalize(y, graph):
    """Map the network's NCHW output to pixels in [0,1] (graph Denorm), unclipped."""
    s = torch.tensor(graph["denorm"]["scale"], dtype=y.dtype, device=y.device).view(1, -1, 1, 1)
    b = torch.tensor(graph["denorm"]["bias"], dtype=y.dtype, device=y.device).view(1, -1, 1, 1)
    return y * s + b


def macs(graph, tensors, size=256):
    """Multiply-accumulates of the graph's convs at size x size (as the Go CLI counts them)."""
    h = w = size
    shapes = {graph["input"]: (h, w, graph["input_channels"])}
    total = 0
    for n in graph["nodes"]:
        x = shapes.get(n["inputs"][0])
        if n["op"] == "conv2d":
            wt = tensors[n["inputs"][1]]
            s = [v or 1 for v in n.get("stride", [1, 1])]
            oh, ow = math.ceil(x[0] / s[0]), math.ceil(x[1] / s[1])
            total += oh * ow * wt.shape[0] * wt.shape[1] * wt.shape[2] * wt.shape[3]
            shapes[n["name"]] = (oh, ow, wt.shape[0])
        elif n["op"] == "resize":
            shapes[n["name"]] = (x[0] * n["scale"][0], x[1] * n["scale"][1], x[2])
        elif n["op"] == "concat":
            shapes[n["name"]] = (x[0], x[1], sum(shapes[i][2] for i in n["inputs"]))
        else:
            shapes[n["name"]] = x
    return total
