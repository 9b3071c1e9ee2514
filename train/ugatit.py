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

The networks are in ugatit_nets.py; training on two folders is unpaired.py.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import supernet as sn  # noqa: E402
from ugatit_nets import (CAMGenerator, MultiScaleDiscriminator, SupernetCAMGenerator,  # noqa: E402
                         default_n_down, random_teacher_tensors)

W_ADV, W_CYC, W_ID, W_CAM = 1.0, 10.0, 10.0, 1000.0


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
        return self.G.gate_parameters() if self.search else []

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
