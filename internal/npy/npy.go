// Package npy reads and writes NumPy .npy files holding little-endian
// float32 ('<f4') arrays in C order: the one layout the project's reference
// fixtures use. It accepts format versions 1.0 and 2.0 on read and writes
// 1.0, so NumPy (np.load/np.save) reads what it writes and vice versa.
//
// The format is described at
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Limits keep a corrupt or hostile header from making Read allocate
// unbounded memory before it has seen the data.
const (
	// MaxElements caps the element count of an array (1 GiB of float32).
	MaxElements = 1 << 28
	// MaxHeaderLen caps the header dictionary; NumPy itself refuses
	// headers above 10000 bytes by default.
	MaxHeaderLen = 1 << 16
	// MaxDims caps the number of dimensions (NumPy's own limit is 64).
	MaxDims = 32
)

var magic = []byte("\x93NUMPY")

// Write writes data as a C-order '<f4' array of the given shape in format
// version 1.0. The product of shape must equal len(data); an empty shape
// is a scalar holding one element.
func Write(w io.Writer, shape []int, data []float32) error {
	n, err := count(shape)
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("npy: shape %v holds %d elements, data has %d", shape, n, len(data))
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += "," // a one-element Python tuple needs the trailing comma
	}
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	// Pad with spaces and end with '\n' so that magic+version+length+header
	// is a multiple of 64 bytes, as NumPy writes it (keeps the data aligned
	// for memory mapping).
	const prefix = 6 + 2 + 2
	total := prefix + len(dict) + 1
	pad := (64 - total%64) % 64
	hlen := len(dict) + pad + 1
	if hlen > math.MaxUint16 {
		return fmt.Errorf("npy: header of %d bytes too long for format 1.0", hlen)
	}
	var hdr bytes.Buffer
	hdr.Write(magic)
	hdr.Write([]byte{1, 0})
	binary.Write(&hdr, binary.LittleEndian, uint16(hlen))
	hdr.WriteString(dict)
	hdr.WriteString(strings.Repeat(" ", pad))
	hdr.WriteByte('\n')
	bw := bufio.NewWriter(w)
	if _, err := bw.Write(hdr.Bytes()); err != nil {
		return fmt.Errorf("npy: write header: %w", err)
	}
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		if _, err := bw.Write(b[:]); err != nil {
			return fmt.Errorf("npy: write data: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("npy: write data: %w", err)
	}
	return nil
}

// WriteFile writes an array to the named file (see Write).
func WriteFile(name string, shape []int, data []float32) (err error) {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("npy: close %s: %w", name, cerr)
		}
	}()
	if err := Write(f, shape, data); err != nil {
		return fmt.Errorf("%w (writing %s)", err, name)
	}
	return nil
}

// Read reads a '<f4' C-order array. It rejects any other dtype, Fortran
// order, malformed headers, arrays above MaxElements, and files whose data
// is shorter than the header promises.
func Read(r io.Reader) (shape []int, data []float32, err error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, nil, fmt.Errorf("npy: read magic: %w", truncated(err))
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, nil, errors.New("npy: not a .npy file (bad magic)")
	}
	var hlen int
	switch major := pre[6]; major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, fmt.Errorf("npy: read header length: %w", truncated(err))
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, fmt.Errorf("npy: read header length: %w", truncated(err))
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		// Version 3.0 only changes the header encoding to UTF-8, which our
		// ASCII-only dictionaries never need; refusing it keeps this small.
		return nil, nil, fmt.Errorf("npy: unsupported format version %d.%d", major, pre[7])
	}
	if hlen > MaxHeaderLen {
		return nil, nil, fmt.Errorf("npy: header length %d exceeds limit %d", hlen, MaxHeaderLen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, nil, fmt.Errorf("npy: read header (%d bytes): %w", hlen, truncated(err))
	}
	shape, err = parseHeader(string(hdr))
	if err != nil {
		return nil, nil, err
	}
	n, err := count(shape)
	if err != nil {
		return nil, nil, err
	}
	raw := make([]byte, 4*n)
	if got, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, fmt.Errorf("npy: data truncated: shape %v needs %d bytes, got %d", shape, len(raw), got)
	}
	data = make([]float32, n)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return shape, data, nil
}

// ReadFile reads an array from the named file (see Read). Trailing bytes
// after the data are an error there, since a file holds exactly one array.
func ReadFile(name string) (shape []int, data []float32, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	shape, data, err = Read(br)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (reading %s)", err, name)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, nil, fmt.Errorf("npy: %s: trailing bytes after the array data", name)
	}
	return shape, data, nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("file truncated: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// count returns the element count of shape, rejecting negative dimensions
// and products above MaxElements (checked per step, so it cannot overflow).
func count(shape []int) (int, error) {
	if len(shape) > MaxDims {
		return 0, fmt.Errorf("npy: %d dimensions exceed limit %d", len(shape), MaxDims)
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("npy: negative dimension in shape %v", shape)
		}
		if d != 0 && n > MaxElements/d {
			return 0, fmt.Errorf("npy: shape %v exceeds limit of %d elements", shape, MaxElements)
		}
		n *= d
	}
	return n, nil
}

// parseHeader parses the Python dict literal of a header, which NumPy
// writes as {'descr': ..., 'fortran_order': ..., 'shape': (...), }. It is
// a small parser for exactly that grammar: string keys, and values that
// are a string, True/False, or a tuple of non-negative integers.
func parseHeader(h string) ([]int, error) {
	p := &parser{s: strings.TrimRight(h, " \n\x00")}
	fields, err := p.dict()
	if err != nil {
		return nil, fmt.Errorf("npy: bad header %q: %w", h, err)
	}
	descr, ok := fields["descr"].(string)
	if !ok {
		return nil, fmt.Errorf("npy: header %q: missing or invalid 'descr'", h)
	}
	if descr != "<f4" {
		return nil, fmt.Errorf("npy: unsupported dtype %q (only '<f4', little-endian float32)", descr)
	}
	fortran, ok := fields["fortran_order"].(bool)
	if !ok {
		return nil, fmt.Errorf("npy: header %q: missing or invalid 'fortran_order'", h)
	}
	if fortran {
		return nil, errors.New("npy: Fortran-order arrays are not supported")
	}
	shape, ok := fields["shape"].([]int)
	if !ok {
		return nil, fmt.Errorf("npy: header %q: missing or invalid 'shape'", h)
	}
	if len(fields) != 3 {
		return nil, fmt.Errorf("npy: header %q: unexpected keys", h)
	}
	return shape, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *parser) eat(c byte) bool {
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) dict() (map[string]any, error) {
	if !p.eat('{') {
		return nil, errors.New("expected '{'")
	}
	m := map[string]any{}
	for {
		if p.eat('}') {
			break
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		if !p.eat(':') {
			return nil, fmt.Errorf("expected ':' after key %q", k)
		}
		v, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		m[k] = v
		if p.eat(',') {
			continue
		}
		if !p.eat('}') {
			return nil, errors.New("expected ',' or '}'")
		}
		break
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, errors.New("trailing characters after '}'")
	}
	return m, nil
}

func (p *parser) str() (string, error) {
	p.skipSpace()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("expected a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *parser) value() (any, error) {
	p.skipSpace()
	switch {
	case p.i >= len(p.s):
		return nil, errors.New("missing value")
	case p.s[p.i] == '\'' || p.s[p.i] == '"':
		return p.str()
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	case p.s[p.i] == '(':
		return p.tuple()
	}
	return nil, errors.New("unsupported value")
}

func (p *parser) tuple() ([]int, error) {
	p.eat('(')
	dims := []int{}
	for {
		if p.eat(')') {
			return dims, nil
		}
		p.skipSpace()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i {
			return nil, errors.New("expected a non-negative integer in shape")
		}
		d, err := strconv.Atoi(p.s[p.i:j])
		if err != nil || d > MaxElements {
			return nil, fmt.Errorf("dimension %q out of range", p.s[p.i:j])
		}
		p.i = j
		dims = append(dims, d)
		if p.eat(',') {
			continue
		}
		if !p.eat(')') {
			return nil, errors.New("expected ',' or ')' in shape")
		}
		return dims, nil
	}
}
