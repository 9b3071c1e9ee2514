package model

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunBytes checks the activation bound of tinyGraph against a sum
// done by hand at 16x16 (float32, 4 bytes a value). Each row: what is
// held, what the previous node freed (still counted), the output, the
// scratch for one worker.
//
//	c1   x 3072, -, 2048, 1 row of 8 pixels x 27 taps = 864    5984
//	c2   c1 2048, x 3072, 2048, 8 x 72 x 4 = 2304               9472
//	res  c1+c2 4096, -, 2048                                     6144
//	up   res 2048, c1+c2 4096, 8192                             14336
//	c3   up 8192, res 2048, 3072, 16 x 72 x 4 = 4608            17920
//	out  c3 3072, up 8192, 3072, box_mean row sums 3072         17408
//
// With four workers c2 and c3 have four rows of scratch: c3 is
// 8192+2048+3072+18432.
func TestRunBytes(t *testing.T) {
	g := tinyGraph(rand.New(rand.NewPCG(1, 2)))
	for _, c := range []struct {
		workers int
		want    int64
	}{{1, 17920}, {4, 31744}} {
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
// must stay in the sum. With a 16x16x8 relu of "up" that nothing reads,
// inserted before c3, the rows from there on become
//
//	side up 8192, res 2048, 8192                                18432
//	c3   up+side 16384, -, 3072, 4608                           24064
//	out  side+c3 11264, up 8192, 3072, 3072                     25600
func TestRunBytesUnreadValue(t *testing.T) {
	g := tinyGraph(rand.New(rand.NewPCG(1, 2)))
	side := Node{Name: "side", Op: OpReLU, Inputs: []string{"up"}}
	g.Nodes = append(g.Nodes[:4], append([]Node{side}, g.Nodes[4:]...)...)
	got, err := g.RunBytes(16, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got != 25600 {
		t.Errorf("with an unread value: %d, want 25600", got)
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
