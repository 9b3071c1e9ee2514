// Package cpu runs a model.Graph on the CPU in float32. It is the
// numerical reference that the other engines (WebGL2, WebGPU, the
// TFLite cross-check) are compared against, so it favours plain,
// checkable arithmetic; its speed comes from splitting output rows
// across the available cores and from a register-blocked conv kernel.
package cpu

import (
	"fmt"
	"slices"

	"github.com/edgetoon/edgetoon/model"
)

// Run executes g on in, the already-normalized [H,W,C] input, and
// returns the value of g's output node. Values that no later node
// reads are dropped as soon as possible to bound memory.
func Run(g *model.Graph, in *model.Tensor) (*model.Tensor, error) {
	vals, err := run(g, in, false)
	if err != nil {
		return nil, err
	}
	return vals[g.Output], nil
}

// RunValues executes g on in and returns every node's value by node
// name, plus the input under g.Input, for layer-by-layer comparison.
func RunValues(g *model.Graph, in *model.Tensor) (map[string]*model.Tensor, error) {
	return run(g, in, true)
}

func run(g *model.Graph, in *model.Tensor, keep bool) (map[string]*model.Tensor, error) {
	if g == nil || in == nil {
		return nil, fmt.Errorf("cpu: nil graph or input")
	}
	if len(in.Shape) != 3 {
		return nil, fmt.Errorf("cpu: input shape %v is not [H,W,C]", in.Shape)
	}
	h, w, c := in.Shape[0], in.Shape[1], in.Shape[2]
	shapes, err := g.Shapes(h, w)
	if err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	if c != g.InputChannels || len(in.Data) != h*w*c {
		return nil, fmt.Errorf("cpu: input shape %v with %d values, want [%d,%d,%d]",
			in.Shape, len(in.Data), h, w, g.InputChannels)
	}

	// lastUse[name] is the index of the last node reading name.
	lastUse := map[string]int{}
	for i, n := range g.Nodes {
		for _, name := range n.Inputs {
			lastUse[name] = i
		}
	}

	e := &env{g: g, vals: map[string]*model.Tensor{g.Input: in}}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		out, err := e.exec(n, shapes[n.Name])
		if err != nil {
			return nil, fmt.Errorf("cpu: node %q (%s): %w", n.Name, n.Op, err)
		}
		if !slices.Equal(out.Shape, shapes[n.Name]) {
			// An engine bug, not bad input; report rather than go on.
			return nil, fmt.Errorf("cpu: node %q (%s): computed shape %v, inferred %v",
				n.Name, n.Op, out.Shape, shapes[n.Name])
		}
		act(n.Act, n.Alpha, out.Data)
		e.vals[n.Name] = out
		if keep {
			continue
		}
		for _, name := range n.Inputs {
			if lastUse[name] == i && name != g.Output {
				delete(e.vals, name)
			}
		}
	}
	return e.vals, nil
}

// env holds the values computed so far during one run.
type env struct {
	g    *model.Graph
	vals map[string]*model.Tensor
}

// input returns input i of n: an activation computed earlier or a
// constant. Constants are checked here because a file's tensor data may
// disagree with its declared shape.
func (e *env) input(n *model.Node, i int) (*model.Tensor, error) {
	if i >= len(n.Inputs) {
		return nil, fmt.Errorf("missing input %d", i)
	}
	name := n.Inputs[i]
	if t := e.vals[name]; t != nil {
		return t, nil
	}
	t := e.g.Tensors[name]
	if t == nil {
		return nil, fmt.Errorf("input %q: no such value", name)
	}
	if len(t.Data) != model.NumElements(t.Shape) {
		return nil, fmt.Errorf("tensor %q: %d values for shape %v", name, len(t.Data), t.Shape)
	}
	return t, nil
}

// kernel computes one node's value; shape is the value's inferred shape.
type kernel func(e *env, n *model.Node, shape []int) (*model.Tensor, error)

// kernels is the CPU engine's op table: one entry per op of model.Ops
// (TestKernelsCoverOps). The node's fused activation is applied after it
// by run, for every op alike.
var kernels = map[string]kernel{
	model.OpConv2D:       (*env).conv,
	model.OpAdd:          (*env).binary,
	model.OpSub:          (*env).binary,
	model.OpMul:          (*env).binary,
	model.OpDiv:          (*env).binary,
	model.OpLeakyReLU:    unshaped((*env).unary),
	model.OpReLU:         unshaped((*env).unary),
	model.OpTanh:         unshaped((*env).unary),
	model.OpSigmoid:      unshaped((*env).unary),
	model.OpClip:         unshaped((*env).unary),
	model.OpResize:       (*env).resize,
	model.OpInstanceNorm: unshaped((*env).norm),
	model.OpLayerNorm:    unshaped((*env).norm),
	model.OpConcat:       (*env).concat,
	model.OpBoxMean:      unshaped((*env).boxMean),
	model.OpPad:          (*env).pad,
}

// unshaped adapts a kernel that needs no output shape.
func unshaped(f func(e *env, n *model.Node) (*model.Tensor, error)) kernel {
	return func(e *env, n *model.Node, _ []int) (*model.Tensor, error) { return f(e, n) }
}

func (e *env) exec(n *model.Node, shape []int) (*model.Tensor, error) {
	k, ok := kernels[n.Op]
	if !ok {
		return nil, fmt.Errorf("unsupported op")
	}
	return k(e, n, shape)
}
