package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgetoon/edgetoon/model"
)

// value is a constant: weights, or the small integer tensors (shapes,
// indices, scales) that exporters compute in the graph. Values are held
// as float64, which is exact for float32, float16 and the integers that
// occur in shapes.
type value struct {
	dims  []int
	data  []float64
	isInt bool
}

// maxFolded bounds the size of values computed while folding.
const maxFolded = 1 << 20

func (v *value) scalarOK() bool { return len(v.data) == 1 }

// ints returns the values as int64, saturating out-of-range ones (as
// ONNX Slice's INT64_MAX "to the end").
func (v *value) ints() []int64 {
	out := make([]int64, len(v.data))
	for i, f := range v.data {
		switch {
		case math.IsNaN(f):
			out[i] = 0
		case f >= math.MaxInt64:
			out[i] = math.MaxInt64
		case f <= math.MinInt64:
			out[i] = math.MinInt64
		default:
			out[i] = int64(f)
		}
	}
	return out
}

func (v *value) floats() []float32 {
	out := make([]float32, len(v.data))
	for i, f := range v.data {
		out[i] = float32(f)
	}
	return out
}

// numElements checks dims and returns their product.
func numElements(dims []int64) (int, error) {
	n := 1
	for _, d := range dims {
		if d < 0 || d > model.MaxElements {
			return 0, fmt.Errorf("bad dimension in %v", dims)
		}
		n *= int(d)
		if n > model.MaxElements {
			return 0, fmt.Errorf("shape %v too large", dims)
		}
	}
	return n, nil
}

// decodeValue converts a TensorProto to a value.
func decodeValue(t *tensorProto) (*value, error) {
	if t.external {
		return nil, fmt.Errorf("tensor %q: external data is not supported (save the model with its weights inside)", t.name)
	}
	n, err := numElements(t.dims)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.name, err)
	}
	v := &value{dims: make([]int, len(t.dims)), data: make([]float64, 0, n)}
	for i, d := range t.dims {
		v.dims[i] = int(d)
	}
	size := map[int64]int{tFloat: 4, tUint8: 1, tInt8: 1, tInt16: 2, tInt32: 4, tInt64: 8, tBool: 1, tFloat16: 2, tDouble: 8}[t.dtype]
	if size == 0 {
		return nil, fmt.Errorf("tensor %q: data type %d not supported", t.name, t.dtype)
	}
	v.isInt = t.dtype != tFloat && t.dtype != tFloat16 && t.dtype != tDouble
	switch {
	case t.hasRaw:
		if len(t.raw) != n*size {
			return nil, fmt.Errorf("tensor %q: %d raw bytes, shape %v of type %d needs %d", t.name, len(t.raw), t.dims, t.dtype, n*size)
		}
		for i := range n {
			b := t.raw[i*size:]
			var f float64
			switch t.dtype {
			case tFloat:
				f = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
			case tFloat16:
				f = float64(model.HalfToFloat32(binary.LittleEndian.Uint16(b)))
			case tDouble:
				f = math.Float64frombits(binary.LittleEndian.Uint64(b))
			case tInt64:
				f = float64(int64(binary.LittleEndian.Uint64(b)))
			case tInt32:
				f = float64(int32(binary.LittleEndian.Uint32(b)))
			case tInt16:
				f = float64(int16(binary.LittleEndian.Uint16(b)))
			case tInt8:
				f = float64(int8(b[0]))
			default: // uint8, bool
				f = float64(b[0])
			}
			v.data = append(v.data, f)
		}
	case t.dtype == tFloat:
		for _, f := range t.floats {
			v.data = append(v.data, float64(f))
		}
	case t.dtype == tDouble:
		v.data = append(v.data, t.doubles...)
	case t.dtype == tInt64:
		for _, x := range t.int64s {
			v.data = append(v.data, float64(x))
		}
	case t.dtype == tFloat16:
		for _, x := range t.int32s {
			v.data = append(v.data, float64(model.HalfToFloat32(uint16(x))))
		}
	default:
		for _, x := range t.int32s {
			v.data = append(v.data, float64(int32(x)))
		}
	}
	if len(v.data) != n {
		return nil, fmt.Errorf("tensor %q: %d values for shape %v", t.name, len(v.data), t.dims)
	}
	return v, nil
}

// hwc converts a constant operand of an NCHW elementwise op to our
// layout: [C] when it is constant over H and W, else [H,W,C].
func (v *value) hwc(name string) (*model.Tensor, error) {
	if len(v.dims) > 4 {
		return nil, fmt.Errorf("constant %q: rank %d", name, len(v.dims))
	}
	s := []int{1, 1, 1, 1}
	copy(s[4-len(v.dims):], v.dims)
	if s[0] != 1 {
		return nil, fmt.Errorf("constant %q: shape %v has a batch", name, v.dims)
	}
	c, h, w := s[1], s[2], s[3]
	if h == 1 && w == 1 {
		t := &model.Tensor{Shape: []int{c}, Data: v.floats(), DType: "F32"}
		return t, finite(name, t.Data)
	}
	t := model.NewTensor(h, w, c)
	for ch := range c {
		for y := range h {
			for x := range w {
				t.Data[(y*w+x)*c+ch] = float32(v.data[(ch*h+y)*w+x])
			}
		}
	}
	return t, finite(name, t.Data)
}

func finite(name string, data []float32) error {
	for i, f := range data {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("constant %q: element %d is %v", name, i, f)
		}
	}
	return nil
}
