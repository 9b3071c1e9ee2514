"""U-GAT-IT's networks for the unpaired mode (ugatit.py holds the objective).

Networks:
- `CAMGenerator`: U-GAT-IT's ResnetGenerator (light variant): reflect-pad
  convs + instance norm down, residual blocks, then the CAM head (global
  average and global max pooled features -> one linear logit each; the
  linear weights re-weight the feature maps channel-wise; the two
  re-weighted maps are concatenated and mixed by a 1x1 conv + ReLU; the
  channel sum is the attention heatmap), AdaLIN residual blocks whose
  gamma/beta come from an MLP on the pooled attended features, and
  nearest-upsampling + conv + ILN up to a 7x7 conv and tanh. Output in
  [-1, 1]. rho of ILN/AdaLIN is clipped to [0, 1] (`clip_rho`).
- `SupernetCAMGenerator`: the searchable student (supernet.Supernet, its
  channel/depth gates and STE unchanged) with a CAM head on its bottleneck
  (the residual stream after the blocks). To keep the searched network
  exportable as the White-box family, this head has no bias, no ReLU and no
  AdaLIN after its 1x1 mix: the mix is then linear and exactly foldable into
  the next conv (c5), see `fold_cam()`, so the auxiliary classifier costs
  nothing at inference. It is initialised to the identity mix, so a
  teacher-initialised supernet starts as the teacher.
- `CAMDiscriminator`: U-GAT-IT's discriminator: spectral-normalised 4x4
  convs (reflect pad), a CAM head (spectrally normalised linear logits for
  the pooled features re-weighting the maps, 1x1 conv + leaky ReLU), and a
  4x4 conv to patch logits. Returns (patch logits, CAM logits, heatmap).
- `MultiScaleDiscriminator`: the global + local pair of U-GAT-IT (global:
  more downsamplings, a large receptive field; local: fewer); both see the
  same image and their losses are summed.
"""

import copy
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import supernet as sn  # noqa: E402


class ILN(nn.Module):
    """Instance-layer norm: rho * IN(x) + (1 - rho) * LN(x), then gamma, beta."""

    def __init__(self, ch, eps=1e-5, rho=0.0):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.full((1, ch, 1, 1), rho))
        self.gamma = nn.Parameter(torch.ones(1, ch, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, ch, 1, 1))

    def normed(self, x):
        in_mean, in_var = x.mean(dim=(2, 3), keepdim=True), x.var(dim=(2, 3), keepdim=True)
        ln_mean, ln_var = x.mean(dim=(1, 2, 3), keepdim=True), x.var(dim=(1, 2, 3), keepdim=True)
        x_in = (x - in_mean) / torch.sqrt(in_var + self.eps)
        x_ln = (x - ln_mean) / torch.sqrt(ln_var + self.eps)
        return self.rho * x_in + (1 - self.rho) * x_ln

    def forward(self, x):
        return self.normed(x) * self.gamma + self.beta


class AdaLIN(ILN):
    """Adaptive ILN: gamma and beta (N x C) come from the attention MLP."""

    def __init__(self, ch, eps=1e-5):
        super().__init__(ch, eps, rho=0.9)
        del self.gamma, self.beta

    def forward(self, x, gamma, beta):
        return self.normed(x) * gamma[:, :, None, None] + beta[:, :, None, None]


class ResBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False), nn.InstanceNorm2d(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False), nn.InstanceNorm2d(ch))

    def forward(self, x):
        return x + self.body(x)


class AdaLINResBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.pad1, self.conv1, self.norm1 = nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False), AdaLIN(ch)
        self.pad2, self.conv2, self.norm2 = nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False), AdaLIN(ch)

    def forward(self, x, gamma, beta):
        h = F.relu(self.norm1(self.conv1(self.pad1(x)), gamma, beta))
        h = self.norm2(self.conv2(self.pad2(h)), gamma, beta)
        return x + h


class CAMHead(nn.Module):
    """U-GAT-IT's class-activation-map attention.

    gap_logit = w_gap . avgpool(x), gmp_logit = w_gmp . maxpool(x) (one
    linear unit each, no bias); the same weights re-weight x channel-wise:
    cat(x * w_gap, x * w_gmp) -> 1x1 conv (`mix`) -> activation.
    forward(x) -> (attended features, CAM logits N x 2, heatmap N x 1 x H x W).

    foldable=True (for the supernet): no bias and no activation after the
    mix, and the mix initialised so the attended map equals x.
    """

    def __init__(self, ch, act="relu", spectral=False, foldable=False):
        super().__init__()
        self.ch, self.foldable = ch, foldable
        wrap = nn.utils.spectral_norm if spectral else (lambda m: m)
        self.gap_fc = wrap(nn.Linear(ch, 1, bias=False))
        self.gmp_fc = wrap(nn.Linear(ch, 1, bias=False))
        self.mix = nn.Conv2d(2 * ch, ch, 1, bias=not foldable)
        self.act = act
        if foldable:
            w0 = 1.0 / math.sqrt(ch)
            with torch.no_grad():
                self.gap_fc.weight.fill_(w0)
                self.gmp_fc.weight.fill_(w0)
                eye = torch.eye(ch) / (2 * w0)
                self.mix.weight.copy_(torch.cat([eye, eye], 1)[:, :, None, None])

    def reweight_matrix(self):
        """The C x C linear map x -> mix(cat(x * w_gap, x * w_gmp)) (foldable head)."""
        w = self.mix.weight[:, :, 0, 0]
        return w[:, :self.ch] * self.gap_fc.weight + w[:, self.ch:] * self.gmp_fc.weight

    def forward(self, x):
        gap_logit = self.gap_fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
        gmp_logit = self.gmp_fc(F.adaptive_max_pool2d(x, 1).flatten(1))
        x_gap = x * self.gap_fc.weight.view(1, -1, 1, 1)
        x_gmp = x * self.gmp_fc.weight.view(1, -1, 1, 1)
        h = self.mix(torch.cat([x_gap, x_gmp], 1))
        if self.act == "relu":
            h = F.relu(h)
        elif self.act == "lrelu":
            h = F.leaky_relu(h, 0.2)
        heatmap = h.sum(dim=1, keepdim=True)
        return h, torch.cat([gap_logit, gmp_logit], 1), heatmap


# ------------------------------------------------------------ generators

class CAMGenerator(nn.Module):
    """U-GAT-IT ResnetGenerator (light: the AdaLIN MLP sees pooled features).

    forward(x) -> (image in [-1, 1], CAM logits N x 2, heatmap).
    """

    def __init__(self, ch=64, n_blocks=4, n_down=2):
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ch, 7, bias=False), nn.InstanceNorm2d(ch), nn.ReLU(True)]
        for i in range(n_down):
            m = 2 ** i
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch * m, ch * m * 2, 3, 2, bias=False),
                       nn.InstanceNorm2d(ch * m * 2), nn.ReLU(True)]
        c = ch * 2 ** n_down
        layers += [ResBlock(c) for _ in range(n_blocks)]
        self.encoder = nn.Sequential(*layers)
        self.cam = CAMHead(c, act="relu")
        self.mlp = nn.Sequential(nn.Linear(c, c, bias=False), nn.ReLU(True),
                                 nn.Linear(c, c, bias=False), nn.ReLU(True))
        self.gamma = nn.Linear(c, c, bias=False)
        self.beta = nn.Linear(c, c, bias=False)
        self.up_blocks = nn.ModuleList([AdaLINResBlock(c) for _ in range(n_blocks)])
        up = []
        for i in range(n_down):
            m = 2 ** (n_down - i)
            up += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                   nn.Conv2d(ch * m, ch * m // 2, 3, bias=False), ILN(ch * m // 2), nn.ReLU(True)]
        up += [nn.ReflectionPad2d(3), nn.Conv2d(ch, 3, 7, bias=False), nn.Tanh()]
        self.decoder = nn.Sequential(*up)

    def forward(self, x):
        h = self.encoder(x)
        h, cam_logit, heatmap = self.cam(h)
        s = self.mlp(F.adaptive_avg_pool2d(h, 1).flatten(1))
        gamma, beta = self.gamma(s), self.beta(s)
        for blk in self.up_blocks:
            h = blk(h, gamma, beta)
        return self.decoder(h), cam_logit, heatmap

    def clip_rho(self):
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, ILN):
                    m.rho.clamp_(0.0, 1.0)


class SupernetCAMGenerator(nn.Module):
    """The searchable student (supernet.Supernet: channel/depth gates, STE)
    with a foldable CAM head on the bottleneck (before c5).

    forward(x) -> (guided-filter output, CAM logits N x 2, heatmap).
    """

    def __init__(self, teacher_tensors, eps=None, init_alpha="importance"):
        super().__init__()
        self.net = sn.Supernet(teacher_tensors, eps=eps, init_alpha=init_alpha)
        self.cam = CAMHead(self.net.full_widths()["R"], act=None, foldable=True)

    @property
    def gates(self):
        return self.net.gates

    def gate_parameters(self):
        """Every gate's logits: channel, depth and kernel."""
        return list(self.net.gate_params().values())

    def weight_parameters(self):
        """Everything but the gates (convs and the CAM head)."""
        gate_ids = {id(p) for p in self.gate_parameters()}
        return [p for p in self.parameters() if id(p) not in gate_ids]

    def forward(self, x):
        cam = {}

        def head(r):
            r, cam["logit"], cam["heatmap"] = self.cam(r)
            return r

        y, _ = self.net(x, bottleneck=head)
        return y, cam["logit"], cam["heatmap"]

    def cost(self, size=256, lat=None):
        """Differentiable MACs (or predicted latency with a LatencyPredictor)."""
        g = self.net.gate_values()
        if lat is not None:
            return lat.network_latency(self.net.conv_configs(size, g))
        return self.net.macs(size, g)

    def clamp(self):
        self.net.clamp_gates()

    @torch.no_grad()
    def fold_cam(self):
        """A plain supernet.Supernet whose c5 absorbs the CAM mix (exact: the
        mix is linear and bias-free), for export.extract_student."""
        folded = copy.deepcopy(self.net)
        m = self.cam.reweight_matrix()  # mixed[j] = sum_i m[j, i] r[i]
        folded.weights["c5"].copy_(torch.einsum("ojhw,ji->oihw", self.net.weights["c5"], m))
        return folded


def random_teacher_tensors(seed=0, eps=1e-2):
    """Teacher-layout tensors (convs [O,KH,KW,I], biases, the guided filter eps) with
    He-initialised random weights: a supernet without the teacher file."""
    rng = np.random.default_rng(seed)
    widths = {"c0": 32, "c1": 32, "c2": 64, "c3": 64, "c4": 128, "c5": 64, "c6": 64, "c7": 32, "c8": 32, "c9": 3}
    t = {}
    out_w = {}
    for name, prefix, k, s, gin, gout, scale, act in sn.CONVS:
        cout = widths.get(name, 128)
        out_w[gout] = cout
        cin = 3 if gin is None else out_w[gin]
        std = math.sqrt(2.0 / (k * k * cin)) * (0.3 if name.endswith("_2") else 1.0)
        t[prefix + "/Conv2D"] = (rng.standard_normal((cout, k, k, cin)) * std).astype(np.float32)
        t[prefix + "/biases"] = np.zeros(cout, np.float32)
    t["add/y"] = np.array([eps], np.float32)
    return t


# -------------------------------------------------------- discriminators

class CAMDiscriminator(nn.Module):
    """U-GAT-IT discriminator with n_down stride-2 convs (global: 5, local: 3
    at 256 px). forward(x) -> (patch logits N x 1 x h x w, CAM logits N x 2, heatmap)."""

    def __init__(self, ch=64, n_down=3, spectral=True):
        super().__init__()
        sn_ = nn.utils.spectral_norm if spectral else (lambda m: m)
        layers = [nn.ReflectionPad2d(1), sn_(nn.Conv2d(3, ch, 4, 2)), nn.LeakyReLU(0.2, True)]
        c = ch
        for _ in range(n_down - 1):
            layers += [nn.ReflectionPad2d(1), sn_(nn.Conv2d(c, 2 * c, 4, 2)), nn.LeakyReLU(0.2, True)]
            c *= 2
        layers += [nn.ReflectionPad2d(1), sn_(nn.Conv2d(c, 2 * c, 4, 1)), nn.LeakyReLU(0.2, True)]
        c *= 2
        self.body = nn.Sequential(*layers)
        self.cam = CAMHead(c, act="lrelu", spectral=spectral)
        self.pad = nn.ReflectionPad2d(1)
        self.out = sn_(nn.Conv2d(c, 1, 4, 1, bias=False))

    def forward(self, x):
        h, cam_logit, heatmap = self.cam(self.body(x))
        return self.out(self.pad(h)), cam_logit, heatmap


class MultiScaleDiscriminator(nn.Module):
    """U-GAT-IT's global + local discriminator pair for one domain.
    forward(x) -> [(patch, cam, heatmap) of the global one, (...) of the local one]."""

    def __init__(self, ch=64, n_down_global=5, n_down_local=3, spectral=True):
        super().__init__()
        self.nets = nn.ModuleList([CAMDiscriminator(ch, n_down_global, spectral),
                                   CAMDiscriminator(ch, n_down_local, spectral)])

    def forward(self, x):
        return [d(x) for d in self.nets]


def default_n_down(size):
    """(global, local) downsamplings for an input size: U-GAT-IT's (5, 3) at
    256 px, fewer for small crops so the reflect pads stay valid (>= 4 px
    before the last two 4x4 convs)."""
    g = max(1, min(5, int(math.log2(size)) - 2))
    return g, max(1, g - 2)
