package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/edgetoon/edgetoon/model"
)

// newRand returns a generator seeded from the clock; the seed is logged
// so that a failure can be replayed.
func newRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0x5eed))
}

// randTensor fills a tensor with values uniform in [lo,hi).
func randTensor(r *rand.Rand, lo, hi float32, shape ...int) *model.Tensor {
	t := model.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = lo + (hi-lo)*r.Float32()
	}
	return t
}

// builder assembles small graphs for tests.
type builder struct {
	g *model.Graph
	r *rand.Rand
}

func newBuilder(r *rand.Rand, channels int) *builder {
	return &builder{r: r, g: &model.Graph{
		Version: model.FormatVersion, Name: "test",
		Input: "in", InputChannels: channels, Output: "in",
		Tensors: map[string]*model.Tensor{},
	}}
}

// tensor adds a constant and returns its name.
func (b *builder) tensor(t *model.Tensor) string {
	name := fmt.Sprintf("t%d", len(b.g.Tensors))
	b.g.Tensors[name] = t
	return name
}

// weight adds random conv weights scaled so activations stay near 1.
func (b *builder) weight(shape ...int) string {
	s := float32(math.Sqrt(3 / float64(shape[1]*shape[2]*shape[3])))
	return b.tensor(randTensor(b.r, -s, s, shape...))
}

// node appends n, naming it if unnamed, makes it the output and returns
// its name.
func (b *builder) node(n model.Node) string {
	if n.Name == "" {
		n.Name = fmt.Sprintf("n%d", len(b.g.Nodes))
	}
	b.g.Nodes = append(b.g.Nodes, n)
	b.g.Output = n.Name
	return n.Name
}

// conv appends a conv2d with random weights and bias, SAME padding.
func (b *builder) conv(x string, in, out, k, stride int, act string) string {
	return b.node(model.Node{
		Op: model.OpConv2D, Inputs: []string{x, b.weight(out, k, k, in), b.tensor(randTensor(b.r, -0.1, 0.1, out))},
		Stride: [2]int{stride, stride}, Padding: model.PadSame, Act: act, Alpha: 0.2,
	})
}

// closeTo fails t unless got and want have the same shape and every
// value agrees within tol relative to max(1, |want|).
func closeTo(t *testing.T, what string, got, want *model.Tensor, tol float64) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	worst, at := 0.0, 0
	for i, w := range want.Data {
		d := math.Abs(float64(got.Data[i])-float64(w)) / math.Max(1, math.Abs(float64(w)))
		if math.IsNaN(d) {
			worst, at = math.Inf(1), i
			break
		}
		if d > worst {
			worst, at = d, i
		}
	}
	if worst > tol {
		t.Fatalf("%s: value %d is %g, want %g (relative error %g > %g)",
			what, at, got.Data[at], want.Data[at], worst, tol)
	}
}

// checkNaive runs g on in with both engines and compares every node.
func checkNaive(t *testing.T, g *model.Graph, in *model.Tensor, tol float64) {
	t.Helper()
	got, err := RunValues(g, in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := naiveRun(g, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		closeTo(t, n.Name+" ("+n.Op+")", got[n.Name], want[n.Name], tol)
	}
	out, err := Run(g, in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Data, got[g.Output].Data) {
		t.Fatalf("Run and RunValues disagree on the output")
	}
}

// values builds a tensor from literal values.
func values(shape []int, v ...float32) *model.Tensor {
	t := model.NewTensor(shape...)
	copy(t.Data, v)
	return t
}
