package latency

// merge returns one MLP that computes the mean of the outputs of ms,
// which share their scaling (newMLP sets it from the training rows) and
// their layer shapes: its hidden layers hold every member's side by side
// (the first reads the shared features; each later one is
// block-diagonal, so that no member reads another's units) and its
// output layer averages theirs.
func merge(ms []*MLP) *MLP {
	if len(ms) == 1 {
		return ms[0]
	}
	n := len(ms)
	m := *ms[0]
	m.Layers = nil
	last := len(ms[0].Layers) - 1
	for l := range last + 1 {
		// Member k's inputs to layer l start at off(k) of width inputs.
		in := len(ms[0].Layers[l].W[0])
		width, off := in*n, func(k int) int { return k * in }
		if l == 0 {
			width, off = in, func(int) int { return 0 }
		}
		var layer DenseLayer
		if l == last {
			layer = DenseLayer{W: [][]float64{make([]float64, width)}, B: []float64{0}}
		}
		for k, mk := range ms {
			src := mk.Layers[l]
			if l == last {
				for i, w := range src.W[0] {
					layer.W[0][off(k)+i] += w / float64(n)
				}
				layer.B[0] += src.B[0] / float64(n)
				continue
			}
			for j, row := range src.W {
				wide := make([]float64, width)
				copy(wide[off(k):], row)
				layer.W = append(layer.W, wide)
				layer.B = append(layer.B, src.B[j])
			}
		}
		m.Layers = append(m.Layers, layer)
	}
	return &m
}
