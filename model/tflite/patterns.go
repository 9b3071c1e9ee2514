package tflite

import (
	"fmt"
	"math"
	"slices"

	"github.com/edgetoon/edgetoon/model"
)

// prod returns the live op of the given code that computes t, or nil.
func (c *converter) prod(t int32, code int32) *op {
	p := c.producer[t]
	if p == nil || p.dead || p.repl != nil || p.code != code {
		return nil
	}
	return p
}

// operands returns a two-input op's inputs in both orders.
func operands(p *op) [][2]int32 {
	if len(p.in) != 2 {
		return nil
	}
	return [][2]int32{{p.in[0], p.in[1]}, {p.in[1], p.in[0]}}
}

// matchNorms finds TF's expansion of layer and instance normalization,
//
//	mean = MEAN(x); var = MEAN(SQUARED_DIFFERENCE(x, mean))
//	s = RSQRT(var + eps) * gamma
//	y = x*s + (beta - mean*s)
//
// and replaces the final ADD by one norm node. The MEAN axes decide which
// norm: H,W,C together is layer_norm, H,W alone instance_norm.
func (c *converter) matchNorms() error {
	for _, p := range c.ops {
		if p.code != opAdd || p.dead || p.repl != nil {
			continue
		}
		for _, ab := range operands(p) {
			ok, err := c.matchNorm(p, ab[0], ab[1])
			if err != nil {
				return c.opErr(p, err)
			}
			if ok {
				break
			}
		}
	}
	return nil
}

func (c *converter) matchNorm(final *op, a, b int32) (bool, error) {
	mul1, sub := c.prod(a, opMul), c.prod(b, opSub)
	if mul1 == nil || sub == nil || len(sub.in) != 2 || c.consts[sub.in[0]] == nil {
		return false, nil
	}
	for _, xs := range operands(mul1) {
		x, sT := xs[0], xs[1]
		sMul := c.prod(sT, opMul)
		if sMul == nil || c.consts[x] != nil {
			continue
		}
		var rsq *op
		var gamma int32 = -1
		for _, rg := range operands(sMul) {
			if r := c.prod(rg[0], opRsqrt); r != nil && c.consts[rg[1]] != nil {
				rsq, gamma = r, rg[1]
			}
		}
		if rsq == nil || len(rsq.in) != 1 {
			continue
		}
		epsAdd := c.prod(rsq.in[0], opAdd)
		if epsAdd == nil {
			continue
		}
		var varMean *op
		var epsT int32 = -1
		for _, ve := range operands(epsAdd) {
			if m := c.prod(ve[0], opMean); m != nil && c.consts[ve[1]] != nil {
				varMean, epsT = m, ve[1]
			}
		}
		if varMean == nil || len(varMean.in) != 2 {
			continue
		}
		sq := c.prod(varMean.in[0], opSquaredDifference)
		if sq == nil || len(sq.in) != 2 {
			continue
		}
		meanT := sq.in[1]
		if sq.in[1] == x {
			meanT = sq.in[0]
		} else if sq.in[0] != x {
			continue
		}
		mean := c.prod(meanT, opMean)
		if mean == nil || len(mean.in) != 2 || mean.in[0] != x {
			continue
		}
		m2 := c.prod(sub.in[1], opMul)
		if m2 == nil || !(slices.Equal(m2.in, []int32{meanT, sT}) || slices.Equal(m2.in, []int32{sT, meanT})) {
			continue
		}
		// Every intermediate must feed only the pattern, or replacing it
		// would drop a value something else reads.
		inner := []struct {
			t    int32
			uses int
		}{
			{meanT, 2}, {sq.out[0], 1}, {varMean.out[0], 1}, {epsAdd.out[0], 1},
			{rsq.out[0], 1}, {sT, 2}, {mul1.out[0], 1}, {m2.out[0], 1}, {sub.out[0], 1},
		}
		for _, in := range inner {
			if c.uses[in.t] != in.uses {
				return false, fmt.Errorf("normalization pattern: intermediate %q is also used elsewhere", c.tensorName(in.t))
			}
		}
		for _, o := range []*op{mean, sq, varMean, epsAdd, rsq, sMul, mul1, m2, sub, final} {
			if o.code == opAdd || o.code == opSub || o.code == opMul {
				if a := o.opts.uint8(binAct, actNone); a != actNone {
					return false, fmt.Errorf("normalization pattern: fused activation %d inside", a)
				}
			}
		}
		n, err := c.normNode(x, mean, varMean, gamma, sub.in[0], epsT)
		if err != nil {
			return false, err
		}
		for _, o := range []*op{mean, sq, varMean, epsAdd, rsq, sMul, mul1, m2, sub} {
			o.dead = true
		}
		final.repl, final.in = n, []int32{x}
		return true, nil
	}
	return false, nil
}

func (c *converter) normNode(x int32, mean, varMean *op, gamma, beta, epsT int32) (*model.Node, error) {
	xs, err := c.actShape(x)
	if err != nil {
		return nil, err
	}
	axes := c.consts[mean.in[1]]
	axes2 := c.consts[varMean.in[1]]
	if axes == nil || axes2 == nil || axes.ints == nil || !slices.Equal(axes.ints, axes2.ints) {
		return nil, fmt.Errorf("normalization pattern: MEAN axes are not equal integer constants")
	}
	for _, m := range []*op{mean, varMean} {
		if !m.opts.bool(reduceKeepDims) {
			return nil, fmt.Errorf("normalization pattern: MEAN without keep_dims")
		}
	}
	ax := slices.Clone(axes.ints)
	for i, a := range ax {
		if a < 0 {
			ax[i] = a + 4
		}
	}
	slices.Sort(ax)
	n := &model.Node{}
	switch {
	case slices.Equal(ax, []int64{1, 2, 3}):
		n.Op = model.OpLayerNorm
	case slices.Equal(ax, []int64{1, 2}):
		n.Op = model.OpInstanceNorm
	default:
		return nil, fmt.Errorf("normalization over axes %v: only [1,2] and [1,2,3] are supported", axes.ints)
	}
	eps := c.consts[epsT]
	if len(eps.data) != 1 || !(eps.data[0] > 0) || math.IsInf(float64(eps.data[0]), 0) {
		return nil, fmt.Errorf("normalization eps %q: want one positive value, have %v", c.tensorName(epsT), eps.data)
	}
	n.Eps = eps.data[0]
	for _, t := range []int32{gamma, beta} {
		k := c.consts[t]
		data := k.data
		if len(data) == 1 {
			data = slices.Repeat(data, xs[2])
		}
		if len(data) != xs[2] {
			return nil, fmt.Errorf("normalization: %q has %d values for %d channels", c.tensorName(t), len(k.data), xs[2])
		}
		n.Inputs = append(n.Inputs, c.addConst(t, "", []int{xs[2]}, data))
	}
	return n, nil
}

// matchBoxMeans finds DIV(box(x), box(ones)) and MUL(box(x), 1/box(ones)),
// where box is a stride-1 SAME depthwise conv whose weights all equal one
// value w, and replaces it by box_mean(x). The divisor must be a constant
// (stored, or folded from the conv of a ones image) equal to w times the
// number of window taps inside the image at the file's size; anything
// else is left alone, and a size-dependent constant left over is an error
// when the DIV is emitted.
func (c *converter) matchBoxMeans() error {
	for _, p := range c.ops {
		if (p.code != opDiv && p.code != opMul) || p.dead || p.repl != nil || len(p.in) != 2 {
			continue
		}
		div := c.consts[p.in[1]]
		dw := c.prod(p.in[0], opDepthwiseConv2D)
		if div == nil || dw == nil || len(div.shape) != 4 || div.shape[1] < 2 {
			continue
		}
		r, w, x, err := c.boxFilter(dw)
		if err != nil {
			return c.opErr(p, err)
		}
		if r == 0 {
			continue
		}
		xs, err := c.actShape(x)
		if err != nil {
			return c.opErr(p, err)
		}
		h, wd := div.shape[1], div.shape[2]
		if div.shape[0] != 1 || h != xs[0] || wd != xs[1] || (div.shape[3] != 1 && div.shape[3] != xs[2]) {
			return c.opErr(p, fmt.Errorf("box filter divisor %q: shape %v does not match input %v", c.tensorName(p.in[1]), div.shape, xs))
		}
		if a := p.opts.uint8(binAct, actNone); a != actNone {
			return c.opErr(p, fmt.Errorf("box filter division with fused activation %d", a))
		}
		count := boxCount(h, wd, r)
		for i, v := range div.data {
			want := w * float64(count[i/div.shape[3]])
			if p.code == opMul {
				want = 1 / want
			}
			if math.Abs(float64(v)-want) > 1e-3*math.Abs(want) {
				return c.opErr(p, fmt.Errorf("divisor %q is not the box filter of ones: %g at %d, want %g", c.tensorName(p.in[1]), v, i, want))
			}
		}
		c.uses[dw.out[0]]--
		c.uses[x]++
		p.repl = &model.Node{Op: model.OpBoxMean, Radius: r}
		p.in = []int32{x}
	}
	return nil
}

// boxFilter reports whether dw is a box filter: a stride-1 SAME depthwise
// conv with an odd square kernel whose weights all equal w, no bias, no
// activation and multiplier 1. It returns its radius (0 if not) and input.
func (c *converter) boxFilter(dw *op) (r int, w float64, x int32, err error) {
	n, err := c.convNode(dw, false)
	if err != nil || n.Padding != model.PadSame || n.Act != "" || n.StrideY() != 1 || n.StrideX() != 1 ||
		n.DilationY() != 1 || n.DilationX() != 1 {
		return 0, 0, -1, nil
	}
	x = dw.in[0]
	wt, bias := c.dwWeight(dw)
	xs, err := c.actShape(x)
	if wt == nil || err != nil || len(wt.data) == 0 || wt.shape[1] != wt.shape[2] || wt.shape[1]%2 != 1 || wt.shape[3] != xs[2] {
		return 0, 0, -1, nil
	}
	w = float64(wt.data[0])
	if !(w > 0) {
		return 0, 0, -1, nil
	}
	for _, v := range wt.data {
		if float64(v) != w {
			return 0, 0, -1, nil
		}
	}
	if bias != nil {
		for _, v := range bias.data {
			if v != 0 {
				return 0, 0, -1, nil
			}
		}
	}
	return (wt.shape[1] - 1) / 2, w, x, nil
}
