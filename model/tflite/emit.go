package tflite

import (
	"fmt"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// convert emits the graph's nodes in file order.
func (c *converter) convert() (*model.Graph, error) {
	in := c.sg.Inputs[0]
	s, err := c.actShape(in)
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", c.tensorName(in), err)
	}
	if s[2] > 4 {
		return nil, fmt.Errorf("input %q: %d channels, want an image of 1..4", c.tensorName(in), s[2])
	}
	c.h, c.w = s[0], s[1]
	c.g = &model.Graph{InputChannels: s[2], NominalSize: min(c.h, c.w), Tensors: map[string]*model.Tensor{}}
	c.g.Input = c.unique(baseName(c.tensorName(in)))
	c.values[in] = c.g.Input
	if c.outputs[in] {
		return nil, fmt.Errorf("the output is the input")
	}
	if err := c.matchNorms(); err != nil {
		return nil, err
	}
	if err := c.matchBoxMeans(); err != nil {
		return nil, err
	}
	for _, p := range c.ops {
		if p.dead {
			continue
		}
		// The node takes its name before its constants do, and the
		// output node the name of the file's output tensor (not of the
		// int8 tensor a dropped DEQUANTIZE read).
		t := p.out[0]
		if c.outputs[t] {
			t = c.sg.Outputs[0]
		}
		name := c.unique(baseName(c.tensorName(t)))
		n, err := c.emit(p)
		if err == nil && p.opts.r != nil && p.opts.r.err != nil {
			err = p.opts.r.err
		}
		if err != nil {
			return nil, c.opErr(p, err)
		}
		n.Name = name
		c.values[p.out[0]] = n.Name
		c.g.Nodes = append(c.g.Nodes, *n)
	}
	out := c.resolve(c.sg.Outputs[0])
	name, ok := c.values[out]
	if !ok || name == c.g.Input {
		return nil, fmt.Errorf("output %q is not computed by any op", c.tensorName(out))
	}
	c.g.Output = name
	if err := c.f.r.err; err != nil {
		return nil, err
	}
	fuseActivations(c.g)
	c.g.Prune()
	return c.g, nil
}

// baseName shortens TFLite's fused tensor names ("a/BiasAdd;a/Conv2D;...")
// to their first part.
func baseName(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		s = "t"
	}
	return s
}

// unique returns name, or name with a numeric suffix, unused so far.
func (c *converter) unique(name string) string {
	n := name
	for i := 1; c.taken[n]; i++ {
		n = fmt.Sprintf("%s_%d", name, i)
	}
	c.taken[n] = true
	return n
}

// actShape returns an activation's declared [H,W,C], dropping the batch.
func (c *converter) actShape(t int32) ([]int, error) {
	if t < 0 || int(t) >= len(c.sg.Tensors) {
		return nil, fmt.Errorf("activation %s: no such tensor", c.tensorName(t))
	}
	s := c.sg.Tensors[t].Shape
	if len(s) != 4 || s[0] != 1 || s[1] < 1 || s[2] < 1 || s[3] < 1 {
		return nil, fmt.Errorf("activation %q: shape %v, want [1,H,W,C]", c.tensorName(t), s)
	}
	return []int{int(s[1]), int(s[2]), int(s[3])}, nil
}

// value returns the graph name of activation t.
func (c *converter) value(t int32) (string, error) {
	if t < 0 {
		return "", fmt.Errorf("missing input")
	}
	if c.consts[t] != nil {
		return "", fmt.Errorf("input %q is a constant where an activation is expected", c.tensorName(t))
	}
	name, ok := c.values[t]
	if !ok {
		return "", fmt.Errorf("input %q is not computed before use", c.tensorName(t))
	}
	return name, nil
}

// addConst stores a converted constant once per (tensor, kind) and
// returns its graph name.
func (c *converter) addConst(t int32, kind string, shape []int, data []float32) string {
	key := fmt.Sprintf("%d/%s", t, kind)
	if name, ok := c.cnames[key]; ok {
		return name
	}
	// A constant's fused name lists its uses first and itself last
	// ("a/BiasAdd;a/Conv2D;a/biases"): the last part names it best.
	base := c.tensorName(t)
	if i := strings.LastIndexByte(base, ';'); i >= 0 {
		base = base[i+1:]
	}
	base = baseName(strings.TrimSuffix(base, "_dequantize"))
	if kind != "" {
		base += "/" + kind
	}
	name := c.unique(base)
	c.g.Tensors[name] = &model.Tensor{Shape: shape, Data: data, DType: "F32"}
	c.cnames[key] = name
	return name
}

// operand returns the graph name of an elementwise op's input: an
// activation, or a constant reshaped to [C] or [1].
func (c *converter) operand(t int32) (string, error) {
	k := c.consts[t]
	if k == nil {
		return c.value(t)
	}
	s := k.shape
	if len(s) == 4 {
		if s[0] != 1 {
			return "", fmt.Errorf("constant %q: batch %d", c.tensorName(t), s[0])
		}
		s = s[1:]
	}
	for len(s) > 1 && s[0] == 1 {
		s = s[1:]
	}
	if len(s) > 1 {
		return "", fmt.Errorf("constant %q of shape %v depends on the image size; only [C] or scalar constants are supported", c.tensorName(t), k.shape)
	}
	n := len(k.data)
	if n == 0 {
		return "", fmt.Errorf("constant %q is empty", c.tensorName(t))
	}
	return c.addConst(t, "", []int{n}, k.data), nil
}

func (c *converter) emit(p *op) (*model.Node, error) {
	if p.repl != nil {
		n := *p.repl
		x, err := c.value(p.in[0])
		if err != nil {
			return nil, err
		}
		n.Inputs = append([]string{x}, n.Inputs...)
		return &n, nil
	}
	switch f := emitOps[p.code]; {
	case f != nil:
		return f(c, p)
	case p.code == opMean || p.code == opSquaredDifference || p.code == opRsqrt:
		return nil, fmt.Errorf("not part of a recognised layer/instance-norm pattern")
	}
	return nil, fmt.Errorf("unsupported op")
}

// emitOps is the TFLite importer's op table: per builtin op code, the
// function converting one op into our node. Patterns of several ops (the
// norms, the guided filter's box mean) are matched before it (passes.go).
var emitOps = map[int32]func(c *converter, p *op) (*model.Node, error){
	opConv2D: (*converter).emitConv, opDepthwiseConv2D: (*converter).emitConv,
	opAdd: (*converter).emitBinary, opSub: (*converter).emitBinary,
	opMul: (*converter).emitBinary, opDiv: (*converter).emitBinary,
	opLeakyRelu: (*converter).emitUnary, opRelu: (*converter).emitUnary, opRelu6: (*converter).emitUnary,
	opTanh: (*converter).emitUnary, opLogistic: (*converter).emitUnary,
	opResizeBilinear: (*converter).emitResize, opResizeNearest: (*converter).emitResize,
	opPad: (*converter).emitPad, opPadV2: (*converter).emitPad, opMirrorPad: (*converter).emitPad,
	opConcatenation: (*converter).emitConcat,
}

func (c *converter) wantInputs(p *op, lo, hi int) error {
	if len(p.in) < lo || len(p.in) > hi {
		return fmt.Errorf("%d inputs, want %d..%d", len(p.in), lo, hi)
	}
	return nil
}

func (c *converter) emitBinary(p *op) (*model.Node, error) {
	if err := c.wantInputs(p, 2, 2); err != nil {
		return nil, err
	}
	ops := map[int32]string{opAdd: model.OpAdd, opSub: model.OpSub, opMul: model.OpMul, opDiv: model.OpDiv}
	n := &model.Node{Op: ops[p.code]}
	act, alpha, err := fusedAct(p.opts.uint8(binAct, actNone))
	if err != nil {
		return nil, err
	}
	n.Act, n.Alpha = act, alpha
	for _, t := range p.in {
		name, err := c.operand(t)
		if err != nil {
			return nil, err
		}
		n.Inputs = append(n.Inputs, name)
	}
	return n, nil
}

func (c *converter) emitUnary(p *op) (*model.Node, error) {
	if err := c.wantInputs(p, 1, 1); err != nil {
		return nil, err
	}
	x, err := c.value(p.in[0])
	if err != nil {
		return nil, err
	}
	n := &model.Node{Inputs: []string{x}}
	switch p.code {
	case opLeakyRelu:
		n.Op, n.Alpha = model.OpLeakyReLU, p.opts.float32(leakyAlpha, 0.2)
	case opRelu:
		n.Op = model.OpReLU
	case opRelu6:
		n.Op, n.Min, n.Max = model.OpClip, 0, 6
	case opTanh:
		n.Op = model.OpTanh
	case opLogistic:
		n.Op = model.OpSigmoid
	}
	return n, nil
}

func (c *converter) emitConcat(p *op) (*model.Node, error) {
	if len(p.in) < 1 {
		return nil, fmt.Errorf("no inputs")
	}
	if axis := p.opts.int32(concatAxis, 0); axis != 3 && axis != -1 {
		return nil, fmt.Errorf("concatenation along axis %d; only channels (3) are supported", axis)
	}
	act, alpha, err := fusedAct(p.opts.uint8(concatAct, actNone))
	if err != nil {
		return nil, err
	}
	n := &model.Node{Op: model.OpConcat, Act: act, Alpha: alpha}
	for _, t := range p.in {
		x, err := c.value(t)
		if err != nil {
			return nil, err
		}
		n.Inputs = append(n.Inputs, x)
	}
	return n, nil
}

// fusedAct maps ActivationFunctionType to model.Node.Act.
func fusedAct(a uint8) (string, float32, error) {
	switch a {
	case actNone:
		return "", 0, nil
	case actRelu:
		return "relu", 0, nil
	case actRelu6:
		return "relu6", 0, nil
	case actTanh:
		return "tanh", 0, nil
	}
	return "", 0, fmt.Errorf("unsupported fused activation %d", a)
}
