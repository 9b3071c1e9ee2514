package cpu

import (
	"fmt"
	"slices"
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

func TestConvHand(t *testing.T) {
	// A 3x3 image 1..9 under a 3x3 kernel of ones with SAME padding: each
	// output is the sum of the in-image neighbourhood, plus the bias.
	in := values([]int{3, 3, 1}, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	ones := values([]int{1, 3, 3, 1}, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	for _, tc := range []struct {
		bias float32
		act  string
		want []float32
	}{
		{1, "", []float32{13, 22, 17, 28, 46, 34, 25, 40, 29}},
		{-30, "relu", []float32{0, 0, 0, 0, 15, 3, 0, 9, 0}},
		{-30, "leaky_relu", []float32{-3.6, -1.8, -2.8, -0.6, 15, 3, -1.2, 9, -0.4}},
	} {
		b := newBuilder(nil, 1)
		b.node(model.Node{Op: model.OpConv2D, Inputs: []string{"in", b.tensor(ones), b.tensor(values([]int{1}, tc.bias))},
			Padding: model.PadSame, Act: tc.act, Alpha: 0.2})
		got, err := Run(b.g, in)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "conv "+tc.act, got, values([]int{3, 3, 1}, tc.want...), 1e-6)
	}
}

func TestDepthwiseHand(t *testing.T) {
	// A 1x1 depthwise conv scales each channel by its own weight.
	in := values([]int{1, 2, 2}, 1, 2, 3, 4)
	b := newBuilder(nil, 2)
	b.node(model.Node{Op: model.OpConv2D, Groups: 2, Padding: model.PadValid,
		Inputs: []string{"in", b.tensor(values([]int{2, 1, 1, 1}, 10, -1))}})
	got, err := Run(b.g, in)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "depthwise", got, values([]int{1, 2, 2}, 10, -2, 30, -4), 0)
}

func TestSamePaddingStride2(t *testing.T) {
	// With a 3x3 kernel and stride 2, SAME gives ceil(n/2) outputs and
	// pads n=5 by 1+1, n=6 by 0+1 (the odd pixel goes bottom/right),
	// n=7 by 1+1 and n=8 by 0+1.
	r := newRand(t)
	pads := map[int][2]int{5: {1, 1}, 6: {0, 1}, 7: {1, 1}, 8: {0, 1}}
	for _, size := range [][2]int{{5, 6}, {6, 5}, {7, 8}, {8, 7}, {6, 6}, {5, 5}} {
		h, w := size[0], size[1]
		in := randTensor(r, -1, 1, h, w, 3)
		b := newBuilder(r, 3)
		wt, bias := b.weight(4, 3, 3, 3), b.tensor(randTensor(r, -1, 1, 4))
		b.node(model.Node{Name: "same", Op: model.OpConv2D, Inputs: []string{"in", wt, bias},
			Stride: [2]int{2, 2}, Padding: model.PadSame})
		same, err := Run(b.g, in)
		if err != nil {
			t.Fatal(err)
		}
		b.g.Nodes[0] = model.Node{Name: "explicit", Op: model.OpConv2D, Inputs: []string{"in", wt, bias},
			Stride: [2]int{2, 2}, Padding: model.PadExplicit,
			Pads: [4]int{pads[h][0], pads[w][0], pads[h][1], pads[w][1]}}
		b.g.Output = "explicit"
		explicit, err := Run(b.g, in)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{(h + 1) / 2, (w + 1) / 2, 4}; !slices.Equal(same.Shape, want) {
			t.Fatalf("%dx%d: SAME output %v, want %v", h, w, same.Shape, want)
		}
		if !slices.Equal(same.Data, explicit.Data) {
			t.Fatalf("%dx%d: SAME and explicit pads %v differ", h, w, b.g.Nodes[0].Pads)
		}
		checkNaive(t, b.g, in, 1e-5)
	}
}

func TestConvAgainstNaive(t *testing.T) {
	r := newRand(t)
	type cfg struct {
		k, kw, stride, dil, groups, mult int
		pad                              string
		pads                             [4]int
		bias                             bool
		act                              string
	}
	cases := []cfg{
		{k: 1, stride: 1, groups: 1, mult: 1, pad: model.PadSame, act: "relu"},
		{k: 1, stride: 1, groups: 1, mult: 1, pad: model.PadValid, bias: true},
		{k: 1, stride: 2, groups: 1, mult: 1, pad: model.PadSame, bias: true},
		{k: 3, stride: 1, groups: 1, mult: 1, pad: model.PadSame, bias: true, act: "leaky_relu"},
		{k: 3, stride: 2, groups: 1, mult: 1, pad: model.PadSame, bias: true, act: "relu6"},
		{k: 3, stride: 1, groups: 1, mult: 1, pad: model.PadValid, act: "tanh"},
		{k: 3, stride: 1, dil: 2, groups: 1, mult: 1, pad: model.PadSame, act: "sigmoid"},
		{k: 7, stride: 1, groups: 1, mult: 1, pad: model.PadSame, bias: true},
		{k: 2, kw: 3, stride: 2, groups: 1, mult: 1, pad: model.PadSame},
		{k: 3, stride: 1, groups: 1, mult: 1, pad: model.PadExplicit, pads: [4]int{0, 1, 2, 3}, bias: true},
		{k: 1, stride: 1, groups: 1, mult: 1, pad: model.PadExplicit, pads: [4]int{1, 0, 0, 2}},
		{k: 3, stride: 1, groups: 2, mult: 1, pad: model.PadSame, bias: true},
		{k: 3, stride: 2, groups: -1, mult: 1, pad: model.PadSame, bias: true, act: "relu6"}, // depthwise
		{k: 3, stride: 1, dil: 2, groups: -1, mult: 1, pad: model.PadValid},                  // depthwise
		{k: 3, stride: 1, groups: -1, mult: 2, pad: model.PadSame, bias: true},               // multiplier 2
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := 2 * (1 + r.IntN(4))
			h, w := 5+r.IntN(9), 5+r.IntN(9)
			groups := tc.groups
			if groups < 0 {
				groups = c
			}
			o := c * tc.mult
			if tc.groups == 1 {
				o = 1 + r.IntN(11)
			}
			kw := tc.k
			if tc.kw > 0 {
				kw = tc.kw
			}
			b := newBuilder(r, c)
			inputs := []string{"in", b.weight(o, tc.k, kw, c/groups)}
			if tc.bias {
				inputs = append(inputs, b.tensor(randTensor(r, -1, 1, o)))
			}
			b.node(model.Node{Op: model.OpConv2D, Inputs: inputs, Groups: groups,
				Stride: [2]int{tc.stride, tc.stride}, Dilation: [2]int{tc.dil, tc.dil},
				Padding: tc.pad, Pads: tc.pads, Act: tc.act, Alpha: 0.1})
			t.Logf("%dx%dx%d -> %d, %+v", h, w, c, o, tc)
			checkNaive(t, b.g, randTensor(r, -1, 1, h, w, c), 1e-5)
		})
	}
}

func TestConvWide(t *testing.T) {
	// Channel counts that exercise the 2x4 tiles and both edge loops.
	r := newRand(t)
	for _, c := range [][2]int{{37, 13}, {64, 64}, {5, 130}} {
		b := newBuilder(r, c[0])
		b.conv("in", c[0], c[1], 3, 1, "")
		checkNaive(t, b.g, randTensor(r, -1, 1, 7, 11, c[0]), 1e-5)
	}
}
