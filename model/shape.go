package model

import (
	"fmt"
	"math"
)

// Shapes infers the shape of every activation for an input of h x w pixels.
// It is also the structural check of a graph: it fails, naming the node,
// on an unknown op, a reference to a value not yet defined (so cycles are
// impossible), a missing or misshapen weight, or inconsistent shapes.
func (g *Graph) Shapes(h, w int) (map[string][]int, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("input size %dx%d: must be positive", h, w)
	}
	if m := g.SizeMultiple; m > 1 && (h%m != 0 || w%m != 0) {
		return nil, fmt.Errorf("input size %dx%d: must be a multiple of %d", h, w, m)
	}
	if h > MaxImageSide || w > MaxImageSide {
		return nil, fmt.Errorf("input size %dx%d: larger than %d", h, w, MaxImageSide)
	}
	shapes := map[string][]int{g.Input: {h, w, g.InputChannels}}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if _, dup := shapes[n.Name]; dup || g.Tensors[n.Name] != nil {
			return nil, fmt.Errorf("node %q: name already used", n.Name)
		}
		s, err := g.nodeShape(n, shapes)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
		}
		for _, d := range s {
			if d <= 0 {
				return nil, fmt.Errorf("node %q (%s): empty output %v at input %dx%d", n.Name, n.Op, s, h, w)
			}
		}
		if NumElements(s) > MaxElements {
			return nil, fmt.Errorf("node %q (%s): output %v too large", n.Name, n.Op, s)
		}
		shapes[n.Name] = s
	}
	out, ok := shapes[g.Output]
	if !ok {
		return nil, fmt.Errorf("output %q: no such node", g.Output)
	}
	if len(out) != 3 {
		return nil, fmt.Errorf("output %q: shape %v is not an image", g.Output, out)
	}
	return shapes, nil
}

// Limits that keep a hostile file from making us allocate without bound.
const (
	MaxImageSide = 8192
	MaxElements  = 1 << 28
)

// activation returns the shape of input i, which must be an activation.
func (g *Graph) activation(n *Node, i int, shapes map[string][]int) ([]int, error) {
	if i >= len(n.Inputs) {
		return nil, fmt.Errorf("missing input %d", i)
	}
	name := n.Inputs[i]
	if s, ok := shapes[name]; ok {
		return s, nil
	}
	if g.Tensors[name] != nil {
		return nil, fmt.Errorf("input %q is a constant, want an activation", name)
	}
	return nil, fmt.Errorf("input %q is not defined before use", name)
}

// constant returns input i, which must be a constant tensor.
func (g *Graph) constant(n *Node, i int) (*Tensor, error) {
	if i >= len(n.Inputs) {
		return nil, fmt.Errorf("missing input %d", i)
	}
	t := g.Tensors[n.Inputs[i]]
	if t == nil {
		return nil, fmt.Errorf("input %q: no such constant tensor", n.Inputs[i])
	}
	return t, nil
}

func (g *Graph) nodeShape(n *Node, shapes map[string][]int) ([]int, error) {
	if !validAct(n.Act) {
		return nil, fmt.Errorf("unknown activation %q", n.Act)
	}
	if bad(n.Alpha) || bad(n.Eps) || bad(n.Min) || bad(n.Max) {
		return nil, fmt.Errorf("attribute is NaN or infinite")
	}
	switch n.Op {
	case OpConv2D:
		return g.convShape(n, shapes)
	case OpAdd, OpSub, OpMul, OpDiv:
		return g.binaryShape(n, shapes)
	case OpLeakyReLU, OpReLU, OpTanh, OpSigmoid, OpClip:
		if len(n.Inputs) != 1 {
			return nil, fmt.Errorf("want 1 input, have %d", len(n.Inputs))
		}
		if n.Op == OpClip && !(n.Min <= n.Max) {
			return nil, fmt.Errorf("clip min %g > max %g", n.Min, n.Max)
		}
		return g.activation(n, 0, shapes)
	case OpResize:
		return g.resizeShape(n, shapes)
	case OpInstanceNorm, OpLayerNorm:
		return g.normShape(n, shapes)
	case OpConcat:
		return g.concatShape(n, shapes)
	case OpBoxMean:
		if n.Radius < 1 || n.Radius > 64 {
			return nil, fmt.Errorf("radius %d out of range 1..64", n.Radius)
		}
		if len(n.Inputs) != 1 {
			return nil, fmt.Errorf("want 1 input, have %d", len(n.Inputs))
		}
		return g.activation(n, 0, shapes)
	case OpPad:
		x, err := g.activation(n, 0, shapes)
		if err != nil {
			return nil, err
		}
		if n.Mode != "constant" && n.Mode != "reflect" {
			return nil, fmt.Errorf("pad mode %q: want constant or reflect", n.Mode)
		}
		for _, p := range n.Pads {
			if p < 0 || p > 64 {
				return nil, fmt.Errorf("pad %v out of range 0..64", n.Pads)
			}
		}
		if n.Mode == "reflect" && (n.Pads[0] >= x[0] || n.Pads[2] >= x[0] || n.Pads[1] >= x[1] || n.Pads[3] >= x[1]) {
			return nil, fmt.Errorf("reflect pad %v not smaller than input %v", n.Pads, x)
		}
		return []int{x[0] + n.Pads[0] + n.Pads[2], x[1] + n.Pads[1] + n.Pads[3], x[2]}, nil
	}
	return nil, fmt.Errorf("unknown op %q", n.Op)
}

func bad(f float32) bool {
	return math.IsNaN(float64(f)) || math.IsInf(float64(f), 0)
}

func validAct(a string) bool {
	switch a {
	case "", "relu", "relu6", "leaky_relu", "tanh", "sigmoid":
		return true
	}
	return false
}

func (g *Graph) convShape(n *Node, shapes map[string][]int) ([]int, error) {
	if len(n.Inputs) != 2 && len(n.Inputs) != 3 {
		return nil, fmt.Errorf("want 2 or 3 inputs, have %d", len(n.Inputs))
	}
	x, err := g.activation(n, 0, shapes)
	if err != nil {
		return nil, err
	}
	wt, err := g.constant(n, 1)
	if err != nil {
		return nil, err
	}
	if len(wt.Shape) != 4 {
		return nil, fmt.Errorf("weight %q: shape %v, want [O,KH,KW,I]", n.Inputs[1], wt.Shape)
	}
	o, kh, kw, ig := wt.Shape[0], wt.Shape[1], wt.Shape[2], wt.Shape[3]
	groups := n.GroupCount()
	if groups < 1 || x[2]%groups != 0 || o%groups != 0 || x[2]/groups != ig {
		return nil, fmt.Errorf("weight %q: shape %v does not fit %d input channels in %d groups", n.Inputs[1], wt.Shape, x[2], groups)
	}
	if len(n.Inputs) == 3 {
		b, err := g.constant(n, 2)
		if err != nil {
			return nil, err
		}
		if NumElements(b.Shape) != o || len(b.Shape) != 1 {
			return nil, fmt.Errorf("bias %q: shape %v, want [%d]", n.Inputs[2], b.Shape, o)
		}
	}
	for _, v := range []int{n.StrideY(), n.StrideX(), n.DilationY(), n.DilationX()} {
		if v < 1 || v > 16 {
			return nil, fmt.Errorf("stride/dilation %v/%v out of range 1..16", n.Stride, n.Dilation)
		}
	}
	if kh > 31 || kw > 31 {
		return nil, fmt.Errorf("kernel %dx%d larger than 31", kh, kw)
	}
	top, left, bottom, right, err := ConvPads(n, x[0], x[1], kh, kw)
	if err != nil {
		return nil, err
	}
	ekh := (kh-1)*n.DilationY() + 1
	ekw := (kw-1)*n.DilationX() + 1
	oh := (x[0]+top+bottom-ekh)/n.StrideY() + 1
	ow := (x[1]+left+right-ekw)/n.StrideX() + 1
	return []int{oh, ow, o}, nil
}

// ConvPads resolves a conv2d node's padding for an h x w input and a
// kh x kw kernel, following TensorFlow's SAME rule (the odd pixel goes to
// the bottom/right).
func ConvPads(n *Node, h, w, kh, kw int) (top, left, bottom, right int, err error) {
	switch n.Padding {
	case PadValid:
		return 0, 0, 0, 0, nil
	case PadExplicit:
		for _, p := range n.Pads {
			if p < 0 || p > 64 {
				return 0, 0, 0, 0, fmt.Errorf("pads %v out of range 0..64", n.Pads)
			}
		}
		return n.Pads[0], n.Pads[1], n.Pads[2], n.Pads[3], nil
	case PadSame:
		ph := samePad(h, n.StrideY(), (kh-1)*n.DilationY()+1)
		pw := samePad(w, n.StrideX(), (kw-1)*n.DilationX()+1)
		return ph / 2, pw / 2, ph - ph/2, pw - pw/2, nil
	}
	return 0, 0, 0, 0, fmt.Errorf("unknown padding %q", n.Padding)
}

func samePad(in, stride, k int) int {
	out := (in + stride - 1) / stride
	return max((out-1)*stride+k-in, 0)
}

func (g *Graph) binaryShape(n *Node, shapes map[string][]int) ([]int, error) {
	if len(n.Inputs) != 2 {
		return nil, fmt.Errorf("want 2 inputs, have %d", len(n.Inputs))
	}
	var ss [2][]int
	acts := 0
	for i, name := range n.Inputs {
		if s, ok := shapes[name]; ok {
			ss[i] = s
			acts++
		} else if t := g.Tensors[name]; t != nil {
			ss[i] = t.Shape
		} else {
			return nil, fmt.Errorf("input %q is not defined before use", name)
		}
	}
	if acts == 0 {
		return nil, fmt.Errorf("both inputs are constants")
	}
	out, err := Broadcast(ss[0], ss[1])
	if err != nil {
		return nil, err
	}
	if len(out) != 3 {
		return nil, fmt.Errorf("result %v is not an image", out)
	}
	return out, nil
}

// Broadcast returns the NumPy broadcast of two shapes.
func Broadcast(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 1; i <= n; i++ {
		da, db := 1, 1
		if i <= len(a) {
			da = a[len(a)-i]
		}
		if i <= len(b) {
			db = b[len(b)-i]
		}
		switch {
		case da == db, db == 1:
			out[n-i] = da
		case da == 1:
			out[n-i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

func (g *Graph) resizeShape(n *Node, shapes map[string][]int) ([]int, error) {
	if len(n.Inputs) != 1 {
		return nil, fmt.Errorf("want 1 input, have %d", len(n.Inputs))
	}
	x, err := g.activation(n, 0, shapes)
	if err != nil {
		return nil, err
	}
	if n.Mode != "bilinear" && n.Mode != "nearest" {
		return nil, fmt.Errorf("resize mode %q: want bilinear or nearest", n.Mode)
	}
	if n.AlignCorners && n.HalfPixel {
		return nil, fmt.Errorf("align_corners and half_pixel both set")
	}
	if n.Scale[0] < 1 || n.Scale[1] < 1 || n.Scale[0] > 8 || n.Scale[1] > 8 {
		return nil, fmt.Errorf("scale %v out of range 1..8", n.Scale)
	}
	return []int{x[0] * n.Scale[0], x[1] * n.Scale[1], x[2]}, nil
}

func (g *Graph) normShape(n *Node, shapes map[string][]int) ([]int, error) {
	if len(n.Inputs) != 3 {
		return nil, fmt.Errorf("want 3 inputs (x, gamma, beta), have %d", len(n.Inputs))
	}
	x, err := g.activation(n, 0, shapes)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= 2; i++ {
		t, err := g.constant(n, i)
		if err != nil {
			return nil, err
		}
		if len(t.Shape) != 1 || t.Shape[0] != x[2] {
			return nil, fmt.Errorf("%q: shape %v, want [%d]", n.Inputs[i], t.Shape, x[2])
		}
	}
	if !(n.Eps > 0) {
		return nil, fmt.Errorf("eps %g must be positive", n.Eps)
	}
	return x, nil
}

func (g *Graph) concatShape(n *Node, shapes map[string][]int) ([]int, error) {
	if len(n.Inputs) < 1 {
		return nil, fmt.Errorf("no inputs")
	}
	var out []int
	for i := range n.Inputs {
		x, err := g.activation(n, i, shapes)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = append([]int(nil), x...)
			continue
		}
		if x[0] != out[0] || x[1] != out[1] {
			return nil, fmt.Errorf("input %q: shape %v does not match %v", n.Inputs[i], x, out)
		}
		out[2] += x[2]
	}
	return out, nil
}
