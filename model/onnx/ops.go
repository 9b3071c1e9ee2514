package onnx

import (
	"fmt"
	"math"
	"strconv"

	"github.com/edgetoon/edgetoon/model"
)

func (c *importer) attr(n *nodeProto, name string) *attribute {
	for _, a := range n.attrs {
		if a.name == name {
			return a
		}
	}
	return nil
}

func (c *importer) attrInt(n *nodeProto, name string, def int64) int64 {
	if a := c.attr(n, name); a != nil {
		return a.i
	}
	return def
}

func (c *importer) attrFloat(n *nodeProto, name string, def float32) float32 {
	if a := c.attr(n, name); a != nil {
		return a.f
	}
	return def
}

func (c *importer) attrString(n *nodeProto, name, def string) string {
	if a := c.attr(n, name); a != nil {
		return a.s
	}
	return def
}

func (c *importer) attrInts(n *nodeProto, name string) []int64 {
	if a := c.attr(n, name); a != nil {
		return a.ints
	}
	return nil
}

// input returns input i's constant, or nil for an omitted or
// non-constant input.
func (c *importer) constIn(n *nodeProto, i int) *value {
	if i >= len(n.inputs) || n.inputs[i] == "" {
		return nil
	}
	return c.consts[n.inputs[i]]
}

// actIn returns our name for input i, which must be an activation.
func (c *importer) actIn(n *nodeProto, i int) (string, error) {
	if i >= len(n.inputs) {
		return "", fmt.Errorf("missing input %d", i)
	}
	if v, ok := c.acts[n.inputs[i]]; ok {
		return v, nil
	}
	if _, ok := c.consts[n.inputs[i]]; ok {
		return "", fmt.Errorf("input %q is a constant, want an activation", n.inputs[i])
	}
	return "", fmt.Errorf("input %q is not defined before use", n.inputs[i])
}

// tensor adds t under a fresh name derived from base; key dedups the
// same conversion of the same constant.
func (c *importer) tensor(key, base string, t *model.Tensor) string {
	if name, ok := c.cache[key]; ok {
		return name
	}
	name := base
	for i := 1; c.used[name] || name == ""; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	c.used[name] = true
	c.cache[key] = name
	c.g.Tensors[name] = t
	return name
}

// emit appends a node that computes ONNX value out.
func (c *importer) emit(n model.Node, out string) {
	if len(c.g.Nodes) >= model.MaxNodes {
		c.tooMany = true
		return
	}
	n.Name = out
	c.g.Nodes = append(c.g.Nodes, n)
	c.acts[out] = out
}

// shapeOf returns the [H,W,C] shape of our value name, computed at the
// fixed input size, or at 256x256 (for the channel count) if static is
// false and the size is symbolic.
func (c *importer) shapeOf(name string, static bool) ([]int, error) {
	h, w := c.h, c.w
	if h == 0 {
		if static {
			return nil, fmt.Errorf("the shape of %q depends on the input size, which is symbolic; export the model with a fixed input size", name)
		}
		h, w = 256, 256
	}
	if name == c.g.Input {
		return []int{h, w, c.g.InputChannels}, nil
	}
	if s, ok := c.shapes[name]; ok {
		return s, nil
	}
	saved := *c.g
	c.g.Output, c.g.SizeMultiple = name, 1
	shapes, err := c.g.Shapes(h, w)
	*c.g = saved
	if err != nil {
		return nil, err
	}
	c.shapes = shapes
	return shapes[name], nil
}

var unaryOps = map[string]string{"Relu": model.OpReLU, "LeakyRelu": model.OpLeakyReLU,
	"Tanh": model.OpTanh, "Sigmoid": model.OpSigmoid}

var binaryOps = map[string]string{"Add": model.OpAdd, "Sub": model.OpSub, "Mul": model.OpMul, "Div": model.OpDiv}

// node converts ONNX node i.
func (c *importer) node(i int, n *nodeProto) error {
	out := n.outputs[0]
	if n.op == "Constant" {
		v, err := c.constant(n)
		if err != nil {
			return err
		}
		c.consts[out] = v
		return nil
	}
	if n.op == "Shape" {
		x, err := c.actIn(n, 0)
		if err != nil {
			return err
		}
		s, err := c.shapeOf(x, true)
		if err != nil {
			return err
		}
		c.consts[out] = &value{dims: []int{4}, isInt: true, data: []float64{1, float64(s[2]), float64(s[0]), float64(s[1])}}
		return nil
	}
	if foldable[n.op] {
		ins := make([]*value, len(n.inputs))
		all := len(n.inputs) > 0
		for j, in := range n.inputs {
			if in == "" {
				continue
			}
			ins[j] = c.consts[in]
			all = all && ins[j] != nil
		}
		if all {
			v, err := c.fold(n, ins)
			if err != nil {
				return err
			}
			c.consts[out] = v
			return nil
		}
	}
	imp, ok := importOps[n.op]
	if !ok {
		return fmt.Errorf("op %s is not supported", n.op)
	}
	return imp(c, i, n)
}

// importOps is the ONNX importer's op table: per ONNX op, the function
// that converts node i into our nodes (Constant, Shape and constant
// folding are handled before it). TestImportRoundTripsEveryOp checks that
// every op of model.Ops comes back from its export.
var importOps = map[string]func(c *importer, i int, n *nodeProto) error{
	"Identity":              (*importer).identity,
	"Dropout":               (*importer).identity,
	"Relu":                  (*importer).unary,
	"LeakyRelu":             (*importer).unary,
	"Tanh":                  (*importer).unary,
	"Sigmoid":               (*importer).unary,
	"Clip":                  one((*importer).clip),
	"Add":                   one((*importer).binary),
	"Sub":                   one((*importer).binary),
	"Mul":                   one((*importer).binary),
	"Div":                   one((*importer).binary),
	"Conv":                  one((*importer).conv),
	"Resize":                one((*importer).resize),
	"Upsample":              one((*importer).resize),
	"AveragePool":           one((*importer).avgPool),
	"InstanceNormalization": one((*importer).instanceNorm),
	"ReduceMean":            (*importer).norm, // the start of a layer_norm pattern
	"Concat":                one((*importer).concat),
	"Pad":                   one((*importer).pad),
}

// one adapts a conversion that needs only the node.
func one(f func(c *importer, n *nodeProto) error) func(c *importer, i int, n *nodeProto) error {
	return func(c *importer, _ int, n *nodeProto) error { return f(c, n) }
}

// identity passes its input through.
func (c *importer) identity(_ int, n *nodeProto) error {
	x, err := c.actIn(n, 0)
	if err != nil {
		return err
	}
	c.acts[n.outputs[0]] = x
	return nil
}

// unary converts an activation op.
func (c *importer) unary(_ int, n *nodeProto) error {
	x, err := c.actIn(n, 0)
	if err != nil {
		return err
	}
	c.emit(model.Node{Op: unaryOps[n.op], Inputs: []string{x}, Alpha: c.attrFloat(n, "alpha", 0.01)}, n.outputs[0])
	if n.op != "LeakyRelu" {
		c.g.Nodes[len(c.g.Nodes)-1].Alpha = 0
	}
	return nil
}

func (c *importer) constant(n *nodeProto) (*value, error) {
	if len(n.attrs) != 1 {
		return nil, fmt.Errorf("want one attribute, have %d", len(n.attrs))
	}
	a := n.attrs[0]
	switch a.name {
	case "value":
		if a.t == nil {
			return nil, fmt.Errorf("value is not a tensor")
		}
		return decodeValue(a.t)
	case "value_float":
		return &value{dims: []int{}, data: []float64{float64(a.f)}}, nil
	case "value_int":
		return &value{dims: []int{}, data: []float64{float64(a.i)}, isInt: true}, nil
	case "value_floats":
		v := &value{dims: []int{len(a.floats)}}
		for _, f := range a.floats {
			v.data = append(v.data, float64(f))
		}
		return v, nil
	case "value_ints":
		v := &value{dims: []int{len(a.ints)}, isInt: true}
		for _, x := range a.ints {
			v.data = append(v.data, float64(x))
		}
		return v, nil
	}
	return nil, fmt.Errorf("attribute %q not supported", a.name)
}

func (c *importer) clip(n *nodeProto) error {
	x, err := c.actIn(n, 0)
	if err != nil {
		return err
	}
	lo, hi := c.attrFloat(n, "min", -math.MaxFloat32), c.attrFloat(n, "max", math.MaxFloat32)
	if c.opset >= 11 {
		lo, hi = -math.MaxFloat32, math.MaxFloat32
		for j, p := range []*float32{&lo, &hi} {
			if j+1 < len(n.inputs) && n.inputs[j+1] != "" {
				v := c.constIn(n, j+1)
				if v == nil || !v.scalarOK() {
					return fmt.Errorf("min/max must be scalar constants")
				}
				*p = float32(max(min(v.data[0], math.MaxFloat32), -math.MaxFloat32))
			}
		}
	}
	if lo == 0 && hi == math.MaxFloat32 {
		c.emit(model.Node{Op: model.OpReLU, Inputs: []string{x}}, n.outputs[0])
		return nil
	}
	c.emit(model.Node{Op: model.OpClip, Inputs: []string{x}, Min: lo, Max: hi}, n.outputs[0])
	return nil
}

func (c *importer) binary(n *nodeProto) error {
	if len(n.inputs) != 2 {
		return fmt.Errorf("want 2 inputs, have %d", len(n.inputs))
	}
	var ins [2]string
	for j := range 2 {
		if v := c.constIn(n, j); v != nil {
			t, err := v.hwc(n.inputs[j])
			if err != nil {
				return err
			}
			ins[j] = c.tensor("hwc:"+n.inputs[j], n.inputs[j], t)
			continue
		}
		x, err := c.actIn(n, j)
		if err != nil {
			return err
		}
		ins[j] = x
	}
	c.emit(model.Node{Op: binaryOps[n.op], Inputs: ins[:]}, n.outputs[0])
	return nil
}

func (c *importer) concat(n *nodeProto) error {
	axis := c.attrInt(n, "axis", 1)
	if axis != 1 && axis != -3 {
		return fmt.Errorf("concat of activations along axis %d, only channels (1) supported", axis)
	}
	var ins []string
	for j := range n.inputs {
		x, err := c.actIn(n, j)
		if err != nil {
			return err
		}
		ins = append(ins, x)
	}
	c.emit(model.Node{Op: model.OpConcat, Inputs: ins}, n.outputs[0])
	return nil
}

func (c *importer) avgPool(n *nodeProto) error {
	x, err := c.actIn(n, 0)
	if err != nil {
		return err
	}
	k := c.attrInts(n, "kernel_shape")
	pads := c.attrInts(n, "pads")
	strides := c.attrInts(n, "strides")
	autoPad := c.attrString(n, "auto_pad", "NOTSET")
	if len(k) != 2 || k[0] != k[1] || k[0]%2 != 1 || k[0] < 3 || k[0] > 129 {
		return fmt.Errorf("kernel %v: only odd square kernels (box means) are supported", k)
	}
	r := k[0] / 2
	okPads := (autoPad == "NOTSET" && len(pads) == 4 && pads[0] == r && pads[1] == r && pads[2] == r && pads[3] == r) ||
		autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER"
	okStrides := len(strides) == 0 || (len(strides) == 2 && strides[0] == 1 && strides[1] == 1)
	if !okPads || !okStrides || c.attrInt(n, "count_include_pad", 0) != 0 || c.attrInt(n, "ceil_mode", 0) != 0 ||
		len(c.attrInts(n, "dilations")) > 0 && (c.attrInts(n, "dilations")[0] != 1 || c.attrInts(n, "dilations")[1] != 1) {
		return fmt.Errorf("only stride-1 average pools padded by the radius with count_include_pad=0 (box means) are supported")
	}
	c.emit(model.Node{Op: model.OpBoxMean, Inputs: []string{x}, Radius: int(r)}, n.outputs[0])
	return nil
}

func (c *importer) instanceNorm(n *nodeProto) error {
	x, err := c.actIn(n, 0)
	if err != nil {
		return err
	}
	ins := []string{x}
	for j := 1; j <= 2; j++ {
		v := c.constIn(n, j)
		if v == nil || len(v.dims) != 1 {
			return fmt.Errorf("input %d: want a constant [C]", j)
		}
		t := &model.Tensor{Shape: []int{len(v.data)}, Data: v.floats(), DType: "F32"}
		if err := finite(n.inputs[j], t.Data); err != nil {
			return err
		}
		ins = append(ins, c.tensor("vec:"+n.inputs[j], n.inputs[j], t))
	}
	c.emit(model.Node{Op: model.OpInstanceNorm, Inputs: ins, Eps: c.attrFloat(n, "epsilon", 1e-5)}, n.outputs[0])
	return nil
}

func (c *importer) pad(n *nodeProto) error {
	x, err := c.actIn(n, 0)
	if err != nil {
		return err
	}
	mode := c.attrString(n, "mode", "constant")
	var pads []int64
	fill := float64(c.attrFloat(n, "value", 0))
	if c.opset >= 11 {
		v := c.constIn(n, 1)
		if v == nil {
			return fmt.Errorf("pads must be a constant")
		}
		pads = v.ints()
		if cv := c.constIn(n, 2); cv != nil {
			if !cv.scalarOK() {
				return fmt.Errorf("constant_value must be a scalar")
			}
			fill = cv.data[0]
		} else if len(n.inputs) > 2 && n.inputs[2] != "" {
			return fmt.Errorf("constant_value must be a constant")
		}
		if len(n.inputs) > 3 && n.inputs[3] != "" {
			return fmt.Errorf("the axes input is not supported")
		}
	} else {
		pads = c.attrInts(n, "pads")
	}
	if len(pads) != 8 || pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 {
		return fmt.Errorf("pads %v: only height and width of an NCHW image may be padded", pads)
	}
	if mode != "constant" && mode != "reflect" {
		return fmt.Errorf("pad mode %q not supported (want constant or reflect)", mode)
	}
	if mode == "constant" && fill != 0 {
		return fmt.Errorf("constant pad value %g not supported (want 0)", fill)
	}
	var p [4]int
	for j, v := range []int64{pads[2], pads[3], pads[6], pads[7]} {
		if v < 0 || v > 64 {
			return fmt.Errorf("pads %v out of range 0..64", pads)
		}
		p[j] = int(v)
	}
	c.emit(model.Node{Op: model.OpPad, Inputs: []string{x}, Pads: p, Mode: mode}, n.outputs[0])
	return nil
}
