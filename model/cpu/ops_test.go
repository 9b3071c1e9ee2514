package cpu

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

func TestBinaryHand(t *testing.T) {
	// [2,1,2] minus a per-channel constant, then divided by a scalar.
	in := values([]int{2, 1, 2}, 1, 2, 3, 4)
	b := newBuilder(nil, 2)
	s := b.node(model.Node{Op: model.OpSub, Inputs: []string{"in", b.tensor(values([]int{2}, 0.5, -1))}})
	b.node(model.Node{Op: model.OpDiv, Inputs: []string{b.tensor(values(nil, 6)), s}})
	got, err := Run(b.g, in)
	if err != nil {
		t.Fatal(err)
	}
	// (1-0.5, 2+1, 3-0.5, 4+1) = (0.5, 3, 2.5, 5); 6 divided by each.
	closeTo(t, "6/(x-c)", got, values([]int{2, 1, 2}, 12, 2, 2.4, 1.2), 1e-7)
}

func TestBinaryBroadcast(t *testing.T) {
	r := newRand(t)
	h, w, c := 3+r.IntN(5), 3+r.IntN(5), 1+r.IntN(6)
	shapes := [][]int{nil, {1}, {c}, {1, c}, {w, c}, {1, w, c}, {h, 1, c}, {h, w, 1}, {h, 1, 1}, {h, w, c}}
	for _, op := range []string{model.OpAdd, model.OpSub, model.OpMul, model.OpDiv} {
		for _, s := range shapes {
			for _, constFirst := range []bool{false, true} {
				b := newBuilder(r, c)
				// Divisors stay away from zero.
				k := b.tensor(randTensor(r, 0.5, 2, s...))
				ins := []string{"in", k}
				if constFirst {
					ins = []string{k, "in"}
				}
				b.node(model.Node{Op: op, Inputs: ins, Act: "relu6"})
				t.Run(fmt.Sprint(op, s, constFirst), func(t *testing.T) {
					checkNaive(t, b.g, randTensor(r, 0.5, 2, h, w, c), 1e-6)
				})
			}
		}
	}
	// Two activations, one broadcast along C.
	b := newBuilder(r, c)
	one := b.node(model.Node{Op: model.OpConv2D, Padding: model.PadSame, Inputs: []string{"in", b.weight(1, 1, 1, c)}})
	b.node(model.Node{Op: model.OpMul, Inputs: []string{one, "in"}, Act: "leaky_relu", Alpha: 0.3})
	checkNaive(t, b.g, randTensor(r, -1, 1, h, w, c), 1e-6)
}

func TestUnary(t *testing.T) {
	r := newRand(t)
	for _, n := range []model.Node{
		{Op: model.OpReLU}, {Op: model.OpLeakyReLU, Alpha: 0.2}, {Op: model.OpTanh},
		{Op: model.OpSigmoid}, {Op: model.OpClip, Min: -0.5, Max: 0.7},
		{Op: model.OpClip, Min: 0, Max: 0}, {Op: model.OpTanh, Act: "relu6"},
	} {
		b := newBuilder(r, 3)
		n.Inputs = []string{"in"}
		b.node(n)
		checkNaive(t, b.g, randTensor(r, -8, 8, 4, 5, 3), 1e-6)
	}
}

func TestResizeHand(t *testing.T) {
	in := values([]int{2, 2, 1}, 0, 1, 2, 3) // value = 2y + x
	// The 1-D source positions per convention, clamped to the image;
	// the result is 2*py + px.
	for _, tc := range []struct {
		align, half bool
		pos         []float32
	}{
		{false, true, []float32{0, 0.25, 0.75, 1}}, // (i+.5)/2-.5 = -.25, .25, .75, 1.25
		{true, false, []float32{0, 1.0 / 3, 2.0 / 3, 1}},
		{false, false, []float32{0, 0.5, 1, 1}}, // i/2 = 0, .5, 1, 1.5
	} {
		b := newBuilder(nil, 1)
		b.node(model.Node{Op: model.OpResize, Inputs: []string{"in"}, Mode: "bilinear",
			Scale: [2]int{2, 2}, AlignCorners: tc.align, HalfPixel: tc.half})
		want := model.NewTensor(4, 4, 1)
		for y, py := range tc.pos {
			for x, px := range tc.pos {
				want.Data[y*4+x] = 2*py + px
			}
		}
		got, err := Run(b.g, in)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, fmt.Sprintf("bilinear align=%v half=%v", tc.align, tc.half), got, want, 1e-6)
	}
}

func TestResizeNearestHand(t *testing.T) {
	for _, tc := range []struct {
		in, scale   int
		align, half bool
		want        []int
	}{
		// align_corners rounds (i*(in-1)/(out-1)); at i=2 the position
		// is exactly 0.5, which TFLite rounds away from zero.
		{3, 3, true, false, []int{0, 0, 1, 1, 1, 1, 2, 2, 2}},
		{3, 2, true, false, []int{0, 0, 1, 1, 2, 2}},
		// half_pixel floors (i+0.5)*in/out.
		{2, 2, false, true, []int{0, 0, 1, 1}},
		{3, 3, false, true, []int{0, 0, 0, 1, 1, 1, 2, 2, 2}},
		// neither floors i*in/out.
		{3, 2, false, false, []int{0, 0, 1, 1, 2, 2}},
	} {
		in := model.NewTensor(1, tc.in, 1)
		for i := range in.Data {
			in.Data[i] = float32(10 + i)
		}
		b := newBuilder(nil, 1)
		b.node(model.Node{Op: model.OpResize, Inputs: []string{"in"}, Mode: "nearest",
			Scale: [2]int{1, tc.scale}, AlignCorners: tc.align, HalfPixel: tc.half})
		got, err := Run(b.g, in)
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for _, v := range got.Data {
			idx = append(idx, int(v)-10)
		}
		if !slices.Equal(idx, tc.want) {
			t.Errorf("nearest %d x%d align=%v half=%v: indices %v, want %v", tc.in, tc.scale, tc.align, tc.half, idx, tc.want)
		}
	}
}

func TestResizeAgainstNaive(t *testing.T) {
	r := newRand(t)
	for _, mode := range []string{"bilinear", "nearest"} {
		for _, conv := range [][2]bool{{false, false}, {true, false}, {false, true}} {
			b := newBuilder(r, 3)
			b.node(model.Node{Op: model.OpResize, Inputs: []string{"in"}, Mode: mode,
				Scale: [2]int{1 + r.IntN(4), 1 + r.IntN(4)}, AlignCorners: conv[0], HalfPixel: conv[1]})
			in := randTensor(r, -1, 1, 1+r.IntN(7), 1+r.IntN(7), 3)
			t.Logf("%s %v %v on %v", mode, b.g.Nodes[0].Scale, conv, in.Shape)
			checkNaive(t, b.g, in, 1e-6)
		}
	}
}

func TestNormHand(t *testing.T) {
	// Channel 0 is 1,2,3,4: mean 2.5, biased variance 1.25. Channel 1
	// is constant, so it normalizes to beta.
	in := values([]int{2, 2, 2}, 1, 7, 2, 7, 3, 7, 4, 7)
	b := newBuilder(nil, 2)
	b.node(model.Node{Op: model.OpInstanceNorm, Eps: 1e-12, Inputs: []string{"in",
		b.tensor(values([]int{2}, 2, 1)), b.tensor(values([]int{2}, 0.5, -3))}})
	got, err := Run(b.g, in)
	if err != nil {
		t.Fatal(err)
	}
	s := float32(2 / math.Sqrt(1.25))
	want := values([]int{2, 2, 2}, -1.5*s+0.5, -3, -0.5*s+0.5, -3, 0.5*s+0.5, -3, 1.5*s+0.5, -3)
	closeTo(t, "instance_norm", got, want, 1e-6)
}

func TestNormAgainstNaive(t *testing.T) {
	r := newRand(t)
	for _, op := range []string{model.OpInstanceNorm, model.OpLayerNorm} {
		c := 1 + r.IntN(8)
		b := newBuilder(r, c)
		b.node(model.Node{Op: op, Eps: 1e-5, Inputs: []string{"in",
			b.tensor(randTensor(r, 0.5, 2, c)), b.tensor(randTensor(r, -1, 1, c))}})
		// An offset far from zero checks that the mean is removed
		// without cancellation.
		checkNaive(t, b.g, randTensor(r, 100, 101, 3+r.IntN(9), 3+r.IntN(9), c), 1e-4)
	}
}

func TestBoxMeanHand(t *testing.T) {
	b := newBuilder(nil, 1)
	b.node(model.Node{Op: model.OpBoxMean, Radius: 1, Inputs: []string{"in"}})
	ones := values([]int{3, 3, 1}, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	got, err := Run(b.g, ones)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "box of ones", got, ones, 0)

	m := model.NewTensor(4, 4, 1)
	for i := range m.Data {
		m.Data[i] = float32(i + 1)
	}
	// Corners average 4 taps, edges 6, the inside 9: e.g. the top-left
	// is (1+2+5+6)/4 and the top row's second is (1+2+3+5+6+7)/6.
	want := values([]int{4, 4, 1},
		3.5, 4, 5, 5.5,
		5.5, 6, 7, 7.5,
		9.5, 10, 11, 11.5,
		11.5, 12, 13, 13.5)
	got, err = Run(b.g, m)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "box of 1..16", got, want, 1e-6)
}

func TestBoxMeanAgainstNaive(t *testing.T) {
	r := newRand(t)
	for radius := 1; radius <= 4; radius++ {
		b := newBuilder(r, 3)
		b.node(model.Node{Op: model.OpBoxMean, Radius: radius, Inputs: []string{"in"}})
		checkNaive(t, b.g, randTensor(r, -1, 1, 1+r.IntN(12), 1+r.IntN(12), 3), 1e-6)
	}
}

func TestPad(t *testing.T) {
	in := values([]int{1, 3, 1}, 1, 2, 3)
	b := newBuilder(nil, 1)
	b.node(model.Node{Op: model.OpPad, Mode: "reflect", Pads: [4]int{0, 2, 0, 2}, Inputs: []string{"in"}})
	got, err := Run(b.g, in)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "reflect", got, values([]int{1, 7, 1}, 3, 2, 1, 2, 3, 2, 1), 0)

	r := newRand(t)
	for _, mode := range []string{"constant", "reflect"} {
		in := randTensor(r, -1, 1, 4+r.IntN(4), 4+r.IntN(4), 2)
		b := newBuilder(r, 2)
		b.node(model.Node{Op: model.OpPad, Mode: mode, Inputs: []string{"in"},
			Pads: [4]int{r.IntN(4), r.IntN(4), r.IntN(4), r.IntN(4)}})
		checkNaive(t, b.g, in, 0)
	}
}

func TestConcat(t *testing.T) {
	r := newRand(t)
	b := newBuilder(r, 3)
	a := b.conv("in", 3, 5, 3, 1, "")
	b.node(model.Node{Op: model.OpConcat, Inputs: []string{a, "in", a}})
	checkNaive(t, b.g, randTensor(r, -1, 1, 6, 7, 3), 1e-5)
}
