package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// The file is a safetensors container: an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range,
// then the raw little-endian tensor bytes. The graph spec travels as JSON
// in the header's __metadata__ (a string-to-string map by the standard),
// so any safetensors tool can list and load the weights.
const (
	metaFormat  = "format"
	metaVersion = "edgetoon.version"
	metaGraph   = "edgetoon.graph"
	formatName  = "edgetoon"
)

// Limits on what a file may ask of the reader.
const (
	MaxHeaderBytes = 16 << 20
	MaxTensors     = 4096
	MaxNodes       = 4096
	MaxFileBytes   = 512 << 20
)

type tensorHeader struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Decode parses and validates a model file. Every failure is an error that
// names the offending tensor or node; no input makes it panic.
func Decode(data []byte) (*Graph, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("model file: %d bytes, larger than the %d limit", len(data), MaxFileBytes)
	}
	if len(data) < 8 {
		return nil, fmt.Errorf("model file: %d bytes, too short for a safetensors header", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderBytes || n > uint64(len(data)-8) {
		return nil, fmt.Errorf("model file: header length %d exceeds the file (%d bytes) or the %d limit; truncated or not a safetensors file", n, len(data), MaxHeaderBytes)
	}
	header, body := data[8:8+n], data[8+n:]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, fmt.Errorf("model file: header is not valid JSON: %w", err)
	}
	var meta map[string]string
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, fmt.Errorf("model file: __metadata__: %w", err)
		}
		delete(raw, "__metadata__")
	}
	if meta[metaFormat] != formatName {
		return nil, fmt.Errorf("model file: not an edgetoon model (metadata format %q, want %q)", meta[metaFormat], formatName)
	}
	version, err := strconv.Atoi(meta[metaVersion])
	if err != nil || version < 1 || version > FormatVersion {
		return nil, fmt.Errorf("model file: format version %q not supported (this build reads 1..%d)", meta[metaVersion], FormatVersion)
	}
	g := new(Graph)
	dec := json.NewDecoder(bytes.NewReader([]byte(meta[metaGraph])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(g); err != nil {
		return nil, fmt.Errorf("model file: graph spec: %w", err)
	}
	if g.Version != version {
		return nil, fmt.Errorf("model file: graph version %d differs from file version %d", g.Version, version)
	}
	if len(raw) > MaxTensors {
		return nil, fmt.Errorf("model file: %d tensors, more than the %d limit", len(raw), MaxTensors)
	}
	g.Tensors, err = decodeTensors(raw, body)
	if err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

func decodeTensors(raw map[string]json.RawMessage, body []byte) (map[string]*Tensor, error) {
	type span struct {
		name       string
		begin, end int64
	}
	spans := make([]span, 0, len(raw))
	tensors := make(map[string]*Tensor, len(raw))
	// In name order, so that a broken file gets the same error every run.
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		msg := raw[name]
		var h tensorHeader
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&h); err != nil {
			return nil, fmt.Errorf("tensor %q: header: %w", name, err)
		}
		size := 0
		switch h.DType {
		case "F32":
			size = 4
		case "F16":
			size = 2
		default:
			return nil, fmt.Errorf("tensor %q: dtype %q not supported (want F32 or F16)", name, h.DType)
		}
		if len(h.Shape) > 4 {
			return nil, fmt.Errorf("tensor %q: rank %d, at most 4", name, len(h.Shape))
		}
		count := int64(1)
		for _, d := range h.Shape {
			if d < 0 || d > MaxElements {
				return nil, fmt.Errorf("tensor %q: bad dimension in shape %v", name, h.Shape)
			}
			count *= int64(d)
			if count > MaxElements {
				return nil, fmt.Errorf("tensor %q: shape %v too large", name, h.Shape)
			}
		}
		b, e := h.DataOffsets[0], h.DataOffsets[1]
		if b < 0 || e < b || e > int64(len(body)) {
			return nil, fmt.Errorf("tensor %q: data offsets [%d,%d] outside the %d data bytes (truncated file?)", name, b, e, len(body))
		}
		if e-b != count*int64(size) {
			return nil, fmt.Errorf("tensor %q: %d bytes, but %s%v needs %d", name, e-b, h.DType, h.Shape, count*int64(size))
		}
		t := &Tensor{Shape: h.Shape, DType: h.DType, Data: make([]float32, count)}
		src := body[b:e]
		for i := range t.Data {
			var v float32
			if size == 4 {
				v = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			} else {
				v = HalfToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
			}
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tensor %q: element %d is %v", name, i, v)
			}
			t.Data[i] = v
		}
		if t.Shape == nil {
			t.Shape = []int{}
		}
		tensors[name] = t
		spans = append(spans, span{name, b, e})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	var at int64
	for _, s := range spans {
		if s.begin < at {
			return nil, fmt.Errorf("tensor %q: data [%d,%d] overlaps the previous tensor", s.name, s.begin, s.end)
		}
		if s.begin > at {
			return nil, fmt.Errorf("tensor %q: %d unused bytes before its data", s.name, s.begin-at)
		}
		at = s.end
	}
	if at != int64(len(body)) {
		return nil, fmt.Errorf("model file: %d trailing bytes after the last tensor", int64(len(body))-at)
	}
	return tensors, nil
}

// Encode writes g as a model file, storing every tensor as dtype ("F32" or
// "F16"). Tensors are laid out in the order nodes first use them, so a
// streaming reader meets the first layer's weights first.
func Encode(g *Graph, dtype string) ([]byte, error) {
	size := map[string]int{"F32": 4, "F16": 2}[dtype]
	if size == 0 {
		return nil, fmt.Errorf("encode: dtype %q, want F32 or F16", dtype)
	}
	if g.Version == 0 {
		g.Version = FormatVersion
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	spec, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("encode: graph spec: %w", err)
	}
	header := map[string]any{"__metadata__": map[string]string{
		metaFormat:  formatName,
		metaVersion: strconv.Itoa(g.Version),
		metaGraph:   string(spec),
	}}
	var body []byte
	for _, name := range g.tensorOrder() {
		t := g.Tensors[name]
		begin := len(body)
		for i, v := range t.Data {
			if size == 4 {
				body = binary.LittleEndian.AppendUint32(body, math.Float32bits(v))
				continue
			}
			h := Float32ToHalf(v)
			if bad(HalfToFloat32(h)) {
				return nil, fmt.Errorf("encode: tensor %q: element %d (%g) overflows F16; store it as F32", name, i, v)
			}
			body = binary.LittleEndian.AppendUint16(body, h)
		}
		header[name] = tensorHeader{DType: dtype, Shape: t.Shape, DataOffsets: [2]int64{int64(begin), int64(len(body))}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		return nil, fmt.Errorf("encode: header: %w", err)
	}
	for len(h)%8 != 0 { // Align the data to 8 bytes, as the standard suggests.
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(out, h...)
	return append(out, body...), nil
}

// tensorOrder lists tensor names by first use, then any unused ones sorted.
func (g *Graph) tensorOrder() []string {
	seen := map[string]bool{}
	var order []string
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if g.Tensors[in] != nil && !seen[in] {
				seen[in] = true
				order = append(order, in)
			}
		}
	}
	var rest []string
	for name := range g.Tensors {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	return append(order, rest...)
}

// ReadFile reads and validates a model file of at most MaxFileBytes.
func ReadFile(path string) (*Graph, error) {
	return ReadFileLimit(path, MaxFileBytes)
}

// ReadFileLimit reads and validates a model file of at most limit bytes
// (and MaxFileBytes). Only a regular file is read (see ReadRegularFile).
// Decoding holds the file and its weights as float32, up to three times
// the file's size for F16 weights, which is how a caller derives limit
// from a memory budget.
func ReadFileLimit(path string, limit int64) (*Graph, error) {
	data, err := ReadRegularFile(path, min(limit, MaxFileBytes))
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	g, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// WriteFile encodes g and writes it to path atomically (a temporary file
// in the same directory, renamed into place), so a failed write never
// leaves a half model behind. It refuses to write a file that Decode
// would refuse: what one tool writes, every reader accepts.
func WriteFile(path string, g *Graph, dtype string) error {
	data, err := Encode(g, dtype)
	if err != nil {
		return err
	}
	if _, err := Decode(data); err != nil {
		return fmt.Errorf("write %s: the encoded model would not read back: %w", path, err)
	}
	return WriteAtomic(path, data)
}

// WriteAtomic writes data to a temporary file beside path and renames it
// into place.
func WriteAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
