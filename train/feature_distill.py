"""Feature distillation (--w-feat): the student's intermediate activations
fitted to the teacher's, not only its output.

The student keeps the teacher's node names but has fewer channels, so
each distilled node gets an adapter: a learned 1x1 conv from the
student's C_s channels to the teacher's C_t, trained with the student and
never exported. The loss is the mean squared error between the adapted
student features and the teacher's, each teacher channel divided by its
standard deviation (so that every channel counts alike and the weight
--w-feat does not depend on the teacher's activation scale).

This is the intermediate-activation distillation of GAN Compression (Li,
Lin, Ding, Liu, Zhu, Han: "GAN Compression: Efficient Architectures for
Interactive Conditional GANs", CVPR 2020, arXiv:2003.08936; in their
code, distillers/base_resnet_distiller.py: a 1x1 Conv2d per distilled
layer, student channels to teacher channels, optimised with the
generator, and an MSE to the teacher's activation), which descends from
FitNets' hints and regressors (Romero et al., ICLR 2015). One change: the
adapter starts at the least-squares map from the first batch's student
features to the teacher's (init_), not at random: the student here is
already trained (--init), and a random adapter's error would push its
features around before the adapter had learned anything.
"""

import bisect

import numpy as np
import torch
import torch.nn as nn

# The residual trunk's output (the input of generator/Conv_5), whichever
# residual blocks a graph kept; see edgetoon_model.resolve_node.
DEFAULT_NODES = "generator/Conv_5:in"


def parse_nodes(text):
    """The --feat-nodes list: comma-separated node specs."""
    nodes = tuple(s.strip() for s in text.split(",") if s.strip())
    if not nodes:
        raise ValueError("--feat-nodes: no node named")
    return nodes


class FeatureDistill(nn.Module):
    """Adapters (1x1 convs, student channels -> teacher channels) for a list
    of nodes, and the loss: the mean over nodes of the MSE of per-channel
    normalised features, mean(((adapter(s) - t) / std_t)^2)."""

    def __init__(self, student_channels, teacher_channels):
        super().__init__()
        if len(student_channels) != len(teacher_channels):
            raise ValueError("feature distillation: %d student nodes, %d teacher nodes"
                             % (len(student_channels), len(teacher_channels)))
        self.adapters = nn.ModuleList(nn.Conv2d(cs, ct, 1) for cs, ct in zip(student_channels, teacher_channels))
        for i, ct in enumerate(teacher_channels):
            self.register_buffer("inv_std%d" % i, torch.ones(ct))

    def inv_std(self, i):
        return getattr(self, "inv_std%d" % i)

    def forward(self, s_feats, t_feats):
        total = 0.0
        for i, (a, s, t) in enumerate(zip(self.adapters, s_feats, t_feats)):
            if s.shape[2:] != t.shape[2:]:
                raise ValueError("feature distillation: node %d is %s in the student, %s in the teacher"
                                 % (i, tuple(s.shape[2:]), tuple(t.shape[2:])))
            d = (a(s.float()) - t.float()) * self.inv_std(i).view(1, -1, 1, 1)
            total = total + d.pow(2).mean()
        return total / len(self.adapters)

    @torch.no_grad()
    def init_(self, s_feats, t_feats, ridge=1e-4):
        """Set each channel's normaliser from the teacher's features (a
        floor of 1/100 of the mean std keeps a near-constant channel from
        dominating) and each adapter to the ridge least-squares map from
        the student's features to the teacher's."""
        for i, (a, s, t) in enumerate(zip(self.adapters, s_feats, t_feats)):
            xs = s.detach().double().transpose(0, 1).reshape(s.shape[1], -1).t()  # pixels x C_s
            ys = t.detach().double().transpose(0, 1).reshape(t.shape[1], -1).t()  # pixels x C_t
            std = ys.std(dim=0, unbiased=False)
            std = std.clamp_min(1e-2 * float(std.mean()) + 1e-12)
            self.inv_std(i).copy_((1 / std).to(self.inv_std(i).dtype))
            x1 = torch.cat([xs, torch.ones(len(xs), 1, dtype=xs.dtype, device=xs.device)], 1)
            gram = x1.t() @ x1
            reg = ridge * float(gram.diagonal().mean()) * torch.eye(len(gram), dtype=gram.dtype, device=gram.device)
            reg[-1, -1] = 0  # the bias is not shrunk
            sol = torch.linalg.solve(gram + reg, x1.t() @ ys)  # (C_s + 1) x C_t
            a.weight.copy_(sol[:-1].t().reshape(a.weight.shape).to(a.weight.dtype))
            a.bias.copy_(sol[-1].to(a.bias.dtype))


def feature_channels(module, nodes, size=16):
    """The channel counts of a GraphModule's nodes (one tiny forward pass)."""
    p = next(iter(module.parameters()))
    with torch.no_grad():
        _, feats = module(torch.zeros(1, 3, size, size, device=p.device, dtype=p.dtype), return_nodes=list(nodes))
    return [int(feats[n].shape[1]) for n in nodes]


class ChunkRows:
    """Rows of a sequence of arrays (the cache's per-chunk feature files,
    memory-mapped) indexed as one array of the first n rows; take(idx)
    reads only the rows asked for, as a float32 tensor."""

    def __init__(self, arrays, n=None):
        self.arrays = list(arrays)
        self.starts = [0]
        for a in self.arrays:
            self.starts.append(self.starts[-1] + len(a))
        self.n = self.starts[-1] if n is None else min(n, self.starts[-1])

    def __len__(self):
        return self.n

    def take(self, idx):
        rows = []
        for i in (int(j) for j in idx):
            if not 0 <= i < self.n:
                raise IndexError("row %d of %d" % (i, self.n))
            c = bisect.bisect_right(self.starts, i) - 1
            rows.append(np.asarray(self.arrays[c][i - self.starts[c]]))
        return torch.from_numpy(np.stack(rows).astype(np.float32))
