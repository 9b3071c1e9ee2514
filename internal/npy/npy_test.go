package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		shape []int
		data  []float32
	}{
		{[]int{}, []float32{3.5}},
		{[]int{1}, []float32{-1}},
		{[]int{0}, []float32{}},
		{[]int{2, 3}, []float32{1, 2, 3, 4, 5, -0.5}},
		{[]int{4, 4, 3}, make([]float32, 48)},
		{[]int{1, 2, 1}, []float32{float32(math.Inf(-1)), math.SmallestNonzeroFloat32}},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := Write(&buf, c.shape, c.data); err != nil {
			t.Fatalf("Write(%v): %v", c.shape, err)
		}
		// NumPy pads the preamble + header to a multiple of 64 bytes.
		if hdr := buf.Len() - 4*len(c.data); hdr%64 != 0 {
			t.Errorf("shape %v: header %d bytes, not a multiple of 64", c.shape, hdr)
		}
		shape, data, err := Read(&buf)
		if err != nil {
			t.Fatalf("Read(%v): %v", c.shape, err)
		}
		if !reflect.DeepEqual(shape, c.shape) || !reflect.DeepEqual(data, c.data) {
			t.Errorf("round trip: got %v %v, want %v %v", shape, data, c.shape, c.data)
		}
	}
}

func TestFileRoundTrip(t *testing.T) {
	name := filepath.Join(t.TempDir(), "a.npy")
	want := []float32{0.25, -0.75, 1, 2}
	if err := WriteFile(name, []int{2, 2}, want); err != nil {
		t.Fatal(err)
	}
	shape, got, err := ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int{2, 2}) || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v %v", shape, got)
	}
}

func f32le(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// numpyFile is what np.save(f, np.array([[1,2,3],[4,5,-0.5]], '<f4'))
// writes: version 1.0, header length 0x76 = 118, total preamble 128 bytes.
func numpyFile() []byte {
	hdr := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
	hdr += strings.Repeat(" ", 118-len(hdr)-1) + "\n"
	b := []byte("\x93NUMPY\x01\x00\x76\x00" + hdr)
	return append(b, f32le(1, 2, 3, 4, 5, -0.5)...)
}

func TestHandWrittenHeader(t *testing.T) {
	want := numpyFile()
	var buf bytes.Buffer
	if err := Write(&buf, []int{2, 3}, []float32{1, 2, 3, 4, 5, -0.5}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Write bytes differ from NumPy's:\n got %q\nwant %q", buf.Bytes(), want)
	}

	// Older NumPy wrote keys in another order and padded to 16 bytes; a
	// version 2.0 header has a 4-byte length. Both must read.
	hdr := "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}\n"
	v1 := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), 0)
	v1 = append(append(v1, hdr...), f32le(7, 8, 9)...)
	v2 := append([]byte("\x93NUMPY\x02\x00"), byte(len(hdr)), 0, 0, 0)
	v2 = append(append(v2, hdr...), f32le(7, 8, 9)...)
	for name, file := range map[string][]byte{"numpy": want, "v1": v1, "v2": v2} {
		shape, data, err := Read(bytes.NewReader(file))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if name == "numpy" {
			if !reflect.DeepEqual(shape, []int{2, 3}) || !reflect.DeepEqual(data, []float32{1, 2, 3, 4, 5, -0.5}) {
				t.Errorf("%s: got %v %v", name, shape, data)
			}
		} else if !reflect.DeepEqual(shape, []int{3}) || !reflect.DeepEqual(data, []float32{7, 8, 9}) {
			t.Errorf("%s: got %v %v", name, shape, data)
		}
	}
}

func TestTruncated(t *testing.T) {
	file := numpyFile()
	for _, n := range []int{0, 3, 8, 9, 50, 127, 128, 129, len(file) - 1} {
		_, _, err := Read(bytes.NewReader(file[:n]))
		if err == nil {
			t.Errorf("%d of %d bytes: no error", n, len(file))
			continue
		}
		if !strings.Contains(err.Error(), "truncated") {
			t.Errorf("%d bytes: error %q does not say truncated", n, err)
		}
	}
	if _, _, err := Read(bytes.NewReader(file[:8])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("header cut: error %v does not wrap io.ErrUnexpectedEOF", err)
	}
}

func TestRejects(t *testing.T) {
	mk := func(hdr string) []byte {
		b := []byte("\x93NUMPY\x01\x00")
		b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
		return append(b, hdr...)
	}
	cases := map[string]struct {
		file []byte
		want string
	}{
		"dtype f8":     {mk("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"), "unsupported dtype \"<f8\""},
		"big endian":   {mk("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"), "unsupported dtype"},
		"int8":         {mk("{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }"), "unsupported dtype"},
		"fortran":      {mk("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }"), "Fortran"},
		"bad magic":    {[]byte("\x93NUMPZ\x01\x00\x00\x00"), "bad magic"},
		"version 9":    {[]byte("\x93NUMPY\x09\x00\x00\x00"), "unsupported format version"},
		"no shape":     {mk("{'descr': '<f4', 'fortran_order': False}"), "'shape'"},
		"extra key":    {mk("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 'y'}"), "unexpected keys"},
		"dup key":      {mk("{'descr': '<f4', 'descr': '<f4'}"), "duplicate"},
		"negative":     {mk("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }"), "non-negative"},
		"huge":         {mk("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }"), "exceeds limit"},
		"overflow dim": {mk("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }"), "out of range"},
		"garbage":      {mk("not a dict"), "bad header"},
		"unterminated": {mk("{'descr"), "unterminated"},
		"long header":  {[]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"), "exceeds limit"},
	}
	for name, c := range cases {
		_, _, err := Read(bytes.NewReader(c.file))
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not contain %q", name, err, c.want)
		}
	}
}

func TestWriteRejects(t *testing.T) {
	if err := Write(io.Discard, []int{2, 2}, make([]float32, 3)); err == nil {
		t.Error("length mismatch: no error")
	}
	if err := Write(io.Discard, []int{-1}, nil); err == nil {
		t.Error("negative dim: no error")
	}
}

func FuzzRead(f *testing.F) {
	f.Add(numpyFile())
	f.Add([]byte("\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		shape, data, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, shape, data); err != nil {
			t.Fatalf("re-write of a file that read: %v", err)
		}
	})
}
