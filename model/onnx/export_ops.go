package onnx

import (
	"fmt"

	"github.com/edgetoon/edgetoon/model"
)

// exportOps is the ONNX exporter's op table: per op of model.Ops
// (TestExportOpsCoverOps), the function that emits its ONNX nodes, the
// last of them writing value out. The node's fused activation follows
// (exporter.node).
var exportOps = map[string]func(e *exporter, n *model.Node, out string) error{
	model.OpConv2D:       (*exporter).conv,
	model.OpAdd:          (*exporter).binary,
	model.OpSub:          (*exporter).binary,
	model.OpMul:          (*exporter).binary,
	model.OpDiv:          (*exporter).binary,
	model.OpLeakyReLU:    activationOp("leaky_relu"),
	model.OpReLU:         activationOp("relu"),
	model.OpTanh:         activationOp("tanh"),
	model.OpSigmoid:      activationOp("sigmoid"),
	model.OpClip:         (*exporter).clip,
	model.OpResize:       (*exporter).resize,
	model.OpInstanceNorm: (*exporter).instanceNorm,
	model.OpLayerNorm:    (*exporter).layerNorm,
	model.OpConcat:       (*exporter).concat,
	model.OpBoxMean:      (*exporter).boxMean,
	model.OpPad:          (*exporter).pad,
}

// perChannel returns a [C] constant as an initializer of shape dims.
func (e *exporter) perChannel(name string, dims []int64) string {
	t := e.g.Tensors[name]
	key := fmt.Sprint("dims:", dims, ":", name)
	return e.initializer(key, name, dims, t.Data)
}

func (e *exporter) instanceNorm(n *model.Node, out string) error {
	x, err := e.value(n.Inputs[0])
	if err != nil {
		return err
	}
	c := int64(len(e.g.Tensors[n.Inputs[1]].Data))
	e.add(&onode{op: "InstanceNormalization", outputs: []string{out},
		inputs: []string{x, e.perChannel(n.Inputs[1], []int64{c}), e.perChannel(n.Inputs[2], []int64{c})},
		attrs:  [][]byte{attrFloat("epsilon", n.Eps)}})
	return nil
}

// layerNorm expands layer_norm over C,H,W into the primitive ops that
// every runtime has (LayerNormalization needs opset 17 and a [C,H,W]
// scale).
func (e *exporter) layerNorm(n *model.Node, out string) error {
	x, err := e.value(n.Inputs[0])
	if err != nil {
		return err
	}
	c := int64(len(e.g.Tensors[n.Inputs[1]].Data))
	tmp := func(s string) string { return e.unique(n.Name + "/" + s) }
	mean, d, sq, vr, ve, sd, nm, sc := tmp("mean"), tmp("centered"), tmp("squared"), tmp("variance"),
		tmp("variance_eps"), tmp("std"), tmp("normalized"), tmp("scaled")
	axes := attrInts("axes", 1, 2, 3)
	e.add(&onode{op: "ReduceMean", inputs: []string{x}, outputs: []string{mean}, attrs: [][]byte{axes, attrInt("keepdims", 1)}})
	e.add(&onode{op: "Sub", inputs: []string{x, mean}, outputs: []string{d}})
	e.add(&onode{op: "Pow", inputs: []string{d, e.scalar(2)}, outputs: []string{sq}})
	e.add(&onode{op: "ReduceMean", inputs: []string{sq}, outputs: []string{vr}, attrs: [][]byte{axes, attrInt("keepdims", 1)}})
	e.add(&onode{op: "Add", inputs: []string{vr, e.scalar(n.Eps)}, outputs: []string{ve}})
	e.add(&onode{op: "Sqrt", inputs: []string{ve}, outputs: []string{sd}})
	e.add(&onode{op: "Div", inputs: []string{d, sd}, outputs: []string{nm}})
	e.add(&onode{op: "Mul", inputs: []string{nm, e.perChannel(n.Inputs[1], []int64{1, c, 1, 1})}, outputs: []string{sc}})
	e.add(&onode{op: "Add", inputs: []string{sc, e.perChannel(n.Inputs[2], []int64{1, c, 1, 1})}, outputs: []string{out}})
	return nil
}

func (e *exporter) concat(n *model.Node, out string) error {
	var ins []string
	for _, in := range n.Inputs {
		v, err := e.value(in)
		if err != nil {
			return err
		}
		ins = append(ins, v)
	}
	e.add(&onode{op: "Concat", inputs: ins, outputs: []string{out}, attrs: [][]byte{attrInt("axis", 1)}})
	return nil
}

func (e *exporter) boxMean(n *model.Node, out string) error {
	x, err := e.value(n.Inputs[0])
	if err != nil {
		return err
	}
	k, r := int64(2*n.Radius+1), int64(n.Radius)
	e.add(&onode{op: "AveragePool", inputs: []string{x}, outputs: []string{out}, attrs: [][]byte{
		attrInts("kernel_shape", k, k), attrInts("strides", 1, 1), attrInts("pads", r, r, r, r),
		attrInt("count_include_pad", 0)}})
	return nil
}

func (e *exporter) pad(n *model.Node, out string) error {
	x, err := e.value(n.Inputs[0])
	if err != nil {
		return err
	}
	p := n.Pads
	pads := e.int64s(n.Name+"/pads", 0, 0, int64(p[0]), int64(p[1]), 0, 0, int64(p[2]), int64(p[3]))
	e.add(&onode{op: "Pad", inputs: []string{x, pads}, outputs: []string{out},
		attrs: [][]byte{attrString("mode", n.Mode)}})
	return nil
}
