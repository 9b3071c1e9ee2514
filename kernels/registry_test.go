package kernels

import (
	"slices"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/kernels/testgraph"
	"github.com/edgetoon/edgetoon/model"
)

// Every op of the model has a GPU kernel that can run it (a pass of its
// own or a fetch), and the table holds no other op.
func TestKernelTableCoversOps(t *testing.T) {
	for _, op := range model.Ops {
		k, ok := kernelTable[op]
		switch {
		case !ok:
			t.Errorf("op %q has no GPU kernel", op)
		case k.pass == nil && k.fetch == nil:
			t.Errorf("op %q: kernel has neither a pass nor a fetch", op)
		case k.expr != nil && k.fetch == nil:
			t.Errorf("op %q: elementwise kernel without a fetch cannot be inlined", op)
		}
	}
	if len(kernelTable) != len(model.Ops) {
		t.Errorf("%d GPU kernels for %d ops: the table names an op model.Ops lacks", len(kernelTable), len(model.Ops))
	}
}

func TestFill(t *testing.T) {
	got := fill("$S($SIZE) o$o = acc$k_$P + u$U1;\n$ROW\n", "S", "f2", "SIZE", "ivec2(3, 4)", "P", "7", "U1", "9", "ROW", "x;")
	want := "f2(ivec2(3, 4)) o$o = acc$k_7 + u9;\nx;\n"
	if got != want {
		t.Errorf("fill: %q, want %q", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("fill without a value for $MISSING did not panic")
		}
	}()
	fill("a $MISSING b", "X", "1")
}

// Every placeholder of every kernel file is filled by its Go side: the
// plans of an all-ops graph build (fill panics on a missing value) and
// leave no $NAME in any program.
func TestKernelFilesFilled(t *testing.T) {
	for _, p := range allOpsPlans(t) {
		for _, prog := range p.Programs {
			for i := strings.IndexByte(prog.Source, '$'); i >= 0; i = strings.IndexByte(prog.Source, '$') {
				t.Fatalf("program %s keeps a marker: %q", prog.Op, prog.Source[i:min(i+20, len(prog.Source))])
			}
		}
	}
}

// allOpsGraph holds every op, and the variants with GLSL of their own:
// both pads, nearest and bilinear resizes, aligned and unaligned concats,
// depthwise and dense convs, both norms.
func allOpsGraph() *model.Graph {
	b := testgraph.New(newRand(), 3)
	c1 := b.Conv("input", 3, 8, 3, 1, 1, "relu")
	c2 := b.Conv(c1, 8, 6, 3, 2, 1, "tanh")
	dw := b.Conv(c2, 6, 6, 3, 1, 6, "")
	n1 := b.Norm(model.OpInstanceNorm, dw, 6)
	n2 := b.Norm(model.OpLayerNorm, b.Op(model.OpReLU, n1), 6)
	p1 := b.Node(model.Node{Op: model.OpPad, Inputs: []string{n2}, Mode: "reflect", Pads: [4]int{1, 1, 1, 1}})
	c3 := b.Conv(p1, 6, 5, 3, 1, 1, "leaky_relu")
	b.G.Nodes[len(b.G.Nodes)-1].Padding = model.PadValid
	p2 := b.Node(model.Node{Op: model.OpPad, Inputs: []string{c3}, Mode: "constant", Pads: [4]int{1, 1, 1, 1}})
	c5 := b.Conv(p2, 5, 5, 3, 1, 1, "")
	b.G.Nodes[len(b.G.Nodes)-1].Padding = model.PadValid
	r1 := b.Node(model.Node{Op: model.OpResize, Inputs: []string{c5}, Mode: "nearest", Scale: [2]int{2, 2}, AlignCorners: true})
	r2 := b.Resize(c2, 2, "nearest")
	r3 := b.Node(model.Node{Op: model.OpResize, Inputs: []string{c2}, Mode: "bilinear", Scale: [2]int{2, 2}, AlignCorners: true})
	cat := b.Op(model.OpConcat, c1, r3)       // aligned: c1 fills whole layers
	cat2 := b.Op(model.OpConcat, r1, r2, cat) // unaligned
	c4 := b.Conv(cat2, 25, 4, 1, 1, 1, "sigmoid")
	cl := b.Node(model.Node{Op: model.OpClip, Inputs: []string{c4}, Min: -0.5, Max: 0.75})
	x := b.Op(model.OpDiv, b.Op(model.OpMul, cl, b.Box(cl, 2)), b.Const(1, 2, 4))
	x = b.Op(model.OpSigmoid, b.Op(model.OpSub, b.Op(model.OpTanh, x), b.Op(model.OpLeakyReLU, x)))
	b.Op(model.OpAdd, x, cl)
	return b.G
}

func allOpsPlans(t *testing.T) []*Plan {
	t.Helper()
	g := allOpsGraph()
	have := map[string]bool{}
	for _, n := range g.Nodes {
		have[n.Op] = true
	}
	for _, op := range model.Ops {
		if !have[op] {
			t.Fatalf("allOpsGraph lacks op %q", op)
		}
	}
	var plans []*Plan
	for _, o := range []Options{{H: 32, W: 32}, {H: 20, W: 28, ConvPixels: 1, ToCanvas: true}, {H: 16, W: 16, Input: InputRaw, Half: true}} {
		p, err := Build(g, o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		plans = append(plans, p)
	}
	return plans
}

// Passes is Build's grouping: the same nodes per pass, in the same order.
func TestPassesMatchBuild(t *testing.T) {
	graphs := []*model.Graph{allOpsGraph(), testgraph.Whitebox(newRand())}
	for _, g := range graphs {
		// The last runs convs as Winograd, whose first two passes compute
		// no node of their own.
		for _, o := range []Options{{H: 32, W: 32}, {H: 24, W: 40, ToCanvas: true, Input: InputRaw}, {H: 32, W: 40, ToCanvas: true, MaxOutputs: 8, MaxLayers: 2048}} {
			p, err := Build(g, o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Passes(g, o)
			if err != nil {
				t.Fatal(err)
			}
			var want [][]string
			for _, pass := range p.Passes {
				if !strings.HasSuffix(pass.Value, winoVSuffix) && !strings.HasSuffix(pass.Value, winoMSuffix) {
					want = append(want, pass.Nodes)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s %+v: %d passes, Build has %d", g.Name, o, len(got), len(want))
			}
			for i := range got {
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("%s %+v: pass %d holds %v, Build's %v", g.Name, o, i, got[i], want[i])
				}
			}
		}
	}
}
