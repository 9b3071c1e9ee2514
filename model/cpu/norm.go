package cpu

import (
	"math"

	"github.com/edgetoon/edgetoon/model"
)

// norm runs instance_norm (statistics per channel over H and W) and
// layer_norm (statistics over H, W and C together); both then apply the
// per-channel gamma and beta. The variance is the biased one (divided
// by the count), as in TensorFlow's moments. Sums are in float64 so
// that large images do not lose the mean to rounding.
func (e *env) norm(n *model.Node) (*model.Tensor, error) {
	x, err := e.input(n, 0)
	if err != nil {
		return nil, err
	}
	gamma, err := e.input(n, 1)
	if err != nil {
		return nil, err
	}
	beta, err := e.input(n, 2)
	if err != nil {
		return nil, err
	}
	c := x.Shape[2]
	pixels := len(x.Data) / c
	mean := make([]float64, c)
	sq := make([]float64, c)
	for p := range pixels {
		for ch, v := range x.Data[p*c : (p+1)*c] {
			mean[ch] += float64(v)
		}
	}
	if n.Op == model.OpLayerNorm {
		var total float64
		for _, m := range mean {
			total += m
		}
		for ch := range mean {
			mean[ch] = total / float64(len(x.Data))
		}
	} else {
		for ch := range mean {
			mean[ch] /= float64(pixels)
		}
	}
	for p := range pixels {
		for ch, v := range x.Data[p*c : (p+1)*c] {
			d := float64(v) - mean[ch]
			sq[ch] += d * d
		}
	}
	if n.Op == model.OpLayerNorm {
		var total float64
		for _, s := range sq {
			total += s
		}
		for ch := range sq {
			sq[ch] = total / float64(len(x.Data))
		}
	} else {
		for ch := range sq {
			sq[ch] /= float64(pixels)
		}
	}
	// y = (x-mean)*scale + beta with scale = gamma/sqrt(var+eps). The
	// mean is subtracted first: folding it into beta would cancel
	// catastrophically when the mean is large against the spread.
	mean32 := make([]float32, c)
	scale := make([]float32, c)
	for ch := range c {
		mean32[ch] = float32(mean[ch])
		scale[ch] = float32(float64(gamma.Data[ch]) / math.Sqrt(sq[ch]+float64(n.Eps)))
	}
	out := model.NewTensor(x.Shape...)
	for p := range pixels {
		o := out.Data[p*c : (p+1)*c]
		for ch, v := range x.Data[p*c : (p+1)*c] {
			o[ch] = (v-mean32[ch])*scale[ch] + beta.Data[ch]
		}
	}
	return out, nil
}
