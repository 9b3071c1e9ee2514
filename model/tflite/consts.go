package tflite

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgetoon/edgetoon/model"
)

// constant is a decoded constant tensor: its real values, after
// dequantization, and for integer tensors without quantization (sizes,
// paddings, axes) the integers themselves.
type constant struct {
	shape []int
	data  []float32
	ints  []int64 // nil unless the tensor holds plain integers
}

// decodeConstant reads tensor t's buffer. Quantized integers become reals
// (q - zero_point) * scale, with per-channel scales along the tensor's
// quantized dimension.
func decodeConstant(t *TensorInfo, raw []byte) (*constant, error) {
	shape := make([]int, len(t.Shape))
	n := 1
	for i, d := range t.Shape {
		shape[i] = int(d)
		n *= int(d)
	}
	size, ok := typeSize[t.Type]
	if !ok {
		return nil, fmt.Errorf("constant %q: unsupported tensor type %d", t.Name, t.Type)
	}
	if len(raw) != n*size {
		return nil, fmt.Errorf("constant %q: %d bytes for shape %v of %d-byte elements", t.Name, len(raw), shape, size)
	}
	c := &constant{shape: shape, data: make([]float32, n)}
	switch t.Type {
	case TypeFloat32:
		for i := range c.data {
			c.data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return c, nil
	case TypeFloat16:
		for i := range c.data {
			c.data[i] = model.HalfToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return c, nil
	}
	q := make([]int64, n)
	for i := range q {
		switch t.Type {
		case TypeInt8:
			q[i] = int64(int8(raw[i]))
		case TypeUint8:
			q[i] = int64(raw[i])
		case TypeInt16:
			q[i] = int64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
		case TypeInt32:
			q[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		case TypeInt64:
			q[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	}
	if t.Quant == nil || len(t.Quant.Scale) == 0 {
		if t.Type == TypeInt8 || t.Type == TypeUint8 || t.Type == TypeInt16 {
			return nil, fmt.Errorf("constant %q: integer weights without quantization scales", t.Name)
		}
		c.ints = q
		for i, v := range q {
			c.data[i] = float32(v)
		}
		return c, nil
	}
	if err := dequantize(c, q, t); err != nil {
		return nil, fmt.Errorf("constant %q: %w", t.Name, err)
	}
	return c, nil
}

var typeSize = map[int8]int{
	TypeFloat32: 4, TypeFloat16: 2, TypeInt32: 4, TypeUint8: 1,
	TypeInt64: 8, TypeInt16: 2, TypeInt8: 1,
}

func dequantize(c *constant, q []int64, t *TensorInfo) error {
	qp := t.Quant
	scales, zps := qp.Scale, qp.ZeroPoint
	// stride is the distance between elements of neighbouring channels
	// along the quantized dimension; per-tensor scales use one channel.
	channels, stride := 1, 1
	if len(scales) > 1 {
		d := int(qp.Dim)
		if d < 0 || d >= len(c.shape) || c.shape[d] != len(scales) {
			return fmt.Errorf("%d scales along dimension %d of shape %v", len(scales), d, c.shape)
		}
		channels = len(scales)
		for _, s := range c.shape[d+1:] {
			stride *= s
		}
	}
	if len(zps) != 0 && len(zps) != len(scales) {
		return fmt.Errorf("%d zero points for %d scales", len(zps), len(scales))
	}
	for _, s := range scales {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("quantization scale %g", s)
		}
	}
	for i, v := range q {
		ch := (i / stride) % channels
		var zp int64
		if len(zps) != 0 {
			zp = zps[ch]
		}
		c.data[i] = float32(float64(v-zp) * float64(scales[ch]))
	}
	return nil
}
