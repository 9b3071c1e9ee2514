"""The searchable student family: the White-box encoder-decoder with
channel gates (width) and block gates (depth), initialised from the teacher.

Architecture (teacher widths; every conv 3x3 except the 7x7 first and last;
the kernel sides of c0, c8 and c9 are searched too: superkernel.py):

    c0 3->32 (full res)  --------------------------------------+ skip (gate "a")
    c1 32->32 s2, c2 32->64  ---------------------+ skip (gate "b")
    c3 64->64 s2, c4 64->128 (residual stream, gate "R")
    4 x residual block: conv1 128->128 + lrelu, conv2 128->128, add
    c5 128->64, x2 bilinear, + c2      (c5 and c2 share gate "b")
    c6 64->64, c7 64->32, x2 bilinear, + c0   (c7 and c0 share gate "a")
    c8 32->32, c9 32->3, then the guided filter (fixed, parameter-free).

Each gate is a vector of logits, one per group of 4 channels; the forward
pass uses the binarized gate (logit > 0.5) and the backward pass the
straight-through estimator (gradient as if the binarization were the
identity). Logits are clipped to [0, 1] after each step. Masked channels
are exactly zero, so dropping them later (export.extract_student) changes
nothing; their weights are kept, so a gate that reopens restores them.
Each residual block also has a depth gate: when it is 0 the block is skipped.
Each of c0, c8, c9 has a kernel gate (two logits, in kgates), binarized the
same way, choosing its kernel side (superkernel.py).
Convs whose input and output are both gated by ties keep residual/skip adds
consistent: the residual stream has one gate, shared by c4 and every conv2.
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import edgetoon_model as em
import metrics
import superkernel as sk

GROUP = 4
ALPHA = 0.2  # leaky_relu slope of the teacher
N_BLOCKS = 4

# name, teacher tensor prefix, kernel, stride, in gate, out gate, output scale
# (output resolution = size / scale), leaky_relu after the conv.
CONVS = [
    ("c0", "generator/Conv", 7, 1, None, "a", 1, True),
    ("c1", "generator/Conv_1", 3, 2, "a", "c1", 2, True),
    ("c2", "generator/Conv_2", 3, 1, "c1", "b", 2, True),
    ("c3", "generator/Conv_3", 3, 2, "b", "c3", 4, True),
    ("c4", "generator/Conv_4", 3, 1, "c3", "R", 4, True),
] + [
    item for i in range(N_BLOCKS) for item in (
        ("b%d_1" % i, "generator/block_%d/conv1" % i, 3, 1, "R", "blk%d" % i, 4, True),
        ("b%d_2" % i, "generator/block_%d/conv2" % i, 3, 1, "blk%d" % i, "R", 4, False),
    )
] + [
    ("c5", "generator/Conv_5", 3, 1, "R", "b", 4, True),
    ("c6", "generator/Conv_6", 3, 1, "b", "c6", 2, True),
    ("c7", "generator/Conv_7", 3, 1, "c6", "a", 2, True),
    ("c8", "generator/Conv_8", 3, 1, "a", "c8", 1, True),
    ("c9", "generator/Conv_9", 7, 1, "c8", None, 1, False),
]
CONV_BY_NAME = {c[0]: c for c in CONVS}
DEPTH_GATES = ["d%d" % i for i in range(N_BLOCKS)]
KERNEL_GATES = list(sk.GATE.values())


def block_of(conv_name):
    """Index of the residual block a conv belongs to, or None."""
    if conv_name.startswith("b") and "_" in conv_name:
        return int(conv_name[1:conv_name.index("_")])
    return None


class _STE(torch.autograd.Function):
    """Forward: the given hard values; backward: the gradient unchanged."""

    @staticmethod
    def forward(ctx, alpha, hard):
        return hard

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def scale_grad(x, s):
    """x in the forward pass; gradient times s in the backward pass."""
    return x * s + x.detach() * (1 - s)


def binarize(alpha, min_on=1):
    """{0,1} forward, identity backward (straight-through estimator).

    A channel gate keeps at least its min_on (>= 1) strongest groups, so no
    conv loses all its outputs (depth gates are scalars and may switch off;
    kernel gates, min_on 0, are independent bits).
    """
    hard = (alpha.detach() > 0.5).to(alpha.dtype)
    if alpha.numel() > 1 and min_on > 0:
        k = max(min(int(min_on), alpha.numel()), 1)
        if float(hard.sum()) < k:
            top = torch.topk(alpha.detach(), k).indices
            hard = hard.clone()
            hard[top] = 1
    return _STE.apply(alpha, hard)


def guided_filter(x, y, eps, r=1):
    """White-box's fast guided filter (guide x, input y, box radius r), NCHW.

    The same sequence of operations as the teacher's graph (nodes 26-43).
    """
    mean_x = em.box_mean(x, r)
    mean_y = em.box_mean(y, r)
    cov_xy = em.box_mean(x * y, r) - mean_x * mean_y
    var_x = em.box_mean(x * x, r) - mean_x * mean_x
    a = cov_xy / (var_x + eps)
    b = mean_y - a * mean_x
    return em.box_mean(a, r) * x + em.box_mean(b, r)


class Supernet(nn.Module):
    """The gated generator. forward(x) takes the normalized NCHW input in
    [-1, 1] and returns (output after the guided filter, raw conv output)."""

    def __init__(self, teacher_tensors, eps=None, init_alpha="importance", min_blocks=1, min_width=0.0,
                 min_width_by=None, search_kernels=True):
        super().__init__()
        self.min_blocks = min_blocks
        self.min_width = min_width  # each channel gate keeps >= this fraction of its groups
        self.min_width_by = dict(min_width_by or {})  # per-gate overrides, e.g. {"R": 0.25}
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        for name, prefix, k, s, gin, gout, scale, act in CONVS:
            w = torch.from_numpy(np.ascontiguousarray(teacher_tensors[prefix + "/Conv2D"].transpose(0, 3, 1, 2)))
            if name in sk.KERNEL_CONVS:  # the superkernel, the teacher's in its centre
                w = sk.embed(w, sk.KERNEL_CONVS[name][-1])
            self.weights[name] = nn.Parameter(w)
            self.biases[name] = nn.Parameter(torch.from_numpy(np.array(teacher_tensors[prefix + "/biases"])))
        if eps is None:
            eps = float(np.asarray(teacher_tensors["add/y"]).reshape(-1)[0])
        self.eps = eps
        self.gates = nn.ParameterDict()
        widths = self.full_widths()
        for g, c in widths.items():
            self.gates[g] = nn.Parameter(torch.ones(c // GROUP))
        for d in DEPTH_GATES:
            self.gates[d] = nn.Parameter(torch.ones(1))
        # Kernel gates [mid, big] by searched conv, apart from the channel
        # and depth gates (code that walks those needs no exception).
        self.kgates = nn.ParameterDict({c: nn.Parameter(torch.tensor(sk.init_logits(c))) for c in sk.KERNEL_CONVS})
        for c in sk.KERNEL_CONVS:
            self.register_buffer("kmask_" + c, sk.masks(c), persistent=False)
        self._register_load_state_dict_pre_hook(self._upgrade_state)
        if init_alpha == "importance":
            self._init_from_importance()
        if not search_kernels:  # the teacher's kernels, fixed
            with torch.no_grad():
                for c, a in self.kgates.items():
                    a.copy_(torch.tensor(sk.teacher_logits(c)))
                    a.requires_grad_(False)

    def _upgrade_state(self, state, prefix, *args):
        """Load a state saved before kernels were searched (search.pt of
        an older run): its conv8 kernel goes into the superkernel's
        centre, and the kernel gates choose the teacher's kernels."""
        for c in sk.KERNEL_CONVS:
            key = prefix + "weights." + c
            K = sk.KERNEL_CONVS[c][-1]
            if key in state and state[key].shape[-1] < K:
                state[key] = sk.embed(state[key], K)
            gkey = prefix + "kgates." + c
            if gkey not in state:
                state[gkey] = torch.tensor(sk.teacher_logits(c))

    @staticmethod
    def full_widths():
        """Teacher width of each channel gate."""
        w = {}
        for name, prefix, k, s, gin, gout, scale, act in CONVS:
            if gout is not None:
                w[gout] = {"c0": 32, "c1": 32, "c2": 64, "c3": 64, "c4": 128, "c5": 64,
                           "c6": 64, "c7": 32, "c8": 32}.get(name, 128)
        return w

    def _init_from_importance(self):
        """Start every gate on, ordered by the L1 norm of its groups' filters
        (logit 0.75..1.0), so equal pressure drops weak groups first."""
        with torch.no_grad():
            for gname, alpha in self.gates.items():
                if gname in DEPTH_GATES:
                    continue
                norm = torch.zeros(alpha.numel())
                for name, _, _, _, _, gout, _, _ in CONVS:
                    if gout == gname:
                        w = self.weights[name].abs().sum(dim=(1, 2, 3))
                        norm += w.view(-1, GROUP).sum(dim=1)
                alpha.copy_(0.75 + 0.25 * norm / norm.max())
            # A kernel's rings start with the weakest groups (0.75): under
            # the same pressure they go as soon as those, unless the
            # distillation holds them.
            for c, a in self.kgates.items():
                a.copy_(torch.tensor(sk.init_logits(c, on=0.75)))

    def clamp_gates(self):
        """Keep logits in [0, 1] (call after each optimizer step)."""
        with torch.no_grad():
            for a in list(self.gates.values()) + list(self.kgates.values()):
                a.clamp_(0.0, 1.0)

    def gate_params(self):
        """Every gate's logits by its arch key: channel, depth and kernel."""
        p = dict(self.gates.items())
        p.update({sk.GATE[c]: a for c, a in self.kgates.items()})
        return p

    def teacher_arch(self):
        """The arch dict of the teacher: every group and block on, the
        teacher's kernels."""
        arch = {k: [1] * a.numel() for k, a in self.gates.items()}
        arch.update(sk.teacher_bits())
        return arch

    def gates_of(self, arch):
        """Gate values (tensors, no gradient) of an arch dict; kernels the
        teacher's where it has no kernel bits."""
        dev = self.gates["a"].device
        full = dict(sk.teacher_bits(), **arch)
        return {k: torch.tensor(full[k], dtype=torch.float32, device=dev) for k in self.gate_params()}

    def gate_values(self):
        """STE gate per channel gate (per group) and per depth gate.

        At least `min_blocks` residual blocks stay on: if fewer depth gates
        are above the threshold, the highest-logit ones are kept.
        """
        g = {k: binarize(a, self.min_groups(k)) for k, a in self.gates.items()}
        g.update({sk.GATE[c]: binarize(a, 0) for c, a in self.kgates.items()})
        on = [d for d in DEPTH_GATES if float(g[d]) > 0]
        if len(on) < self.min_blocks:
            ranked = sorted(DEPTH_GATES, key=lambda d: -float(self.gates[d].detach()))
            for d in ranked[:self.min_blocks]:
                a = self.gates[d]
                g[d] = _STE.apply(a, torch.ones_like(a.detach()))
        return g

    def arch(self):
        """The current concrete architecture: active groups per gate, depth
        bits, kernel gate bits [mid, big] ("kc0", "kc8", "kc9")."""
        with torch.no_grad():
            g = self.gate_values()
        return {k: [int(v) for v in g[k].detach().reshape(-1).tolist()] for k in self.gate_params()}

    def min_groups(self, gate):
        """Groups a channel gate always keeps (min_width of its groups, >= 1)."""
        if gate in DEPTH_GATES:
            return 0
        frac = self.min_width_by.get(gate, self.min_width)
        return max(int(math.ceil(frac * self.gates[gate].numel() - 1e-9)), 1)

    def cost_gates(self, gates=None, depth_norm=True):
        """Gates for the cost term. With depth_norm, each depth gate's cost
        gradient is divided by the number of active groups of its block's
        inner width (gate "blk<i>"): a block then costs, to its depth gate,
        what one of its channel groups costs, so the search thins a block
        before it drops it (a whole block's MACs would otherwise dominate
        every distillation gradient). Forward values are unchanged."""
        g = dict(gates if gates is not None else self.gate_values())
        if depth_norm:
            for i, d in enumerate(DEPTH_GATES):
                n = max(float(g["blk%d" % i].detach().sum()), 1.0)
                g[d] = scale_grad(g[d], 1.0 / n)
        return g

    def widths(self, arch=None):
        """Active channels per channel gate, the kept blocks and the kernel
        side of each searched conv ("kernels"), for an arch."""
        arch = arch or self.arch()
        w = {k: GROUP * sum(v) for k, v in arch.items() if k not in DEPTH_GATES and k not in KERNEL_GATES}
        w["blocks"] = [i for i in range(N_BLOCKS) if arch["d%d" % i][0]]
        w["kernels"] = {c: sk.kernel_of(arch, c) for c in sk.KERNEL_CONVS}
        return w

    def kernel(self, name, gates):
        """Conv name's weights as used: the effective kernel of a searched
        conv (superkernel.py), else its weights."""
        w = self.weights[name]
        if name not in sk.KERNEL_CONVS:
            return w
        g = gates[sk.GATE[name]].to(w.dtype)
        m = getattr(self, "kmask_" + name).to(w.dtype)
        return w * sk.mix(m[0], m[1], m[2], g)

    def _conv(self, x, name, gates):
        _, _, k, s, gin, gout, scale, act = CONV_BY_NAME[name]
        y = em.conv2d_same(x, self.kernel(name, gates), self.biases[name], (s, s))
        if act:
            y = F.leaky_relu(y, ALPHA)
        if gout is not None:
            y = y * gates[gout].to(y.dtype).repeat_interleave(GROUP).view(1, -1, 1, 1)
        return y

    def forward(self, x, bottleneck=None):
        """(output, raw output before the guided filter); bottleneck, if
        given, maps the residual stream after the blocks (the unpaired
        mode's CAM head sits there)."""
        g = self.gate_values()
        a = self._conv(x, "c0", g)
        h = self._conv(a, "c1", g)
        b = self._conv(h, "c2", g)
        h = self._conv(b, "c3", g)
        r = self._conv(h, "c4", g)
        for i in range(N_BLOCKS):
            t = self._conv(r, "b%d_1" % i, g)
            t = self._conv(t, "b%d_2" % i, g)
            r = r + g["d%d" % i] * t
        if bottleneck is not None:
            r = bottleneck(r)
        h = self._conv(r, "c5", g)
        h = em.resize_bilinear(h, h.shape[2] * 2, h.shape[3] * 2) + b
        h = self._conv(h, "c6", g)
        h = self._conv(h, "c7", g)
        h = em.resize_bilinear(h, h.shape[2] * 2, h.shape[3] * 2) + a
        h = self._conv(h, "c8", g)
        raw = self._conv(h, "c9", g)
        return guided_filter(x, raw, self.eps), raw

    def conv_configs(self, size=256, gates=None):
        """Per conv: dict(name, k, kk, stride, h, w (input), cin, cout, depth)
        with cin/cout the (STE) effective widths as tensors, differentiable;
        k is the chosen kernel side, kk the differentiable k*k of the
        effective kernel, and a searched conv also has its kernel choices
        ("kernels") and gate values [mid, big] ("kgates")."""
        g = gates if gates is not None else self.gate_values()
        one = torch.ones(())
        out = []
        for name, _, k, s, gin, gout, scale, act in CONVS:
            cin = 3 * one if gin is None else GROUP * g[gin].sum()
            cout = 3 * one if gout is None else GROUP * g[gout].sum()
            blk = block_of(name)
            depth = g["d%d" % blk].sum() if blk is not None else one
            in_res = size // (scale // s)
            c = dict(name=name, k=k, kk=k * k, stride=s, h=in_res, w=in_res, cin=cin, cout=cout,
                     depth=depth, residual=name.endswith("_2"), block=blk, act=act)
            if name in sk.KERNEL_CONVS:
                kg = g.get(sk.GATE[name])
                if kg is None:  # gates of an arch without kernel bits: the teacher's
                    kg = torch.tensor(sk.bits_for(name, sk.TEACHER_KERNELS[name]), dtype=torch.float32)
                c.update(k=sk.side(name, [float(v) > 0.5 for v in kg.detach().reshape(-1)]),
                         kk=sk.effective_kk(name, kg), kernels=sk.KERNEL_CONVS[name], kgates=kg)
            out.append(c)
        return out

    def macs(self, size=256, gates=None):
        """Differentiable multiply-accumulates at size x size: sum over convs of
        out_h * out_w * k*k_eff * cin_eff * cout_eff (times the block's depth gate)."""
        total = torch.zeros(())
        for c in self.conv_configs(size, gates):
            oh = math.ceil(c["h"] / c["stride"])
            total = total + c["depth"] * oh * oh * c["kk"] * c["cin"] * c["cout"]
        return total


def arch_macs(arch, size=256):
    """MACs of a concrete architecture (dict of 0/1 lists), without torch."""
    w = {k: GROUP * sum(v) for k, v in arch.items() if k not in DEPTH_GATES and k not in KERNEL_GATES}
    total = 0
    for name, _, k, s, gin, gout, scale, act in CONVS:
        blk = block_of(name)
        if blk is not None and not arch["d%d" % blk][0]:
            continue
        cin = 3 if gin is None else w[gin]
        cout = 3 if gout is None else w[gout]
        oh = size // scale
        k = sk.kernel_of(arch, name) or k
        total += oh * oh * k * k * cin * cout
    return total


class PatchDiscriminator(nn.Module):
    """A small PatchGAN (LSGAN) telling teacher outputs from student outputs."""

    def __init__(self, ch=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, ch, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * ch, 4 * ch, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * ch, 1, 3, 1, 1),
        )

    def forward(self, x):
        return self.net(x)


def edge_l1(s, t):
    """L1 between the horizontal and vertical differences of s and t: the
    teacher's crisp outlines weigh more than in a plain L1."""
    dx = ((s[..., :, 1:] - s[..., :, :-1]) - (t[..., :, 1:] - t[..., :, :-1])).abs().mean()
    dy = ((s[..., 1:, :] - s[..., :-1, :]) - (t[..., 1:, :] - t[..., :-1, :])).abs().mean()
    return dx + dy


def edge_energy_l1(s, t, window=16):
    """L1 between the local edge energy of s and t: the luma gradient
    magnitude (|horizontal difference| + |vertical difference|, the eval's
    sharpness measure) averaged over window x window tiles. Pixel losses
    reward a blur wherever an outline's exact place is uncertain (their
    optimum is the mean or median of the places); this one asks only that
    each tile hold as much edge as the teacher's, wherever in the tile, so
    it pulls the sharpness ratio towards 1 and leaves the placing to them."""
    def energy(x):
        y = metrics.luma(x)
        dx = (y[..., :, 1:] - y[..., :, :-1]).abs()[..., :-1, :]
        dy = (y[..., 1:, :] - y[..., :-1, :]).abs()[..., :, :-1]
        return F.avg_pool2d(dx + dy, window, ceil_mode=True)
    return (energy(s) - energy(t)).abs().mean()


def lsgan_d_loss(d_real, d_fake):
    """LSGAN discriminator loss: real -> 1, fake -> 0."""
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake ** 2).mean()


def lsgan_g_loss(d_fake):
    """LSGAN generator loss: make fakes score 1."""
    return 0.5 * ((d_fake - 1) ** 2).mean()


def cost_penalty(cost, target):
    """max(0, cost - target) relative to the target."""
    return F.relu(cost - target) / target
