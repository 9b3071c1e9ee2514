package model

import "fmt"

// RunBytes bounds the memory the CPU reference engine (model/cpu) needs
// for its activations on an h x w input, run by workers goroutines: the
// most float32 values held at once as that engine keeps them (each value
// until its last reader has run, the output and any value nothing reads
// until the end), plus the scratch of the node being run (a conv's rows
// of patches, one per worker, and the row sums of box_mean). The input
// tensor counts until its last reader. Weights are not included (see
// Params).
//
// The values a node frees are counted until the next node has allocated
// its output: a garbage collector reclaims them only in a cycle that
// allocation starts, so for a moment both are resident.
//
// It is how a caller refuses a model, or a size, whose activations
// would not fit its memory before running it: Shapes alone bounds each
// value, not their sum.
func (g *Graph) RunBytes(h, w, workers int) (int64, error) {
	shapes, err := g.Shapes(h, w)
	if err != nil {
		return 0, err
	}
	workers = max(workers, 1)
	lastUse := map[string]int{}
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			lastUse[in] = i
		}
	}
	size := func(name string) int64 { return 4 * int64(NumElements(shapes[name])) }
	live := size(g.Input)
	var garbage int64 // freed by the previous node, not yet collected
	peak := live
	for i, n := range g.Nodes {
		out := size(n.Name)
		peak = max(peak, live+garbage+out+g.scratch(&g.Nodes[i], shapes, workers))
		live += out
		garbage = 0
		for _, in := range uniq(n.Inputs) {
			if _, act := shapes[in]; act && lastUse[in] == i && in != g.Output {
				live -= size(in)
				garbage += size(in)
			}
		}
	}
	if peak < 0 {
		return 0, fmt.Errorf("activation memory at %dx%d overflows", h, w)
	}
	return peak, nil
}

// scratch is the temporary memory of one node beyond its output.
func (g *Graph) scratch(n *Node, shapes map[string][]int, workers int) int64 {
	out := shapes[n.Name]
	switch n.Op {
	case OpConv2D:
		wt := g.Tensors[n.Inputs[1]].Shape // checked by Shapes
		rows := min(int64(workers), int64(out[0]))
		return rows * 4 * int64(out[1]) * int64(wt[1]*wt[2]*wt[3])
	case OpBoxMean:
		return 4 * int64(NumElements(out))
	}
	return 0
}

// uniq drops repeated names, so that a node reading a value twice frees
// it once.
func uniq(names []string) []string {
	var out []string
	for _, s := range names {
		seen := false
		for _, t := range out {
			seen = seen || s == t
		}
		if !seen {
			out = append(out, s)
		}
	}
	return out
}
