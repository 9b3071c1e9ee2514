package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunBytes checks the activation bound of tinyGraph against a sum
// done by hand at 16x16 (float32, 4 bytes a value):
//
//	x  16x16x3 = 3072 B, alive until c1 has run
//	c1 8x8x8 = 2048, conv scratch 1 row of 8 pixels x 27 taps = 864
//	c2 8x8x8 = 2048, scratch 8 x 72 x 4 = 2304; c1 lives on (res reads it)
//	res 2048; then c1, c2 go
//	up 16x16x8 = 8192; res goes
//	c3 16x16x3 = 3072, scratch 16 x 72 x 4 = 4608 per worker row
//	out 3072 + box_mean row sums 3072; c3 goes
//
// One worker: the peak is at c3, up + c3 + 1 row = 8192+3072+4608.
// Four workers: up + c3 + 4 rows = 8192+3072+18432.
func TestRunBytes(t *testing.T) {
	g := tinyGraph(rand.New(rand.NewPCG(1, 2)))
	for _, c := range []struct {
		workers int
		want    int64
	}{{1, 15872}, {4, 29696}} {
		got, err := g.RunBytes(16, 16, c.workers)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%d workers: RunBytes = %d, want %d", c.workers, got, c.want)
		}
	}
	if _, err := g.RunBytes(18, 16, 1); err == nil {
		t.Error("18x16 is not a multiple of 4: want an error")
	}
}

// A value nothing reads stays alive to the end in the CPU engine, so it
// must stay in the sum.
func TestRunBytesUnreadValue(t *testing.T) {
	g := tinyGraph(rand.New(rand.NewPCG(1, 2)))
	base, err := g.RunBytes(16, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A 16x16x8 side branch off "up" that nothing reads, inserted
	// before c3: it adds 8192 bytes to every later step.
	side := Node{Name: "side", Op: OpReLU, Inputs: []string{"up"}}
	g.Nodes = append(g.Nodes[:4], append([]Node{side}, g.Nodes[4:]...)...)
	got, err := g.RunBytes(16, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got != base+8192 {
		t.Errorf("with an unread 8 KiB value: %d, want %d", got, base+8192)
	}
}

func TestReadRegularFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("12345"), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	data, err := ReadRegularFile(good, 5)
	if err != nil || string(data) != "12345" {
		t.Fatalf("regular file: %q, %v", data, err)
	}
	for _, c := range []struct {
		path  string
		limit int64
		want  string
	}{
		{good, 4, "larger than the limit of 4 B"},
		{fifo, 1 << 20, "a named pipe"},
		{zero, 1 << 20, "a character device"},
		{"/dev/zero", 1 << 20, "a character device"},
		{dir, 1 << 20, "a directory"},
		{filepath.Join(dir, "missing"), 1 << 20, "no such file"},
	} {
		start := time.Now()
		_, err := ReadRegularFile(c.path, c.limit)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.path, err, c.want)
		}
		if c.want != "no such file" && c.want != "larger than the limit of 4 B" && !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: %v does not wrap ErrNotRegular", c.path, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", c.path, d) // a blocked open never returns at all
		}
	}
}

// A truncated file has several tensors outside its data; the error must
// name the same one on every run (map order is random in Go).
func TestDecodeErrorDeterministic(t *testing.T) {
	data, err := Encode(tinyGraph(rand.New(rand.NewPCG(5, 6))), "F32")
	if err != nil {
		t.Fatal(err)
	}
	cut := data[:len(data)*2/3]
	_, first := Decode(cut)
	if first == nil {
		t.Fatal("truncated file decoded")
	}
	for range 50 {
		if _, err := Decode(cut); err == nil || err.Error() != first.Error() {
			t.Fatalf("errors differ between runs:\n%v\n%v", first, err)
		}
	}
}

func TestValidateRejectsNonFinite(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		g := tinyGraph(rand.New(rand.NewPCG(7, 8)))
		g.Tensors["w2"].Data[5] = v
		err := g.Validate()
		if err == nil || !strings.Contains(err.Error(), `tensor "w2": element 5`) {
			t.Errorf("%v weight: Validate says %v", v, err)
		}
	}
}

// A weight that F32 holds but F16 cannot (above 65504) must not be
// written as an infinity that the reader then refuses.
func TestEncodeF16Overflow(t *testing.T) {
	g := tinyGraph(rand.New(rand.NewPCG(7, 8)))
	g.Tensors["b1"].Data[2] = 1e6
	if _, err := Encode(g, "F16"); err == nil || !strings.Contains(err.Error(), `tensor "b1": element 2`) {
		t.Errorf("F16 overflow: %v, want an error naming b1", err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, g, "F16"); err == nil {
		t.Error("WriteFile wrote an F16 overflow")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused write left %s behind (%v)", path, err)
	}
	if err := WriteFile(path, g, "F32"); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil || back.Tensors["b1"].Data[2] != 1e6 {
		t.Fatalf("F32 round trip: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{7: "7 B", 1024: "1 KiB", 1536: "1.5 KiB", 1 << 30: "1 GiB", 3 << 29: "1.5 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
