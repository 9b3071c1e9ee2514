package tflite

import (
	"fmt"
	"slices"

	"github.com/edgetoon/edgetoon/model"
)

// maxFoldWork bounds the multiply-adds spent folding one constant op, so
// a hostile file cannot make the importer compute for long.
const maxFoldWork = 1 << 26

// fold evaluates an op whose inputs are all constants. Only what real
// models compute on constants is supported: a depthwise conv (White-box
// computes its box-filter normalization map from an all-ones image this
// way) and elementwise arithmetic.
func (c *converter) fold(p *op) (*constant, error) {
	switch p.code {
	case opDepthwiseConv2D:
		return c.foldDepthwise(p)
	case opAdd, opSub, opMul, opDiv:
		return c.foldBinary(p)
	}
	return nil, fmt.Errorf("cannot fold this op on constant inputs")
}

func (c *converter) foldBinary(p *op) (*constant, error) {
	if len(p.in) != 2 || p.in[0] < 0 || p.in[1] < 0 {
		return nil, fmt.Errorf("want 2 inputs")
	}
	if act := p.opts.uint8(binAct, 0); act != actNone {
		return nil, fmt.Errorf("fused activation %d on constants", act)
	}
	a, b := c.consts[p.in[0]], c.consts[p.in[1]]
	out := a
	switch {
	case slices.Equal(a.shape, b.shape):
	case len(b.data) == 1:
	case len(a.data) == 1:
		out = b
	default:
		return nil, fmt.Errorf("constant shapes %v and %v", a.shape, b.shape)
	}
	r := &constant{shape: slices.Clone(out.shape), data: make([]float32, len(out.data))}
	at := func(k *constant, i int) float32 {
		if len(k.data) == 1 {
			return k.data[0]
		}
		return k.data[i]
	}
	for i := range r.data {
		x, y := at(a, i), at(b, i)
		switch p.code {
		case opAdd:
			r.data[i] = x + y
		case opSub:
			r.data[i] = x - y
		case opMul:
			r.data[i] = x * y
		case opDiv:
			r.data[i] = x / y
		}
	}
	return r, nil
}

// foldDepthwise runs a depthwise conv on a constant [1,H,W,C] input.
func (c *converter) foldDepthwise(p *op) (*constant, error) {
	n, err := c.convNode(p, true)
	if err != nil {
		return nil, err
	}
	x := c.consts[p.in[0]]
	if x == nil {
		return nil, fmt.Errorf("input is not a constant")
	}
	if len(x.shape) != 4 || x.shape[0] != 1 {
		return nil, fmt.Errorf("input shape %v, want [1,H,W,C]", x.shape)
	}
	h, w, ch := x.shape[1], x.shape[2], x.shape[3]
	wt, bias := c.dwWeight(p)
	if wt == nil {
		if k := c.consts[p.in[1]]; k != nil {
			return nil, fmt.Errorf("weight shape %v, want [1,KH,KW,C*M]", k.shape)
		}
		return nil, fmt.Errorf("weight is not a constant")
	}
	kh, kw, oc := wt.shape[1], wt.shape[2], wt.shape[3]
	if oc%ch != 0 {
		return nil, fmt.Errorf("%d output channels for %d input channels", oc, ch)
	}
	mult := oc / ch
	if bias != nil && len(bias.data) != oc {
		return nil, fmt.Errorf("bias of %d values for %d channels", len(bias.data), oc)
	}
	if kh > 31 || kw > 31 {
		return nil, fmt.Errorf("kernel %dx%d too large", kh, kw)
	}
	top, left, bottom, right, err := model.ConvPads(n, h, w, kh, kw)
	if err != nil {
		return nil, err
	}
	sy, sx, dy, dx := n.StrideY(), n.StrideX(), n.DilationY(), n.DilationX()
	oh := (h+top+bottom-((kh-1)*dy+1))/sy + 1
	ow := (w+left+right-((kw-1)*dx+1))/sx + 1
	if oh <= 0 || ow <= 0 || oh*ow*oc*kh*kw > maxFoldWork {
		return nil, fmt.Errorf("output %dx%dx%d out of range", oh, ow, oc)
	}
	r := &constant{shape: []int{1, oh, ow, oc}, data: make([]float32, oh*ow*oc)}
	for y := range oh {
		for xo := range ow {
			for o := range oc {
				var s float32
				if bias != nil {
					s = bias.data[o]
				}
				ic := o / mult
				for ky := range kh {
					iy := y*sy - top + ky*dy
					if iy < 0 || iy >= h {
						continue
					}
					for kx := range kw {
						ix := xo*sx - left + kx*dx
						if ix < 0 || ix >= w {
							continue
						}
						s += x.data[(iy*w+ix)*ch+ic] * wt.data[(ky*kw+kx)*oc+o]
					}
				}
				r.data[(y*ow+xo)*oc+o] = applyAct(s, n)
			}
		}
	}
	return r, nil
}

func applyAct(v float32, n *model.Node) float32 {
	switch n.Act {
	case "relu":
		return max(v, 0)
	case "relu6":
		return min(max(v, 0), 6)
	case "":
		return v
	}
	return v // convNode rejects other fused activations for folding
}

// boxCount returns the number of taps of a (2r+1)x(2r+1) window centred
// on each pixel of an h x w image that fall inside the image.
func boxCount(h, w, r int) []float32 {
	out := make([]float32, h*w)
	for y := range h {
		ny := min(y+r, h-1) - max(y-r, 0) + 1
		for x := range w {
			nx := min(x+r, w-1) - max(x-r, 0) + 1
			out[y*w+x] = float32(ny * nx)
		}
	}
	return out
}
