package latency

import "slices"

// merge returns one MLP that computes the mean of the outputs of ms,
// which share their scaling (newMLP sets it from the training rows) and
// their layer shapes: its hidden layers hold every member's side by side
// (the first stacked, the later ones block-diagonal, so that no member
// reads another's units) and its output layer averages theirs.
func merge(ms []*MLP) *MLP {
	if len(ms) == 1 {
		return ms[0]
	}
	m := *ms[0]
	m.Layers = nil
	last := len(ms[0].Layers) - 1
	for l := range last + 1 {
		in, out := len(ms[0].Layers[l].W[0]), len(ms[0].Layers[l].W)
		var layer DenseLayer
		for k, mk := range ms {
			src := mk.Layers[l]
			if l == last {
				if k == 0 {
					layer.W, layer.B = [][]float64{make([]float64, in*len(ms))}, []float64{0}
					if l == 0 { // no hidden layer: the members share their inputs
						layer.W[0] = layer.W[0][:in]
					}
				}
				off := k * in
				if l == 0 {
					off = 0
				}
				for i, w := range src.W[0] {
					layer.W[0][off+i] += w / float64(len(ms))
				}
				layer.B[0] += src.B[0] / float64(len(ms))
				continue
			}
			for j := range out {
				row := src.W[j]
				if l > 0 { // read member k's units of the layer below only
					row = make([]float64, in*len(ms))
					copy(row[k*in:], src.W[j])
				}
				layer.W = append(layer.W, slices.Clone(row))
				layer.B = append(layer.B, src.B[j])
			}
		}
		m.Layers = append(m.Layers, layer)
	}
	return &m
}
