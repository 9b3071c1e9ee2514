package tflite

import (
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"
)

// The flatbuffers runtime trusts its input: a stray offset makes it index
// past the end of the buffer and panic. These accessors check every
// offset against the buffer before letting the runtime decode the bytes,
// and record the first failure in a sticky error so that the schema code
// stays a flat list of field reads.

// reader holds the file and the first error met while walking it.
type reader struct {
	buf []byte
	err error
}

// table is a flatbuffer table: the absolute position of its start.
type table struct {
	r   *reader
	pos int
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

// span reports whether n bytes starting at pos lie inside the buffer.
func (r *reader) span(pos, n int, what string) bool {
	if r.err != nil {
		return false
	}
	if pos < 0 || n < 0 || pos > len(r.buf) || n > len(r.buf)-pos {
		r.fail("%s: offset %d+%d outside the %d-byte file", what, pos, n, len(r.buf))
		return false
	}
	return true
}

// root returns the file's root table.
func (r *reader) root() table {
	if !r.span(0, 8, "header") {
		return table{r: r, pos: -1}
	}
	return r.deref(0, "root")
}

// deref follows the unsigned offset stored at pos to a table.
func (r *reader) deref(pos int, what string) table {
	if !r.span(pos, 4, what) {
		return table{r: r, pos: -1}
	}
	p := pos + int(flatbuffers.GetUOffsetT(r.buf[pos:]))
	if !r.span(p, 4, what) {
		return table{r: r, pos: -1}
	}
	return table{r: r, pos: p}
}

// field returns the absolute position of field slot (0-based, in schema
// order), or -1 when the field is absent or the table is broken.
func (t table) field(slot int, size int) int {
	r := t.r
	if t.pos < 0 || r.err != nil {
		return -1
	}
	vt := t.pos - int(flatbuffers.GetSOffsetT(r.buf[t.pos:]))
	if !r.span(vt, 4, "vtable") {
		return -1
	}
	vtSize := int(flatbuffers.GetVOffsetT(r.buf[vt:]))
	if vtSize%2 != 0 || !r.span(vt, vtSize, "vtable") {
		if r.err == nil {
			r.fail("vtable at %d: odd size %d", vt, vtSize)
		}
		return -1
	}
	at := 4 + 2*slot
	if at+2 > vtSize {
		return -1
	}
	off := int(flatbuffers.GetVOffsetT(r.buf[vt+at:]))
	if off == 0 {
		return -1
	}
	p := t.pos + off
	if !r.span(p, size, "field") {
		return -1
	}
	return p
}

func (t table) uint8(slot int, def uint8) uint8 {
	if p := t.field(slot, 1); p >= 0 {
		return t.r.buf[p]
	}
	return def
}

func (t table) int8(slot int, def int8) int8 {
	return int8(t.uint8(slot, uint8(def)))
}

func (t table) bool(slot int) bool { return t.uint8(slot, 0) != 0 }

func (t table) int32(slot int, def int32) int32 {
	if p := t.field(slot, 4); p >= 0 {
		return flatbuffers.GetInt32(t.r.buf[p:])
	}
	return def
}

func (t table) uint32(slot int, def uint32) uint32 {
	return uint32(t.int32(slot, int32(def)))
}

func (t table) uint64(slot int, def uint64) uint64 {
	if p := t.field(slot, 8); p >= 0 {
		return flatbuffers.GetUint64(t.r.buf[p:])
	}
	return def
}

func (t table) float32(slot int, def float32) float32 {
	if p := t.field(slot, 4); p >= 0 {
		return flatbuffers.GetFloat32(t.r.buf[p:])
	}
	return def
}

// sub returns the table that field slot points to; ok is false if absent.
func (t table) sub(slot int) (table, bool) {
	p := t.field(slot, 4)
	if p < 0 {
		return table{r: t.r, pos: -1}, false
	}
	s := t.r.deref(p, "table")
	return s, s.pos >= 0
}

// vector returns the position of the first element and the length of the
// vector in field slot, checked to hold n elements of elemSize bytes.
func (t table) vector(slot, elemSize int) (start, n int) {
	p := t.field(slot, 4)
	if p < 0 {
		return 0, 0
	}
	r := t.r
	v := p + int(flatbuffers.GetUOffsetT(r.buf[p:]))
	if !r.span(v, 4, "vector length") {
		return 0, 0
	}
	n = int(flatbuffers.GetUint32(r.buf[v:]))
	if n > (len(r.buf)-v-4)/elemSize {
		r.fail("vector at %d: %d elements of %d bytes overrun the file", v, n, elemSize)
		return 0, 0
	}
	return v + 4, n
}

func (t table) bytes(slot int) []byte {
	s, n := t.vector(slot, 1)
	if n == 0 {
		return nil
	}
	return t.r.buf[s : s+n : s+n]
}

func (t table) string(slot int) string { return string(t.bytes(slot)) }

func (t table) int32s(slot int) []int32 {
	s, n := t.vector(slot, 4)
	out := make([]int32, n)
	for i := range out {
		out[i] = flatbuffers.GetInt32(t.r.buf[s+4*i:])
	}
	return out
}

func (t table) int64s(slot int) []int64 {
	s, n := t.vector(slot, 8)
	out := make([]int64, n)
	for i := range out {
		out[i] = flatbuffers.GetInt64(t.r.buf[s+8*i:])
	}
	return out
}

func (t table) float32s(slot int) []float32 {
	s, n := t.vector(slot, 4)
	out := make([]float32, n)
	for i := range out {
		out[i] = flatbuffers.GetFloat32(t.r.buf[s+4*i:])
	}
	return out
}

// tables returns the tables of a vector of offsets.
func (t table) tables(slot int) []table {
	s, n := t.vector(slot, 4)
	out := make([]table, 0, n)
	for i := 0; i < n && t.r.err == nil; i++ {
		out = append(out, t.r.deref(s+4*i, "vector element"))
	}
	return out
}
