package kernels

import (
	"slices"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/kernels/testgraph"
	"github.com/edgetoon/edgetoon/model"
)

// guidedVariant builds y = conv(x) and a guided filter of y guided by x,
// written node by node as White-box's code writes it, with edits applied
// to its nodes by name: a, b, the box means mx, my, mxy, mxx, ma, mb, and
// the products xy, xx, mxmy, mx2, amx, max.
func guidedVariant(c, r int, edit func(b *testgraph.Builder, n map[string]*model.Node)) *model.Graph {
	b := testgraph.New(newRand(), c)
	x := b.G.Input
	y := b.Conv(x, c, c, 3, 1, 1, "tanh")
	names := map[string]string{}
	op := func(key, op string, in ...string) string {
		names[key] = b.Op(op, in...)
		return names[key]
	}
	box := func(key, in string) string {
		names[key] = b.Box(in, r)
		return names[key]
	}
	xy, xx := op("xy", model.OpMul, x, y), op("xx", model.OpMul, x, x)
	mx, my := box("mx", x), box("my", y)
	mxmy, mx2 := op("mxmy", model.OpMul, mx, my), op("mx2", model.OpMul, mx, mx)
	cov := op("cov", model.OpSub, box("mxy", xy), mxmy)
	v := op("v", model.OpSub, box("mxx", xx), mx2)
	a := op("a", model.OpDiv, cov, op("ve", model.OpAdd, v, b.Const(5e-3, 5e-3, 1)))
	bb := op("b", model.OpSub, my, op("amx", model.OpMul, a, mx))
	op("out", model.OpAdd, op("max", model.OpMul, box("ma", a), x), box("mb", bb))
	if edit != nil {
		byKey := map[string]*model.Node{}
		for k, name := range names {
			byKey[k] = b.G.Node(name)
		}
		edit(b, byKey)
	}
	return b.G
}

// guidedPasses returns the plan's passes that run a guided filter and how
// many box means the others compute.
func guidedPasses(t *testing.T, g *model.Graph, opts Options) (guided []Pass, boxes int, p *Plan) {
	t.Helper()
	opts.H, opts.W = 17, 23
	p, err := Build(g, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, pass := range p.Passes {
		if strings.HasPrefix(p.Programs[pass.Program].Op, "guided filter") {
			guided = append(guided, pass)
			continue
		}
		for _, n := range pass.Nodes {
			if g.Node(n).Op == model.OpBoxMean {
				boxes++
			}
		}
	}
	return guided, boxes, p
}

// TestGuidedFilterFusion: the guided filter takes two passes, whatever
// the order of commutative operands, the first writing a and b to the two
// layers of a value the second samples; with more than 4 channels, with a
// value inside read from outside, or with another formula, the planner
// keeps the box means as they are.
func TestGuidedFilterFusion(t *testing.T) {
	swap := func(keys ...string) func(*testgraph.Builder, map[string]*model.Node) {
		return func(_ *testgraph.Builder, n map[string]*model.Node) {
			for _, k := range keys {
				in := n[k].Inputs
				in[0], in[1] = in[1], in[0]
			}
		}
	}
	for _, tc := range []struct {
		name  string
		c     int
		edit  func(*testgraph.Builder, map[string]*model.Node)
		fused bool
	}{
		{"white-box", 3, nil, true},
		{"4 channels", 4, nil, true},
		{"commuted", 3, swap("xy", "mxmy", "ve", "amx", "max", "out"), true},
		{"5 channels", 5, nil, false},
		{"sub reversed", 3, swap("cov"), false},
		{"another radius", 3, func(_ *testgraph.Builder, n map[string]*model.Node) { n["mb"].Radius = 2 }, false},
		{"activation inside", 3, func(_ *testgraph.Builder, n map[string]*model.Node) { n["b"].Act = "relu" }, false},
		{"a read outside", 3, func(b *testgraph.Builder, n map[string]*model.Node) {
			b.Op(model.OpAdd, b.G.Output, n["a"].Name)
		}, false},
		{"eps not constant", 3, func(b *testgraph.Builder, n map[string]*model.Node) {
			n["ve"].Inputs[1] = n["mx"].Name
		}, false},
	} {
		g := guidedVariant(tc.c, 1, tc.edit)
		guided, boxes, p := guidedPasses(t, g, Options{Input: InputRaw})
		switch {
		case !tc.fused && (len(guided) != 0 || boxes != 6):
			t.Errorf("%s: %d guided-filter passes and %d other box means, want 0 and 6", tc.name, len(guided), boxes)
		case tc.fused && (len(guided) != 2 || boxes != 0):
			t.Errorf("%s: %d guided-filter passes and %d other box means, want 2 and 0", tc.name, len(guided), boxes)
		case tc.fused:
			stats, apply := guided[0], guided[1]
			if len(stats.Nodes)+len(apply.Nodes) != 18 || apply.Value != g.Output {
				t.Errorf("%s: passes compute %d + %d nodes and write %q, want 18 and the output", tc.name, len(stats.Nodes), len(apply.Nodes), apply.Value)
			}
			if outs := p.Programs[stats.Program].Outputs; outs != 2 || len(stats.Bases) != 1 || p.Textures[stats.Out].Layers < 2 {
				t.Errorf("%s: first pass draws %v with %d outputs, want both layers at once", tc.name, stats.Bases, outs)
			}
			if !slices.Contains(apply.Inputs, stats.Out) {
				t.Errorf("%s: second pass samples %v, not the coefficients in %d", tc.name, apply.Inputs, stats.Out)
			}
		}
	}
	// A graph whose expressions double at every level (s = s*s, 40
	// times) is no guided filter, and looking costs little.
	b := testgraph.New(newRand(), 3)
	sq := b.G.Input
	for range 40 {
		sq = b.Op(model.OpMul, sq, sq)
	}
	b.Op(model.OpAdd, b.Op(model.OpMul, b.Box(sq, 1), sq), b.Box(sq, 1))
	if guided, boxes, _ := guidedPasses(t, b.G, Options{Input: InputRaw}); len(guided) != 0 || boxes != 2 {
		t.Errorf("squares: %d guided-filter passes, %d other box means; want 0 and 2", len(guided), boxes)
	}
	// One render target a draw: the first pass draws twice.
	guided, _, p := guidedPasses(t, guidedVariant(3, 2, nil), Options{Input: InputRaw, MaxOutputs: 1})
	if len(guided) != 2 || len(guided[0].Bases) != 2 || p.Programs[guided[0].Program].Outputs != 1 {
		t.Errorf("MaxOutputs 1: %d guided passes, first draws %v", len(guided), guided[0].Bases)
	}
}
