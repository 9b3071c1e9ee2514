package cpu

import (
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

// reportRate adds ms per run and GFLOP/s (two per multiply-add).
func reportRate(b *testing.B, macs int) {
	per := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(per*1e3, "ms/op")
	b.ReportMetric(2*float64(macs)/per/1e9, "GFLOP/s")
}

// BenchmarkConv3x3_128 is one of White-box's residual convs:
// 64x64x128 -> 128, 3x3, SAME.
func BenchmarkConv3x3_128(b *testing.B) {
	r := newRand(b)
	g := newBuilder(r, 128)
	g.conv("in", 128, 128, 3, 1, "leaky_relu")
	in := randTensor(r, -1, 1, 64, 64, 128)
	for b.Loop() {
		if _, err := Run(g.g, in); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, macs(b, g.g, 64, 64))
}

// BenchmarkWhitebox256 runs a White-box-shaped generator on one
// 256x256 frame.
func BenchmarkWhitebox256(b *testing.B) {
	r := newRand(b)
	g := whiteboxShaped(r)
	in := randTensor(r, -1, 1, 256, 256, 3)
	for b.Loop() {
		if _, err := Run(g, in); err != nil {
			b.Fatal(err)
		}
	}
	m := macs(b, g, 256, 256)
	b.ReportMetric(float64(m)/1e9, "GMACs")
	reportRate(b, m)
}

// BenchmarkDepthwise3x3 is the guided filter's kind of conv.
func BenchmarkDepthwise3x3(b *testing.B) {
	r := newRand(b)
	g := newBuilder(r, 32)
	g.node(model.Node{Op: model.OpConv2D, Groups: 32, Padding: model.PadSame,
		Inputs: []string{"in", g.weight(32, 3, 3, 1)}})
	in := randTensor(r, -1, 1, 256, 256, 32)
	for b.Loop() {
		if _, err := Run(g.g, in); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, macs(b, g.g, 256, 256))
}
