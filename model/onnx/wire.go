package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// fields calls fn for each field of the message b. For a varint field v
// holds its value; for a fixed32/fixed64 field too; for a bytes field
// raw holds the payload.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v uint64
		var raw []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			raw, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, raw); err != nil {
			return err
		}
	}
	return nil
}

// ints appends a repeated integer field, packed or not.
func appendInts(dst []int64, typ protowire.Type, v uint64, raw []byte) ([]int64, error) {
	switch typ {
	case protowire.VarintType:
		return append(dst, int64(v)), nil
	case protowire.BytesType:
		for len(raw) > 0 {
			x, n := protowire.ConsumeVarint(raw)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			dst = append(dst, int64(x))
			raw = raw[n:]
		}
		return dst, nil
	}
	return nil, fmt.Errorf("integer field has wire type %d", typ)
}

func appendFloats(dst []float32, typ protowire.Type, v uint64, raw []byte) ([]float32, error) {
	switch typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(v))), nil
	case protowire.BytesType:
		if len(raw)%4 != 0 {
			return nil, fmt.Errorf("packed floats: %d bytes", len(raw))
		}
		for i := 0; i < len(raw); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
		}
		return dst, nil
	}
	return nil, fmt.Errorf("float field has wire type %d", typ)
}

func appendDoubles(dst []float64, typ protowire.Type, v uint64, raw []byte) ([]float64, error) {
	switch typ {
	case protowire.Fixed64Type:
		return append(dst, math.Float64frombits(v)), nil
	case protowire.BytesType:
		if len(raw)%8 != 0 {
			return nil, fmt.Errorf("packed doubles: %d bytes", len(raw))
		}
		for i := 0; i < len(raw); i += 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])))
		}
		return dst, nil
	}
	return nil, fmt.Errorf("double field has wire type %d", typ)
}

func wantBytes(typ protowire.Type, what string) error {
	if typ != protowire.BytesType {
		return fmt.Errorf("%s: wire type %d, want bytes", what, typ)
	}
	return nil
}
