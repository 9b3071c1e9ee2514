package onnx

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The subset of onnx.proto (proto2) that the importer reads, decoded by
// hand from the wire format. Field numbers are those of onnx.proto.

// Tensor element types (TensorProto.DataType).
const (
	tFloat   = 1
	tUint8   = 2
	tInt8    = 3
	tInt16   = 5
	tInt32   = 6
	tInt64   = 7
	tBool    = 9
	tFloat16 = 10
	tDouble  = 11
)

// Attribute types (AttributeProto.AttributeType).
const (
	aFloat  = 1
	aInt    = 2
	aString = 3
	aTensor = 4
	aFloats = 6
	aInts   = 7
)

// Limits that bound what a hostile file can make the decoder do.
const (
	maxNodes = 100000
	maxAttrs = 1000
	maxDims  = 8
)

type modelProto struct {
	irVersion int64
	opsets    map[string]int64
	graph     *graphProto
	meta      map[string]string
}

type graphProto struct {
	name    string
	nodes   []*nodeProto
	inits   []*tensorProto
	inputs  []*valueInfo
	outputs []*valueInfo
}

type nodeProto struct {
	inputs, outputs  []string
	name, op, domain string
	attrs            []*attribute
}

type attribute struct {
	name   string
	typ    int64
	f      float32
	i      int64
	s      string
	t      *tensorProto
	floats []float32
	ints   []int64
}

type tensorProto struct {
	name     string
	dims     []int64
	dtype    int64
	raw      []byte
	hasRaw   bool
	floats   []float32
	int32s   []int64 // int32_data, widened
	int64s   []int64
	doubles  []float64
	external bool
}

type valueInfo struct {
	name     string
	elemType int64
	hasShape bool
	dims     []dim
}

// dim is a dimension: a value, or a symbolic parameter (value -1).
type dim struct {
	value int64
	param string
}

func decodeModel(b []byte) (*modelProto, error) {
	m := &modelProto{opsets: map[string]int64{}, meta: map[string]string{}}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch num {
		case 1:
			m.irVersion = int64(v)
		case 7:
			if err := wantBytes(typ, "graph"); err != nil {
				return err
			}
			g, err := decodeGraph(raw)
			if err != nil {
				return fmt.Errorf("graph: %w", err)
			}
			m.graph = g
		case 8:
			if err := wantBytes(typ, "opset_import"); err != nil {
				return err
			}
			var domain string
			var version int64
			err := fields(raw, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
				switch num {
				case 1:
					domain = string(raw)
				case 2:
					version = int64(v)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("opset_import: %w", err)
			}
			m.opsets[domain] = version
		case 14:
			if err := wantBytes(typ, "metadata_props"); err != nil {
				return err
			}
			var key, value string
			err := fields(raw, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
				switch num {
				case 1:
					key = string(raw)
				case 2:
					value = string(raw)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("metadata_props: %w", err)
			}
			m.meta[key] = value
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if m.graph == nil {
		return nil, fmt.Errorf("no graph (not an ONNX model?)")
	}
	return m, nil
}

func decodeGraph(b []byte) (*graphProto, error) {
	g := &graphProto{}
	return g, fields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		var err error
		switch num {
		case 1:
			if err = wantBytes(typ, "node"); err != nil {
				return err
			}
			if len(g.nodes) >= maxNodes {
				return fmt.Errorf("more than %d nodes", maxNodes)
			}
			var n *nodeProto
			if n, err = decodeNode(raw); err != nil {
				return fmt.Errorf("node %d: %w", len(g.nodes), err)
			}
			g.nodes = append(g.nodes, n)
		case 2:
			g.name = string(raw)
		case 5:
			if err = wantBytes(typ, "initializer"); err != nil {
				return err
			}
			var t *tensorProto
			if t, err = decodeTensor(raw); err != nil {
				return fmt.Errorf("initializer %d: %w", len(g.inits), err)
			}
			g.inits = append(g.inits, t)
		case 11, 12:
			if err = wantBytes(typ, "input/output"); err != nil {
				return err
			}
			var vi *valueInfo
			if vi, err = decodeValueInfo(raw); err != nil {
				return fmt.Errorf("input/output: %w", err)
			}
			if num == 11 {
				g.inputs = append(g.inputs, vi)
			} else {
				g.outputs = append(g.outputs, vi)
			}
		case 15:
			return fmt.Errorf("sparse initializers are not supported")
		}
		return nil
	})
}

func decodeNode(b []byte) (*nodeProto, error) {
	n := &nodeProto{}
	return n, fields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch num {
		case 1:
			n.inputs = append(n.inputs, string(raw))
		case 2:
			n.outputs = append(n.outputs, string(raw))
		case 3:
			n.name = string(raw)
		case 4:
			n.op = string(raw)
		case 7:
			n.domain = string(raw)
		case 5:
			if err := wantBytes(typ, "attribute"); err != nil {
				return err
			}
			if len(n.attrs) >= maxAttrs {
				return fmt.Errorf("more than %d attributes", maxAttrs)
			}
			a, err := decodeAttr(raw)
			if err != nil {
				return fmt.Errorf("attribute %d: %w", len(n.attrs), err)
			}
			n.attrs = append(n.attrs, a)
		}
		return nil
	})
}

func decodeAttr(b []byte) (*attribute, error) {
	a := &attribute{}
	return a, fields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		var err error
		switch num {
		case 1:
			a.name = string(raw)
		case 20:
			a.typ = int64(v)
		case 2:
			if typ != protowire.Fixed32Type {
				return fmt.Errorf("f: wire type %d", typ)
			}
			a.f = math.Float32frombits(uint32(v))
		case 3:
			a.i = int64(v)
		case 4:
			a.s = string(raw)
		case 5:
			if err = wantBytes(typ, "t"); err != nil {
				return err
			}
			a.t, err = decodeTensor(raw)
		case 7:
			a.floats, err = appendFloats(a.floats, typ, v, raw)
		case 8:
			a.ints, err = appendInts(a.ints, typ, v, raw)
		}
		return err
	})
}

func decodeTensor(b []byte) (*tensorProto, error) {
	t := &tensorProto{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		var err error
		switch num {
		case 1:
			t.dims, err = appendInts(t.dims, typ, v, raw)
			if len(t.dims) > maxDims {
				return fmt.Errorf("rank %d, more than %d", len(t.dims), maxDims)
			}
		case 2:
			t.dtype = int64(v)
		case 4:
			t.floats, err = appendFloats(t.floats, typ, v, raw)
		case 5:
			t.int32s, err = appendInts(t.int32s, typ, v, raw)
		case 7:
			t.int64s, err = appendInts(t.int64s, typ, v, raw)
		case 8:
			t.name = string(raw)
		case 9:
			t.raw, t.hasRaw = raw, true
		case 10:
			t.doubles, err = appendDoubles(t.doubles, typ, v, raw)
		case 13:
			t.external = true
		case 14:
			t.external = t.external || v == 1
		case 3:
			return fmt.Errorf("segmented tensors are not supported")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.name, err)
	}
	return t, nil
}

func decodeValueInfo(b []byte) (*valueInfo, error) {
	vi := &valueInfo{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch num {
		case 1:
			vi.name = string(raw)
		case 2: // TypeProto
			return fields(raw, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
				if num != 1 { // tensor_type only
					return nil
				}
				return fields(raw, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
					switch num {
					case 1:
						vi.elemType = int64(v)
					case 2:
						vi.hasShape = true
						return fields(raw, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
							if num != 1 {
								return nil
							}
							if len(vi.dims) >= maxDims {
								return fmt.Errorf("rank more than %d", maxDims)
							}
							d := dim{value: -1}
							err := fields(raw, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
								switch num {
								case 1:
									d.value = int64(v)
								case 2:
									d.param = string(raw)
								}
								return nil
							})
							vi.dims = append(vi.dims, d)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("value %q: %w", vi.name, err)
	}
	return vi, nil
}
