"""The measured-latency predictor in torch: what the search adds up as
its latency cost.

Nothing here restates the Go planner: the blocks of the family's network
(which passes the WebGL2 planner fuses, and so which blocks
latency.Decompose finds) and each block's features as a closed form in
the widths come from latency_features.json, which the Go side generates
(`go generate ./latency`, latency/featuretable.go) and checks is current
(TestFeatureTableCommitted). This file only evaluates that closed form,
differentiably in the gated widths, and the MLP.
"""

import json
import os

import torch
import torch.nn.functional as F

import superkernel as sk

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES_PATH = os.path.join(HERE, "latency_features.json")
TABLE_FORMAT = "edgetoon-latency-features/3"

# The conv of supernet.CONVS whose output width is each width the table
# names (latency.Arch's widths; mid<i> is residual block i's).
WIDTH_CONVS = {"c0": "c0", "c1": "c1", "c2": "c2", "c3": "c3", "r": "c4",
               "mid0": "b0_1", "mid1": "b1_1", "mid2": "b2_1", "mid3": "b3_1", "c6": "c6", "c8": "c8"}
# The conv of supernet.CONVS whose kernel side each searched kernel the
# table names is (latency.KernelConvs; a block's "kernel").
KERNEL_CONVS = {arch_name: conv for conv, arch_name in sk.ARCH_NAME.items()}


def load_table(path=FEATURES_PATH):
    """Read and check the feature table the Go side generates."""
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    if table.get("format") != TABLE_FORMAT:
        raise ValueError("%s: format %r, want %r (go generate ./latency)" % (path, table.get("format"), TABLE_FORMAT))
    if sorted(table["widths"]) != sorted(WIDTH_CONVS):
        raise ValueError("%s: widths %r, want %r" % (path, table["widths"], sorted(WIDTH_CONVS)))
    for size, blocks in table["networks"].items():
        named = [tb["kernel"] for tb in blocks if tb.get("kernel")]
        if sorted(named) != sorted(KERNEL_CONVS):
            raise ValueError("%s: at %s the searched kernels are %r, want %r" % (path, size, named, sorted(KERNEL_CONVS)))
        for tb in blocks:
            if tb.get("kernel"):
                choices = sk.KERNEL_CONVS[KERNEL_CONVS[tb["kernel"]]]
                if sorted(tb["kernels"], key=int) != [str(k) for k in choices]:
                    raise ValueError("%s: kernel %s has choices %r, the supernet %r"
                                     % (path, tb["kernel"], sorted(tb["kernels"]), choices))
    return table


def block_terms(tb, k=None):
    """The terms of table block tb with its searched kernel (if any) at
    side k; k None: at the teacher's kernels."""
    if k is None or not tb.get("kernel"):
        return tb["terms"]
    return tb["kernels"][str(k)]


def slices(c):
    """ceil(c/4), the RGBA texels holding c channels, with the gradient of
    c/4 (gated widths are multiples of 4, where the two agree)."""
    c = torch.as_tensor(c).to(device="cpu", dtype=torch.float64)  # differentiable, off any GPU
    q = c / 4
    return q + (torch.ceil(q) - q).detach()


def eval_terms(names, terms, s):
    """The features given by Go's latency.Terms for slices s (role ->
    tensor), in the order of names; the same arithmetic as Terms.Eval."""
    f = [torch.as_tensor(float(v), dtype=torch.float64) for v in terms["const"]]
    for i, name in enumerate(names):
        if name in terms["log2_slices"]:
            f[i] = torch.log2(s[terms["log2_slices"][name]])
    macs = torch.zeros((), dtype=torch.float64)
    if terms["macs_of"]:
        macs = torch.as_tensor(float(terms["macs"]), dtype=torch.float64)
        for r in terms["macs_of"]:
            macs = macs * s[r]
    io = torch.zeros((), dtype=torch.float64)
    for t in terms["io"] or ():
        io = io + float(t["coef"]) * s[t["role"]]
    for b in terms.get("baked") or ():
        # Whether the conv takes its weights into its program: the bounds
        # of Go's kernels.Bakes, on whole texels (a step: no gradient).
        si, so = torch.ceil(s[b["in"]].detach()), torch.ceil(s[b["out"]].detach())
        k2 = b["k"] * b["k"]
        bakes = (k2 * 16 * si * so <= b["max_weights"]) & (k2 * si * so <= b["max_terms"]) & (so <= b["most_outputs"])
        f[names.index(b["feature"])] = bakes.to(torch.float64)
    for w in terms.get("winograd") or ():
        # Whether the conv runs as Winograd in fp32: Go's
        # kernels.WinogradShape on whole texels (a step: no gradient).
        si, so = torch.ceil(s[w["in"]].detach()), torch.ceil(s[w["out"]].detach())
        f[names.index(w["feature"])] = ((4 * si >= w["min_channels"]) & (4 * so >= w["min_channels"])).to(torch.float64)
    f[-2], f[-1] = torch.log2(1 + macs), torch.log2(1 + io)
    return torch.stack(f)


def block_slices(block):
    """Slices of each role of a concrete block (latency.Block's JSON)."""
    s = {"cin": slices(block["cin"]), "cout": slices(block["cout"])}
    if block.get("mid", 0):
        s["mid"] = slices(block["mid"])
    return s


class LatencyPredictor:
    """Predicted latency of a network: the sum over the blocks our WebGL2
    planner runs of an MLP's block latencies, differentiable in the
    relaxed widths. The MLP is the file `edgetoon-lab fit-latency` writes
    (format edgetoon-latency-mlp/1) from latencies measured in our
    runtime; the blocks and their features come from the Go side's table
    (load_table), so the search and the Go tools predict the same
    milliseconds for the same network (train/test_latency.py).
    """

    FORMAT = "edgetoon-latency-mlp/1"

    def __init__(self, spec, table=None):
        if spec.get("format") != self.FORMAT:
            raise ValueError("latency predictor format %r: want %r (from `edgetoon-lab fit-latency`)"
                             % (spec.get("format"), self.FORMAT))
        if spec.get("activation") != "relu" or spec.get("target") != "ln_ms":
            raise ValueError("latency predictor: want activation relu and target ln_ms")
        self.table = table if table is not None else load_table()
        if list(spec.get("features", ())) != self.table["features"]:
            raise ValueError("latency predictor features %r: the feature table has %r"
                             % (spec.get("features"), self.table["features"]))
        self.spec = spec
        self.layers = [(torch.tensor(l["w"], dtype=torch.float64), torch.tensor(l["b"], dtype=torch.float64))
                       for l in spec["layers"]]
        self.in_mean = torch.tensor(spec["in_mean"], dtype=torch.float64)
        self.in_std = torch.tensor(spec["in_std"], dtype=torch.float64)
        self.out_mean, self.out_std = float(spec["out_mean"]), float(spec["out_std"])
        self.device = spec.get("device", "")

    @classmethod
    def from_json(cls, path, table=None):
        with open(path) as f:
            return cls(json.load(f), table)

    def features(self, terms, s):
        """The predictor inputs for a block's terms and its role slices."""
        return eval_terms(self.table["features"], terms, s)

    def latency(self, f):
        """Predicted milliseconds of a block with features f."""
        x = (f - self.in_mean) / self.in_std
        for i, (W, bias) in enumerate(self.layers):
            x = W @ x + bias
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return torch.exp(x[0] * self.out_std + self.out_mean)

    def network_blocks(self, size):
        """The table's blocks of the family at size x size."""
        blocks = self.table["networks"].get(str(size))
        if blocks is None:
            raise ValueError("latency_features.json holds the family at sizes %s, not %d "
                             "(FeatureTableSizes in latency/featuretable.go, then go generate ./latency)"
                             % (sorted(self.table["networks"], key=int), size))
        return blocks

    def block_features(self, tb, widths, k=None):
        """Features of table block tb for widths (table width name ->
        channels, tensors or numbers), its searched kernel (if any) at
        side k (None: the teacher's)."""
        s = {role: slices(widths[name]) for role, name in tb["widths"].items()}
        s.update({role: slices(c) for role, c in (tb.get("fixed") or {}).items()})
        return self.features(block_terms(tb, k), s)

    def kernel_latency(self, tb, widths, conv):
        """Latency of table block tb whose kernel is searched, conv its
        Supernet.conv_configs entry: with gates [mid, big], the
        latencies at the three choices mixed as the kernel is,
        lat(small) + g_mid*(lat(mid) - lat(small)) + g_mid*g_big*(lat(big) - lat(mid))."""
        g = conv.get("kgates")
        if g is None:
            return self.latency(self.block_features(tb, widths, conv["k"]))
        lats = [self.latency(self.block_features(tb, widths, k)) for k in conv["kernels"]]
        g = torch.as_tensor(g).to(device="cpu", dtype=torch.float64).reshape(-1)
        return sk.mix(lats[0], lats[1], lats[2], g)

    def network_latency(self, configs, size=None):
        """Sum of the block latencies of the network whose convs are
        configs (Supernet.conv_configs), each residual block's scaled by
        its depth gate and each searched kernel's block mixed over its
        choices (kernel_latency), as a float32 scalar tensor."""
        by = {c["name"]: c for c in configs}
        size = size if size is not None else int(by["c0"]["h"])
        widths = {w: by[conv]["cout"] for w, conv in WIDTH_CONVS.items()}
        total = torch.zeros((), dtype=torch.float64)
        for tb in self.network_blocks(size):
            if tb.get("kernel"):
                lat = self.kernel_latency(tb, widths, by[KERNEL_CONVS[tb["kernel"]]])
            else:
                lat = self.latency(self.block_features(tb, widths))
            if tb["depth"] >= 0:
                depth = by["b%d_1" % tb["depth"]]["depth"]
                lat = torch.as_tensor(depth).to(device="cpu", dtype=torch.float64) * lat
            total = total + lat
        return total.to(device=torch.as_tensor(configs[0]["cin"]).device, dtype=torch.float32)
