package cpu

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

// whiteboxShaped builds a generator with White-box Cartoonization's
// layer shapes and random weights: a 7x7 stem, two stride-2 3x3 convs
// down to 1/4 size and 128 channels, four residual blocks, and two
// bilinear x2 upsamplings, each added to the skip at that size.
func whiteboxShaped(r *rand.Rand) *model.Graph {
	b := newBuilder(r, 3)
	const lr = "leaky_relu"
	x0 := b.conv("in", 3, 32, 7, 1, lr)
	x := b.conv(x0, 32, 32, 3, 2, lr)
	x1 := b.conv(x, 32, 64, 3, 1, lr)
	x = b.conv(x1, 64, 64, 3, 2, lr)
	x = b.conv(x, 64, 128, 3, 1, lr)
	for range 4 {
		y := b.conv(x, 128, 128, 3, 1, lr)
		y = b.conv(y, 128, 128, 3, 1, "")
		x = b.node(model.Node{Op: model.OpAdd, Inputs: []string{x, y}})
	}
	x = b.conv(x, 128, 64, 3, 1, lr)
	x = b.node(model.Node{Op: model.OpResize, Mode: "bilinear", Scale: [2]int{2, 2}, HalfPixel: true, Inputs: []string{x}})
	x = b.node(model.Node{Op: model.OpAdd, Inputs: []string{x, x1}})
	x = b.conv(x, 64, 64, 3, 1, lr)
	x = b.conv(x, 64, 32, 3, 1, lr)
	x = b.node(model.Node{Op: model.OpResize, Mode: "bilinear", Scale: [2]int{2, 2}, HalfPixel: true, Inputs: []string{x}})
	x = b.node(model.Node{Op: model.OpAdd, Inputs: []string{x, x0}})
	x = b.conv(x, 32, 32, 3, 1, lr)
	b.conv(x, 32, 3, 7, 1, "")
	b.g.SizeMultiple = 4
	return b.g
}

// macs counts the multiply-adds of g's convs at h x w.
func macs(t testing.TB, g *model.Graph, h, w int) int {
	shapes, err := g.Shapes(h, w)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range g.Nodes {
		if n.Op == model.OpConv2D {
			s, wt := shapes[n.Name], g.Tensors[n.Inputs[1]].Shape
			total += s[0] * s[1] * s[2] * wt[1] * wt[2] * wt[3]
		}
	}
	return total
}

func TestWhiteboxShapedAgainstNaive(t *testing.T) {
	r := newRand(t)
	g := whiteboxShaped(r)
	checkNaive(t, g, randTensor(r, -1, 1, 20, 12, 3), 1e-4)
}

// withWorkers runs f with the work split n ways however small.
func withWorkers(n int, f func()) {
	w, m := workers, minWork
	workers, minWork = n, 1
	defer func() { workers, minWork = w, m }()
	f()
}

func TestSplitDoesNotChangeResults(t *testing.T) {
	r := newRand(t)
	b := newBuilder(r, 6)
	x := b.conv("in", 6, 16, 3, 2, "leaky_relu")
	dw := b.node(model.Node{Op: model.OpConv2D, Groups: 16, Padding: model.PadSame,
		Inputs: []string{x, b.weight(16, 3, 3, 1)}})
	x = b.node(model.Node{Op: model.OpMul, Inputs: []string{x, dw}})
	x = b.node(model.Node{Op: model.OpBoxMean, Radius: 2, Inputs: []string{x}})
	x = b.node(model.Node{Op: model.OpResize, Mode: "bilinear", Scale: [2]int{2, 2}, HalfPixel: true, Inputs: []string{x}})
	x = b.node(model.Node{Op: model.OpConcat, Inputs: []string{x, "in"}})
	b.conv(x, 22, 7, 1, 1, "tanh")
	in := randTensor(r, -1, 1, 14, 10, 6)
	var one, many map[string]*model.Tensor
	var err1, err2 error
	withWorkers(1, func() { one, err1 = RunValues(b.g, in) })
	withWorkers(3, func() { many, err2 = RunValues(b.g, in) })
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	for _, n := range b.g.Nodes {
		if !slices.Equal(one[n.Name].Data, many[n.Name].Data) {
			t.Errorf("node %s (%s): results differ between 1 and 3 goroutines", n.Name, n.Op)
		}
	}
}

func TestRunKeepsOnlyWhatItNeeds(t *testing.T) {
	r := newRand(t)
	g := whiteboxShaped(r)
	in := randTensor(r, -1, 1, 8, 8, 3)
	vals, err := RunValues(g, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != len(g.Nodes)+1 {
		t.Errorf("RunValues returned %d values, want %d", len(vals), len(g.Nodes)+1)
	}
	live, err := run(g, in, false)
	if err != nil {
		t.Fatal(err)
	}
	// The last node reads only the one before it.
	if len(live) != 1 || live[g.Output] == nil {
		t.Errorf("after Run, live values are %d, want only the output", len(live))
	}
}

func TestErrors(t *testing.T) {
	r := newRand(t)
	good := func() *builder {
		b := newBuilder(r, 3)
		b.node(model.Node{Name: "c1", Op: model.OpConv2D, Padding: model.PadSame,
			Inputs: []string{"in", b.weight(4, 3, 3, 3), b.tensor(randTensor(r, -1, 1, 4))}})
		return b
	}
	in := randTensor(r, -1, 1, 8, 8, 3)
	for _, tc := range []struct {
		name  string
		spoil func(b *builder) (*model.Tensor, string)
	}{
		{"missing weight", func(b *builder) (*model.Tensor, string) {
			b.g.Nodes[0].Inputs[1] = "nope"
			return in, `"c1"`
		}},
		{"weight shape", func(b *builder) (*model.Tensor, string) {
			b.g.Tensors[b.g.Nodes[0].Inputs[1]] = randTensor(r, -1, 1, 4, 3, 3, 2)
			return in, `"c1"`
		}},
		{"bias data shorter than shape", func(b *builder) (*model.Tensor, string) {
			b.g.Tensors[b.g.Nodes[0].Inputs[2]].Data = []float32{1}
			return in, `"c1"`
		}},
		{"broadcast", func(b *builder) (*model.Tensor, string) {
			b.node(model.Node{Name: "a1", Op: model.OpAdd, Inputs: []string{"c1", b.tensor(randTensor(r, -1, 1, 3))}})
			return in, `"a1"`
		}},
		{"unknown op", func(b *builder) (*model.Tensor, string) {
			b.node(model.Node{Name: "u1", Op: "softmax", Inputs: []string{"c1"}})
			return in, `"u1"`
		}},
		{"input channels", func(b *builder) (*model.Tensor, string) {
			return randTensor(r, -1, 1, 8, 8, 4), "input"
		}},
		{"input data", func(b *builder) (*model.Tensor, string) {
			return &model.Tensor{Shape: []int{8, 8, 3}, Data: in.Data[:10]}, "input"
		}},
		{"input rank", func(b *builder) (*model.Tensor, string) {
			return &model.Tensor{Shape: []int{8, 24}, Data: in.Data}, "input"
		}},
		{"size multiple", func(b *builder) (*model.Tensor, string) {
			b.g.SizeMultiple = 3
			return in, "multiple"
		}},
	} {
		b := good()
		x, want := tc.spoil(b)
		if _, err := Run(b.g, x); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %s", tc.name, err, want)
		}
		if _, err := RunValues(b.g, x); err == nil {
			t.Errorf("%s: RunValues succeeded", tc.name)
		}
	}
	if _, err := Run(nil, in); err == nil {
		t.Errorf("nil graph: no error")
	}
}
