package onnx

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/edgetoon/edgetoon/model"
)

const (
	irVersion    = 7  // ONNX 1.8, the first IR version with opset 13
	opsetVersion = 13 // default domain
)

// Metadata keys under which Export records what the graph spec holds
// beyond the network itself; Import reads them back.
const (
	metaNorm       = "edgetoon.norm"
	metaDenorm     = "edgetoon.denorm"
	metaLicense    = "edgetoon.license"
	metaProvenance = "edgetoon.provenance"
	metaNominal    = "edgetoon.nominal_size"
	metaMultiple   = "edgetoon.size_multiple"
)

// Export writes g as an ONNX model (opset 13) with one input "input" of
// shape [1,C,h,w] and one output "output", both float32 NCHW. Like g,
// the model maps the normalized input to the normalized output; g.Norm
// and g.Denorm are recorded in the model's metadata only.
//
// With h and w positive the input size is fixed and every SAME
// convolution's padding is resolved to explicit pads for that size.
// With h == w == 0 the height and width are symbolic ("height",
// "width") and SAME convolutions use auto_pad SAME_UPPER, which follows
// the same rule (the odd pixel at the bottom/right).
func Export(g *model.Graph, h, w int) ([]byte, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("onnx export: %w", err)
	}
	dynamic := h == 0 && w == 0
	sh, sw := h, w
	if dynamic {
		sh, sw = g.NominalSize, g.NominalSize
	}
	shapes, err := g.Shapes(sh, sw)
	if err != nil {
		return nil, fmt.Errorf("onnx export: %w", err)
	}
	e := &exporter{g: g, shapes: shapes, dynamic: dynamic, names: map[string]string{},
		used: map[string]bool{"input": true, "output": true, "": true}, inits: map[string]string{}}
	e.names[g.Input] = "input"
	for i := range g.Nodes {
		if err := e.node(&g.Nodes[i]); err != nil {
			return nil, fmt.Errorf("onnx export: node %q (%s): %w", g.Nodes[i].Name, g.Nodes[i].Op, err)
		}
	}
	inDims := []dim{{value: 1}, {value: int64(g.InputChannels)}, {value: int64(h)}, {value: int64(w)}}
	os := shapes[g.Output]
	outDims := []dim{{value: 1}, {value: int64(os[2])}, {value: int64(os[0])}, {value: int64(os[1])}}
	if dynamic {
		inDims[2], inDims[3] = dim{param: "height"}, dim{param: "width"}
		outDims[2], outDims[3] = dim{param: "out_height"}, dim{param: "out_width"}
	}
	norm, _ := json.Marshal(g.Norm)
	denorm, _ := json.Marshal(g.Denorm)
	meta := [][2]string{
		{metaNorm, string(norm)}, {metaDenorm, string(denorm)},
		{metaNominal, strconv.Itoa(g.NominalSize)}, {metaMultiple, strconv.Itoa(g.SizeMultiple)},
	}
	if g.License != "" {
		meta = append(meta, [2]string{metaLicense, g.License})
	}
	if g.Provenance != "" {
		meta = append(meta, [2]string{metaProvenance, g.Provenance})
	}
	name := g.Name
	if name == "" {
		name = "edgetoon"
	}
	return encodeModel(name, e.nodes, e.tensors,
		valueInfoFloat("input", inDims), valueInfoFloat("output", outDims), meta), nil
}

type exporter struct {
	g       *model.Graph
	shapes  map[string][]int
	dynamic bool
	names   map[string]string // our value name -> ONNX value name
	used    map[string]bool   // ONNX names taken
	inits   map[string]string // key (tensor name + role) -> initializer name
	nodes   []*onode
	tensors [][]byte
}

// unique returns base, or base with a suffix, not yet used.
func (e *exporter) unique(base string) string {
	name := base
	for i := 1; e.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	e.used[name] = true
	return name
}

func (e *exporter) add(n *onode) {
	n.name = e.unique("node:" + n.outputs[0])
	e.nodes = append(e.nodes, n)
}

// value returns the ONNX name of an activation input.
func (e *exporter) value(name string) (string, error) {
	if v, ok := e.names[name]; ok {
		return v, nil
	}
	return "", fmt.Errorf("input %q is not an activation defined before use", name)
}

// initializer adds a float constant once per (key) and returns its name.
func (e *exporter) initializer(key, base string, dims []int64, data []float32) string {
	if name, ok := e.inits[key]; ok {
		return name
	}
	name := e.unique(base)
	e.inits[key] = name
	e.tensors = append(e.tensors, tensorFloat(name, dims, data))
	return name
}

func (e *exporter) scalar(v float32) string {
	key := "scalar:" + strconv.FormatUint(uint64(math.Float32bits(v)), 16)
	return e.initializer(key, "const_"+strconv.FormatFloat(float64(v), 'g', -1, 32), nil, []float32{v})
}

func (e *exporter) int64s(base string, vs ...int64) string {
	name := e.unique(base)
	e.tensors = append(e.tensors, tensorInt64(name, []int64{int64(len(vs))}, vs))
	return name
}

// operand returns the ONNX name of a binary op's input: an activation,
// or a constant [..,H?,W?,C] laid out as [1,C,H,W].
func (e *exporter) operand(name string) (string, error) {
	if v, ok := e.names[name]; ok {
		return v, nil
	}
	t := e.g.Tensors[name]
	if t == nil {
		return "", fmt.Errorf("input %q is not defined before use", name)
	}
	if len(t.Shape) > 3 {
		return "", fmt.Errorf("constant %q: rank %d", name, len(t.Shape))
	}
	s := []int{1, 1, 1}
	copy(s[3-len(t.Shape):], t.Shape)
	hh, ww, c := s[0], s[1], s[2]
	data := make([]float32, len(t.Data))
	for y := range hh {
		for x := range ww {
			for ch := range c {
				data[(ch*hh+y)*ww+x] = t.Data[(y*ww+x)*c+ch]
			}
		}
	}
	return e.initializer("nchw:"+name, name, []int64{1, int64(c), int64(hh), int64(ww)}, data), nil
}

// node emits the ONNX nodes for n, ending in a value named for n.
func (e *exporter) node(n *model.Node) error {
	out := "output"
	if n.Name != e.g.Output {
		out = e.unique(n.Name)
	}
	final := out
	if n.Act != "" {
		out = e.unique(n.Name + "/pre_act")
	}
	emit, ok := exportOps[n.Op]
	if !ok {
		return fmt.Errorf("op not supported by the ONNX exporter")
	}
	if err := emit(e, n, out); err != nil {
		return err
	}
	if n.Act != "" {
		if err := e.act(n.Act, n.Alpha, out, final); err != nil {
			return err
		}
	}
	e.names[n.Name] = final
	return nil
}

// act emits an activation from in to out.
func (e *exporter) act(act string, alpha float32, in, out string) error {
	switch act {
	case "relu":
		e.add(&onode{op: "Relu", inputs: []string{in}, outputs: []string{out}})
	case "relu6":
		e.add(&onode{op: "Clip", inputs: []string{in, e.scalar(0), e.scalar(6)}, outputs: []string{out}})
	case "leaky_relu":
		e.add(&onode{op: "LeakyRelu", inputs: []string{in}, outputs: []string{out},
			attrs: [][]byte{attrFloat("alpha", alpha)}})
	case "tanh":
		e.add(&onode{op: "Tanh", inputs: []string{in}, outputs: []string{out}})
	case "sigmoid":
		e.add(&onode{op: "Sigmoid", inputs: []string{in}, outputs: []string{out}})
	default:
		return fmt.Errorf("activation %q not supported", act)
	}
	return nil
}

// activationOp exports a standalone activation op as the ONNX op of the
// fused activation of the same name.
func activationOp(act string) func(e *exporter, n *model.Node, out string) error {
	return func(e *exporter, n *model.Node, out string) error {
		x, err := e.value(n.Inputs[0])
		if err != nil {
			return err
		}
		return e.act(act, n.Alpha, x, out)
	}
}

func (e *exporter) clip(n *model.Node, out string) error {
	x, err := e.value(n.Inputs[0])
	if err != nil {
		return err
	}
	e.add(&onode{op: "Clip", inputs: []string{x, e.scalar(n.Min), e.scalar(n.Max)}, outputs: []string{out}})
	return nil
}

func (e *exporter) binary(n *model.Node, out string) error {
	a, err := e.operand(n.Inputs[0])
	if err != nil {
		return err
	}
	b, err := e.operand(n.Inputs[1])
	if err != nil {
		return err
	}
	op := map[string]string{model.OpAdd: "Add", model.OpSub: "Sub", model.OpMul: "Mul", model.OpDiv: "Div"}[n.Op]
	e.add(&onode{op: op, inputs: []string{a, b}, outputs: []string{out}})
	return nil
}

func (e *exporter) conv(n *model.Node, out string) error {
	x, err := e.value(n.Inputs[0])
	if err != nil {
		return err
	}
	wt := e.g.Tensors[n.Inputs[1]]
	o, kh, kw, ig := wt.Shape[0], wt.Shape[1], wt.Shape[2], wt.Shape[3]
	// OHWI -> OIHW.
	data := make([]float32, len(wt.Data))
	for oc := range o {
		for y := range kh {
			for xx := range kw {
				for ic := range ig {
					data[((oc*ig+ic)*kh+y)*kw+xx] = wt.Data[((oc*kh+y)*kw+xx)*ig+ic]
				}
			}
		}
	}
	inputs := []string{x, e.initializer("oihw:"+n.Inputs[1], n.Inputs[1],
		[]int64{int64(o), int64(ig), int64(kh), int64(kw)}, data)}
	if len(n.Inputs) == 3 {
		b := e.g.Tensors[n.Inputs[2]]
		inputs = append(inputs, e.initializer("bias:"+n.Inputs[2], n.Inputs[2], []int64{int64(o)}, b.Data))
	}
	attrs := [][]byte{
		attrInts("kernel_shape", int64(kh), int64(kw)),
		attrInts("strides", int64(n.StrideY()), int64(n.StrideX())),
		attrInts("dilations", int64(n.DilationY()), int64(n.DilationX())),
		attrInt("group", int64(n.GroupCount())),
	}
	if n.Padding == model.PadSame && e.dynamic {
		attrs = append(attrs, attrString("auto_pad", "SAME_UPPER"))
	} else {
		xs := e.shapes[n.Inputs[0]]
		t, l, b, r, err := model.ConvPads(n, xs[0], xs[1], kh, kw)
		if err != nil {
			return err
		}
		attrs = append(attrs, attrInts("pads", int64(t), int64(l), int64(b), int64(r)))
	}
	e.add(&onode{op: "Conv", inputs: inputs, outputs: []string{out}, attrs: attrs})
	return nil
}

func (e *exporter) resize(n *model.Node, out string) error {
	x, err := e.value(n.Inputs[0])
	if err != nil {
		return err
	}
	scales := e.initializer(fmt.Sprintf("scales:%d,%d", n.Scale[0], n.Scale[1]),
		fmt.Sprintf("scales_%dx%d", n.Scale[0], n.Scale[1]), []int64{4},
		[]float32{1, 1, float32(n.Scale[0]), float32(n.Scale[1])})
	var attrs [][]byte
	ctm := "asymmetric"
	switch {
	case n.AlignCorners:
		ctm = "align_corners"
	case n.HalfPixel:
		ctm = "half_pixel"
	}
	attrs = append(attrs, attrString("coordinate_transformation_mode", ctm))
	if n.Mode == "bilinear" {
		attrs = append(attrs, attrString("mode", "linear"))
	} else {
		// TFLite's nearest: floor, or rounding halves up with align
		// corners; with half pixel centers floor((i+0.5)/s), which is
		// round_prefer_ceil of the half_pixel coordinate (i+0.5)/s-0.5.
		nm := "floor"
		if n.AlignCorners || n.HalfPixel {
			nm = "round_prefer_ceil"
		}
		attrs = append(attrs, attrString("mode", "nearest"), attrString("nearest_mode", nm))
	}
	e.add(&onode{op: "Resize", inputs: []string{x, "", scales}, outputs: []string{out}, attrs: attrs})
	return nil
}
