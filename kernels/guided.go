package kernels

import (
	_ "embed"
	"fmt"
	"slices"
	"strconv"

	"github.com/edgetoon/edgetoon/model"
)

// The guided filter (He, Sun and Tang, "Guided Image Filtering", TPAMI
// 2013, Algorithm 1) arrives as the graph White-box's TensorFlow code
// builds it: six box means and a dozen elementwise nodes. Planned node by
// node it takes six passes that fetch about 86 texels a pixel (the box
// means of x*y and of b = mean(y) - a*mean(x) recompute their inlined
// inputs at every tap). Recognised as a whole it takes two: the first
// accumulates the window sums of x, y, x*y and x*x in one loop and writes
// a and b (steps 1-3 of Algorithm 1), the second averages them over the
// window and applies q = mean(a)*x + mean(b) (steps 4-5): 2 fetches a tap
// in each, 37 a pixel.
var (
	//go:embed guided_stats.glsl
	guidedStatsSrc string
	//go:embed guided_apply.glsl
	guidedApplySrc string
)

// guided is a guided filter found in the graph.
type guided struct {
	x, y, eps string // guide, filtered input, the constant added to var(x)
	radius    int
	stats     []string // nodes computed by the first pass, in graph order
	apply     []string // nodes of the second pass; the last is the output
	// value names the first pass's output: a in layer 0, b in layer 1.
	value string
}

// Stages of a guided filter's groups.
const (
	guidedStats = 1
	guidedApply = 2
)

// guidedExprs canonicalises values as expressions over the values outside
// a candidate guided filter, commutative operands sorted, so that the
// graph's node order and operand order do not matter.
type guidedExprs struct {
	b      *builder
	shape  []int
	memo   map[string]string
	inner  map[string]bool // nodes expanded
	leaves []string        // values not expanded, in order of discovery
}

// maxGuidedExpr bounds a canonical expression's length: a guided filter's
// is a few hundred bytes plus six mentions of its leaves' names, and a
// hostile graph's (x*x, its square, ...) would double at every level.
const maxGuidedExpr = 1 << 14

// expr returns the canonical expression of value v. Same-shaped box means
// and arithmetic nodes without a fused activation are expanded; anything
// else is a leaf.
func (e *guidedExprs) expr(v string, depth int) string {
	if s, ok := e.memo[v]; ok {
		return s
	}
	n := e.b.byName[v]
	var s string
	switch {
	case n == nil || depth > 12 || n.Act != "" || !sameShape(e.b.shapes[v], e.shape):
	case n.Op == model.OpBoxMean:
		s = fmt.Sprintf("box%d(%s)", n.Radius, e.expr(n.Inputs[0], depth+1))
	case len(n.Inputs) == 2 && (n.Op == model.OpAdd || n.Op == model.OpMul || n.Op == model.OpSub || n.Op == model.OpDiv):
		s = guidedOp(n.Op, e.expr(n.Inputs[0], depth+1), e.expr(n.Inputs[1], depth+1))
	}
	if len(s) > maxGuidedExpr {
		s = "" // no guided filter is that long: a leaf, so that the match fails
	}
	if s == "" { // a leaf
		if !slices.Contains(e.leaves, v) {
			e.leaves = append(e.leaves, v)
		}
		return strconv.Quote(v) // names cannot be mistaken for structure
	}
	e.memo[v] = s
	e.inner[v] = true
	return s
}

// guidedOp writes an arithmetic node's canonical expression.
func guidedOp(op, a, b string) string {
	if (op == model.OpAdd || op == model.OpMul) && b < a {
		a, b = b, a
	}
	return op + "(" + a + "," + b + ")"
}

// guidedForm returns the canonical expressions of Algorithm 1's second
// pass for guide x, input y, eps and a window of radius r: mean(a),
// mean(b), mean(a)*x and the output.
func guidedForm(x, y, eps string, r int) []string {
	box := func(v string) string { return fmt.Sprintf("box%d(%s)", r, v) }
	mx, my := box(x), box(y)
	cov := guidedOp(model.OpSub, box(guidedOp(model.OpMul, x, y)), guidedOp(model.OpMul, mx, my))
	v := guidedOp(model.OpSub, box(guidedOp(model.OpMul, x, x)), guidedOp(model.OpMul, mx, mx))
	a := guidedOp(model.OpDiv, cov, guidedOp(model.OpAdd, v, eps))
	b := guidedOp(model.OpSub, my, guidedOp(model.OpMul, a, mx))
	ax := guidedOp(model.OpMul, box(a), x)
	return []string{box(a), box(b), ax, guidedOp(model.OpAdd, ax, box(b))}
}

// matchGuided says whether node out is the output of a guided filter the
// planner can run in two passes: x and y of out's shape with at most 4
// channels, eps a constant, and no value inside read from outside.
func (b *builder) matchGuided(out *model.Node) *guided {
	shape := b.shapes[out.Name]
	if out.Op != model.OpAdd || len(out.Inputs) != 2 || len(shape) != 3 || shape[2] > 4 {
		return nil
	}
	// Cheap first: the output adds mean(b) to mean(a)*x.
	isBox := func(v string) bool { n := b.byName[v]; return n != nil && n.Op == model.OpBoxMean }
	isAx := func(v string) bool {
		n := b.byName[v]
		return n != nil && n.Op == model.OpMul && len(n.Inputs) == 2 && (isBox(n.Inputs[0]) || isBox(n.Inputs[1]))
	}
	if !(isBox(out.Inputs[0]) && isAx(out.Inputs[1]) || isBox(out.Inputs[1]) && isAx(out.Inputs[0])) {
		return nil
	}
	e := &guidedExprs{b: b, shape: shape, memo: map[string]string{}, inner: map[string]bool{}}
	e.expr(out.Name, 0)
	leaves := e.leaves // x, y and eps
	mb := b.byName[out.Inputs[1]]
	if isBox(out.Inputs[0]) && isAx(out.Inputs[1]) {
		mb = b.byName[out.Inputs[0]]
	}
	if len(leaves) != 3 {
		return nil
	}
	for _, eps := range leaves {
		t := b.g.Tensors[eps]
		if t == nil || model.NumElements(t.Shape) != 1 && model.NumElements(t.Shape) != shape[2] {
			continue
		}
		var xy []string
		for _, v := range leaves {
			if v != eps && sameShape(b.shapes[v], shape) {
				xy = append(xy, v)
			}
		}
		if len(xy) != 2 {
			continue
		}
		for _, pair := range [][2]string{{xy[0], xy[1]}, {xy[1], xy[0]}} {
			if gf := b.guidedAs(e, out, pair[0], pair[1], eps, mb.Radius); gf != nil {
				return gf
			}
		}
	}
	return nil
}

// guidedAs checks out's expression against Algorithm 1 with the given
// roles and that only out is read from outside, and splits the nodes
// between the two passes.
func (b *builder) guidedAs(e *guidedExprs, out *model.Node, x, y, eps string, r int) *guided {
	apply := guidedForm(strconv.Quote(x), strconv.Quote(y), strconv.Quote(eps), r)
	if e.memo[out.Name] != apply[len(apply)-1] {
		return nil
	}
	gf := &guided{x: x, y: y, eps: eps, radius: r, value: out.Name + "$guided"}
	readers := map[string]int{}
	for i := range b.g.Nodes {
		n := &b.g.Nodes[i]
		if !e.inner[n.Name] {
			continue
		}
		for _, in := range n.Inputs {
			readers[in]++
		}
		if slices.Contains(apply, e.memo[n.Name]) {
			gf.apply = append(gf.apply, n.Name)
		} else {
			gf.stats = append(gf.stats, n.Name)
		}
	}
	for v := range e.inner {
		if v != out.Name && readers[v] != b.uses[v] {
			return nil // read outside the filter
		}
	}
	if len(gf.stats) == 0 || gf.apply[len(gf.apply)-1] != out.Name {
		return nil
	}
	return gf
}

// guidedFilters finds the guided filters of the graph (see matchGuided)
// and returns the one each of their nodes belongs to. The first pass's
// value gets its shape: a and b as two layers of the output's.
func (b *builder) guidedFilters() map[string]*guided {
	by := map[string]*guided{}
	for i := range b.g.Nodes {
		n := &b.g.Nodes[i]
		if n.Op != model.OpAdd || by[n.Name] != nil || b.uses[n.Name] == 0 {
			continue
		}
		gf := b.matchGuided(n)
		if gf == nil {
			continue
		}
		if _, taken := b.shapes[gf.value]; taken {
			continue // a value of that name already exists
		}
		s := b.shapes[n.Name]
		b.shapes[gf.value] = []int{s[0], s[1], 8}
		for _, v := range append(slices.Clone(gf.stats), gf.apply...) {
			by[v] = gf
		}
	}
	return by
}

// guidedGroups returns the two groups of a guided filter, the second
// writing its output.
func (b *builder) guidedGroups(gf *guided) []*group {
	out := gf.apply[len(gf.apply)-1]
	return []*group{{guided: gf, gstage: guidedStats}, {root: b.byName[out], guided: gf, gstage: guidedApply}}
}

// guidedPass generates the main of either pass of a guided filter.
func (b *builder) guidedPass(g *gen, gr *group) (string, error) {
	gf := gr.guided
	out := b.shapes[gf.apply[len(gf.apply)-1]]
	g.define("R", fmt.Sprint(gf.radius))
	g.define("SIZE", g.ivec2(out[1], out[0]))
	fx, err := g.fetch(gf.x)
	if err != nil {
		return "", err
	}
	g.define("X", fx)
	if gr.gstage == guidedApply {
		fab, err := g.fetch(gf.value)
		if err != nil {
			return "", err
		}
		g.define("AB", fab)
		return guidedApplySrc, nil
	}
	fy, err := g.fetch(gf.y)
	if err != nil {
		return "", err
	}
	g.define("Y", fy)
	eps, err := g.operand(gf.eps, out)
	if err != nil {
		return "", err
	}
	g.define("EPS", eps)
	return guidedStatsSrc, nil
}
