//go:build !js

package browsertest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/kernels/testgraph"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

// opCase builds a small graph on an input of c channels.
type opCase struct {
	name  string
	h, w  int
	c     int
	build func(b *testgraph.Builder, x string)
}

var opCases = []opCase{
	{"conv3x3_5to7_leaky", 13, 11, 5, func(b *testgraph.Builder, x string) { b.Conv(x, 5, 7, 3, 1, 1, "leaky_relu") }},
	{"conv3x3_stride2_8to12", 17, 16, 8, func(b *testgraph.Builder, x string) { b.Conv(x, 8, 12, 3, 2, 1, "relu") }},
	{"conv7x7_3to32", 16, 16, 3, func(b *testgraph.Builder, x string) { b.Conv(x, 3, 32, 7, 1, 1, "") }},
	{"conv5x5_20to3", 16, 16, 20, func(b *testgraph.Builder, x string) { b.Conv(x, 20, 3, 5, 1, 1, "") }},
	// Inputs and outputs of fewer than 4 channels: taps of 1-3 lanes
	// (kernels/conv.go's tapShape), outputs transposed.
	{"conv3x3_1to2_relu", 9, 10, 1, func(b *testgraph.Builder, x string) { b.Conv(x, 1, 2, 3, 1, 1, "relu") }},
	{"conv3x3_2to1_stride2", 11, 9, 2, func(b *testgraph.Builder, x string) { b.Conv(x, 2, 1, 3, 2, 1, "") }},
	{"conv5x5_3to3_tanh", 12, 12, 3, func(b *testgraph.Builder, x string) { b.Conv(x, 3, 3, 5, 1, 1, "tanh") }},
	{"conv3x3_6to2_leaky", 10, 10, 6, func(b *testgraph.Builder, x string) { b.Conv(x, 6, 2, 3, 1, 1, "leaky_relu") }},
	{"conv1x1_16to20_relu6", 9, 9, 16, func(b *testgraph.Builder, x string) { b.Conv(x, 16, 20, 1, 1, 1, "relu6") }},
	{"conv_dilated_valid", 15, 14, 4, func(b *testgraph.Builder, x string) {
		w := b.Const(-0.5, 0.5, 6, 3, 3, 4)
		b.Node(model.Node{Op: model.OpConv2D, Inputs: []string{x, w}, Padding: model.PadValid, Dilation: [2]int{2, 2}})
	}},
	{"conv_explicit_pads_stride", 12, 12, 6, func(b *testgraph.Builder, x string) {
		w, bias := b.Const(-0.5, 0.5, 5, 3, 3, 6), b.Const(-1, 1, 5)
		b.Node(model.Node{Op: model.OpConv2D, Inputs: []string{x, w, bias}, Padding: model.PadExplicit, Pads: [4]int{1, 2, 0, 1}, Stride: [2]int{2, 1}})
	}},
	{"depthwise3x3_12", 10, 12, 12, func(b *testgraph.Builder, x string) { b.Conv(x, 12, 12, 3, 1, 12, "") }},
	{"grouped_conv_g2", 8, 8, 8, func(b *testgraph.Builder, x string) { b.Conv(x, 8, 8, 3, 1, 2, "tanh") }},
	{"conv_residual_add", 10, 10, 8, func(b *testgraph.Builder, x string) {
		y := b.Conv(x, 8, 8, 3, 1, 1, "leaky_relu")
		y = b.Conv(y, 8, 8, 3, 1, 1, "")
		b.Op(model.OpAdd, x, y)
	}},
	{"upsample_skip_conv", 16, 16, 8, func(b *testgraph.Builder, x string) {
		d := b.Conv(x, 8, 8, 3, 2, 1, "leaky_relu")
		u := b.Resize(d, 2, "bilinear")
		b.Conv(b.Op(model.OpAdd, u, x), 8, 6, 3, 1, 1, "leaky_relu")
	}},
	// Winograd F(4x4, 3x3) (kernels/winograd.go): 3x3 convs of at least
	// 64 channels in and out, at sizes that are not whole tiles, with a
	// fused input (a norm and a pad in the fetch) and epilogue (a
	// residual add), and beside them the same direct (edgetoonDirect).
	{"conv3x3_winograd_64to70_leaky", 13, 22, 64, func(b *testgraph.Builder, x string) { b.Conv(x, 64, 70, 3, 1, 1, "leaky_relu") }},
	{"conv3x3_winograd_residual", 9, 17, 68, func(b *testgraph.Builder, x string) {
		y := b.Conv(x, 68, 68, 3, 1, 1, "relu")
		b.Op(model.OpAdd, x, b.Conv(y, 68, 68, 3, 1, 1, ""))
	}},
	{"conv3x3_winograd_norm_reflect", 16, 8, 64, func(b *testgraph.Builder, x string) {
		y := b.Node(model.Node{Op: model.OpPad, Inputs: []string{b.Norm(model.OpInstanceNorm, x, 64)}, Pads: [4]int{1, 1, 1, 1}, Mode: "reflect"})
		w, bias := b.Const(-0.1, 0.1, 65, 3, 3, 64), b.Const(-1, 1, 65)
		b.Node(model.Node{Op: model.OpConv2D, Inputs: []string{y, w, bias}, Padding: model.PadValid})
	}},
	{"resize_nearest", 7, 9, 5, func(b *testgraph.Builder, x string) { b.Resize(x, 3, "nearest") }},
	{"resize_bilinear_align", 6, 5, 3, func(b *testgraph.Builder, x string) {
		b.Node(model.Node{Op: model.OpResize, Inputs: []string{x}, Mode: "bilinear", Scale: [2]int{2, 3}, AlignCorners: true})
	}},
	{"resize_bilinear_asymmetric", 6, 5, 4, func(b *testgraph.Builder, x string) {
		b.Node(model.Node{Op: model.OpResize, Inputs: []string{x}, Mode: "bilinear", Scale: [2]int{2, 2}})
	}},
	{"elementwise_consts", 9, 7, 6, func(b *testgraph.Builder, x string) {
		y := b.Op(model.OpMul, x, b.Const(0.5, 2, 6))
		y = b.Op(model.OpSub, y, b.Const(-1, 1, 1))
		y = b.Op(model.OpDiv, y, b.Const(0.5, 1.5, 1, 1, 6))
		b.Op(model.OpAdd, b.Op(model.OpSigmoid, y), b.Op(model.OpTanh, x))
	}},
	{"broadcast_1channel_clip", 8, 8, 5, func(b *testgraph.Builder, x string) {
		m := b.Conv(x, 5, 1, 1, 1, 1, "sigmoid")
		y := b.Op(model.OpMul, x, m)
		b.Node(model.Node{Op: model.OpClip, Inputs: []string{y}, Min: -0.3, Max: 0.4})
	}},
	{"box_mean_r2", 11, 13, 6, func(b *testgraph.Builder, x string) { b.Box(b.Op(model.OpMul, x, x), 2) }},
	{"pad_constant", 6, 7, 5, func(b *testgraph.Builder, x string) {
		b.Node(model.Node{Op: model.OpPad, Inputs: []string{x}, Mode: "constant", Pads: [4]int{1, 2, 3, 0}})
	}},
	{"pad_reflect", 6, 7, 5, func(b *testgraph.Builder, x string) {
		b.Node(model.Node{Op: model.OpPad, Inputs: []string{x}, Mode: "reflect", Pads: [4]int{2, 1, 1, 3}})
	}},
	{"concat_unaligned_conv", 8, 8, 3, func(b *testgraph.Builder, x string) {
		y := b.Conv(x, 3, 5, 3, 1, 1, "relu")
		b.Conv(b.Node(model.Node{Op: model.OpConcat, Inputs: []string{x, y}}), 8, 4, 3, 1, 1, "")
	}},
	{"guided_filter", 12, 12, 3, func(b *testgraph.Builder, x string) {
		y := b.Conv(x, 3, 3, 3, 1, 1, "tanh")
		b.GuidedFilter(x, y, 1, 5e-3)
	}},
	// Two passes (kernels/guided.go): a window cut by every border at
	// 4 channels, and an op after it folded into the second pass.
	{"guided_filter_r2_4ch_clip", 7, 11, 4, func(b *testgraph.Builder, x string) {
		y := b.Conv(x, 4, 4, 3, 1, 1, "tanh")
		q := b.GuidedFilter(x, y, 2, 1e-2)
		b.Node(model.Node{Op: model.OpClip, Inputs: []string{q}, Min: -0.5, Max: 0.6})
	}},
	// Norms: inputs shifted to a non-zero mean per channel; sizes that
	// the statistics tiles do not divide; channel counts that leave
	// padding lanes.
	{"instance_norm_7ch", 21, 19, 7, func(b *testgraph.Builder, x string) {
		b.Norm(model.OpInstanceNorm, b.Op(model.OpAdd, x, b.Const(0.5, 2, 7)), 7)
	}},
	// A mean 35-70x the spread: fp16 holds a mean of 2-4 only to 1e-3,
	// which normalizing by a spread of 0.06 would make 2e-2, so the
	// statistics carry the mean as a double-half (norm.go's split).
	{"instance_norm_large_mean", 16, 16, 3, func(b *testgraph.Builder, x string) {
		y := b.Op(model.OpAdd, b.Op(model.OpMul, x, b.Const(0.1, 0.11, 3)), b.Const(2, 4, 3))
		b.Norm(model.OpInstanceNorm, y, 3)
	}},
	{"layer_norm_6ch", 13, 37, 6, func(b *testgraph.Builder, x string) {
		b.Norm(model.OpLayerNorm, b.Op(model.OpAdd, x, b.Const(0.5, 2, 6)), 6)
	}},
	{"layer_norm_leaky_pad_conv", 18, 16, 10, func(b *testgraph.Builder, x string) {
		// AnimeGANv2's block: norm -> leaky ReLU -> reflect pad -> conv,
		// all in the conv's fetch.
		y := b.Conv(x, 10, 12, 3, 1, 1, "")
		y = b.Op(model.OpLeakyReLU, b.Norm(model.OpLayerNorm, b.Op(model.OpAdd, y, b.Const(1, 2, 1)), 12))
		y = b.Node(model.Node{Op: model.OpPad, Inputs: []string{y}, Mode: "reflect", Pads: [4]int{1, 1, 1, 1}})
		w := b.Const(-0.3, 0.3, 5, 3, 3, 12)
		b.Node(model.Node{Op: model.OpConv2D, Inputs: []string{y, w}, Padding: model.PadValid})
	}},
	{"instance_norm_stored_residual", 12, 10, 9, func(b *testgraph.Builder, x string) {
		// A norm read twice is stored by a pass of its own.
		y := b.Norm(model.OpInstanceNorm, b.Op(model.OpAdd, x, b.Const(-2, 2, 9)), 9)
		b.Op(model.OpAdd, y, b.Conv(y, 9, 9, 3, 1, 1, "tanh"))
	}},
}

// TestKernels runs every op (and the fusions) on random inputs and
// weights, in fp32 and fp16, against the CPU engine; the convs also with
// every weight in the weight texture (edgetoonUnbaked), where by default
// the small ones take theirs as constants (kernels/conv_baked.go), and
// with baked fragments up to 1,024 products (edgetoonBakedPixelTerms,
// the widest BenchmarkPlans times).
func TestKernels(t *testing.T) {
	p := newPage(t)
	pins := map[string]string{"unbaked": "edgetoonUnbaked", "wide": "edgetoonBakedPixelTerms=1024", "direct": "edgetoonDirect"}
	for _, tc := range opCases {
		variants := []string{"fp32", "fp16"}
		if strings.Contains(tc.name, "conv") {
			variants = append(variants, "fp32/unbaked", "fp16/unbaked", "fp32/wide", "fp16/wide")
		}
		if strings.Contains(tc.name, "winograd") {
			variants = append(variants, "fp32/direct", "fp16/direct")
		}
		for _, v := range variants {
			t.Run(tc.name+"/"+v, func(t *testing.T) {
				prec, layout, _ := strings.Cut(v, "/")
				if layout != "" {
					p.pin(t, pins[layout])
				}
				rng := newRand(t)
				// Model inputs have at most 4 channels; wider cases start
				// with a 1x1 conv.
				b := testgraph.New(rng, min(tc.c, 3))
				x := "input"
				if tc.c > 3 {
					x = b.Conv(x, 3, tc.c, 1, 1, 1, "")
				}
				tc.build(b, x)
				checkGraph(t, p, b.G, rng, tc.h, tc.w, prec)
			})
		}
	}
}

// TestWhiteboxShaped runs a randomly initialized network with White-box's
// layers (every fusion at once) at 64x64, in the default layout and in
// the others the benchmarks compare (conv pixels x output layers per
// fragment, through the engine's edgetoonConvPixels and
// edgetoonMaxOutputs), and in the plain one pixel per fragment.
func TestWhiteboxShaped(t *testing.T) {
	p := newPage(t)
	// The zero layout pins nothing: the engine's default.
	for _, l := range []layout{{}, {1, 1}, {4, 1}, {4, 2}} {
		name := l.String()
		for _, prec := range []string{"fp32", "fp16"} {
			t.Run(name+"/"+prec, func(t *testing.T) {
				if l != (layout{}) {
					if _, err := eval[chromedp.Void](p.ctx, l.pin()); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { eval[chromedp.Void](p.ctx, unpinLayout) })
				}
				rng := newRand(t)
				g := testgraph.Whitebox(rng)
				x := randomInput(rng, 64, 64, 3)
				checkModel(t, p, g, x, prec)
			})
		}
	}
}

func checkGraph(t *testing.T, p *page, g *model.Graph, rng *rand.Rand, h, w int, prec string) {
	t.Helper()
	shapes, err := g.Shapes(h, w)
	if err != nil {
		t.Fatal(err)
	}
	c := shapes[g.Output][2]
	g.Denorm = model.Affine{Scale: make([]float32, c), Bias: make([]float32, c)}
	for i := range c {
		g.Denorm.Scale[i] = 1
	}
	x := randomInput(rng, h, w, g.InputChannels)
	want, err := cpu.Run(g, x)
	if err != nil {
		t.Fatal(err)
	}
	got, passes, err := p.runGPU(g, x, prec)
	if err != nil {
		t.Fatal(err)
	}
	tol := 1e-4
	if prec == "fp16" {
		tol = 1e-2
	}
	e, at := maxRelErr(got.Data, want.Data)
	t.Logf("%d passes, max relative error %.2g", passes, e)
	if e > tol {
		t.Errorf("max relative error %.3g > %g at %d: got %g, want %g", e, tol, at, got.Data[at], want.Data[at])
	}
}

// TestBakedFallback: where the driver refuses the baked convs' programs
// (edgetoonRejectBaked, a lab hook that makes them fail to compile), the
// engine plans again with every weight in the weight texture, and its
// output still agrees with the CPU engine; without the hook it bakes.
func TestBakedFallback(t *testing.T) {
	p := newPage(t)
	const unbakedJS = `(async () => {
  const y = await edgetoon.debugRun(await bytes(%q), new Float32Array((await bytes(%q)).buffer), %d, %d, "fp32");
  return y.unbaked;
})()`
	for _, reject := range []bool{false, true} {
		t.Run(fmt.Sprintf("reject=%v", reject), func(t *testing.T) {
			if reject {
				p.pin(t, "edgetoonRejectBaked")
			}
			rng := newRand(t)
			b := testgraph.New(rng, 3)
			b.Conv(b.Conv("input", 3, 16, 5, 1, 1, "leaky_relu"), 16, 3, 3, 1, 1, "")
			const h, w = 12, 14
			checkGraph(t, p, b.G, rng, h, w, "fp32")
			data, err := model.Encode(b.G, "F32")
			if err != nil {
				t.Fatal(err)
			}
			x := randomInput(rng, h, w, 3)
			unbaked, err := eval[bool](p.ctx, fmt.Sprintf(unbakedJS, p.srv.put(data), p.srv.put(f32bytes(x.Data)), h, w))
			if err != nil {
				t.Fatal(err)
			}
			if unbaked != reject {
				t.Errorf("the engine's plan unbaked: %v, want %v", unbaked, reject)
			}
		})
	}
}
