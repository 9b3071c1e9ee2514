"""The measured-latency predictor in torch: what the search adds up as
its latency cost (Supernet.conv_configs gives the blocks).
"""

import json
import math

import torch
import torch.nn.functional as F


class LatencyPredictor:
    """Predicted latency of a network: the sum over the blocks our WebGL2
    planner runs of an MLP's block latencies, differentiable in the relaxed
    widths. The MLP is the file `edgetoon-lab fit-latency` writes (format
    edgetoon-latency-mlp/1) from latencies measured in our runtime; this
    class computes the same features as latency/features.go (and
    latency/predictor.py) in torch, so the search and the Go tools predict
    the same milliseconds for the same network (train/test_latency.py).

    The blocks are those latency.Decompose finds in the family's graph:
    each gated conv, each residual block as one "resblock" (both convs and
    the add, scaled by its depth gate), an "upsample_add" (the 2x bilinear
    upsample and skip add, a pass of its own) before c6 and c8, and the
    guided filter at the output.
    """

    FORMAT = "edgetoon-latency-mlp/1"
    KINDS = ("conv", "resblock", "upsample_add", "guided_filter")

    def __init__(self, spec):
        if spec.get("format") != self.FORMAT:
            raise ValueError("latency predictor format %r: want %r (from `edgetoon-lab fit-latency`)"
                             % (spec.get("format"), self.FORMAT))
        if spec.get("activation") != "relu" or spec.get("target") != "ln_ms":
            raise ValueError("latency predictor: want activation relu and target ln_ms")
        self.spec = spec
        self.layers = [(torch.tensor(l["w"], dtype=torch.float64), torch.tensor(l["b"], dtype=torch.float64))
                       for l in spec["layers"]]
        self.in_mean = torch.tensor(spec["in_mean"], dtype=torch.float64)
        self.in_std = torch.tensor(spec["in_std"], dtype=torch.float64)
        self.out_mean, self.out_std = float(spec["out_mean"]), float(spec["out_std"])
        self.device = spec.get("device", "")

    @classmethod
    def from_json(cls, path):
        with open(path) as f:
            return cls(json.load(f))

    @staticmethod
    def _slices(c):
        """ceil(c/4), the RGBA texels holding c channels, with the gradient
        of c/4 (gated widths are multiples of 4, where the two agree)."""
        c = torch.as_tensor(c).to(device="cpu", dtype=torch.float64)  # differentiable, off any GPU
        q = c / 4
        return q + (torch.ceil(q) - q).detach()

    def features(self, b):
        """The predictor inputs of block b (a dict with latency.Block's JSON
        names; cin, cout and mid may be tensors), as one float64 tensor."""
        kind, k, stride = b["kind"], float(b.get("k", 0)), int(b.get("stride", 0))
        h, w = int(b["h"]), int(b["w"])
        residual = bool(b.get("residual", False))
        up = 2 if kind == "upsample_add" else 1
        s = max(stride, 1)
        in_pix = float(h * w)
        out_pix = float(-(-h * up // s) * -(-w * up // s))
        sin, sout = self._slices(b["cin"]), self._slices(b["cout"])
        mid = b.get("mid", 0)
        has_mid = not (isinstance(mid, (int, float)) and mid == 0)
        smid = self._slices(mid) if has_mid else torch.ones((), dtype=torch.float64)
        zero = torch.zeros((), dtype=torch.float64)
        macs, io = zero, zero
        if kind == "conv":
            macs = out_pix * k * k * 16 * sin * sout
            io = in_pix * sin + out_pix * sout + (out_pix * sout if residual else 0)
        elif kind == "resblock":
            macs = 2 * out_pix * k * k * 16 * sin * smid
            io = 3 * in_pix * sin + 2 * in_pix * smid
        elif kind == "upsample_add":
            io = 9 * in_pix * sin
        elif kind == "guided_filter":
            io = 3 * in_pix * sin
        else:
            raise ValueError("block kind %r: want one of %s" % (kind, ", ".join(self.KINDS)))
        t = lambda v: torch.as_tensor(float(v), dtype=torch.float64)
        f = [t(kind == x) for x in self.KINDS] + [
            torch.log2(sin), torch.log2(sout), torch.log2(smid) if has_mid else zero,
            t(math.log2(in_pix)), t(math.log2(out_pix)), t(k), t(stride),
            t(bool(b.get("act"))), t(residual),
            torch.log2(1 + macs), torch.log2(1 + io)]
        return torch.stack(f)

    def block_latency(self, b):
        """Predicted milliseconds of one block (see features)."""
        x = (self.features(b) - self.in_mean) / self.in_std
        for i, (W, bias) in enumerate(self.layers):
            x = W @ x + bias
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return torch.exp(x[0] * self.out_std + self.out_mean)

    def network_latency(self, configs, size=None):
        """Sum of the block latencies of the network whose convs are
        configs (Supernet.conv_configs), as a float32 scalar tensor."""
        by = {c["name"]: c for c in configs}
        total = torch.zeros((), dtype=torch.float64)
        for c in configs:
            name = c["name"]
            if name.endswith("_2"):
                continue  # counted with its block's first conv
            if c.get("block") is not None:
                second = by[name[:-1] + "2"]
                b = dict(kind="resblock", k=c["k"], stride=1, cin=c["cin"], cout=second["cout"], mid=c["cout"],
                         h=c["h"], w=c["w"], act="leaky_relu")
                total = total + torch.as_tensor(c["depth"]).to(device="cpu", dtype=torch.float64) * self.block_latency(b)
                continue
            if name in ("c6", "c8"):  # read the 2x upsample of the previous conv plus a skip
                low = c["h"] // 2
                total = total + self.block_latency(dict(kind="upsample_add", cin=c["cin"], cout=c["cin"], h=low, w=low))
            b = dict(kind="conv", k=c["k"], stride=c["stride"], cin=c["cin"], cout=c["cout"], h=c["h"], w=c["h"],
                     act="leaky_relu" if c.get("act", True) else "")
            total = total + self.block_latency(b)
        out = by["c9"]
        total = total + self.block_latency(dict(kind="guided_filter", k=3, cin=3, cout=3, h=out["h"], w=out["h"]))
        return total.to(device=torch.as_tensor(configs[0]["cin"]).device, dtype=torch.float32)
