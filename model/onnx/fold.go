package onnx

import (
	"fmt"
	"math"
)

// foldable lists the ops that are evaluated at import time when all of
// their inputs are constants: the shape arithmetic exporters put in
// front of Resize and Pad.
var foldable = map[string]bool{
	"Identity": true, "Cast": true, "Gather": true, "Unsqueeze": true, "Squeeze": true,
	"Concat": true, "Slice": true, "Add": true, "Sub": true, "Mul": true, "Div": true,
	"Floor": true, "Ceil": true, "Reshape": true, "ConstantOfShape": true, "Neg": true, "Transpose": true,
}

// fold evaluates n on constant inputs ins (nil for an omitted input).
func (c *importer) fold(n *nodeProto, ins []*value) (*value, error) {
	need := func(k int) error {
		if len(ins) < k {
			return fmt.Errorf("want %d inputs, have %d", k, len(ins))
		}
		for i := range k {
			if ins[i] == nil {
				return fmt.Errorf("input %d is missing", i)
			}
		}
		return nil
	}
	if err := need(1); err != nil && n.op != "Concat" {
		return nil, err
	}
	switch n.op {
	case "Identity":
		return ins[0], nil
	case "Cast":
		to := c.attrInt(n, "to", tFloat)
		out := &value{dims: ins[0].dims, data: append([]float64(nil), ins[0].data...)}
		switch to {
		case tFloat, tFloat16, tDouble:
			if to != tDouble {
				for i, f := range out.data {
					out.data[i] = float64(float32(f))
				}
			}
		case tInt64, tInt32, tInt16, tInt8, tUint8, tBool:
			out.isInt = true
			for i, f := range out.data {
				out.data[i] = math.Trunc(f)
				if to == tBool && f != 0 {
					out.data[i] = 1
				}
			}
		default:
			return nil, fmt.Errorf("cast to type %d not supported", to)
		}
		return out, nil
	case "Floor", "Ceil", "Neg":
		f := map[string]func(float64) float64{"Floor": math.Floor, "Ceil": math.Ceil,
			"Neg": func(x float64) float64 { return -x }}[n.op]
		out := &value{dims: ins[0].dims, isInt: ins[0].isInt, data: make([]float64, len(ins[0].data))}
		for i, x := range ins[0].data {
			out.data[i] = f(x)
		}
		return out, nil
	case "Add", "Sub", "Mul", "Div":
		if err := need(2); err != nil {
			return nil, err
		}
		return arith(n.op, ins[0], ins[1])
	case "Gather":
		if err := need(2); err != nil {
			return nil, err
		}
		return gather(ins[0], ins[1], c.attrInt(n, "axis", 0))
	case "Unsqueeze", "Squeeze", "Reshape":
		return c.reshape(n, ins)
	case "Concat":
		out := &value{isInt: true}
		for i, v := range ins {
			if v == nil || len(v.dims) > 1 {
				return nil, fmt.Errorf("input %d: only 1-D constants are concatenated", i)
			}
			out.data = append(out.data, v.data...)
			out.isInt = out.isInt && v.isInt
		}
		out.dims = []int{len(out.data)}
		return out, nil
	case "Slice":
		return c.slice(n, ins)
	case "Transpose":
		return c.transpose(n, ins[0])
	case "ConstantOfShape":
		shape := ins[0].ints()
		k, err := numElements(shape)
		if err != nil || k > maxFolded {
			return nil, fmt.Errorf("shape %v too large", shape)
		}
		fill, isInt := 0.0, false
		if a := c.attr(n, "value"); a != nil && a.t != nil {
			v, err := decodeValue(a.t)
			if err != nil {
				return nil, err
			}
			if len(v.data) != 1 {
				return nil, fmt.Errorf("value has %d elements, want 1", len(v.data))
			}
			fill, isInt = v.data[0], v.isInt
		}
		out := &value{isInt: isInt, data: make([]float64, k)}
		for _, d := range shape {
			out.dims = append(out.dims, int(d))
		}
		for i := range out.data {
			out.data[i] = fill
		}
		return out, nil
	}
	return nil, fmt.Errorf("op %s cannot be folded", n.op)
}

// arith is elementwise arithmetic on equal shapes, or against a single
// element.
func arith(op string, a, b *value) (*value, error) {
	out := &value{dims: a.dims, isInt: a.isInt && b.isInt}
	if len(b.data) > len(a.data) {
		out.dims = b.dims
	}
	n := max(len(a.data), len(b.data))
	if len(a.data) != n && len(a.data) != 1 || len(b.data) != n && len(b.data) != 1 {
		return nil, fmt.Errorf("shapes %v and %v: only equal shapes or a scalar are folded", a.dims, b.dims)
	}
	out.data = make([]float64, n)
	for i := range out.data {
		x, y := a.data[min(i, len(a.data)-1)], b.data[min(i, len(b.data)-1)]
		switch op {
		case "Add":
			out.data[i] = x + y
		case "Sub":
			out.data[i] = x - y
		case "Mul":
			out.data[i] = x * y
		case "Div":
			if out.isInt {
				if y == 0 {
					return nil, fmt.Errorf("integer division by zero")
				}
				out.data[i] = math.Trunc(x / y)
			} else {
				out.data[i] = x / y
			}
		}
	}
	return out, nil
}

func gather(data, idx *value, axis int64) (*value, error) {
	if len(data.dims) != 1 || (axis != 0 && axis != -1) {
		return nil, fmt.Errorf("only gathering from 1-D constants is folded")
	}
	out := &value{isInt: data.isInt, dims: idx.dims}
	for _, i := range idx.ints() {
		if i < 0 {
			i += int64(len(data.data))
		}
		if i < 0 || i >= int64(len(data.data)) {
			return nil, fmt.Errorf("index %d out of range [0,%d)", i, len(data.data))
		}
		out.data = append(out.data, data.data[i])
	}
	return out, nil
}

// reshape folds Unsqueeze, Squeeze and Reshape, which keep the data.
func (c *importer) reshape(n *nodeProto, ins []*value) (*value, error) {
	x := ins[0]
	out := &value{isInt: x.isInt, data: x.data}
	if n.op == "Reshape" {
		if len(ins) < 2 || ins[1] == nil {
			return nil, fmt.Errorf("missing shape")
		}
		shape := ins[1].ints()
		known, infer := 1, -1
		for i, d := range shape {
			switch {
			case d == -1 && infer < 0:
				infer = i
			case d == 0 && i < len(x.dims):
				known *= x.dims[i]
				shape[i] = int64(x.dims[i])
			case d > 0 && d <= maxFolded:
				known *= int(d)
			default:
				return nil, fmt.Errorf("bad shape %v", shape)
			}
			if known > maxFolded {
				return nil, fmt.Errorf("bad shape %v", shape)
			}
		}
		if infer >= 0 {
			if known == 0 || len(x.data)%known != 0 {
				return nil, fmt.Errorf("shape %v does not fit %d elements", shape, len(x.data))
			}
			shape[infer] = int64(len(x.data) / known)
		}
		for _, d := range shape {
			out.dims = append(out.dims, int(d))
		}
		if p, _ := numElements(shape); p != len(x.data) {
			return nil, fmt.Errorf("shape %v does not fit %d elements", shape, len(x.data))
		}
		return out, nil
	}
	axes := c.attrInts(n, "axes")
	if len(ins) > 1 && ins[1] != nil {
		axes = ins[1].ints()
	}
	rank := len(x.dims)
	if n.op == "Unsqueeze" {
		rank += len(axes)
	}
	mark := make([]bool, rank)
	for _, a := range axes {
		if a < 0 {
			a += int64(rank)
		}
		if a < 0 || a >= int64(rank) || mark[a] {
			return nil, fmt.Errorf("bad axes %v", axes)
		}
		mark[a] = true
	}
	if n.op == "Unsqueeze" {
		j := 0
		for i := range rank {
			if mark[i] {
				out.dims = append(out.dims, 1)
			} else if j < len(x.dims) {
				out.dims = append(out.dims, x.dims[j])
				j++
			}
		}
		return out, nil
	}
	for i, d := range x.dims {
		if (len(axes) == 0 && d == 1) || mark[i] {
			if d != 1 {
				return nil, fmt.Errorf("squeeze axis %d of size %d", i, d)
			}
			continue
		}
		out.dims = append(out.dims, d)
	}
	return out, nil
}

// slice folds Slice (inputs starts, ends, axes, steps from opset 10;
// attributes before) on a constant of any rank.
func (c *importer) slice(n *nodeProto, ins []*value) (*value, error) {
	x := ins[0]
	var starts, ends, axes, steps []int64
	if len(ins) >= 3 && ins[1] != nil && ins[2] != nil {
		starts, ends = ins[1].ints(), ins[2].ints()
		if len(ins) >= 4 && ins[3] != nil {
			axes = ins[3].ints()
		}
		if len(ins) >= 5 && ins[4] != nil {
			steps = ins[4].ints()
		}
	} else {
		starts, ends, axes = c.attrInts(n, "starts"), c.attrInts(n, "ends"), c.attrInts(n, "axes")
	}
	if len(starts) != len(ends) || len(axes) > 0 && len(axes) != len(starts) || len(steps) > 0 && len(steps) != len(starts) {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps)
	}
	idx := make([][]int, len(x.dims))
	for a, d := range x.dims {
		for i := range d {
			idx[a] = append(idx[a], i)
		}
	}
	for j := range starts {
		a, step := int64(j), int64(1)
		if len(axes) > 0 {
			a = axes[j]
		}
		if len(steps) > 0 {
			step = steps[j]
		}
		if a < 0 {
			a += int64(len(x.dims))
		}
		if a < 0 || a >= int64(len(x.dims)) || step == 0 {
			return nil, fmt.Errorf("bad axis %d or step %d", a, step)
		}
		d := int64(x.dims[a])
		step = min(max(step, -d-1), d+1) // the same slice, without overflow
		b, e := starts[j], ends[j]
		if b < 0 {
			b += d
		}
		if e < 0 {
			e += d
		}
		var list []int
		if step > 0 {
			b, e = min(max(b, 0), d), min(max(e, 0), d)
			for i := b; i < e; i += step {
				list = append(list, int(i))
			}
		} else {
			b, e = min(max(b, 0), d-1), min(max(e, -1), d-1)
			for i := b; i > e; i += step {
				list = append(list, int(i))
			}
		}
		idx[a] = list
	}
	return gatherAll(x, idx), nil
}

// gatherAll returns x at the cross product of per-axis indices.
func gatherAll(x *value, idx [][]int) *value {
	out := &value{isInt: x.isInt, dims: make([]int, len(idx))}
	for a := range idx {
		out.dims[a] = len(idx[a])
	}
	strides := make([]int, len(x.dims))
	s := 1
	for a := len(x.dims) - 1; a >= 0; a-- {
		strides[a] = s
		s *= x.dims[a]
	}
	var walk func(a, off int)
	walk = func(a, off int) {
		if a == len(idx) {
			out.data = append(out.data, x.data[off])
			return
		}
		for _, i := range idx[a] {
			walk(a+1, off+i*strides[a])
		}
	}
	walk(0, 0)
	return out
}

// transpose folds Transpose of a constant.
func (c *importer) transpose(n *nodeProto, x *value) (*value, error) {
	perm := c.attrInts(n, "perm")
	r := len(x.dims)
	if len(perm) == 0 {
		for a := r - 1; a >= 0; a-- {
			perm = append(perm, int64(a))
		}
	}
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v for rank %d", perm, r)
	}
	seen := make([]bool, r)
	strides := make([]int, r)
	s := 1
	for a := r - 1; a >= 0; a-- {
		strides[a] = s
		s *= x.dims[a]
	}
	out := &value{isInt: x.isInt, dims: make([]int, r)}
	ps := make([]int, r)
	for a, p := range perm {
		if p < 0 || p >= int64(r) || seen[p] {
			return nil, fmt.Errorf("bad perm %v", perm)
		}
		seen[p] = true
		out.dims[a], ps[a] = x.dims[p], strides[p]
	}
	var walk func(a, off int)
	walk = func(a, off int) {
		if a == r {
			out.data = append(out.data, x.data[off])
			return
		}
		for i := range out.dims[a] {
			walk(a+1, off+i*ps[a])
		}
	}
	walk(0, 0)
	return out, nil
}
