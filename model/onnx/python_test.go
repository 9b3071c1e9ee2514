package onnx

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

const python = "/usr/bin/python3"

// needPython skips unless Debian's python3 has the given modules.
func needPython(t *testing.T, modules ...string) {
	t.Helper()
	for _, m := range modules {
		if err := exec.Command(python, "-c", "import "+m).Run(); err != nil {
			t.Skipf("%s with module %s not available: %v", python, m, err)
		}
	}
}

func writeF32(t *testing.T, path string, data []float32) {
	t.Helper()
	b := make([]byte, 0, 4*len(data))
	for _, v := range data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// hwcToNCHW and back.
func hwcToNCHW(t *model.Tensor) []float32 {
	h, w, c := t.Shape[0], t.Shape[1], t.Shape[2]
	out := make([]float32, len(t.Data))
	for y := range h {
		for x := range w {
			for ch := range c {
				out[(ch*h+y)*w+x] = t.Data[(y*w+x)*c+ch]
			}
		}
	}
	return out
}

func nchwToHWC(data []float32, h, w, c int) *model.Tensor {
	t := model.NewTensor(h, w, c)
	for y := range h {
		for x := range w {
			for ch := range c {
				t.Data[(y*w+x)*c+ch] = data[(ch*h+y)*w+x]
			}
		}
	}
	return t
}

// TestExportPython checks exported files with onnx.checker and runs
// them with an evaluator written from the ONNX operator specs
// (testdata/onnx_eval.py, PyTorch in float64), against the CPU engine
// on the original graph.
func TestExportPython(t *testing.T) {
	needPython(t, "onnx", "torch")
	graphs := map[string]*model.Graph{"synthetic": synthetic()}
	if _, err := os.Stat("../../../shared/models/whitebox_cartoon_fp16.tflite"); err == nil || os.Getenv("CI") == "true" {
		graphs["whitebox"] = whitebox(t)
	}
	dir := t.TempDir()
	for name, g := range graphs {
		for _, size := range []int{64, 0} {
			t.Run(name+"/"+strconv.Itoa(size), func(t *testing.T) {
				data, err := Export(g, size, size)
				if err != nil {
					t.Fatal(err)
				}
				file := filepath.Join(dir, name+strconv.Itoa(size)+".onnx")
				if err := os.WriteFile(file, data, 0o644); err != nil {
					t.Fatal(err)
				}
				in := randInput(3, 64, 64, g.InputChannels)
				want, err := cpu.Run(g, in)
				if err != nil {
					t.Fatal(err)
				}
				inFile, outFile := filepath.Join(dir, "in.f32"), filepath.Join(dir, "out.f32")
				writeF32(t, inFile, hwcToNCHW(in))
				cmd := exec.Command(python, "testdata/onnx_eval.py", file, inFile, outFile, "64", "64")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("onnx_eval.py: %v\n%s", err, out)
				}
				got := readF32(t, outFile)
				if len(got) != len(want.Data) {
					t.Fatalf("%d output values, want %d", len(got), len(want.Data))
				}
				d := maxDiff(t, nchwToHWC(got, want.Shape[0], want.Shape[1], want.Shape[2]), want)
				t.Logf("max abs difference against the spec evaluator: %g", d)
				if d > 1e-4 {
					t.Errorf("max abs difference %g > 1e-4", d)
				}
			})
		}
	}
}
