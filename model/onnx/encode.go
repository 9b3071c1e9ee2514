package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Writers for the onnx.proto messages that Export emits. Each returns
// the serialized message; repeated scalars are written unpacked where
// onnx.proto declares them unpacked (dims, ints) so that any reader
// accepts them.

func putBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func putString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func putVarint(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// onode is a node to write.
type onode struct {
	op      string
	name    string
	inputs  []string
	outputs []string
	attrs   [][]byte // encoded AttributeProtos
}

func (n *onode) encode() []byte {
	var b []byte
	for _, in := range n.inputs {
		b = putString(b, 1, in)
	}
	for _, out := range n.outputs {
		b = putString(b, 2, out)
	}
	b = putString(b, 3, n.name)
	b = putString(b, 4, n.op)
	for _, a := range n.attrs {
		b = putBytes(b, 5, a)
	}
	return b
}

func attrInt(name string, v int64) []byte {
	b := putString(nil, 1, name)
	b = putVarint(b, 20, aInt)
	return putVarint(b, 3, v)
}

func attrFloat(name string, v float32) []byte {
	b := putString(nil, 1, name)
	b = putVarint(b, 20, aFloat)
	b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(v))
}

func attrString(name, v string) []byte {
	b := putString(nil, 1, name)
	b = putVarint(b, 20, aString)
	return putString(b, 4, v)
}

func attrInts(name string, vs ...int64) []byte {
	b := putString(nil, 1, name)
	b = putVarint(b, 20, aInts)
	for _, v := range vs {
		b = putVarint(b, 8, v)
	}
	return b
}

// tensorFloat encodes a float32 TensorProto with raw_data.
func tensorFloat(name string, dims []int64, data []float32) []byte {
	b := encodeDims(nil, dims)
	b = putVarint(b, 2, tFloat)
	b = putString(b, 8, name)
	raw := make([]byte, 0, 4*len(data))
	for _, v := range data {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	return putBytes(b, 9, raw)
}

// tensorInt64 encodes an int64 TensorProto with raw_data.
func tensorInt64(name string, dims []int64, data []int64) []byte {
	b := encodeDims(nil, dims)
	b = putVarint(b, 2, tInt64)
	b = putString(b, 8, name)
	raw := make([]byte, 0, 8*len(data))
	for _, v := range data {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
	}
	return putBytes(b, 9, raw)
}

func encodeDims(b []byte, dims []int64) []byte {
	for _, d := range dims {
		b = putVarint(b, 1, d)
	}
	return b
}

// valueInfoFloat encodes a float tensor ValueInfoProto; a dimension is
// a value if its param is empty, else symbolic.
func valueInfoFloat(name string, dims []dim) []byte {
	var shape []byte
	for _, d := range dims {
		var db []byte
		if d.param != "" {
			db = putString(nil, 2, d.param)
		} else {
			db = putVarint(nil, 1, d.value)
		}
		shape = putBytes(shape, 1, db)
	}
	tt := putVarint(nil, 1, tFloat)
	tt = putBytes(tt, 2, shape)
	tp := putBytes(nil, 1, tt)
	b := putString(nil, 1, name)
	return putBytes(b, 2, tp)
}

// encodeModel assembles a ModelProto.
func encodeModel(graphName string, nodes []*onode, inits [][]byte, input, output []byte, meta [][2]string) []byte {
	var g []byte
	for _, n := range nodes {
		g = putBytes(g, 1, n.encode())
	}
	g = putString(g, 2, graphName)
	for _, t := range inits {
		g = putBytes(g, 5, t)
	}
	g = putBytes(g, 11, input)
	g = putBytes(g, 12, output)

	m := putVarint(nil, 1, irVersion)
	m = putString(m, 2, "edgetoon")
	m = putBytes(m, 7, g)
	opset := putString(nil, 1, "")
	opset = putVarint(opset, 2, opsetVersion)
	m = putBytes(m, 8, opset)
	for _, kv := range meta {
		e := putString(nil, 1, kv[0])
		e = putString(e, 2, kv[1])
		m = putBytes(m, 14, e)
	}
	return m
}
