package tflite

import (
	"encoding/binary"
	"math"

	flatbuffers "github.com/google/flatbuffers/go"
)

// A minimal writer of .tflite files for tests, built on the flatbuffers
// runtime's Builder, independent of the importer's reader.

type sTensor struct {
	name   string
	shape  []int32
	typ    int8
	data   []byte
	scale  []float32
	zero   []int64
	qdim   int32
	buffer int64 // if > 0, overrides the buffer index (for hostile files)
}

type sOp struct {
	code    int32
	in, out []int32
	optType uint8
	opts    func(b *flatbuffers.Builder) flatbuffers.UOffsetT
	opcode  int64 // if > 0, overrides the opcode index (for hostile files)
}

type sModel struct {
	tensors         []sTensor
	ops             []sOp
	inputs, outputs []int32
}

func (m *sModel) add(t sTensor) int32 {
	m.tensors = append(m.tensors, t)
	return int32(len(m.tensors) - 1)
}

func (m *sModel) act(name string, shape ...int32) int32 {
	return m.add(sTensor{name: name, shape: shape})
}

func (m *sModel) f32(name string, shape []int32, v []float32) int32 {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return m.add(sTensor{name: name, shape: shape, data: b})
}

func (m *sModel) i32(name string, shape []int32, v []int32) int32 {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return m.add(sTensor{name: name, shape: shape, typ: TypeInt32, data: b})
}

func (m *sModel) op(code int32, in []int32, out int32, optType uint8, opts func(*flatbuffers.Builder) flatbuffers.UOffsetT) {
	m.ops = append(m.ops, sOp{code: code, in: in, out: []int32{out}, optType: optType, opts: opts})
}

func int32Vec(b *flatbuffers.Builder, v []int32) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt32(v[i])
	}
	return b.EndVector(len(v))
}

func offsetVec(b *flatbuffers.Builder, v []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependUOffsetT(v[i])
	}
	return b.EndVector(len(v))
}

// tbl builds a table from slot writers, in slot order.
func tbl(b *flatbuffers.Builder, n int, slots func()) flatbuffers.UOffsetT {
	b.StartObject(n)
	slots()
	return b.EndObject()
}

func (m *sModel) bytes() []byte {
	b := flatbuffers.NewBuilder(1024)
	// Buffers: 0 is the empty buffer; each constant gets its own.
	bufs := []flatbuffers.UOffsetT{tbl(b, 3, func() {})}
	bufIndex := make([]uint32, len(m.tensors))
	for i, t := range m.tensors {
		if t.data == nil {
			continue
		}
		data := b.CreateByteVector(t.data)
		bufs = append(bufs, tbl(b, 3, func() { b.PrependUOffsetTSlot(0, data, 0) }))
		bufIndex[i] = uint32(len(bufs) - 1)
	}
	for i, t := range m.tensors {
		if t.buffer > 0 {
			bufIndex[i] = uint32(t.buffer)
		}
	}
	var tensors []flatbuffers.UOffsetT
	for i, t := range m.tensors {
		name := b.CreateString(t.name)
		shape := int32Vec(b, t.shape)
		var quant flatbuffers.UOffsetT
		if t.scale != nil {
			b.StartVector(4, len(t.scale), 4)
			for j := len(t.scale) - 1; j >= 0; j-- {
				b.PrependFloat32(t.scale[j])
			}
			scale := b.EndVector(len(t.scale))
			b.StartVector(8, len(t.zero), 8)
			for j := len(t.zero) - 1; j >= 0; j-- {
				b.PrependInt64(t.zero[j])
			}
			zero := b.EndVector(len(t.zero))
			quant = tbl(b, 7, func() {
				b.PrependUOffsetTSlot(2, scale, 0)
				b.PrependUOffsetTSlot(3, zero, 0)
				b.PrependInt32Slot(6, t.qdim, 0)
			})
		}
		tensors = append(tensors, tbl(b, 5, func() {
			b.PrependUOffsetTSlot(0, shape, 0)
			b.PrependInt8Slot(1, t.typ, 0)
			b.PrependUint32Slot(2, bufIndex[i], 0)
			b.PrependUOffsetTSlot(3, name, 0)
			if quant != 0 {
				b.PrependUOffsetTSlot(4, quant, 0)
			}
		}))
	}
	codeIndex := map[int32]uint32{}
	var codes []flatbuffers.UOffsetT
	var ops []flatbuffers.UOffsetT
	for _, o := range m.ops {
		if _, ok := codeIndex[o.code]; !ok {
			codeIndex[o.code] = uint32(len(codes))
			code := o.code
			codes = append(codes, tbl(b, 4, func() {
				b.PrependInt8Slot(0, int8(min(code, 127)), 0)
				b.PrependInt32Slot(2, 1, 1)
				b.PrependInt32Slot(3, code, 0)
			}))
		}
		in, out := int32Vec(b, o.in), int32Vec(b, o.out)
		var opts flatbuffers.UOffsetT
		if o.opts != nil {
			opts = o.opts(b)
		}
		idx := codeIndex[o.code]
		if o.opcode > 0 {
			idx = uint32(o.opcode)
		}
		ops = append(ops, tbl(b, 5, func() {
			b.PrependUint32Slot(0, idx, 0)
			b.PrependUOffsetTSlot(1, in, 0)
			b.PrependUOffsetTSlot(2, out, 0)
			b.PrependByteSlot(3, o.optType, 0)
			if opts != 0 {
				b.PrependUOffsetTSlot(4, opts, 0)
			}
		}))
	}
	tv, iv, ov, opv := offsetVec(b, tensors), int32Vec(b, m.inputs), int32Vec(b, m.outputs), offsetVec(b, ops)
	sgName := b.CreateString("main")
	sg := tbl(b, 5, func() {
		b.PrependUOffsetTSlot(0, tv, 0)
		b.PrependUOffsetTSlot(1, iv, 0)
		b.PrependUOffsetTSlot(2, ov, 0)
		b.PrependUOffsetTSlot(3, opv, 0)
		b.PrependUOffsetTSlot(4, sgName, 0)
	})
	cv, sv, bv := offsetVec(b, codes), offsetVec(b, []flatbuffers.UOffsetT{sg}), offsetVec(b, bufs)
	root := tbl(b, 5, func() {
		b.PrependUint32Slot(0, 3, 0)
		b.PrependUOffsetTSlot(1, cv, 0)
		b.PrependUOffsetTSlot(2, sv, 0)
		b.PrependUOffsetTSlot(4, bv, 0)
	})
	b.FinishWithFileIdentifier(root, []byte("TFL3"))
	return b.FinishedBytes()
}

// Option tables.

func convOpts(padding uint8, stride int32, act uint8) func(*flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		return tbl(b, 6, func() {
			b.PrependByteSlot(convPadding, padding, 255)
			b.PrependInt32Slot(convStrideW, stride, 0)
			b.PrependInt32Slot(convStrideH, stride, 0)
			b.PrependByteSlot(convAct, act, 255)
		})
	}
}

func dwOpts(padding uint8, mult int32) func(*flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		return tbl(b, 7, func() {
			b.PrependByteSlot(dwPadding, padding, 255)
			b.PrependInt32Slot(dwStrideW, 1, 0)
			b.PrependInt32Slot(dwStrideH, 1, 0)
			b.PrependInt32Slot(dwMultiplier, mult, 0)
		})
	}
}

func leakyOpts(alpha float32) func(*flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		return tbl(b, 1, func() { b.PrependFloat32Slot(leakyAlpha, alpha, -1) })
	}
}

func keepDims(b *flatbuffers.Builder) flatbuffers.UOffsetT {
	return tbl(b, 1, func() { b.PrependBoolSlot(reduceKeepDims, true, false) })
}

func noOpts(b *flatbuffers.Builder) flatbuffers.UOffsetT { return tbl(b, 1, func() {}) }
