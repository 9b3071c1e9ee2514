package tflite

import "github.com/edgetoon/edgetoon/model"

// fuseActivations folds a standalone activation into the conv or
// elementwise op that feeds it, when nothing else reads the op's
// pre-activation value: TFLite keeps LEAKY_RELU separate, while edgetoon's
// engines run it in the producer's pass.
func fuseActivations(g *model.Graph) {
	uses := map[string]int{g.Output: 1}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			uses[in]++
		}
	}
	index := map[string]int{}
	for i, n := range g.Nodes {
		index[n.Name] = i
	}
	drop := map[int]bool{}
	for i := range g.Nodes {
		a := &g.Nodes[i]
		switch a.Op {
		case model.OpLeakyReLU, model.OpReLU, model.OpTanh, model.OpSigmoid:
		default:
			continue
		}
		if len(a.Inputs) != 1 {
			continue
		}
		j, ok := index[a.Inputs[0]]
		if !ok || uses[a.Inputs[0]] != 1 || drop[j] {
			continue
		}
		p := &g.Nodes[j]
		switch p.Op {
		case model.OpConv2D, model.OpAdd, model.OpSub, model.OpMul, model.OpDiv:
		default:
			continue
		}
		if p.Act != "" {
			continue
		}
		p.Act, p.Alpha = a.Op, 0
		if a.Op == model.OpLeakyReLU {
			p.Alpha = a.Alpha
		}
		// The fused node takes the activation's name, which later nodes
		// read; its own old name had no other reader.
		delete(index, p.Name)
		p.Name = a.Name
		index[p.Name] = j
		drop[i] = true
	}
	kept := g.Nodes[:0]
	for i, n := range g.Nodes {
		if !drop[i] {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
}
