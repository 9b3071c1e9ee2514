package model

import "fmt"

// Layer is one row of a per-layer cost table.
type Layer struct {
	Name   string
	Op     string
	Shape  []int // output [H,W,C]
	MACs   int64 // multiply-accumulates of conv2d nodes; 0 for the rest
	Params int64 // weights and biases the node reads
}

// Layers returns the cost table of g for an h x w input. MACs count the
// convolutions only (the usual convention): they are nearly all the work.
func (g *Graph) Layers(h, w int) ([]Layer, error) {
	shapes, err := g.Shapes(h, w)
	if err != nil {
		return nil, err
	}
	layers := make([]Layer, len(g.Nodes))
	for i, n := range g.Nodes {
		l := Layer{Name: n.Name, Op: n.Op, Shape: shapes[n.Name]}
		for _, in := range n.Inputs {
			if t := g.Tensors[in]; t != nil {
				l.Params += int64(len(t.Data))
			}
		}
		if n.Op == OpConv2D {
			wt := g.Tensors[n.Inputs[1]].Shape // [O,KH,KW,I/groups]
			l.MACs = int64(l.Shape[0]) * int64(l.Shape[1]) * int64(wt[0]) * int64(wt[1]*wt[2]*wt[3])
		}
		layers[i] = l
	}
	return layers, nil
}

// MACs is the multiply-accumulate count of one h x w frame.
func (g *Graph) MACs(h, w int) (int64, error) {
	layers, err := g.Layers(h, w)
	if err != nil {
		return 0, fmt.Errorf("macs: %w", err)
	}
	var sum int64
	for _, l := range layers {
		sum += l.MACs
	}
	return sum, nil
}

// Params is the number of stored weights (each shared tensor counted once).
func (g *Graph) Params() int64 {
	var n int64
	for _, t := range g.Tensors {
		n += int64(len(t.Data))
	}
	return n
}
