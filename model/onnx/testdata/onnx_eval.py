"""Independent evaluator of the ONNX subset that Export writes.

usage: onnx_eval.py model.onnx input.f32 output.f32 H W

Checks the model with onnx.checker (full check, with shape inference),
then runs it with PyTorch functional ops following the ONNX operator
specifications (not edgetoon's code) in float64, and writes the output
as raw little-endian float32 (NCHW).
"""
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

path, inp, outp, H, W = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
m = onnx.load(path)
onnx.checker.check_model(m, full_check=True)
assert m.opset_import[0].version == 13
g = m.graph
env = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in g.initializer}
for k, v in env.items():
    if v.dtype == torch.float32:
        env[k] = v.double()
x = np.fromfile(inp, dtype="<f4").reshape(1, -1, H, W)
env[g.input[0].name] = torch.from_numpy(x).double()


def attrs(n):
    return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}


def resize_axis(x, axis, scale, ctm, mode, nm):
    n_in = x.shape[axis]
    n_out = int(n_in * scale)
    o = torch.arange(n_out, dtype=torch.float64)
    if ctm == "asymmetric":
        c = o / scale
    elif ctm == "half_pixel":
        c = (o + 0.5) / scale - 0.5
    elif ctm == "align_corners":
        c = o * (n_in - 1) / (n_out - 1)
    else:
        raise ValueError(ctm)
    if mode == "nearest":
        c = {"floor": torch.floor, "ceil": torch.ceil,
             "round_prefer_ceil": lambda v: torch.floor(v + 0.5),
             "round_prefer_floor": lambda v: torch.ceil(v - 0.5)}[nm](c)
        idx = c.clamp(0, n_in - 1).long()
        return x.index_select(axis, idx)
    c = c.clamp(0, n_in - 1)
    i0 = torch.floor(c).long()
    i1 = (i0 + 1).clamp(max=n_in - 1)
    wgt = (c - i0).reshape([-1 if d == axis else 1 for d in range(4)])
    return x.index_select(axis, i0) * (1 - wgt) + x.index_select(axis, i1) * wgt


for n in g.node:
    a = attrs(n)
    i = [env[s] if s else None for s in n.input]
    op = n.op_type
    if op == "Conv":
        kh, kw = a["kernel_shape"]
        sh, sw = a.get("strides", [1, 1])
        dh, dw = a.get("dilations", [1, 1])
        if a.get("auto_pad", b"NOTSET") == b"SAME_UPPER":
            def same(size, s, k):
                out = (size + s - 1) // s
                return max((out - 1) * s + k - size, 0)
            ph = same(i[0].shape[2], sh, (kh - 1) * dh + 1)
            pw = same(i[0].shape[3], sw, (kw - 1) * dw + 1)
            t, l, b, r = ph // 2, pw // 2, ph - ph // 2, pw - pw // 2
        else:
            t, l, b, r = a.get("pads", [0, 0, 0, 0])
        xp = F.pad(i[0], (l, r, t, b))
        y = F.conv2d(xp, i[1], i[2] if len(i) > 2 else None, (sh, sw), 0, (dh, dw), a.get("group", 1))
    elif op == "Relu":
        y = torch.relu(i[0])
    elif op == "LeakyRelu":
        y = F.leaky_relu(i[0], a["alpha"])
    elif op == "Tanh":
        y = torch.tanh(i[0])
    elif op == "Sigmoid":
        y = torch.sigmoid(i[0])
    elif op == "Clip":
        y = torch.clamp(i[0], float(i[1]), float(i[2]))
    elif op in ("Add", "Sub", "Mul", "Div", "Pow"):
        y = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "Pow": torch.pow}[op](i[0], i[1])
    elif op == "Sqrt":
        y = torch.sqrt(i[0])
    elif op == "ReduceMean":
        y = i[0].mean(dim=tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1)))
    elif op == "Concat":
        y = torch.cat(i, dim=a["axis"])
    elif op == "InstanceNormalization":
        y = F.instance_norm(i[0], weight=i[1], bias=i[2], eps=a["epsilon"])
    elif op == "AveragePool":
        k = a["kernel_shape"]
        p = a["pads"]
        assert p[0] == p[2] and p[1] == p[3] and a.get("count_include_pad", 0) == 0
        y = F.avg_pool2d(i[0], k, 1, (p[0], p[1]), count_include_pad=False)
    elif op == "Pad":
        p = i[1].tolist()
        assert p[0] == p[1] == p[4] == p[5] == 0
        mode = a.get("mode", b"constant").decode()
        y = F.pad(i[0], (p[3], p[7], p[2], p[6]), mode=mode)
    elif op == "Resize":
        s = i[2].tolist()
        assert s[0] == 1 and s[1] == 1
        ctm = a.get("coordinate_transformation_mode", b"half_pixel").decode()
        mode = a.get("mode", b"nearest").decode()
        nm = a.get("nearest_mode", b"round_prefer_floor").decode()
        y = resize_axis(i[0], 2, s[2], ctm, mode, nm)
        y = resize_axis(y, 3, s[3], ctm, mode, nm)
    else:
        raise ValueError("op " + op)
    env[n.output[0]] = y

env[g.output[0].name].float().numpy().astype("<f4").tofile(outp)
