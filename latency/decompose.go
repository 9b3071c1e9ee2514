package latency

import (
	"fmt"
	"slices"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/model"
)

// Decompose splits g, run on an h x w input, into the blocks our planner
// executes, in execution order. The passes are the planner's own
// (kernels.Passes, the grouping kernels.Build plans): which nodes fold
// into a pass and which are recomputed in its reader's fetch is decided
// there, not here. Decompose only names the profiled block each pass, or
// pair of passes, is (see the package documentation); a node whose pass
// is no profiled block, such as a grouped or dilated conv or a standalone
// activation, is an error that names it. Nodes the output does not depend
// on are not run, and belong to no block.
func Decompose(g *model.Graph, h, w int) ([]Block, error) {
	if g == nil {
		return nil, fmt.Errorf("decompose: nil graph")
	}
	shapes, err := g.Shapes(h, w)
	if err != nil {
		return nil, fmt.Errorf("decompose: %w", err)
	}
	d := &decomposer{g: g, shapes: shapes, byName: map[string]*model.Node{}, index: map[string]int{},
		uses: map[string]int{}, reader: map[string]string{}, owner: map[string]int{}}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		d.byName[n.Name], d.index[n.Name] = n, i
		for _, in := range n.Inputs {
			if _, ok := shapes[in]; ok {
				d.uses[in]++
				d.reader[in] = n.Name
			}
		}
	}
	d.uses[g.Output]++ // the network's result is used by the caller
	for i := range g.Nodes {
		if g.Nodes[i].Op == model.OpConv2D {
			if err := d.checkConv(&g.Nodes[i]); err != nil {
				return nil, err
			}
		}
	}
	if err := d.passes(h, w); err != nil {
		return nil, err
	}
	return d.blocks()
}

type decomposer struct {
	g      *model.Graph
	shapes map[string][]int
	byName map[string]*model.Node
	index  map[string]int    // node name -> position in g.Nodes
	uses   map[string]int    // value name -> number of consuming inputs
	reader map[string]string // value name -> a node reading it (the only one when uses is 1)
	owner  map[string]int    // node name -> the pass computing it
	plan   []pass
}

// pass is one of the planner's passes: the nodes it stores (root first,
// then the elementwise nodes folded into its epilogue) and the nodes it
// recomputes in its fetch functions, in graph order.
type pass struct {
	stored, inlined []string
}

// root is the pass's first node.
func (p *pass) root() string { return p.stored[0] }

// passes plans g and records which pass computes each node.
func (d *decomposer) passes(h, w int) error {
	// Fusion depends on the graph and on whether the last pass draws to
	// the canvas, which here it does not. The pass that stores an image
	// input is no block of the graph: the profiler feeds a raw input, as
	// InlineInput plans the rest.
	passes, err := kernels.Passes(d.g, kernels.Options{H: h, W: w, InlineInput: true})
	if err != nil {
		return fmt.Errorf("decompose: plan: %w", err)
	}
	for _, nodes := range passes {
		var stored []string
		for _, name := range nodes {
			if _, seen := d.owner[name]; !seen && d.byName[name] != nil {
				d.owner[name] = len(d.plan)
				stored = append(stored, name)
			}
		}
		if len(stored) > 0 { // a norm's second statistics pass or a copy stores no new node
			d.plan = append(d.plan, pass{stored: stored})
		}
	}
	// A node no pass stores is inlined into its only reader's fetch, and
	// so computed by the pass computing that reader.
	for i := range d.g.Nodes {
		name := d.g.Nodes[i].Name
		if _, ok := d.owner[name]; ok {
			continue
		}
		at, live := name, false
		for d.uses[at] == 1 && at != d.g.Output {
			at = d.reader[at]
			if k, ok := d.owner[at]; ok {
				d.plan[k].inlined = append(d.plan[k].inlined, name)
				d.owner[name], live = k, true
				break
			}
		}
		if !live && d.uses[name] > 0 {
			return fmt.Errorf("decompose: node %q (%s): computed by no pass of the plan", name, d.g.Nodes[i].Op)
		}
	}
	return nil
}

// blocks names the block of each pass, pairing a resblock's two passes
// and gathering the passes left over into the guided filter.
func (d *decomposer) blocks() ([]Block, error) {
	var out []Block
	paired := map[int]bool{}
	var rest []int // passes of no block of their own
	gfAt := -1     // position in out of the guided filter
	for k := range d.plan {
		if paired[k] {
			continue
		}
		p := &d.plan[k]
		root := d.byName[p.root()]
		var b Block
		switch {
		case root.Op == model.OpConv2D:
			if j, ok := d.resBlock(k); ok {
				paired[j] = true
				b = d.convBlock(root)
				b.Kind, b.Stride, b.Mid, b.Cout = KindResBlock, 1, b.Cout, b.Cin
				break
			}
			var err error
			var up Block
			if up, b, err = d.conv(p); err != nil {
				return nil, err
			}
			if up.Kind != "" {
				out = append(out, up)
			}
		default:
			var ok bool
			if b, ok = d.upsampleAdd(p); !ok {
				if gfAt < 0 {
					gfAt = len(out)
					out = append(out, Block{})
				}
				rest = append(rest, k)
				continue
			}
		}
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("decompose: node %q: %w", p.root(), err)
		}
		out = append(out, b)
	}
	if gfAt >= 0 {
		b, err := d.guidedFilter(rest)
		if err != nil {
			return nil, err
		}
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("decompose: node %q: %w", d.plan[rest[0]].root(), err)
		}
		out[gfAt] = b
	}
	return out, nil
}

func (d *decomposer) checkConv(n *model.Node) error {
	wt := d.g.Tensors[n.Inputs[1]].Shape // checked by Shapes: [O,KH,KW,I/groups]
	switch {
	case n.GroupCount() != 1:
		return fmt.Errorf("decompose: node %q: grouped conv (groups %d) is not a profiled block", n.Name, n.GroupCount())
	case n.DilationY() != 1 || n.DilationX() != 1:
		return fmt.Errorf("decompose: node %q: dilated conv is not a profiled block", n.Name)
	case wt[1] != wt[2]:
		return fmt.Errorf("decompose: node %q: non-square kernel %dx%d is not a profiled block", n.Name, wt[1], wt[2])
	case n.StrideY() != n.StrideX():
		return fmt.Errorf("decompose: node %q: unequal strides %v are not a profiled block", n.Name, n.Stride)
	case n.Padding != model.PadSame:
		return fmt.Errorf("decompose: node %q: padding %q is not a profiled block (want same)", n.Name, n.Padding)
	}
	return nil
}

func (d *decomposer) convBlock(n *model.Node) Block {
	in := d.shapes[n.Inputs[0]]
	out := d.shapes[n.Name]
	return Block{
		Kind: KindConv, K: d.g.Tensors[n.Inputs[1]].Shape[1], Stride: n.StrideY(),
		Cin: in[2], Cout: out[2], H: in[0], W: in[1], Act: n.Act,
	}
}

// conv names a conv pass: the conv with its activation, and a residual
// add folded into its epilogue. A 1x1 conv whose fetch recomputes
// add(resize_bilinear_x2(a), skip) is named as the two blocks the fused
// pass does the work of, an upsample_add block (returned as up) and then
// the conv: the fused pass is no profiled block of its own. Anything else
// inlined into its fetch or folded is no profiled block.
func (d *decomposer) conv(p *pass) (up, b Block, err error) {
	if len(p.inlined) > 0 {
		var ok bool
		if up, ok = d.inlinedUpsampleAdd(p); !ok {
			n := d.byName[p.inlined[0]]
			return Block{}, Block{}, fmt.Errorf("decompose: node %q (%s): computed in conv %q's fetch, not a profiled block", n.Name, n.Op, p.root())
		}
	}
	b = d.convBlock(d.byName[p.root()])
	for _, name := range p.stored[1:] {
		if b.Residual || !d.residual(d.byName[name], p.stored[0]) {
			n := d.byName[name]
			return Block{}, Block{}, fmt.Errorf("decompose: node %q (%s): folded into conv %q, not a profiled block", n.Name, n.Op, p.root())
		}
		b.Residual = true
	}
	return up, b, nil
}

// inlinedUpsampleAdd names what conv pass p recomputes in its fetch when
// that is exactly its input add(resize_bilinear_x2(a), skip), read by a
// 1x1 conv (the planner inlines a resize only where each input pixel is
// read once): an upsample_add block at a's size.
func (d *decomposer) inlinedUpsampleAdd(p *pass) (Block, bool) {
	n := d.byName[p.root()]
	if len(p.inlined) != 2 || d.g.Tensors[n.Inputs[1]].Shape[1] != 1 {
		return Block{}, false
	}
	a, r := d.byName[p.inlined[0]], d.byName[p.inlined[1]]
	if a.Op == model.OpResize {
		a, r = r, a
	}
	if n.Inputs[0] != a.Name {
		return Block{}, false
	}
	return d.upsampleAddOf(a, r)
}

// residual says whether node a, folded into the pass of value x, adds a
// tensor of x's shape to it.
func (d *decomposer) residual(a *model.Node, x string) bool {
	if a.Op != model.OpAdd || a.Act != "" || len(a.Inputs) != 2 {
		return false
	}
	other := a.Inputs[0]
	if other == x {
		other = a.Inputs[1]
	}
	s, ok := d.shapes[other]
	return ok && (d.byName[other] != nil || other == d.g.Input) && slices.Equal(s, d.shapes[x])
}

// resBlock reports whether conv pass k and the pass reading its value
// form conv1 -> conv2 -> add(conv2, x), where x is conv1's input: both
// convs stride 1 with the same kernel, conv2 without activation, the add
// folded into conv2's pass. It returns the second pass.
func (d *decomposer) resBlock(k int) (int, bool) {
	p := &d.plan[k]
	n1 := d.byName[p.root()]
	if len(p.stored) != 1 || len(p.inlined) != 0 || d.uses[n1.Name] != 1 || n1.StrideY() != 1 {
		return 0, false
	}
	j, ok := d.owner[d.reader[n1.Name]]
	if !ok {
		return 0, false
	}
	q := &d.plan[j]
	n2 := d.byName[q.root()]
	if n2.Op != model.OpConv2D || n2.Inputs[0] != n1.Name || len(q.stored) != 2 || len(q.inlined) != 0 ||
		n2.StrideY() != 1 || n2.Act != "" ||
		d.g.Tensors[n2.Inputs[1]].Shape[1] != d.g.Tensors[n1.Inputs[1]].Shape[1] {
		return 0, false
	}
	a := d.byName[q.stored[1]]
	x := n1.Inputs[0]
	if a.Op != model.OpAdd || a.Act != "" || !sameSet(a.Inputs, n2.Name, x) || !slices.Equal(d.shapes[x], d.shapes[n2.Name]) {
		return 0, false
	}
	return j, true
}

// sameSet reports whether two-element ins holds a and b in either order.
func sameSet(ins []string, a, b string) bool {
	return len(ins) == 2 && (ins[0] == a && ins[1] == b || ins[0] == b && ins[1] == a)
}

// upsampleAdd names a pass that stores add(resize(a), skip) with a
// bilinear x2 resize inlined into it (the planner gives it a pass of its
// own when a k x k conv reads it): an upsample_add block at a's size.
func (d *decomposer) upsampleAdd(p *pass) (Block, bool) {
	if len(p.stored) != 1 || len(p.inlined) != 1 {
		return Block{}, false
	}
	return d.upsampleAddOf(d.byName[p.root()], d.byName[p.inlined[0]])
}

// upsampleAddOf names a = add(r, skip), r a bilinear x2 resize of a value
// of skip's shape after it, as an upsample_add block at r's input size.
func (d *decomposer) upsampleAddOf(a, r *model.Node) (Block, bool) {
	if a.Op != model.OpAdd || a.Act != "" || len(a.Inputs) != 2 {
		return Block{}, false
	}
	if r.Op != model.OpResize || r.Mode != "bilinear" || r.Scale != [2]int{2, 2} || !slices.Contains(a.Inputs, r.Name) {
		return Block{}, false
	}
	skip := a.Inputs[0]
	if skip == r.Name {
		skip = a.Inputs[1]
	}
	if s, ok := d.shapes[skip]; !ok || !slices.Equal(s, d.shapes[r.Name]) {
		return Block{}, false
	}
	low := d.shapes[r.Inputs[0]]
	return Block{Kind: KindUpsampleAdd, Cin: low[2], Cout: low[2], H: low[0], W: low[1]}, true
}

// guidedFilter names the passes left over: their nodes must be
// elementwise ops (add, sub, mul, div) and box means of one shape and one
// radius, with at least one box mean. It fails naming the first node, in
// graph order, that cannot belong to one.
func (d *decomposer) guidedFilter(passes []int) (Block, error) {
	var names []string
	for _, k := range passes {
		names = append(append(names, d.plan[k].stored...), d.plan[k].inlined...)
	}
	slices.SortFunc(names, func(a, b string) int { return d.index[a] - d.index[b] })
	radius := 0
	var shape []int
	for _, name := range names {
		n := d.byName[name]
		switch n.Op {
		case model.OpAdd, model.OpSub, model.OpMul, model.OpDiv, model.OpBoxMean:
		default:
			return Block{}, fmt.Errorf("decompose: node %q (%s): not part of any profiled block", n.Name, n.Op)
		}
		s := d.shapes[n.Name]
		if shape == nil {
			shape = s
		} else if !slices.Equal(s, shape) {
			return Block{}, fmt.Errorf("decompose: node %q (%s): shape %v differs from the guided filter's %v", n.Name, n.Op, s, shape)
		}
		if n.Act != "" {
			return Block{}, fmt.Errorf("decompose: node %q (%s): fused activation %q in a guided filter", n.Name, n.Op, n.Act)
		}
		if n.Op == model.OpBoxMean {
			if radius != 0 && n.Radius != radius {
				return Block{}, fmt.Errorf("decompose: node %q: box radius %d differs from %d", n.Name, n.Radius, radius)
			}
			radius = n.Radius
		}
	}
	if radius == 0 {
		n := d.byName[names[0]]
		return Block{}, fmt.Errorf("decompose: node %q (%s): not part of any profiled block", n.Name, n.Op)
	}
	return Block{Kind: KindGuidedFilter, K: 2*radius + 1, Cin: shape[2], Cout: shape[2], H: shape[0], W: shape[1]}, nil
}
