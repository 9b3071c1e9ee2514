package onnx

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"testing"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
	"github.com/edgetoon/edgetoon/model/tflite"
)

// builder makes synthetic graphs with random weights.
type builder struct {
	r *rand.Rand
	g *model.Graph
	n int
}

func newBuilder(seed int64, size int) *builder {
	return &builder{r: rand.New(rand.NewSource(seed)), g: &model.Graph{
		Version: model.FormatVersion, Name: "synthetic", Input: "input", InputChannels: 3,
		NominalSize: size, SizeMultiple: 4, Tensors: map[string]*model.Tensor{},
		Norm:   model.Affine{Scale: []float32{2, 2, 2}, Bias: []float32{-1, -1, -1}},
		Denorm: model.Affine{Scale: []float32{0.5, 0.5, 0.5}, Bias: []float32{0.5, 0.5, 0.5}},
	}}
}

func (b *builder) tensor(lo, hi float32, shape ...int) string {
	t := model.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = lo + (hi-lo)*b.r.Float32()
	}
	b.n++
	name := fmt.Sprintf("w%d", b.n)
	b.g.Tensors[name] = t
	return name
}

func (b *builder) node(n model.Node) string {
	b.n++
	n.Name = fmt.Sprintf("%s_%d", n.Op, b.n)
	b.g.Nodes = append(b.g.Nodes, n)
	b.g.Output = n.Name
	return n.Name
}

func (b *builder) conv(x string, in, out, k, groups int, n model.Node) string {
	n.Op, n.Groups = model.OpConv2D, groups
	s := float32(1 / math.Sqrt(float64(k*k*in/groups)))
	n.Inputs = []string{x, b.tensor(-s, s, out, k, k, in/groups), b.tensor(-0.1, 0.1, out)}
	if n.Padding == "" {
		n.Padding = model.PadSame
	}
	return b.node(n)
}

// synthetic exercises every op and option the exporter supports.
func synthetic() *model.Graph {
	b := newBuilder(1, 64)
	c1 := b.conv("input", 3, 8, 3, 1, model.Node{Act: "leaky_relu", Alpha: 0.2})
	dw := b.conv(c1, 8, 8, 3, 8, model.Node{Stride: [2]int{2, 2}, Act: "relu6"})
	c3 := b.conv(dw, 8, 16, 1, 1, model.Node{Padding: model.PadValid, Act: "sigmoid"})
	in := b.node(model.Node{Op: model.OpInstanceNorm, Inputs: []string{c3, b.tensor(0.5, 1.5, 16), b.tensor(-1, 1, 16)}, Eps: 1e-3})
	ln := b.node(model.Node{Op: model.OpLayerNorm, Inputs: []string{in, b.tensor(0.5, 1.5, 16), b.tensor(-1, 1, 16)}, Eps: 1e-5})
	ex := b.conv(ln, 16, 8, 3, 1, model.Node{Padding: model.PadExplicit, Pads: [4]int{2, 1, 2, 3}, Dilation: [2]int{2, 2}})
	var cat []string
	for _, r := range []model.Node{
		{Mode: "nearest"}, {Mode: "nearest", HalfPixel: true}, {Mode: "nearest", AlignCorners: true},
		{Mode: "bilinear"}, {Mode: "bilinear", HalfPixel: true}, {Mode: "bilinear", AlignCorners: true},
	} {
		r.Op, r.Inputs, r.Scale = model.OpResize, []string{ex}, [2]int{2, 2}
		cat = append(cat, b.node(r))
	}
	cat = append(cat, c1)
	x := b.node(model.Node{Op: model.OpConcat, Inputs: cat})
	skip := b.conv(x, 56, 3, 1, 1, model.Node{Padding: model.PadValid})
	x = b.node(model.Node{Op: model.OpBoxMean, Inputs: []string{x}, Radius: 1})
	x = b.node(model.Node{Op: model.OpBoxMean, Inputs: []string{x}, Radius: 2})
	x = b.node(model.Node{Op: model.OpAdd, Inputs: []string{x, b.tensor(-1, 1, 56)}})
	x = b.node(model.Node{Op: model.OpSub, Inputs: []string{b.tensor(-1, 1), x}})
	x = b.node(model.Node{Op: model.OpMul, Inputs: []string{x, b.tensor(0.5, 2, 1)}})
	x = b.node(model.Node{Op: model.OpDiv, Inputs: []string{x, b.tensor(0.5, 2, 56)}, Act: "tanh"})
	x = b.node(model.Node{Op: model.OpTanh, Inputs: []string{x}})
	x = b.node(model.Node{Op: model.OpSigmoid, Inputs: []string{x}})
	x = b.node(model.Node{Op: model.OpLeakyReLU, Inputs: []string{x}, Alpha: 0.3})
	x = b.node(model.Node{Op: model.OpReLU, Inputs: []string{x}})
	x = b.node(model.Node{Op: model.OpClip, Inputs: []string{x}, Min: 0.1, Max: 0.6})
	mask := b.conv(x, 56, 1, 3, 1, model.Node{Act: "relu"})
	x = b.node(model.Node{Op: model.OpMul, Inputs: []string{x, mask}})
	x = b.node(model.Node{Op: model.OpPad, Inputs: []string{x}, Mode: "reflect", Pads: [4]int{1, 2, 3, 0}})
	x = b.node(model.Node{Op: model.OpPad, Inputs: []string{x}, Mode: "constant", Pads: [4]int{2, 1, 0, 3}})
	x = b.conv(x, 56, 3, 7, 1, model.Node{Padding: model.PadValid, Act: "tanh"})
	b.node(model.Node{Op: model.OpAdd, Inputs: []string{x, skip}})
	b.g.License = "CC0-1.0"
	b.g.Provenance = "synthetic test graph"
	return b.g
}

func randInput(seed int64, h, w, c int) *model.Tensor {
	r := rand.New(rand.NewSource(seed))
	t := model.NewTensor(h, w, c)
	for i := range t.Data {
		t.Data[i] = 2*r.Float32() - 1
	}
	return t
}

func maxDiff(t *testing.T, a, b *model.Tensor) float64 {
	t.Helper()
	if fmt.Sprint(a.Shape) != fmt.Sprint(b.Shape) {
		t.Fatalf("shapes %v and %v differ", a.Shape, b.Shape)
	}
	var d float64
	for i := range a.Data {
		d = max(d, math.Abs(float64(a.Data[i]-b.Data[i])))
	}
	return d
}

// roundTrip exports g at size (0: symbolic), imports it back and
// compares both on the CPU engine at 64x64.
func roundTrip(t *testing.T, g *model.Graph, size int) *model.Graph {
	t.Helper()
	data, err := Export(g, size, size)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Import(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := randInput(7, 64, 64, g.InputChannels)
	want, err := cpu.Run(g, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cpu.Run(back, in)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, got, want); d > 1e-5 {
		t.Errorf("size %d: max abs difference %g after export and import", size, d)
	}
	if back.License != g.License || back.Provenance != g.Provenance || back.NominalSize != g.NominalSize {
		t.Errorf("metadata: got %q %q %d, want %q %q %d", back.License, back.Provenance, back.NominalSize,
			g.License, g.Provenance, g.NominalSize)
	}
	return back
}

func TestRoundTripSynthetic(t *testing.T) {
	g := synthetic()
	for _, size := range []int{64, 0} {
		back := roundTrip(t, g, size)
		ops := func(g *model.Graph) map[string]int {
			m := map[string]int{}
			for _, n := range g.Nodes {
				m[n.Op+"+"+n.Act]++
			}
			return m
		}
		if fmt.Sprint(ops(back)) != fmt.Sprint(ops(g)) {
			t.Errorf("size %d: ops %v, want %v", size, ops(back), ops(g))
		}
	}
}

func whitebox(t *testing.T) *model.Graph {
	const path = "../../../shared/models/whitebox_cartoon_fp16.tflite"
	if _, err := os.Stat(path); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("%s not present", path)
	}
	g, err := tflite.ImportFile(path, tflite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestRoundTripWhitebox(t *testing.T) {
	g := whitebox(t)
	for _, size := range []int{64, 0} {
		back := roundTrip(t, g, size)
		if len(back.Nodes) != len(g.Nodes) {
			t.Errorf("size %d: %d nodes, want %d", size, len(back.Nodes), len(g.Nodes))
		}
	}
}
