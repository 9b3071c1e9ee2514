package latency

import (
	"fmt"
	"slices"

	"github.com/edgetoon/edgetoon/model"
)

// Decompose splits g, run on an h x w input, into the blocks our planner
// executes, in execution order (see the package documentation for the
// rules). Every node belongs to exactly one block; a node that fits no
// rule, such as a grouped or dilated conv or a standalone activation, is
// an error that names it.
func Decompose(g *model.Graph, h, w int) ([]Block, error) {
	if g == nil {
		return nil, fmt.Errorf("decompose: nil graph")
	}
	shapes, err := g.Shapes(h, w)
	if err != nil {
		return nil, fmt.Errorf("decompose: %w", err)
	}
	d := &decomposer{g: g, shapes: shapes, index: map[string]int{}, uses: map[string]int{}}
	for i, n := range g.Nodes {
		d.index[n.Name] = i
		for _, in := range n.Inputs {
			if _, ok := shapes[in]; ok {
				d.uses[in]++
			}
		}
	}
	d.uses[g.Output]++ // the network's result is used by the caller
	return d.run()
}

type decomposer struct {
	g      *model.Graph
	shapes map[string][]int
	index  map[string]int // node name -> position
	uses   map[string]int // value name -> number of consuming inputs
	owner  []int          // node position -> block number, -1 if none yet
	blocks []placed
}

// placed is a block with the position of the node that anchors it in
// execution order.
type placed struct {
	at int
	b  Block
}

func (d *decomposer) run() ([]Block, error) {
	nodes := d.g.Nodes
	d.owner = make([]int, len(nodes))
	for i := range d.owner {
		d.owner[i] = -1
	}
	// Convs first: each becomes a conv block, or the head of a resblock.
	for i := range nodes {
		if nodes[i].Op != model.OpConv2D || d.owner[i] >= 0 {
			continue
		}
		if err := d.checkConv(i); err != nil {
			return nil, err
		}
		if d.resBlock(i) {
			continue
		}
		d.claim(d.convBlock(i), i, i)
	}
	// Upsample-and-add (a pass of its own: the planner does not inline a
	// resize into a k x k conv), then residual adds fused into the conv
	// computing one of their inputs.
	for i := range nodes {
		if nodes[i].Op == model.OpAdd && d.owner[i] < 0 {
			if r, a, ok := d.upsampleAdd(i); ok {
				d.claim(Block{Kind: KindUpsampleAdd, Cin: a[2], Cout: a[2], H: a[0], W: a[1]}, i, r, i)
			}
		}
	}
	for i := range nodes {
		if nodes[i].Op == model.OpAdd && d.owner[i] < 0 {
			d.fuseResidual(i)
		}
	}
	if err := d.guidedFilter(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(d.blocks, func(a, b placed) int { return a.at - b.at })
	out := make([]Block, len(d.blocks))
	for k, p := range d.blocks {
		if err := p.b.Validate(); err != nil {
			return nil, fmt.Errorf("decompose: node %q: %w", nodes[p.at].Name, err)
		}
		out[k] = p.b
	}
	return out, nil
}

// claim records block b anchored at node position at, owning the nodes.
func (d *decomposer) claim(b Block, at int, nodes ...int) {
	for _, i := range nodes {
		d.owner[i] = len(d.blocks)
	}
	d.blocks = append(d.blocks, placed{at: at, b: b})
}

func (d *decomposer) checkConv(i int) error {
	n := &d.g.Nodes[i]
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

func (d *decomposer) convBlock(i int) Block {
	n := &d.g.Nodes[i]
	in := d.shapes[n.Inputs[0]]
	out := d.shapes[n.Name]
	return Block{
		Kind: KindConv, K: d.g.Tensors[n.Inputs[1]].Shape[1], Stride: n.StrideY(),
		Cin: in[2], Cout: out[2], H: in[0], W: in[1], Act: n.Act,
	}
}

// producer returns the position of the node computing value name, or -1
// for the graph input.
func (d *decomposer) producer(name string) int {
	if i, ok := d.index[name]; ok {
		return i
	}
	return -1
}

// resBlock claims conv i and its successors as a resblock if they match
// conv1 -> conv2 -> add(conv2, x) with x conv1's input.
func (d *decomposer) resBlock(i int) bool {
	n1 := &d.g.Nodes[i]
	if d.uses[n1.Name] != 1 || n1.StrideY() != 1 {
		return false
	}
	j := d.consumer(n1.Name, i)
	if j < 0 || d.g.Nodes[j].Op != model.OpConv2D || d.checkConv(j) != nil {
		return false
	}
	n2 := &d.g.Nodes[j]
	if n2.Inputs[0] != n1.Name || n2.StrideY() != 1 || n2.Act != "" || d.uses[n2.Name] != 1 ||
		d.g.Tensors[n2.Inputs[1]].Shape[1] != d.g.Tensors[n1.Inputs[1]].Shape[1] {
		return false
	}
	k := d.consumer(n2.Name, j)
	if k < 0 {
		return false
	}
	a := &d.g.Nodes[k]
	x := n1.Inputs[0]
	if a.Op != model.OpAdd || a.Act != "" || !sameSet(a.Inputs, n2.Name, x) ||
		!slices.Equal(d.shapes[x], d.shapes[n2.Name]) {
		return false
	}
	b := d.convBlock(i)
	b.Kind, b.Stride, b.Mid, b.Cout = KindResBlock, 1, b.Cout, b.Cin
	d.claim(b, i, i, j, k)
	return true
}

// consumer returns the position of the node after position from that
// reads value name, or -1.
func (d *decomposer) consumer(name string, from int) int {
	for j := from + 1; j < len(d.g.Nodes); j++ {
		if slices.Contains(d.g.Nodes[j].Inputs, name) {
			return j
		}
	}
	return -1
}

// sameSet reports whether two-element ins holds a and b in either order.
func sameSet(ins []string, a, b string) bool {
	return len(ins) == 2 && (ins[0] == a && ins[1] == b || ins[0] == b && ins[1] == a)
}

// fuseResidual fuses add node i into the conv computing one of its inputs,
// if that conv's output is used only there and the other input has the
// same shape and is computed earlier.
func (d *decomposer) fuseResidual(i int) {
	a := &d.g.Nodes[i]
	if a.Act != "" || len(a.Inputs) != 2 {
		return
	}
	best := -1
	for t, in := range a.Inputs {
		other := a.Inputs[1-t]
		p, q := d.producer(in), d.producer(other)
		if p < 0 || d.g.Nodes[p].Op != model.OpConv2D || d.uses[in] != 1 || q > p {
			continue
		}
		if _, ok := d.shapes[other]; !ok || !slices.Equal(d.shapes[in], d.shapes[other]) {
			continue
		}
		if k := d.owner[p]; k >= 0 && d.blocks[k].b.Kind == KindConv && !d.blocks[k].b.Residual {
			best = max(best, p)
		}
	}
	if best < 0 {
		return
	}
	k := d.owner[best]
	d.blocks[k].b.Residual = true
	d.owner[i] = k
}

// upsampleAdd matches node i as add(resize(a), skip) with a bilinear x2
// resize used only there, and returns the resize's position and a's shape.
func (d *decomposer) upsampleAdd(i int) (int, []int, bool) {
	a := &d.g.Nodes[i]
	if a.Act != "" || len(a.Inputs) != 2 {
		return 0, nil, false
	}
	for t, in := range a.Inputs {
		r := d.producer(in)
		if r < 0 || d.owner[r] >= 0 || d.uses[in] != 1 {
			continue
		}
		rn := &d.g.Nodes[r]
		if rn.Op != model.OpResize || rn.Mode != "bilinear" || rn.Scale != [2]int{2, 2} {
			continue
		}
		skip, ok := d.shapes[a.Inputs[1-t]]
		if !ok || !slices.Equal(skip, d.shapes[in]) {
			continue
		}
		return r, d.shapes[rn.Inputs[0]], true
	}
	return 0, nil, false
}

// guidedFilter gathers the nodes left over into one guided_filter block,
// or fails naming the first that cannot belong to one.
func (d *decomposer) guidedFilter() error {
	first, radius := -1, 0
	var shape []int
	for i := range d.g.Nodes {
		if d.owner[i] >= 0 {
			continue
		}
		n := &d.g.Nodes[i]
		switch n.Op {
		case model.OpAdd, model.OpSub, model.OpMul, model.OpDiv, model.OpBoxMean:
		default:
			return fmt.Errorf("decompose: node %q (%s): not part of any profiled block", n.Name, n.Op)
		}
		s := d.shapes[n.Name]
		if first < 0 {
			first, shape = i, s
		} else if !slices.Equal(s, shape) {
			return fmt.Errorf("decompose: node %q (%s): shape %v differs from the guided filter's %v", n.Name, n.Op, s, shape)
		}
		if n.Act != "" {
			return fmt.Errorf("decompose: node %q (%s): fused activation %q in a guided filter", n.Name, n.Op, n.Act)
		}
		if n.Op == model.OpBoxMean {
			if radius != 0 && n.Radius != radius {
				return fmt.Errorf("decompose: node %q: box radius %d differs from %d", n.Name, n.Radius, radius)
			}
			radius = n.Radius
		}
	}
	if first < 0 {
		return nil
	}
	if radius == 0 {
		n := &d.g.Nodes[first]
		return fmt.Errorf("decompose: node %q (%s): not part of any profiled block", n.Name, n.Op)
	}
	b := Block{Kind: KindGuidedFilter, K: 2*radius + 1, Cin: shape[2], Cout: shape[2], H: shape[0], W: shape[1]}
	var owned []int
	for i := range d.g.Nodes {
		if d.owner[i] < 0 {
			owned = append(owned, i)
		}
	}
	d.claim(b, first, owned...)
	return nil
}
