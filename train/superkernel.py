"""Searchable kernel sides of the supernet's full-resolution convs, in the
style of Single-Path NAS (Stamoulis et al., 2019): each searched conv
keeps one superkernel of its largest choice, and its effective kernel is

    w_small + g_mid * ring_mid + g_mid * g_big * ring_big

where w_small is the superkernel's centre (the smallest choice), ring_mid
what the middle choice adds to it, ring_big what the largest adds to that,
and g_mid, g_big two logits binarized by the straight-through estimator
(supernet.binarize). Zeros outside a smaller kernel make a SAME conv with
the superkernel exactly that smaller conv (stride 1), so the chosen kernel
is the superkernel's centre crop (what export.extract_student writes).

The choices are latency.KernelConvs' (latency/family.go): conv0 and conv9
3/5/7 (the teacher's 7), conv8 1/3/5 (the teacher's 3, so its superkernel
is 5x5 with the teacher's weights in the centre and a zero outer ring: the
initial function is the teacher's).
"""

import torch

# Searched conv -> its kernel choices, small to big (latency.KernelConvs).
KERNEL_CONVS = {"c0": (3, 5, 7), "c8": (1, 3, 5), "c9": (3, 5, 7)}
TEACHER_KERNELS = {"c0": 7, "c8": 3, "c9": 7}
# The arch dict's key of each searched conv's gate bits [mid, big], and
# latency.Arch's name of its kernel side (latency_features.json's "kernel").
GATE = {c: "k" + c for c in KERNEL_CONVS}
ARCH_NAME = {"c0": "k0", "c8": "k8", "c9": "k9"}


def bits_for(conv, k):
    """Gate bits [mid, big] that choose side k for conv."""
    small, mid, big = KERNEL_CONVS[conv]
    if k not in (small, mid, big):
        raise ValueError("%s: kernel %d, want one of %s" % (conv, k, KERNEL_CONVS[conv]))
    return [int(k >= mid), int(k == big)]


def side(conv, bits):
    """The kernel side gate bits [mid, big] choose: the big ring counts
    only with the mid one (g_mid * g_big)."""
    small, mid, big = KERNEL_CONVS[conv]
    if not bits[0]:
        return small
    return big if bits[1] else mid


def kernel_of(arch, conv):
    """The kernel side of conv in an arch dict; the teacher's where the
    arch predates kernel search (no gate bits) or conv is not searched."""
    if conv not in KERNEL_CONVS:
        return None
    bits = arch.get(GATE[conv])
    return TEACHER_KERNELS[conv] if bits is None else side(conv, bits)


def teacher_bits():
    """Gate bits of the teacher's kernels, by arch key."""
    return {GATE[c]: bits_for(c, TEACHER_KERNELS[c]) for c in KERNEL_CONVS}


def init_logits(conv, on=1.0):
    """Starting logits [mid, big]: on where the teacher's kernel reaches.
    conv8's big ring starts at zero weights, so its gate starts just on
    (0.6): the ring trains with the weights and the cost can switch it off
    within a few steps unless the distillation needs it (a ring whose gate
    is off gets no gradient, and would never turn on)."""
    small, mid, big = KERNEL_CONVS[conv]
    t = TEACHER_KERNELS[conv]
    return [on if t >= mid else 0.0, on if t == big else min(on, 0.6)]


def teacher_logits(conv):
    """Logits [mid, big] that choose the teacher's kernel, off the 0.5
    threshold (0.75 on, 0.25 off)."""
    return [0.75 if b else 0.25 for b in bits_for(conv, TEACHER_KERNELS[conv])]


def masks(conv):
    """[3, K, K] float masks of the superkernel (K its largest side), one
    per choice: ones on its centre k x k. mix() of them is the effective
    kernel's mask (the rings are their differences)."""
    out = []
    K = KERNEL_CONVS[conv][-1]
    for k in KERNEL_CONVS[conv]:
        m = torch.zeros(K, K)
        o = (K - k) // 2
        m[o:o + k, o:o + k] = 1
        out.append(m)
    return torch.stack(out)


def mix(small, mid, big, g):
    """small + g_mid * (mid - small) + g_mid * g_big * (big - mid): the
    effective value of anything with a value per kernel choice (the
    kernel's k*k, a block's latency), g the gate values [mid, big]."""
    return small + g[0] * (mid - small) + g[0] * g[1] * (big - mid)


def effective_kk(conv, g):
    """The differentiable k*k of conv's effective kernel."""
    s, m, b = KERNEL_CONVS[conv]
    return mix(s * s, m * m, b * b, g)


def crop(w, k):
    """The centre k x k of a torch-layout kernel [O, I, K, K]."""
    o = (w.shape[-1] - k) // 2
    return w[..., o:o + k, o:o + k]


def embed(w, K):
    """A [O, I, k, k] kernel in the centre of zeros [O, I, K, K]."""
    o = (K - w.shape[-1]) // 2
    out = w.new_zeros(w.shape[:2] + (K, K))
    out[..., o:o + w.shape[-1], o:o + w.shape[-1]] = w
    return out
