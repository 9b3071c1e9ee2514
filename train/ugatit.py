"""Unpaired mode: the U-GAT-IT objective (the paper's task loss), with
CAM-attention generators and discriminators, optionally searching the
architecture of G with the gated student of supernet.py.

Domains: X = photos, Y = anime/cartoons. Generators G: X->Y and F: Y->X;
discriminators D_X (real x vs F(y)) and D_Y (real y vs G(x)).

Objective (DESIGN.md section 2; U-GAT-IT, Kim et al. 2020):

  generators:     1 * (L_gan^X + L_gan^Y) + 10 * L_cyc + 10 * L_id + 1000 * L_CAM^G
                  [+ lambda * max(0, cost - target) / target when G is the supernet]
  discriminators: 1 * (L_gan^X + L_gan^Y), CAM logits included

  L_gan (LSGAN)  D: E(D(real) - 1)^2 + E D(fake)^2;  G: E(D(fake) - 1)^2,
                 summed over both discriminator scales (global, local) and
                 over each scale's two outputs: the patch logits and the
                 CAM logits (the discriminator's CAM loss, LSGAN).
  L_cyc          E|F(G(x)) - x|_1 + E|G(F(y)) - y|_1
  L_id           E|G(y) - y|_1 + E|F(x) - x|_1
  L_CAM^G        BCE-with-logits of each generator's own auxiliary CAM
                 classifier, "is this input from my source domain?":
                 G's on x -> 1 and on y -> 0; F's on y -> 1 and on x -> 0.

As in the official U-GAT-IT code, the discriminator's CAM LSGAN terms are
weighted like the adversarial terms (w_adv = 1); the 1000 applies to the
generator's BCE CAM term (`w_cam_d` changes the former).

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

import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgetoon_model as em  # noqa: E402
import supernet as sn  # noqa: E402

W_ADV, W_CYC, W_ID, W_CAM = 1.0, 10.0, 10.0, 1000.0


# ---------------------------------------------------------------- layers

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

    def weight_parameters(self):
        """Everything but the gates (convs and the CAM head)."""
        gate_ids = {id(p) for p in self.net.gates.parameters()}
        return [p for p in self.parameters() if id(p) not in gate_ids]

    def forward(self, x):
        net = self.net
        g = net.gate_values()
        a = net._conv(x, "c0", g)
        h = net._conv(a, "c1", g)
        b = net._conv(h, "c2", g)
        h = net._conv(b, "c3", g)
        r = net._conv(h, "c4", g)
        for i in range(sn.N_BLOCKS):
            t = net._conv(r, "b%d_1" % i, g)
            t = net._conv(t, "b%d_2" % i, g)
            r = r + g["d%d" % i] * t
        r, cam_logit, heatmap = self.cam(r)
        h = net._conv(r, "c5", g)
        h = em.resize_bilinear(h, h.shape[2] * 2, h.shape[3] * 2) + b
        h = net._conv(h, "c6", g)
        h = net._conv(h, "c7", g)
        h = em.resize_bilinear(h, h.shape[2] * 2, h.shape[3] * 2) + a
        h = net._conv(h, "c8", g)
        raw = net._conv(h, "c9", g)
        return sn.guided_filter(x, raw, net.eps), cam_logit, heatmap

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


# ----------------------------------------------------------------- losses
# Each term on plain tensors, so tests can check it by hand.

def lsgan_d(real_logits, fake_logits):
    """Discriminator LSGAN: E(real - 1)^2 + E fake^2 (U-GAT-IT's MSE form)."""
    return ((real_logits - 1) ** 2).mean() + (fake_logits ** 2).mean()


def lsgan_g(fake_logits):
    """Generator LSGAN: E(fake - 1)^2."""
    return ((fake_logits - 1) ** 2).mean()


def cycle_loss(x, x_rec, y, y_rec):
    """L_cyc = E|F(G(x)) - x|_1 + E|G(F(y)) - y|_1."""
    return (x_rec - x).abs().mean() + (y_rec - y).abs().mean()


def identity_loss(y, g_of_y, x, f_of_x):
    """L_id = E|G(y) - y|_1 + E|F(x) - x|_1."""
    return (g_of_y - y).abs().mean() + (f_of_x - x).abs().mean()


def cam_g_loss(logit_on_source, logit_on_target):
    """A generator's CAM loss: BCE-with-logits of its auxiliary classifier,
    source-domain inputs -> 1, target-domain inputs -> 0."""
    return (F.binary_cross_entropy_with_logits(logit_on_source, torch.ones_like(logit_on_source))
            + F.binary_cross_entropy_with_logits(logit_on_target, torch.zeros_like(logit_on_target)))


def cam_d_loss(real_cam_logits, fake_cam_logits):
    """A discriminator's CAM loss: LSGAN on its CAM logits."""
    return lsgan_d(real_cam_logits, fake_cam_logits)


def adv_d_loss(real_outs, fake_outs, w_cam_d=1.0):
    """Sum over discriminator scales of LSGAN on the patch logits plus
    w_cam_d x LSGAN on the CAM logits. *_outs: lists of (patch, cam, heatmap)."""
    total = 0.0
    for (rp, rc, _), (fp, fc, _) in zip(real_outs, fake_outs):
        total = total + lsgan_d(rp, fp) + w_cam_d * cam_d_loss(rc, fc)
    return total


def adv_g_loss(fake_outs, w_cam_d=1.0):
    """Generator side of adv_d_loss: fakes' patch and CAM logits -> 1."""
    total = 0.0
    for fp, fc, _ in fake_outs:
        total = total + lsgan_g(fp) + w_cam_d * lsgan_g(fc)
    return total


def total_g_loss(gan_x, gan_y, cyc, idt, cam, w_adv=W_ADV, w_cyc=W_CYC, w_id=W_ID, w_cam=W_CAM):
    """L = w_adv (L_gan^X + L_gan^Y) + w_cyc L_cyc + w_id L_id + w_cam L_CAM."""
    return w_adv * (gan_x + gan_y) + w_cyc * cyc + w_id * idt + w_cam * cam


# ------------------------------------------------------------------ model

class UGATIT(nn.Module):
    """G: X->Y, F: Y->X (CAMGenerator, or G the SupernetCAMGenerator with
    search=True), D_X, D_Y (MultiScaleDiscriminator each).

    Inputs are NCHW in [-1, 1].
    """

    def __init__(self, ch=64, n_blocks=4, d_ch=64, size=256, search=False, teacher_tensors=None,
                 n_down=None, spectral=True, w_adv=W_ADV, w_cyc=W_CYC, w_id=W_ID, w_cam=W_CAM, w_cam_d=1.0):
        super().__init__()
        self.search = search
        if search:
            self.G = SupernetCAMGenerator(teacher_tensors if teacher_tensors is not None
                                          else random_teacher_tensors())
        else:
            self.G = CAMGenerator(ch, n_blocks)
        self.F = CAMGenerator(ch, n_blocks)
        ng, nl = n_down or default_n_down(size)
        self.D_X = MultiScaleDiscriminator(d_ch, ng, nl, spectral)
        self.D_Y = MultiScaleDiscriminator(d_ch, ng, nl, spectral)
        self.w = dict(w_adv=w_adv, w_cyc=w_cyc, w_id=w_id, w_cam=w_cam)
        self.w_cam_d = w_cam_d

    def generator_params(self):
        g = self.G.weight_parameters() if self.search else list(self.G.parameters())
        return g + list(self.F.parameters())

    def gate_params(self):
        return list(self.G.gates.parameters()) if self.search else []

    def disc_params(self):
        return list(self.D_X.parameters()) + list(self.D_Y.parameters())

    def d_loss(self, x, y):
        """Discriminator objective (generators' outputs detached)."""
        with torch.no_grad():
            fake_y = self.G(x)[0]
            fake_x = self.F(y)[0]
        l_x = adv_d_loss(self.D_X(x), self.D_X(fake_x), self.w_cam_d)
        l_y = adv_d_loss(self.D_Y(y), self.D_Y(fake_y), self.w_cam_d)
        loss = self.w["w_adv"] * (l_x + l_y)
        return loss, dict(d_x=float(l_x), d_y=float(l_y), d=float(loss))

    def g_loss(self, x, y):
        """Generator objective and its named terms (without the cost penalty)."""
        fake_y, cam_g_x, _ = self.G(x)        # G on its source domain
        fake_x, cam_f_y, _ = self.F(y)        # F on its source domain
        rec_x = self.F(fake_y)[0]
        rec_y = self.G(fake_x)[0]
        id_y, cam_g_y, _ = self.G(y)          # G on its target domain
        id_x, cam_f_x, _ = self.F(x)          # F on its target domain
        gan_x = adv_g_loss(self.D_X(fake_x), self.w_cam_d)
        gan_y = adv_g_loss(self.D_Y(fake_y), self.w_cam_d)
        cyc = cycle_loss(x, rec_x, y, rec_y)
        idt = identity_loss(y, id_y, x, id_x)
        cam = cam_g_loss(cam_g_x, cam_g_y) + cam_g_loss(cam_f_y, cam_f_x)
        loss = total_g_loss(gan_x, gan_y, cyc, idt, cam, **self.w)
        terms = dict(gan_x=float(gan_x), gan_y=float(gan_y), cyc=float(cyc), id=float(idt), cam=float(cam),
                     g=float(loss))
        return loss, terms, fake_y

    def clip(self):
        """After each step: rho in [0, 1], gate logits in [0, 1]."""
        self.F.clip_rho()
        if self.search:
            self.G.clamp()
        else:
            self.G.clip_rho()


class Trainer:
    """Alternating D and G(+gates) Adam steps, U-GAT-IT style (lr 1e-4,
    betas (0.5, 0.999), weight decay 1e-4), with the cost penalty and
    dual-ascent lambda of the distillation search when G is the supernet."""

    def __init__(self, model, lr=1e-4, lr_gates=0.01, weight_decay=1e-4, target=0.8e9, lam=0.01,
                 lam_rate=0.05, gate_warmup=0, cost_size=256, lat=None):
        self.m = model
        self.opt_g = torch.optim.Adam(model.generator_params(), lr, betas=(0.5, 0.999), weight_decay=weight_decay)
        self.opt_d = torch.optim.Adam(model.disc_params(), lr, betas=(0.5, 0.999), weight_decay=weight_decay)
        gates = model.gate_params()
        self.opt_a = torch.optim.Adam(gates, lr_gates, betas=(0.5, 0.999)) if gates else None
        self.target, self.lam, self.lam_rate = target, lam, lam_rate
        self.gate_warmup, self.cost_size, self.lat = gate_warmup, cost_size, lat
        self.steps = 0

    def step(self, x, y):
        m = self.m
        self.steps += 1
        d_loss, d_terms = m.d_loss(x, y)
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()

        g_loss, terms, fake_y = m.g_loss(x, y)
        terms.update(d_terms)
        total = g_loss
        if m.search:
            cost = m.G.cost(self.cost_size, self.lat)
            pen = sn.cost_penalty(cost, self.target)
            total = total + self.lam * pen
            terms.update(cost=float(cost), penalty=float(pen), lam=self.lam,
                         macs=float(m.G.net.macs(self.cost_size)))
        self.opt_g.zero_grad()
        if self.opt_a is not None:
            self.opt_a.zero_grad()
        total.backward()
        self.opt_g.step()
        if self.opt_a is not None and self.steps > self.gate_warmup:
            self.opt_a.step()
            self.lam = (self.lam * (1 + self.lam_rate) if terms["penalty"] > 0
                        else max(self.lam / (1 + self.lam_rate), 1e-6))
        m.clip()
        terms["total"] = float(total)
        return terms, fake_y


# ------------------------------------------------------------------- data

EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def list_folder(root):
    """Image files under root (recursive), sorted."""
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in names if n.lower().endswith(EXTS)]
    return sorted(out)


class FolderImages(torch.utils.data.Dataset):
    """Images of one domain: random square crop (scale 0.6-1 of the short
    side), resized to size, random horizontal flip; CHW in [-1, 1]."""

    def __init__(self, root, size, scale=(0.6, 1.0)):
        from PIL import Image  # noqa: F401  (fail early if PIL is missing)
        self.paths, self.size, self.scale = list_folder(root), size, scale
        if not self.paths:
            raise SystemExit("no images (%s) in %s" % ("/".join(EXTS), root))

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image
        img = Image.open(self.paths[i]).convert("RGB")
        w, h = img.size
        side = max(int(min(w, h) * float(torch.empty(()).uniform_(*self.scale))), 1)
        l = int(torch.randint(0, w - side + 1, ()))
        t = int(torch.randint(0, h - side + 1, ()))
        img = img.crop((l, t, l + side, t + side)).resize((self.size, self.size), Image.BILINEAR)
        if float(torch.rand(())) < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        a = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(a.transpose(2, 0, 1).copy())


def endless(ds, batch, workers=0):
    sampler = torch.utils.data.RandomSampler(ds, replacement=True, num_samples=10 ** 9)
    return iter(torch.utils.data.DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers,
                                            drop_last=True))


def save_samples(model, x, path):
    """Rows of photo | G(photo) | G's CAM heatmap (PNG)."""
    from PIL import Image
    with torch.no_grad():
        fy, _, heat = model.G(x)
    heat = F.interpolate(heat, size=x.shape[2:], mode="nearest")
    lo, hi = heat.amin(dim=(2, 3), keepdim=True), heat.amax(dim=(2, 3), keepdim=True)
    heat = ((heat - lo) / (hi - lo + 1e-8)).repeat(1, 3, 1, 1) * 2 - 1
    rows = [torch.cat([x[i], fy[i].clamp(-1, 1), heat[i]], dim=2) for i in range(len(x))]
    img = ((torch.cat(rows, dim=1).permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().clip(0, 255)
    Image.fromarray(img.astype(np.uint8)).save(path)


# -------------------------------------------------------------------- CLI

def parse(argv):
    p = argparse.ArgumentParser(
        prog="main.py unpaired",
        description="Unpaired photo->anime training with the U-GAT-IT objective "
                    "(optionally searching G's architecture with the supernet).")
    p.add_argument("--photos", required=True, help="folder of domain X images (photos)")
    p.add_argument("--anime", required=True, help="folder of domain Y images (anime/cartoons)")
    p.add_argument("--out", default=os.environ.get("OUT") or "/tmp/edgetoon-unpaired")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--ch", type=int, default=64, help="generator base width (CAMGenerator)")
    p.add_argument("--n-blocks", type=int, default=4)
    p.add_argument("--d-ch", type=int, default=64, help="discriminator base width")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--w-adv", type=float, default=W_ADV)
    p.add_argument("--w-cyc", type=float, default=W_CYC)
    p.add_argument("--w-id", type=float, default=W_ID)
    p.add_argument("--w-cam", type=float, default=W_CAM)
    p.add_argument("--w-cam-d", type=float, default=1.0, help="weight of D's CAM LSGAN relative to its patch LSGAN")
    p.add_argument("--search", action="store_true", help="G = the searchable supernet (gates + cost penalty)")
    p.add_argument("--init", choices=["teacher", "random"], default="teacher", help="supernet init (--search)")
    p.add_argument("--target-macs", type=float, default=0.8e9)
    p.add_argument("--latency-json", default=None)
    p.add_argument("--target-latency", type=float, default=None)
    p.add_argument("--lam", type=float, default=0.01)
    p.add_argument("--lam-rate", type=float, default=0.05)
    p.add_argument("--lr-gates", type=float, default=0.01)
    p.add_argument("--gate-warmup", type=int, default=50)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--sample-every", type=int, default=0, help="samples.png every N steps (0: at the end)")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.latency_json and args.target_latency is None:
        p.error("--latency-json needs --target-latency")
    return args


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    dev = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    tensors = None
    if args.search:
        if args.init == "teacher":
            import gotools
            _, tensors = em.read_file(gotools.teacher_path())
        else:
            tensors = random_teacher_tensors(args.seed)
    model = UGATIT(args.ch, args.n_blocks, args.d_ch, args.size, search=args.search, teacher_tensors=tensors,
                   w_adv=args.w_adv, w_cyc=args.w_cyc, w_id=args.w_id, w_cam=args.w_cam,
                   w_cam_d=args.w_cam_d).to(dev)
    lat = sn.LatencyPredictor.from_json(args.latency_json) if args.latency_json else None
    target = args.target_latency if lat is not None else args.target_macs
    tr = Trainer(model, args.lr, args.lr_gates, args.weight_decay, target, args.lam, args.lam_rate,
                 args.gate_warmup, 256, lat)
    dx, dy = FolderImages(args.photos, args.size), FolderImages(args.anime, args.size)
    it_x, it_y = endless(dx, args.batch, args.workers), endless(dy, args.batch, args.workers)
    print("unpaired: %d photos, %d anime images at %dpx, batch %d, %d steps on %s%s" % (
        len(dx), len(dy), args.size, args.batch, args.steps, dev,
        "; searching G (target %s %.4g)" % ("latency" if lat else "MACs", target) if args.search else ""),
        flush=True)
    x_fixed = next(it_x)[:4].to(dev)
    t0 = time.time()
    with open(os.path.join(args.out, "unpaired_log.jsonl"), "w") as logf:
        for step in range(1, args.steps + 1):
            x, y = next(it_x).to(dev), next(it_y).to(dev)
            terms, _ = tr.step(x, y)
            terms["step"] = step
            if args.search:
                w = model.G.net.widths()
                terms["blocks"] = w.pop("blocks")
                terms["widths"] = w
            logf.write(json.dumps(terms) + "\n")
            if step % max(args.log_every, 1) == 0 or step == args.steps:
                el = time.time() - t0
                print("[unpaired] step %d/%d  G %.3f (adv %.3f+%.3f cyc %.4f id %.4f cam %.4f)  D %.3f%s  "
                      "elapsed %.0fs  ETA %.0fs" % (
                          step, args.steps, terms["g"], terms["gan_x"], terms["gan_y"], terms["cyc"], terms["id"],
                          terms["cam"], terms["d"],
                          "  GMACs %.3f lam %.3g" % (terms["macs"] / 1e9, terms["lam"]) if args.search else "",
                          el, el / step * (args.steps - step)), flush=True)
            if args.sample_every and step % args.sample_every == 0:
                save_samples(model, x_fixed, os.path.join(args.out, "samples.png"))
    save_samples(model, x_fixed, os.path.join(args.out, "samples.png"))
    torch.save({"model": model.state_dict(), "args": vars(args)}, os.path.join(args.out, "unpaired.pt"))
    if args.search:
        arch = model.G.net.arch()
        folded = model.G.fold_cam()
        torch.save({"supernet": folded.state_dict()}, os.path.join(args.out, "unpaired_search.pt"))
        info = dict(arch=arch, macs=sn.arch_macs(arch), widths=model.G.net.widths(arch), steps=args.steps,
                    size=args.size, target=target, cost="latency" if lat else "macs", objective="ugatit")
        with open(os.path.join(args.out, "unpaired_arch.json"), "w") as f:
            json.dump(info, f, indent=1)
        print("unpaired: G architecture %s, %.3f GMACs at 256" % (info["widths"], info["macs"] / 1e9), flush=True)
    print("unpaired: done in %.1fs; outputs in %s" % (time.time() - t0, args.out), flush=True)


if __name__ == "__main__":
    main()
