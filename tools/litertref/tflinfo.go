package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	flatbuffers "github.com/google/flatbuffers/go"
)

// tflInfo is what the README records about a model: the types and
// quantization of its inputs and outputs and of its activations, so that a
// reader knows whether LiteRT computed in float or in int8. It reads the
// TFLite flatbuffer directly (schema v3 field numbers) rather than trusting
// the runtime's summary, which reports only float32/int32/uint8 dtypes.
type tflInfo struct {
	Inputs, Outputs []tflTensor
	Ops             map[string]int // builtin op name -> count
	// Activations counts the non-constant tensors (no buffer data) by
	// element type: if any is INT8/UINT8, the network runs quantized.
	Activations map[string]int
	// Constants counts the constant tensors (weights) by element type.
	Constants map[string]int
	// QuantizedActivations lists up to a few quantized non-constant
	// tensors as examples.
	QuantizedActivations []tflTensor
}

type tflTensor struct {
	Name      string
	Type      string
	Shape     []int32
	Scale     []float32 // quantization scales (empty when not quantized)
	ZeroPoint []int64
}

func (t tflTensor) String() string {
	s := fmt.Sprintf("%s %s %v", t.Name, t.Type, t.Shape)
	if len(t.Scale) == 1 && len(t.ZeroPoint) == 1 {
		s += fmt.Sprintf(" (scale %g, zero point %d)", t.Scale[0], t.ZeroPoint[0])
	} else if len(t.Scale) > 0 {
		s += fmt.Sprintf(" (%d per-channel scales)", len(t.Scale))
	}
	return s
}

// tflTypes follows schema.fbs enum TensorType.
var tflTypes = []string{"FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16", "COMPLEX64", "INT8", "FLOAT64"}

// tflOps follows schema.fbs enum BuiltinOperator for the ops these models
// use; others print as their number.
var tflOps = map[int32]string{
	0: "ADD", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE",
	9: "FULLY_CONNECTED", 14: "LOGISTIC", 18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE",
	23: "RESIZE_BILINEAR", 28: "TANH", 34: "PAD", 40: "MEAN", 41: "SUB", 42: "DIV",
	55: "MAXIMUM", 57: "MINIMUM", 60: "PADV2", 67: "TRANSPOSE_CONV", 75: "SQRT", 76: "RSQRT",
	97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU", 99: "SQUARED_DIFFERENCE", 100: "MIRROR_PAD",
	114: "QUANTIZE", 117: "HARD_SWISH",
}

// field returns the absolute position of table field i, or 0 if absent.
func field(t *flatbuffers.Table, i int) flatbuffers.UOffsetT {
	o := t.Offset(flatbuffers.VOffsetT(4 + 2*i))
	if o == 0 {
		return 0
	}
	return t.Pos + flatbuffers.UOffsetT(o)
}

func subTable(t *flatbuffers.Table, i int) (*flatbuffers.Table, bool) {
	p := field(t, i)
	if p == 0 {
		return nil, false
	}
	return &flatbuffers.Table{Bytes: t.Bytes, Pos: t.Indirect(p)}, true
}

// vec returns the start and length of vector field i.
func vec(t *flatbuffers.Table, i int) (start flatbuffers.UOffsetT, n int) {
	p := field(t, i)
	if p == 0 {
		return 0, 0
	}
	return t.Vector(p - t.Pos), t.VectorLen(p - t.Pos)
}

func vecTable(t *flatbuffers.Table, i, j int) *flatbuffers.Table {
	start, _ := vec(t, i)
	x := start + flatbuffers.UOffsetT(4*j)
	return &flatbuffers.Table{Bytes: t.Bytes, Pos: t.Indirect(x)}
}

func readTFLInfo(b []byte) (info *tflInfo, err error) {
	// The flatbuffers runtime indexes the buffer without bounds checks of
	// its own; a malformed file would panic. This tool reads only the
	// project's known model files, so turning a panic into an error is
	// enough here.
	defer func() {
		if r := recover(); r != nil {
			info, err = nil, fmt.Errorf("malformed TFLite flatbuffer: %v", r)
		}
	}()
	if len(b) < 8 || string(b[4:8]) != "TFL3" {
		return nil, errors.New("not a TFLite file (no TFL3 identifier)")
	}
	m := &flatbuffers.Table{Bytes: b, Pos: flatbuffers.GetUOffsetT(b)}
	// Model: version 0, operator_codes 1, subgraphs 2, description 3, buffers 4.
	_, nsub := vec(m, 2)
	if nsub == 0 {
		return nil, errors.New("model has no subgraphs")
	}
	sg := vecTable(m, 2, 0)
	_, nbuf := vec(m, 4)
	hasData := func(buf uint32) bool {
		if int(buf) >= nbuf || buf == 0 {
			return false
		}
		bt := vecTable(m, 4, int(buf))
		_, n := vec(bt, 0)
		return n > 0
	}
	// SubGraph: tensors 0, inputs 1, outputs 2, operators 3.
	_, ntens := vec(sg, 0)
	tensor := func(i int) (tflTensor, bool) {
		tt := vecTable(sg, 0, i)
		var out tflTensor
		// Tensor: shape 0, type 1, buffer 2, name 3, quantization 4.
		if s, n := vec(tt, 0); n > 0 {
			for k := 0; k < n; k++ {
				out.Shape = append(out.Shape, tt.GetInt32(s+flatbuffers.UOffsetT(4*k)))
			}
		}
		typ := 0
		if p := field(tt, 1); p != 0 {
			typ = int(tt.GetInt8(p))
		}
		out.Type = fmt.Sprintf("type%d", typ)
		if typ >= 0 && typ < len(tflTypes) {
			out.Type = tflTypes[typ]
		}
		var buf uint32
		if p := field(tt, 2); p != 0 {
			buf = tt.GetUint32(p)
		}
		if p := field(tt, 3); p != 0 {
			out.Name = string(tt.ByteVector(p))
		}
		// QuantizationParameters: min 0, max 1, scale 2, zero_point 3.
		if q, ok := subTable(tt, 4); ok {
			s, n := vec(q, 2)
			for k := 0; k < n; k++ {
				out.Scale = append(out.Scale, q.GetFloat32(s+flatbuffers.UOffsetT(4*k)))
			}
			s, n = vec(q, 3)
			for k := 0; k < n; k++ {
				out.ZeroPoint = append(out.ZeroPoint, q.GetInt64(s+flatbuffers.UOffsetT(8*k)))
			}
		}
		return out, hasData(buf)
	}
	info = &tflInfo{Ops: map[string]int{}, Activations: map[string]int{}, Constants: map[string]int{}}
	for _, f := range []struct {
		idx int
		dst *[]tflTensor
	}{{1, &info.Inputs}, {2, &info.Outputs}} {
		s, n := vec(sg, f.idx)
		for k := 0; k < n; k++ {
			ti := int(sg.GetInt32(s + flatbuffers.UOffsetT(4*k)))
			if ti < 0 || ti >= ntens {
				return nil, fmt.Errorf("subgraph i/o tensor index %d out of range", ti)
			}
			t, _ := tensor(ti)
			*f.dst = append(*f.dst, t)
		}
	}
	for i := 0; i < ntens; i++ {
		t, constant := tensor(i)
		if constant {
			info.Constants[t.Type]++
			continue
		}
		info.Activations[t.Type]++
		if len(t.Scale) > 0 && len(info.QuantizedActivations) < 4 {
			info.QuantizedActivations = append(info.QuantizedActivations, t)
		}
	}
	// Operator: opcode_index 0. OperatorCode: deprecated_builtin_code 0
	// (int8), builtin_code 3 (int32; the larger of the two is the code).
	_, nops := vec(sg, 3)
	_, ncodes := vec(m, 1)
	for i := 0; i < nops; i++ {
		op := vecTable(sg, 3, i)
		var idx uint32
		if p := field(op, 0); p != 0 {
			idx = op.GetUint32(p)
		}
		if int(idx) >= ncodes {
			return nil, fmt.Errorf("operator %d: opcode index %d out of range", i, idx)
		}
		oc := vecTable(m, 1, int(idx))
		var code int32
		if p := field(oc, 0); p != 0 {
			code = int32(oc.GetInt8(p))
		}
		if p := field(oc, 3); p != 0 {
			code = max(code, oc.GetInt32(p))
		}
		name, ok := tflOps[code]
		if !ok {
			name = fmt.Sprintf("op%d", code)
		}
		info.Ops[name]++
	}
	return info, nil
}

func countsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
