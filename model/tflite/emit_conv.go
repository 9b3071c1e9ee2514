package tflite

import (
	"fmt"

	"github.com/edgetoon/edgetoon/model"
)

// convNode reads a CONV_2D or DEPTHWISE_CONV_2D op's options. For folding
// on constants only the activations foldDepthwise implements are allowed.
func (c *converter) convNode(p *op, folding bool) (*model.Node, error) {
	if err := c.wantInputs(p, 2, 3); err != nil {
		return nil, err
	}
	pad, sw, sh, act, dw, dh := convPadding, convStrideW, convStrideH, convAct, convDilW, convDilH
	if p.code == opDepthwiseConv2D {
		pad, sw, sh, act, dw, dh = dwPadding, dwStrideW, dwStrideH, dwAct, dwDilW, dwDilH
	}
	n := &model.Node{Op: model.OpConv2D}
	switch v := p.opts.uint8(pad, padSame); v {
	case padSame:
		n.Padding = model.PadSame
	case padValid:
		n.Padding = model.PadValid
	default:
		return nil, fmt.Errorf("unknown padding %d", v)
	}
	n.Stride = [2]int{int(p.opts.int32(sh, 1)), int(p.opts.int32(sw, 1))}
	n.Dilation = [2]int{int(p.opts.int32(dh, 1)), int(p.opts.int32(dw, 1))}
	for _, v := range []int{n.Stride[0], n.Stride[1], n.Dilation[0], n.Dilation[1]} {
		if v < 1 || v > 16 {
			return nil, fmt.Errorf("stride %v, dilation %v out of range", n.Stride, n.Dilation)
		}
	}
	a, alpha, err := fusedAct(p.opts.uint8(act, actNone))
	if err != nil {
		return nil, err
	}
	if folding && a != "" && a != "relu" && a != "relu6" {
		return nil, fmt.Errorf("fused activation %q on constants", a)
	}
	n.Act, n.Alpha = a, alpha
	return n, nil
}

// dwWeight returns a depthwise conv's weight [1,KH,KW,C*M] and optional
// bias, or nil if they are not constants of that shape.
func (c *converter) dwWeight(p *op) (wt, bias *constant) {
	wt = c.consts[p.in[1]]
	if wt == nil || len(wt.shape) != 4 || wt.shape[0] != 1 {
		return nil, nil
	}
	if len(p.in) == 3 && p.in[2] >= 0 {
		bias = c.consts[p.in[2]]
	}
	return wt, bias
}

func (c *converter) emitConv(p *op) (*model.Node, error) {
	n, err := c.convNode(p, false)
	if err != nil {
		return nil, err
	}
	x, err := c.value(p.in[0])
	if err != nil {
		return nil, err
	}
	xs, err := c.actShape(p.in[0])
	if err != nil {
		return nil, err
	}
	wt := c.consts[p.in[1]]
	if wt == nil {
		return nil, fmt.Errorf("weight %q is not a constant", c.tensorName(p.in[1]))
	}
	if len(wt.shape) != 4 {
		return nil, fmt.Errorf("weight %q: shape %v, want rank 4", c.tensorName(p.in[1]), wt.shape)
	}
	var wname string
	var oc int
	if p.code == opConv2D {
		// TFLite's OHWI is already model's [O,KH,KW,I].
		oc = wt.shape[0]
		wname = c.addConst(p.in[1], "", wt.shape, wt.data)
	} else {
		// [1,KH,KW,C*M] -> [C*M,KH,KW,1]: a grouped conv with one group per
		// input channel, whose output o = c*M+m belongs to group c.
		if wt.shape[0] != 1 {
			return nil, fmt.Errorf("depthwise weight %q: shape %v, want [1,KH,KW,C*M]", c.tensorName(p.in[1]), wt.shape)
		}
		kh, kw := wt.shape[1], wt.shape[2]
		oc = wt.shape[3]
		if oc%xs[2] != 0 {
			return nil, fmt.Errorf("depthwise weight %q: %d outputs for %d input channels", c.tensorName(p.in[1]), oc, xs[2])
		}
		if m := p.opts.int32(dwMultiplier, 0); m > 0 && int(m)*xs[2] != oc {
			return nil, fmt.Errorf("depth multiplier %d does not match weight %v", m, wt.shape)
		}
		data := make([]float32, len(wt.data))
		for k := range kh * kw {
			for o := range oc {
				data[o*kh*kw+k] = wt.data[k*oc+o]
			}
		}
		wname = c.addConst(p.in[1], "ohwi", []int{oc, kh, kw, 1}, data)
		n.Groups = xs[2]
	}
	n.Inputs = []string{x, wname}
	if len(p.in) == 3 && p.in[2] >= 0 {
		b := c.consts[p.in[2]]
		if b == nil || len(b.data) != oc {
			return nil, fmt.Errorf("bias %q: not a constant of %d values", c.tensorName(p.in[2]), oc)
		}
		n.Inputs = append(n.Inputs, c.addConst(p.in[2], "", []int{oc}, b.data))
	}
	return n, nil
}

// emitResize turns a resize to a constant size into an integer scale,
// computed at the file's nominal size, so that it holds at any size.
func (c *converter) emitResize(p *op) (*model.Node, error) {
	if err := c.wantInputs(p, 2, 2); err != nil {
		return nil, err
	}
	x, err := c.value(p.in[0])
	if err != nil {
		return nil, err
	}
	xs, err := c.actShape(p.in[0])
	if err != nil {
		return nil, err
	}
	size := c.consts[p.in[1]]
	if size == nil || size.ints == nil || len(size.ints) != 2 {
		return nil, fmt.Errorf("size %q is not a constant pair of integers", c.tensorName(p.in[1]))
	}
	n := &model.Node{Op: model.OpResize, Inputs: []string{x}, Mode: "bilinear"}
	for i, v := range size.ints {
		if v < 1 || v%int64(xs[i]) != 0 {
			return nil, fmt.Errorf("resize %v -> %v is not an integer scale", xs[:2], size.ints)
		}
		n.Scale[i] = int(v / int64(xs[i]))
	}
	ac, hp := resizeAlignCorners, resizeHalfPixel
	if p.code == opResizeNearest {
		n.Mode = "nearest"
		ac, hp = nearestAlignCorners, nearestHalfPixel
	}
	n.AlignCorners = p.opts.bool(ac)
	n.HalfPixel = p.opts.bool(hp)
	return n, nil
}

func (c *converter) emitPad(p *op) (*model.Node, error) {
	if err := c.wantInputs(p, 2, 3); err != nil {
		return nil, err
	}
	x, err := c.value(p.in[0])
	if err != nil {
		return nil, err
	}
	pads := c.consts[p.in[1]]
	if pads == nil || pads.ints == nil || len(pads.ints) != 8 {
		return nil, fmt.Errorf("paddings %q: want a constant [4,2] of integers", c.tensorName(p.in[1]))
	}
	pi := pads.ints
	if pi[0] != 0 || pi[1] != 0 || pi[6] != 0 || pi[7] != 0 {
		return nil, fmt.Errorf("paddings %v pad the batch or channels", pi)
	}
	n := &model.Node{Op: model.OpPad, Inputs: []string{x}, Mode: "constant"}
	for i, v := range []int64{pi[2], pi[4], pi[3], pi[5]} { // top, left, bottom, right
		if v < 0 || v > 64 {
			return nil, fmt.Errorf("paddings %v out of range", pi)
		}
		n.Pads[i] = int(v)
	}
	if p.code != opPadV2 && len(p.in) != 2 {
		return nil, fmt.Errorf("%d inputs, want 2", len(p.in))
	}
	switch p.code {
	case opMirrorPad:
		if mode := p.opts.uint8(mirrorMode, 0); mode != 0 {
			return nil, fmt.Errorf("SYMMETRIC mirror padding is not supported, only REFLECT")
		}
		n.Mode = "reflect"
	case opPadV2:
		if len(p.in) == 3 {
			v := c.consts[p.in[2]]
			if v == nil || len(v.data) != 1 || v.data[0] != 0 {
				return nil, fmt.Errorf("padding value %q is not the constant 0", c.tensorName(p.in[2]))
			}
		}
	}
	return n, nil
}
