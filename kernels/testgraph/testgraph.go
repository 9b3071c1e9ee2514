// Package testgraph builds model graphs with random weights for the GPU
// engine's tests and benchmarks: single ops, and a network shaped like the
// White-box Cartoonization generator (same layers, same cost) for when the
// real model file is absent.
package testgraph

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/edgetoon/edgetoon/model"
)

// Builder appends nodes to a graph, creating random weights.
type Builder struct {
	G   *model.Graph
	Rng *rand.Rand
	n   int
}

// New starts a graph with an input of c channels, identity Norm/Denorm.
func New(rng *rand.Rand, c int) *Builder {
	one, zero := make([]float32, c), make([]float32, c)
	for i := range one {
		one[i] = 1
	}
	return &Builder{Rng: rng, G: &model.Graph{
		Version: model.FormatVersion, Name: "test", Input: "input", InputChannels: c,
		Norm: model.Affine{Scale: one, Bias: zero}, Denorm: model.Affine{Scale: one, Bias: zero},
		NominalSize: 64, SizeMultiple: 1, Tensors: map[string]*model.Tensor{},
	}}
}

// Const adds a constant with values uniform in [lo, hi).
func (b *Builder) Const(lo, hi float32, shape ...int) string {
	b.n++
	name := fmt.Sprintf("const%d", b.n)
	t := model.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = lo + (hi-lo)*b.Rng.Float32()
	}
	b.G.Tensors[name] = t
	return name
}

// Node appends n (named automatically when unnamed) and makes it the output.
func (b *Builder) Node(n model.Node) string {
	if n.Name == "" {
		b.n++
		n.Name = fmt.Sprintf("%s%d", n.Op, b.n)
	}
	b.G.Nodes = append(b.G.Nodes, n)
	b.G.Output = n.Name
	return n.Name
}

// Conv appends a SAME conv2d with He-scaled random weights and a bias.
func (b *Builder) Conv(x string, in, out, k, stride, groups int, act string) string {
	lim := float32(math.Sqrt(6 / float64(k*k*in/groups)))
	w := b.Const(-lim, lim, out, k, k, in/groups)
	bias := b.Const(-0.1, 0.1, out)
	return b.Node(model.Node{Op: model.OpConv2D, Inputs: []string{x, w, bias},
		Stride: [2]int{stride, stride}, Padding: model.PadSame, Groups: groups, Act: act, Alpha: alpha(act)})
}

func alpha(act string) float32 {
	if act == "leaky_relu" {
		return 0.2
	}
	return 0
}

// Op appends an op on inputs with no attributes.
func (b *Builder) Op(op string, inputs ...string) string {
	return b.Node(model.Node{Op: op, Inputs: inputs, Alpha: alpha(op)})
}

// Whitebox returns a graph with White-box's generator layers and guided
// filter (radius 1), random weights: about 8.3 GMACs at 256x256.
func Whitebox(rng *rand.Rand) *model.Graph {
	b := New(rng, 3)
	b.G.Name = "whitebox-like"
	b.G.NominalSize, b.G.SizeMultiple = 256, 4
	b.G.Norm = model.Affine{Scale: []float32{2, 2, 2}, Bias: []float32{-1, -1, -1}}
	b.G.Denorm = model.Affine{Scale: []float32{0.5, 0.5, 0.5}, Bias: []float32{0.5, 0.5, 0.5}}
	lrelu := func(x string) string { return b.Op(model.OpLeakyReLU, x) }
	x0 := lrelu(b.Conv("input", 3, 32, 7, 1, 1, ""))
	x := lrelu(b.Conv(x0, 32, 32, 3, 2, 1, ""))
	x1 := lrelu(b.Conv(x, 32, 64, 3, 1, 1, ""))
	x = lrelu(b.Conv(x1, 64, 64, 3, 2, 1, ""))
	x = lrelu(b.Conv(x, 64, 128, 3, 1, 1, ""))
	for range 4 {
		y := lrelu(b.Conv(x, 128, 128, 3, 1, 1, ""))
		y = b.Conv(y, 128, 128, 3, 1, 1, "")
		x = b.Op(model.OpAdd, x, y)
	}
	x = lrelu(b.Conv(x, 128, 64, 3, 1, 1, ""))
	x = b.Op(model.OpAdd, b.Resize(x, 2, "bilinear"), x1)
	x = lrelu(b.Conv(x, 64, 64, 3, 1, 1, ""))
	x = lrelu(b.Conv(x, 64, 32, 3, 1, 1, ""))
	x = b.Op(model.OpAdd, b.Resize(x, 2, "bilinear"), x0)
	x = lrelu(b.Conv(x, 32, 32, 3, 1, 1, ""))
	y := b.Conv(x, 32, 3, 7, 1, 1, "")
	b.GuidedFilter("input", y, 1, 5e-3)
	return b.G
}

// Resize appends a resize by an integer factor.
func (b *Builder) Resize(x string, s int, mode string) string {
	return b.Node(model.Node{Op: model.OpResize, Inputs: []string{x}, Mode: mode, Scale: [2]int{s, s}, HalfPixel: mode == "bilinear"})
}

// Box appends a box_mean.
func (b *Builder) Box(x string, r int) string {
	return b.Node(model.Node{Op: model.OpBoxMean, Inputs: []string{x}, Radius: r})
}

// GuidedFilter appends He et al.'s guided filter of y guided by x.
func (b *Builder) GuidedFilter(x, y string, r int, eps float32) string {
	mx, my := b.Box(x, r), b.Box(y, r)
	cov := b.Op(model.OpSub, b.Box(b.Op(model.OpMul, x, y), r), b.Op(model.OpMul, mx, my))
	v := b.Op(model.OpSub, b.Box(b.Op(model.OpMul, x, x), r), b.Op(model.OpMul, mx, mx))
	e := b.Const(eps, eps, 1)
	a := b.Op(model.OpDiv, cov, b.Op(model.OpAdd, v, e))
	bb := b.Op(model.OpSub, my, b.Op(model.OpMul, a, mx))
	ma, mb := b.Box(a, r), b.Box(bb, r)
	return b.Op(model.OpAdd, b.Op(model.OpMul, ma, x), mb)
}

// Norm appends an instance_norm or layer_norm with random gamma and beta
// (eps 1e-12, as AnimeGANv2's).
func (b *Builder) Norm(op, x string, c int) string {
	gamma, beta := b.Const(0.5, 1.5, c), b.Const(-0.5, 0.5, c)
	return b.Node(model.Node{Op: op, Inputs: []string{x, gamma, beta}, Eps: 1e-12})
}
