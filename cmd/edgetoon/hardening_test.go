//go:build unix

package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgetoon/edgetoon/model"
)

// grayPNG writes a w x h 8-bit grey PNG of zeros by hand, streaming the
// rows into the compressor: a 50-megapixel image in a few kilobytes.
func grayPNG(t *testing.T, w, h int) string {
	t.Helper()
	chunk := func(out []byte, kind string, body []byte) []byte {
		out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
		c := append([]byte(kind), body...)
		return binary.BigEndian.AppendUint32(append(out, c...), crc32.ChecksumIEEE(c))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, 0, 0, 0, 0)
	var idat bytes.Buffer
	z := zlib.NewWriter(&idat)
	row := make([]byte, w+1)
	for range h {
		z.Write(row)
	}
	z.Close()
	data := chunk([]byte("\x89PNG\r\n\x1a\n"), "IHDR", ihdr)
	data = chunk(chunk(data, "IDAT", idat.Bytes()), "IEND", nil)
	path := filepath.Join(t.TempDir(), "gray.png")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	student  = "../../web/models/student.safetensors"
	portrait = "../../testdata/biden.jpg" // 225x512
)

// studentMultiple is what the student's input sides must be multiples of.
func studentMultiple(t *testing.T) int {
	t.Helper()
	g, err := model.ReadFile(student)
	if err != nil {
		t.Fatal(err)
	}
	return g.SizeMultiple
}

func TestStylizeHugeImages(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.png")
	for _, size := range [][2]int{{50_000_000, 1}, {1, 50_000_000}} {
		png := grayPNG(t, size[0], size[1])
		r := run(t, "stylize", "-model", student, png, "-o", out)
		r.refused(t, 1024, "needs about", "more than the memory budget of 1 GiB")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused run left %s (%v)", out, err)
	}
}

func TestStylizeSizeBudget(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.png")
	m := studentMultiple(t)
	pad := func(v int) int { return (v + m - 1) / m * m }
	// 225x512 at 4096 is 1800x4096, padded to the model's multiple: the
	// student's activations alone pass 1 GiB (inspect prints them).
	run(t, "stylize", "-model", student, "-size", "4096", portrait, "-o", out).
		refused(t, 1024, fmt.Sprintf("activations at %dx4096", pad(1800)), "more than the memory budget of 1 GiB")
	// A run within its budget stays within it: the budget is the Go
	// runtime's memory limit, and the refusal above keeps what must be
	// live below it.
	r := run(t, "stylize", "-model", student, "-size", "512", "-max-memory", "96MiB", portrait, "-o", out)
	if r.err != nil {
		t.Fatalf("student at 512 in 96 MiB: %v", r.err)
	}
	if r.rssMiB > 96 {
		t.Errorf("peak RSS %d MiB, over the 96 MiB budget", r.rssMiB)
	}
	// 225x512 at 1024 is 450x1024.
	run(t, "stylize", "-model", student, "-size", "1024", "-max-memory", "64MiB", portrait, "-o", out).
		refused(t, 64, fmt.Sprintf("activations at %dx1024", pad(450)), "more than the memory budget of 64 MiB")
}

// fatModel is a small file (26 KiB) whose activations are large: six
// 64-channel convs of the input, all alive for the concat that reads
// them. At 452x1024 that is 6 x 113 MiB, and as much again for the
// concat: 1.3 GiB.
func fatModel(t *testing.T) string {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	randT := func(shape ...int) *model.Tensor {
		x := model.NewTensor(shape...)
		for i := range x.Data {
			x.Data[i] = r.Float32()*0.2 - 0.1
		}
		return x
	}
	g := &model.Graph{
		Version: model.FormatVersion, Name: "fat", Input: "x", InputChannels: 3, Output: "out",
		Norm:        model.Affine{Scale: []float32{1, 1, 1}, Bias: []float32{0, 0, 0}},
		Denorm:      model.Affine{Scale: []float32{1, 1, 1}, Bias: []float32{0, 0, 0}},
		NominalSize: 64, SizeMultiple: 4, License: "test",
		Tensors: map[string]*model.Tensor{"wo": randT(3, 1, 1, 384)},
	}
	var cat []string
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		g.Tensors["w"+n] = randT(64, 3, 3, 3)
		g.Nodes = append(g.Nodes, model.Node{Name: n, Op: model.OpConv2D, Inputs: []string{"x", "w" + n}, Padding: model.PadSame})
		cat = append(cat, n)
	}
	g.Nodes = append(g.Nodes,
		model.Node{Name: "cat", Op: model.OpConcat, Inputs: cat},
		model.Node{Name: "out", Op: model.OpConv2D, Inputs: []string{"cat", "wo"}, Padding: model.PadSame})
	path := filepath.Join(t.TempDir(), "fat.safetensors")
	if err := model.WriteFile(path, g, "F16"); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStylizeModelActivations(t *testing.T) {
	fat := fatModel(t)
	if r := run(t, "inspect", fat); r.err != nil {
		t.Fatalf("inspect refused the model: %v", r.err)
	}
	out := filepath.Join(t.TempDir(), "out.png")
	run(t, "stylize", "-model", fat, "-size", "1024", portrait, "-o", out).
		refused(t, 1024, "activations at 452x1024", "more than the memory budget")
}

// Non-regular files are refused before they are read, wherever a
// command takes a file.
func TestNonRegularInputs(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.png")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, bad := range []struct{ path, kind string }{
		{"/dev/zero", "a character device"}, {zero, "a character device"}, {fifo, "a named pipe"}, {dir, "a directory"},
	} {
		for _, args := range [][]string{
			{"inspect", bad.path},
			{"stylize", "-model", bad.path, portrait, "-o", out + ".png"},
			{"stylize", "-model", student, bad.path, "-o", out + ".png"},
			{"import", bad.path, "-o", out + ".safetensors"},
			{"export-onnx", "-model", bad.path, "-o", out + ".onnx"},
		} {
			run(t, args...).refused(t, 64, "not a regular file", bad.kind)
		}
	}
}

func TestOutputCheckedFirst(t *testing.T) {
	// The run would take seconds and hundreds of MiB; the unwritable
	// output is refused before any of it.
	r := run(t, "stylize", "-model", student, "-size", "1024", portrait, "-o", "/no/such/dir/x.png")
	r.refused(t, 64, "output /no/such/dir/x.png", "no such file or directory")
	run(t, "import", "../../web/models/MODEL_CARD.md", "-o", "/no/such/dir/x.safetensors").
		refused(t, 64, "output /no/such/dir/x.safetensors")
	run(t, "stylize", "-model", student, portrait, "-o", t.TempDir()).
		refused(t, 64, "is not a regular file")
}

func TestTinyImage(t *testing.T) {
	png := grayPNG(t, 1, 1)
	out := filepath.Join(t.TempDir(), "out.png")
	r := run(t, "stylize", "-model", student, png, "-o", out)
	r.refused(t, 64, "image of 1x1 pixels is too small")
	if strings.Contains(r.stderr, "-size 1") {
		t.Errorf("blames a -size that was not given: %s", r.stderr)
	}
	// With -size (the smallest the model takes: its multiple) the photo
	// is scaled up.
	m := strconv.Itoa(studentMultiple(t))
	if r := run(t, "stylize", "-model", student, "-size", m, png, "-o", out); r.err != nil {
		t.Errorf("1x1 at -size %s: %v", m, r.err)
	}
}

// TestImportBitFlips corrupts a real TFLite file many times over
// (seeded, so every run is the same): each import either fails, leaving
// nothing behind, or writes a file that the reader and inspect accept.
// Random bytes in fp16 weights make NaNs and infinities, which import
// used to write and the reader then refused.
func TestImportBitFlips(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "models", teacherFile)
	good, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, teacherFile)
	r := rand.New(rand.NewPCG(21, 22))
	var written, nonFinite, other int
	for i := range 40 {
		b := append([]byte(nil), good...)
		for range 16 {
			b[4096+r.IntN(len(b)-4096)] = byte(r.Uint32())
		}
		if i%4 == 0 { // now and then the flatbuffer's tables too
			b[r.IntN(4096)] ^= 1 << r.IntN(8)
		}
		if err := os.WriteFile(in, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("m%d.safetensors", i))
		if err := runImport([]string{in, "-o", out}); err != nil {
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("flip %d: import failed (%v) but wrote %s", i, err, out)
			}
			if strings.Contains(err.Error(), "NaN") || strings.Contains(err.Error(), "Inf") {
				nonFinite++
			} else {
				other++
				t.Logf("flip %d: %v", i, err)
			}
			continue
		}
		written++
		g, err := model.ReadFile(out)
		if err != nil {
			t.Errorf("flip %d: import wrote a file the reader refuses: %v", i, err)
			continue
		}
		if err := inspect(io.Discard, g, 256, true); err != nil {
			t.Errorf("flip %d: import wrote a file inspect refuses: %v", i, err)
		}
	}
	t.Logf("40 corrupted files: %d imported, %d refused for a non-finite weight, %d refused otherwise", written, nonFinite, other)
	if nonFinite == 0 || written == 0 {
		t.Errorf("the corruptions reached neither a non-finite weight nor a good import: the test checks nothing")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1GiB": 1 << 30, "512MiB": 512 << 20, "512m": 512 << 20, "2G": 2 << 30, "1.5 GB": 3 << 29, "4096": 4096, "10KiB": 10 << 10,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1GiB", "lots", "1XB", "1e30"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("%q: accepted as %d", in, b)
		}
	}
}

// An interrupted run leaves no temporary file beside its output.
func TestInterruptRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(edgetoonBinary(t), "stylize", "-model", student, "-size", "1792", "-max-memory", "2GiB", portrait, "-o", filepath.Join(dir, "out.png"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		tmp, _ := filepath.Glob(filepath.Join(dir, ".out.png.*.tmp"))
		if len(tmp) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no temporary output appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("interrupted run: %v (exit %d), want exit 130", err, code)
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		t.Errorf("left behind: %s", e.Name())
	}
}
