"""Exports a small PyTorch conv net with torch.onnx.export.

usage: torch_export.py DIR

Writes DIR/net_<opset>[_dyn].onnx, DIR/in.f32 (1x3x64x64) and
DIR/out.f32 (PyTorch's output, NCHW), all raw little-endian float32.
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(2)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.c2 = nn.Conv2d(8, 16, 3, padding=2, dilation=2)
        self.inorm = nn.InstanceNorm2d(16, affine=True)
        self.g = nn.Parameter(torch.rand(16) + 0.5)
        self.b = nn.Parameter(torch.rand(16) - 0.5)
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.refl = nn.ReflectionPad2d(1)
        self.c3 = nn.Conv2d(16 * 3 + 8, 8, 3)
        self.zero = nn.ZeroPad2d((0, 1, 0, 1))
        self.c4 = nn.Conv2d(8, 3, 2)

    def forward(self, x):
        x = F.leaky_relu(self.c1(x), 0.2)
        s = x
        x = F.relu6(self.dw(x))
        x = torch.sigmoid(self.c2(x))
        x = self.inorm(x)
        m = x.mean((1, 2, 3), keepdim=True)
        d = x - m
        v = (d * d).mean((1, 2, 3), keepdim=True)
        x = d / torch.sqrt(v + 1e-5) * self.g.view(1, -1, 1, 1) + self.b.view(1, -1, 1, 1)
        a = F.interpolate(x, scale_factor=2, mode="nearest")
        b = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        c = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        x = torch.cat([a, b, c, s], 1)
        x = self.pool(x) * 0.5 + 0.25
        x = torch.relu(self.c3(self.refl(x)))
        x = torch.clamp(x, -1.0, 1.5) / 2.0
        return torch.tanh(self.c4(self.zero(x)))


net = Net().eval()
x = torch.rand(1, 3, 64, 64) * 2 - 1
with torch.no_grad():
    y = net(x)
d = sys.argv[1]
x.numpy().astype("<f4").tofile(d + "/in.f32")
y.numpy().astype("<f4").tofile(d + "/out.f32")
for opset in (11, 13, 17):
    torch.onnx.export(net, x, "%s/net_%d.onnx" % (d, opset), opset_version=opset,
                      input_names=["input"], output_names=["output"])
torch.onnx.export(net, x, d + "/net_13_dyn.onnx", opset_version=13, input_names=["input"],
                  output_names=["output"], dynamic_axes={"input": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}})
