package cpu

import (
	"fmt"
	"math"

	"github.com/edgetoon/edgetoon/model"
)

// act applies a fused activation in place. The names are those that
// model.Graph.Shapes accepts.
func act(name string, alpha float32, v []float32) {
	switch name {
	case "relu":
		for i, x := range v {
			v[i] = max(x, 0)
		}
	case "relu6":
		for i, x := range v {
			v[i] = min(max(x, 0), 6)
		}
	case "leaky_relu":
		for i, x := range v {
			if x < 0 {
				v[i] = alpha * x
			}
		}
	case "tanh":
		for i, x := range v {
			v[i] = float32(math.Tanh(float64(x)))
		}
	case "sigmoid":
		for i, x := range v {
			v[i] = sigmoid(x)
		}
	}
}

func sigmoid(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// unary runs the standalone activations and clip.
func (e *env) unary(n *model.Node) (*model.Tensor, error) {
	x, err := e.input(n, 0)
	if err != nil {
		return nil, err
	}
	out := &model.Tensor{Shape: x.Shape, Data: append([]float32(nil), x.Data...), DType: "F32"}
	switch n.Op {
	case model.OpLeakyReLU:
		act("leaky_relu", n.Alpha, out.Data)
	case model.OpReLU:
		act("relu", 0, out.Data)
	case model.OpTanh:
		act("tanh", 0, out.Data)
	case model.OpSigmoid:
		act("sigmoid", 0, out.Data)
	case model.OpClip:
		for i, v := range out.Data {
			out.Data[i] = min(max(v, n.Min), n.Max)
		}
	}
	return out, nil
}

// binary runs add, sub, mul and div with NumPy broadcasting of either
// operand (activation or constant) to the [H,W,C] result.
func (e *env) binary(n *model.Node, shape []int) (*model.Tensor, error) {
	if len(n.Inputs) != 2 {
		return nil, fmt.Errorf("want 2 inputs, have %d", len(n.Inputs))
	}
	a, err := e.input(n, 0)
	if err != nil {
		return nil, err
	}
	b, err := e.input(n, 1)
	if err != nil {
		return nil, err
	}
	sa, err := broadcastStrides(a.Shape, shape)
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", n.Inputs[0], err)
	}
	sb, err := broadcastStrides(b.Shape, shape)
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", n.Inputs[1], err)
	}
	h, w, c := shape[0], shape[1], shape[2]
	out := model.NewTensor(h, w, c)
	parallelRows(h, w*c, func(lo, hi int) {
		// A row operand that does not vary along C is expanded into a
		// buffer, so that the arithmetic below has one form per op.
		bufA, bufB := make([]float32, c), make([]float32, c)
		for y := lo; y < hi; y++ {
			for x := range w {
				ra := rowOf(a.Data, y*sa[0]+x*sa[1], sa[2], c, bufA)
				rb := rowOf(b.Data, y*sb[0]+x*sb[1], sb[2], c, bufB)
				d := out.Data[(y*w+x)*c : (y*w+x+1)*c]
				arith(n.Op, d, ra, rb)
			}
		}
	})
	return out, nil
}

// rowOf returns the c values of an operand starting at off with stride
// 1 or 0 (broadcast along C), using buf for the latter.
func rowOf(data []float32, off, stride, c int, buf []float32) []float32 {
	if stride == 1 || c == 1 {
		return data[off : off+c]
	}
	for i := range buf {
		buf[i] = data[off]
	}
	return buf
}

func arith(op string, d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	switch op {
	case model.OpAdd:
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case model.OpSub:
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case model.OpMul:
		for i := range d {
			d[i] = a[i] * b[i]
		}
	case model.OpDiv:
		for i := range d {
			d[i] = a[i] / b[i]
		}
	}
}

// broadcastStrides returns, for each of the three dimensions of out, the
// step in s's row-major data: zero where s has no such dimension or
// has size 1 there.
func broadcastStrides(s, out []int) ([3]int, error) {
	var st [3]int
	if len(s) > 3 || len(out) != 3 {
		return st, fmt.Errorf("shape %v does not broadcast to %v", s, out)
	}
	step := 1
	for i := len(s) - 1; i >= 0; i-- {
		d := i + 3 - len(s)
		switch s[i] {
		case out[d]:
			if s[i] > 1 {
				st[d] = step
			}
		case 1:
		default:
			return st, fmt.Errorf("shape %v does not broadcast to %v", s, out)
		}
		step *= s[i]
	}
	return st, nil
}
