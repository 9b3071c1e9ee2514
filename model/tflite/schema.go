package tflite

import (
	"fmt"
	"math"
)

// The subset of TensorFlow Lite's schema v3 (tensorflow/lite/schema/
// schema.fbs) that the importer reads, decoded into plain structs. Field
// slots are the fields' indices in schema order.

// File is a decoded .tflite file.
type File struct {
	Version   uint32
	OpCodes   []OpCode
	Subgraphs []Subgraph
	Buffers   []Buffer

	// r is the reader that options tables are read through later; its
	// sticky error reports a bad offset met there.
	r *reader
}

// OpCode is an entry of the model's operator table.
type OpCode struct {
	Builtin int32 // the larger of deprecated_builtin_code and builtin_code
	Custom  string
	Version int32
}

// Subgraph is one graph of the file; the importer reads the first.
type Subgraph struct {
	Name      string
	Tensors   []TensorInfo
	Inputs    []int32
	Outputs   []int32
	Operators []Operator
}

// TensorInfo describes a tensor; constants have a non-empty buffer.
type TensorInfo struct {
	Name   string
	Shape  []int32
	Type   int8
	Buffer uint32
	Quant  *Quantization
}

// Quantization maps stored integers q to reals (q - ZeroPoint) * Scale,
// with one scale per slice along Dim when there are several.
type Quantization struct {
	Min, Max  []float32
	Scale     []float32
	ZeroPoint []int64
	Dim       int32
}

// Buffer is a constant's bytes, either inline or at Offset/Size in the
// file (the layout used by models over 2 GB).
type Buffer struct {
	Data []byte
}

// Operator is one op of a subgraph. Options is its builtin options
// table, read according to the op code.
type Operator struct {
	OpcodeIndex uint32
	Inputs      []int32
	Outputs     []int32
	OptionsType uint8
	Options     table
	HasOptions  bool
}

// Tensor types.
const (
	TypeFloat32 = 0
	TypeFloat16 = 1
	TypeInt32   = 2
	TypeUint8   = 3
	TypeInt64   = 4
	TypeInt16   = 7
	TypeInt8    = 9
)

// Limits on what a file may declare, well above any real image model.
const (
	maxTensors   = 1 << 16
	maxOperators = 1 << 16
	maxRank      = 8
)

// Parse decodes a .tflite flatbuffer, checking the identifier and that
// every index (op code, tensor, buffer) is in range.
func Parse(data []byte) (f *File, err error) {
	defer func() {
		// The reader checks every offset; this is the last line of
		// defence for a case it missed, so hostile input never crashes.
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("tflite: malformed file: %v", p)
		}
	}()
	return parse(data)
}

func parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("tflite: file of %d bytes is too short", len(data))
	}
	if id := string(data[4:8]); id != "TFL3" {
		return nil, fmt.Errorf("tflite: file identifier %q, want \"TFL3\"", id)
	}
	r := &reader{buf: data}
	root := r.root()
	f := &File{Version: root.uint32(0, 0), r: r}
	for _, t := range root.tables(1) {
		dep := int32(t.int8(0, 0))
		code := t.int32(3, 0)
		f.OpCodes = append(f.OpCodes, OpCode{Builtin: max(dep, code), Custom: t.string(1), Version: t.int32(2, 1)})
	}
	for _, t := range root.tables(4) {
		f.Buffers = append(f.Buffers, parseBuffer(r, t))
	}
	for _, t := range root.tables(2) {
		f.Subgraphs = append(f.Subgraphs, parseSubgraph(t))
	}
	if r.err != nil {
		return nil, fmt.Errorf("tflite: %w", r.err)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	return f, nil
}

func parseBuffer(r *reader, t table) Buffer {
	if d := t.bytes(0); len(d) > 0 {
		return Buffer{Data: d}
	}
	off, size := t.uint64(1, 0), t.uint64(2, 0)
	if off <= 1 || size == 0 { // offset 1 marks an empty buffer
		return Buffer{}
	}
	if off > uint64(len(r.buf)) || size > uint64(len(r.buf))-off {
		r.fail("buffer at offset %d, size %d: outside the %d-byte file", off, size, len(r.buf))
		return Buffer{}
	}
	return Buffer{Data: r.buf[off : off+size : off+size]}
}

func parseSubgraph(t table) Subgraph {
	s := Subgraph{Name: t.string(4), Inputs: t.int32s(1), Outputs: t.int32s(2)}
	for _, tt := range t.tables(0) {
		ti := TensorInfo{
			Shape:  tt.int32s(0),
			Type:   tt.int8(1, 0),
			Buffer: tt.uint32(2, 0),
			Name:   tt.string(3),
		}
		if q, ok := tt.sub(4); ok {
			ti.Quant = &Quantization{
				Min:       q.float32s(0),
				Max:       q.float32s(1),
				Scale:     q.float32s(2),
				ZeroPoint: q.int64s(3),
				Dim:       q.int32(6, 0),
			}
		}
		s.Tensors = append(s.Tensors, ti)
	}
	for _, ot := range t.tables(3) {
		op := Operator{
			OpcodeIndex: ot.uint32(0, 0),
			Inputs:      ot.int32s(1),
			Outputs:     ot.int32s(2),
			OptionsType: ot.uint8(3, 0),
		}
		op.Options, op.HasOptions = ot.sub(4)
		s.Operators = append(s.Operators, op)
	}
	return s
}

// check validates every cross-reference so later stages can index freely.
func (f *File) check() error {
	if len(f.Subgraphs) == 0 {
		return fmt.Errorf("no subgraphs")
	}
	for si, s := range f.Subgraphs {
		if len(s.Tensors) > maxTensors || len(s.Operators) > maxOperators {
			return fmt.Errorf("subgraph %d: %d tensors, %d operators: too many", si, len(s.Tensors), len(s.Operators))
		}
		for ti, t := range s.Tensors {
			if int(t.Buffer) >= len(f.Buffers) {
				return fmt.Errorf("tensor %d %q: buffer %d out of range (%d buffers)", ti, t.Name, t.Buffer, len(f.Buffers))
			}
			if len(t.Shape) > maxRank {
				return fmt.Errorf("tensor %d %q: rank %d too large", ti, t.Name, len(t.Shape))
			}
			n := 1
			for _, d := range t.Shape {
				if d < 0 || d > math.MaxInt32/int32(max(n, 1)) {
					return fmt.Errorf("tensor %d %q: bad shape %v", ti, t.Name, t.Shape)
				}
				n *= max(int(d), 1)
			}
		}
		ref := func(idx []int32, what string, allowOptional bool) error {
			for _, i := range idx {
				if i == -1 && allowOptional {
					continue
				}
				if i < 0 || int(i) >= len(s.Tensors) {
					return fmt.Errorf("%s: tensor index %d out of range (%d tensors)", what, i, len(s.Tensors))
				}
			}
			return nil
		}
		if err := ref(s.Inputs, fmt.Sprintf("subgraph %d inputs", si), false); err != nil {
			return err
		}
		if err := ref(s.Outputs, fmt.Sprintf("subgraph %d outputs", si), false); err != nil {
			return err
		}
		for oi, op := range s.Operators {
			if int(op.OpcodeIndex) >= len(f.OpCodes) {
				return fmt.Errorf("operator %d: opcode index %d out of range (%d codes)", oi, op.OpcodeIndex, len(f.OpCodes))
			}
			// -1 marks an omitted optional input, such as a conv's bias.
			if err := ref(op.Inputs, fmt.Sprintf("operator %d inputs", oi), true); err != nil {
				return err
			}
			if err := ref(op.Outputs, fmt.Sprintf("operator %d outputs", oi), false); err != nil {
				return err
			}
		}
	}
	return nil
}
