package kernels

import (
	"fmt"
	"slices"

	"github.com/edgetoon/edgetoon/model"
)

// group is a set of graph nodes computed by one pass: a root node, then the
// elementwise nodes folded into its epilogue, each consuming the previous.
type group struct {
	root  *model.Node
	chain []*model.Node
	// copyOf is set for a pass that only copies a value (to the canvas,
	// or, with input set, the graph input out of the image).
	copyOf string
	input  bool
	// stage is set for a norm's statistics passes (see norm.go).
	stage int
	// guided is set for the passes of a guided filter, gstage saying
	// which (see guided.go).
	guided *guided
	gstage int
	// wstage is set for the passes of a conv run as Winograd
	// (winograd.go).
	wstage int
}

// The values a Winograd conv's first two passes write, named after the
// conv (winograd.go).
const (
	winoVSuffix = "#winograd-v"
	winoMSuffix = "#winograd-m"
)

// tail is the name of the value the group writes.
func (gr *group) tail() string {
	switch gr.wstage {
	case winoIn:
		return gr.root.Name + winoVSuffix
	case winoMul:
		return gr.root.Name + winoMSuffix
	}
	if gr.gstage == guidedStats {
		return gr.guided.value
	}
	if gr.stage != stageNone {
		partial, final := normValues(gr.root)
		if gr.stage == stagePartial {
			return partial
		}
		return final
	}
	if len(gr.chain) > 0 {
		return gr.chain[len(gr.chain)-1].Name
	}
	if gr.input {
		return gr.copyOf
	}
	if gr.root == nil {
		return gr.copyOf + "$copy"
	}
	return gr.root.Name
}

func (gr *group) names() []string {
	switch gr.gstage {
	case guidedStats:
		return gr.guided.stats
	case guidedApply:
		out := slices.Clone(gr.guided.apply)
		for _, n := range gr.chain {
			out = append(out, n.Name)
		}
		return out
	}
	if gr.root == nil {
		return []string{gr.copyOf}
	}
	out := []string{gr.root.Name}
	for _, n := range gr.chain {
		out = append(out, n.Name)
	}
	return out
}

type builder struct {
	g      *model.Graph
	opts   Options
	shapes map[string][]int
	plan   *Plan

	uses    map[string]int         // readers of each value; the graph output counts one
	reader  map[string]*model.Node // a node reading each value (the only one when uses is 1)
	byName  map[string]*model.Node // nodes by name
	inlined map[string]bool        // nodes evaluated inside their consumer's fetch
	groups  []*group
	tails   map[string]*group // materialized values (group tails)
	pixels  map[string]int    // pixels per fragment of the pass storing a value
	// winoBias: the block of the direct weights (and bias) of each conv
	// run as Winograd, placed by its products' pass.
	winoBias map[string]*block

	weights packer
	progs   map[string]int // program source -> index
}

func sameShape(a, b []int) bool { return slices.Equal(a, b) }

// fuse groups the graph's nodes into passes.
func (b *builder) fuse() error {
	g := b.g
	b.uses = map[string]int{g.Output: 1}
	b.byName = map[string]*model.Node{}
	b.reader = map[string]*model.Node{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		b.byName[n.Name] = n
		for _, in := range n.Inputs {
			if _, isAct := b.shapes[in]; isAct {
				b.uses[in]++
				b.reader[in] = n
			}
		}
	}
	b.inlined = map[string]bool{}
	b.tails = map[string]*group{}
	if !b.opts.InlineInput && b.opts.Input == InputImage {
		gr := &group{copyOf: g.Input, input: true}
		b.groups = append(b.groups, gr)
		b.tails[g.Input] = gr
	}
	guidedBy := map[string]*guided{}
	if !b.opts.SplitGuided {
		guidedBy = b.guidedFilters()
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if b.uses[n.Name] == 0 {
			continue // dead code
		}
		if gf := guidedBy[n.Name]; gf != nil {
			if n.Name == gf.apply[len(gf.apply)-1] { // its output: the last of its nodes
				for _, gr := range b.guidedGroups(gf) {
					b.groups = append(b.groups, gr)
					b.tails[gr.tail()] = gr
				}
			}
			continue
		}
		if norm(n.Op) {
			for _, gr := range b.normGroups(n) {
				b.groups = append(b.groups, gr)
				b.tails[gr.tail()] = gr
			}
		}
		if elementwise(n.Op) && b.absorb(n) {
			continue
		}
		if inlinable(n.Op) && b.uses[n.Name] == 1 && n.Name != g.Output && !b.tooDear(n) {
			b.inlined[n.Name] = true
			continue
		}
		if b.winograd(n) {
			for _, gr := range b.winogradGroups(n) {
				b.groups = append(b.groups, gr)
				b.tails[gr.tail()] = gr
			}
			continue
		}
		gr := &group{root: n}
		b.groups = append(b.groups, gr)
		b.tails[n.Name] = gr
	}
	if len(b.groups) == 0 || b.inlined[g.Output] {
		return fmt.Errorf("output %q: nothing to compute", g.Output)
	}
	// The canvas pass must be the last one and write only the output; if
	// the output's own pass cannot be it, copy the output in a final pass.
	if b.opts.ToCanvas {
		last := b.groups[len(b.groups)-1]
		if last.tail() != g.Output || b.uses[g.Output] != 1 {
			gr := &group{copyOf: g.Output}
			b.groups = append(b.groups, gr)
		}
		if c := b.shapes[g.Output][2]; c > 4 {
			return fmt.Errorf("output %q has %d channels: a canvas shows at most 4", g.Output, c)
		}
	}
	return nil
}

// tooDear says whether inlining n would make its reader recompute a
// resize many times over: a k x k conv evaluates its input k*k times per
// output pixel, and a bilinear resize costs four fetches each time. The
// latency table (testdata/latency; docs/performance.md) timed the
// fused form, a 2x upsample plus skip add in a 3x3 conv's fetch, several
// times slower per MAC than the same conv on a stored input, so the resize
// (with the adds around it) gets its own pass.
func (b *builder) tooDear(n *model.Node) bool {
	r := b.reader[n.Name]
	if r.Op != model.OpConv2D || !b.resamples(n) {
		return false
	}
	wt := b.g.Tensors[r.Inputs[1]] // [O, KH, KW, I]; checked by Shapes
	return wt != nil && wt.Shape[1]*wt.Shape[2] > 1
}

// resamples says whether n is a resize or reads one inlined.
func (b *builder) resamples(n *model.Node) bool {
	if kernelTable[n.Op].resamples {
		return true
	}
	for _, in := range n.Inputs {
		if b.inlined[in] && b.resamples(b.byName[in]) {
			return true
		}
	}
	return false
}

// absorb folds elementwise node n into the epilogue of the pass that
// writes one of its inputs, when n is that value's only reader and n does
// not broadcast it to a larger shape.
func (b *builder) absorb(n *model.Node) bool {
	for _, in := range n.Inputs {
		gr := b.tails[in]
		if gr == nil || gr.root == nil || b.uses[in] != 1 || !sameShape(b.shapes[in], b.shapes[n.Name]) {
			continue
		}
		// An operand read twice (x+x) would need the value twice.
		if n.Inputs[0] == n.Inputs[len(n.Inputs)-1] && len(n.Inputs) == 2 {
			return false
		}
		gr.chain = append(gr.chain, n)
		delete(b.tails, in)
		b.tails[n.Name] = gr
		// n's other operands may come from passes created after gr's
		// root; nothing else reads gr's value, so gr can move last, with
		// the passes before it of a Winograd conv (weights are placed in
		// pass order, which must not depend on the layout).
		i := slices.Index(b.groups, gr)
		first := i
		if gr.wstage == winoOut {
			first = i - 2
		}
		moved := slices.Clone(b.groups[first : i+1])
		b.groups = append(slices.Delete(b.groups, first, i+1), moved...)
		return true
	}
	return false
}
