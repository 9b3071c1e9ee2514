package onnx

import (
	"fmt"
	"math"

	"github.com/edgetoon/edgetoon/model"
)

func (c *importer) conv(n *nodeProto) error {
	x, err := c.actIn(n, 0)
	if err != nil {
		return err
	}
	wv := c.constIn(n, 1)
	if wv == nil || len(wv.dims) != 4 {
		return fmt.Errorf("weight must be a constant [O,I,KH,KW]")
	}
	o, ig, kh, kw := wv.dims[0], wv.dims[1], wv.dims[2], wv.dims[3]
	if k := c.attrInts(n, "kernel_shape"); len(k) > 0 && (len(k) != 2 || k[0] != int64(kh) || k[1] != int64(kw)) {
		return fmt.Errorf("kernel_shape %v does not match weight %v", k, wv.dims)
	}
	// OIHW -> OHWI.
	wt := model.NewTensor(o, kh, kw, ig)
	for oc := range o {
		for y := range kh {
			for xx := range kw {
				for ic := range ig {
					wt.Data[((oc*kh+y)*kw+xx)*ig+ic] = float32(wv.data[((oc*ig+ic)*kh+y)*kw+xx])
				}
			}
		}
	}
	if err := finite(n.inputs[1], wt.Data); err != nil {
		return err
	}
	ins := []string{x, c.tensor("ohwi:"+n.inputs[1], n.inputs[1], wt)}
	if bv := c.constIn(n, 2); bv != nil {
		if len(bv.data) != o {
			return fmt.Errorf("bias %q: %d values for %d outputs", n.inputs[2], len(bv.data), o)
		}
		b := &model.Tensor{Shape: []int{o}, Data: bv.floats(), DType: "F32"}
		if err := finite(n.inputs[2], b.Data); err != nil {
			return err
		}
		ins = append(ins, c.tensor("vec:"+n.inputs[2], n.inputs[2], b))
	} else if len(n.inputs) > 2 && n.inputs[2] != "" {
		return fmt.Errorf("bias must be a constant")
	}
	node := model.Node{Op: model.OpConv2D, Inputs: ins, Groups: int(clampInt(c.attrInt(n, "group", 1)))}
	for j, name := range []string{"strides", "dilations"} {
		v := c.attrInts(n, name)
		if len(v) == 0 {
			continue
		}
		if len(v) != 2 {
			return fmt.Errorf("%s %v: want 2 values", name, v)
		}
		p := &node.Stride
		if j == 1 {
			p = &node.Dilation
		}
		*p = [2]int{int(clampInt(v[0])), int(clampInt(v[1]))}
	}
	switch ap := c.attrString(n, "auto_pad", "NOTSET"); ap {
	case "SAME_UPPER":
		node.Padding = model.PadSame
	case "VALID":
		node.Padding = model.PadValid
	case "NOTSET", "":
		pads := c.attrInts(n, "pads")
		if len(pads) == 0 {
			pads = make([]int64, 4)
		}
		if len(pads) != 4 {
			return fmt.Errorf("pads %v: want 4 values", pads)
		}
		node.Padding = model.PadExplicit
		for j, p := range pads {
			node.Pads[j] = int(clampInt(p))
		}
		if node.Pads == [4]int{} {
			node.Padding = model.PadValid
		}
	default:
		return fmt.Errorf("auto_pad %s not supported", ap)
	}
	c.emit(node, n.outputs[0])
	return nil
}

// clampInt keeps a hostile attribute within int range (the graph's own
// checks reject it later with a clear message).
func clampInt(v int64) int64 {
	return min(max(v, -1<<20), 1<<20)
}

// resize converts Resize (opset 10+) and Upsample to our resize, which
// scales by integers with TensorFlow's coordinate rules.
func (c *importer) resize(n *nodeProto) error {
	x, err := c.actIn(n, 0)
	if err != nil {
		return err
	}
	var scales []float64
	var sizes *value
	switch {
	case n.op == "Upsample" && c.opset < 9:
		for _, f := range c.attr(n, "scales").floatsOrNil() {
			scales = append(scales, float64(f))
		}
	case n.op == "Upsample" || c.opset == 10:
		if v := c.constIn(n, 1); v != nil {
			scales = v.data
		}
	default:
		if v := c.constIn(n, 2); v != nil && len(v.data) > 0 {
			scales = v.data
		}
		sizes = c.constIn(n, 3)
	}
	var sy, sx float64
	switch {
	case len(scales) == 4:
		if scales[0] != 1 || scales[1] != 1 {
			return fmt.Errorf("scales %v: batch and channel must not be scaled", scales)
		}
		sy, sx = scales[2], scales[3]
	case sizes != nil && len(sizes.data) == 4:
		s, err := c.shapeOf(x, true)
		if err != nil {
			return err
		}
		if sizes.data[0] != 1 || sizes.data[1] != float64(s[2]) {
			return fmt.Errorf("sizes %v: batch and channel must not change", sizes.data)
		}
		sy, sx = sizes.data[2]/float64(s[0]), sizes.data[3]/float64(s[1])
	default:
		return fmt.Errorf("scales or sizes must be a constant of 4 values (folding found none)")
	}
	if sy != math.Trunc(sy) || sx != math.Trunc(sx) || sy < 1 || sx < 1 || sy > 8 || sx > 8 {
		return fmt.Errorf("scale %gx%g: only integer upscaling by 1..8 is supported", sy, sx)
	}
	node := model.Node{Op: model.OpResize, Inputs: []string{x}, Scale: [2]int{int(sy), int(sx)}}
	mode := c.attrString(n, "mode", "nearest")
	ctm := c.attrString(n, "coordinate_transformation_mode", "half_pixel")
	nm := c.attrString(n, "nearest_mode", "round_prefer_floor")
	if n.op == "Upsample" || c.opset == 10 {
		ctm, nm = "asymmetric", "floor"
	}
	if ctm == "pytorch_half_pixel" {
		ctm = "half_pixel" // the same unless an output side is 1 pixel
	}
	switch mode {
	case "linear", "bilinear":
		node.Mode = "bilinear"
		switch ctm {
		case "asymmetric":
		case "half_pixel":
			node.HalfPixel = true
		case "align_corners":
			node.AlignCorners = true
		default:
			return fmt.Errorf("linear resize with coordinate_transformation_mode %q not supported", ctm)
		}
	case "nearest":
		node.Mode = "nearest"
		// For integer scales these are exactly TFLite's nearest rules
		// (see Export); the half-pixel coordinate is never a tie.
		switch {
		case ctm == "asymmetric" && nm == "floor":
		case ctm == "half_pixel" && (nm == "round_prefer_ceil" || nm == "round_prefer_floor"),
			ctm == "tf_half_pixel_for_nn" && nm == "floor":
			node.HalfPixel = true
		case ctm == "align_corners" && nm == "round_prefer_ceil":
			node.AlignCorners = true
		default:
			return fmt.Errorf("nearest resize with coordinate_transformation_mode %q and nearest_mode %q not supported", ctm, nm)
		}
	default:
		return fmt.Errorf("resize mode %q not supported", mode)
	}
	c.emit(node, n.outputs[0])
	return nil
}

func (a *attribute) floatsOrNil() []float32 {
	if a == nil {
		return nil
	}
	return a.floats
}

// norm matches the ReduceMean expansion of a normalization starting at
// node i:
//
//	m = ReduceMean(x); d = Sub(x, m); q = Pow(d, 2) or Mul(d, d)
//	v = ReduceMean(q); s = Sqrt(Add(v, eps)); y = Div(d, s)
//	[y = Mul(y, gamma)] [y = Add(y, beta)]
//
// over axes [1,2,3] (layer_norm) or [2,3] (instance_norm).
func (c *importer) norm(i int, n *nodeProto) error {
	fail := fmt.Errorf("ReduceMean is supported only in a layer or instance normalization (mean, subtract, square, mean, add eps, sqrt, divide)")
	nodes := c.m.graph.nodes
	x, err := c.actIn(n, 0)
	if err != nil {
		return err
	}
	op := ""
	switch fmt.Sprint(c.axes(n)) {
	case "[1 2 3]":
		op = model.OpLayerNorm
	case "[2 3]":
		op = model.OpInstanceNorm
	default:
		return fail
	}
	if c.attrInt(n, "keepdims", 1) != 1 {
		return fail
	}
	var chain []int
	// next returns the single reader of value v if it is op, else -1.
	next := func(v, op string) int {
		r := c.reader[v]
		if c.uses[v] != 1 || len(r) != 1 || nodes[r[0]].op != op || c.done[r[0]] || r[0] <= i {
			return -1
		}
		chain = append(chain, r[0])
		return r[0]
	}
	sub := next(n.outputs[0], "Sub")
	if sub < 0 || len(nodes[sub].inputs) != 2 || nodes[sub].inputs[0] != n.inputs[0] {
		return fail
	}
	d := nodes[sub].outputs[0]
	// d has two readers: the square and the final division.
	if len(c.reader[d]) != 2 || d == c.m.graph.outputs[0].name {
		return fail
	}
	var sq, div = -1, -1
	for _, r := range c.reader[d] {
		switch nodes[r].op {
		case "Pow":
			if e := c.constIn(nodes[r], 1); e != nil && e.scalarOK() && e.data[0] == 2 && nodes[r].inputs[0] == d {
				sq = r
			}
		case "Mul":
			if len(nodes[r].inputs) == 2 && nodes[r].inputs[0] == d && nodes[r].inputs[1] == d {
				sq = r
			}
		case "Div":
			if nodes[r].inputs[0] == d {
				div = r
			}
		}
	}
	if sq < 0 || div < 0 {
		return fail
	}
	chain = append(chain, sq, div)
	rm := next(nodes[sq].outputs[0], "ReduceMean")
	if rm < 0 || fmt.Sprint(c.axes(nodes[rm])) != fmt.Sprint(c.axes(n)) || c.attrInt(nodes[rm], "keepdims", 1) != 1 {
		return fail
	}
	add := next(nodes[rm].outputs[0], "Add")
	if add < 0 {
		return fail
	}
	eps := c.constIn(nodes[add], 1)
	if eps == nil {
		eps = c.constIn(nodes[add], 0)
	}
	if eps == nil || !eps.scalarOK() || !(eps.data[0] > 0) {
		return fail
	}
	sqrt := next(nodes[add].outputs[0], "Sqrt")
	if sqrt < 0 || len(nodes[div].inputs) != 2 || nodes[div].inputs[1] != nodes[sqrt].outputs[0] || c.uses[nodes[sqrt].outputs[0]] != 1 {
		return fail
	}
	s, err := c.shapeOf(x, false)
	if err != nil {
		return err
	}
	ch := s[2]
	gamma, beta := uniform(ch, 1, 0).Scale, uniform(ch, 1, 0).Bias
	out, names := nodes[div].outputs[0], [2]string{"", ""}
	for j, opName := range []string{"Mul", "Add"} {
		r := c.reader[out]
		if c.uses[out] != 1 || len(r) != 1 || nodes[r[0]].op != opName || len(nodes[r[0]].inputs) != 2 {
			break
		}
		k := 1
		if nodes[r[0]].inputs[1] == out {
			k = 0
		}
		v := c.constIn(nodes[r[0]], k)
		if v == nil || (len(v.data) != ch && len(v.data) != 1) {
			break
		}
		t, err := v.hwc(nodes[r[0]].inputs[k])
		if err != nil || len(t.Shape) != 1 {
			break
		}
		vals := t.Data
		if len(vals) == 1 {
			vals = uniform(ch, t.Data[0], 0).Scale
		}
		if j == 0 {
			gamma = vals
		} else {
			beta = vals
		}
		names[j] = nodes[r[0]].inputs[k]
		chain = append(chain, r[0])
		out = nodes[r[0]].outputs[0]
	}
	for _, j := range chain {
		c.done[j] = true
	}
	if names[0] == "" {
		names[0] = out + "/gamma"
	}
	if names[1] == "" {
		names[1] = out + "/beta"
	}
	g := c.tensor("norm:"+out+":gamma", names[0], &model.Tensor{Shape: []int{ch}, Data: gamma, DType: "F32"})
	b := c.tensor("norm:"+out+":beta", names[1], &model.Tensor{Shape: []int{ch}, Data: beta, DType: "F32"})
	c.emit(model.Node{Op: op, Inputs: []string{x, g, b}, Eps: float32(eps.data[0])}, out)
	return nil
}

// axes returns a ReduceMean's axes (attribute before opset 18, input
// after), normalized to non-negative for rank 4.
func (c *importer) axes(n *nodeProto) []int64 {
	axes := c.attrInts(n, "axes")
	if v := c.constIn(n, 1); v != nil {
		axes = v.ints()
	}
	out := make([]int64, len(axes))
	for i, a := range axes {
		if a < 0 {
			a += 4
		}
		out[i] = a
	}
	return out
}
