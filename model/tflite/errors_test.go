package tflite

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A simple valid model, the seed for the error tests and the fuzzer.
func tinyModel() *sModel {
	m := &sModel{}
	x := m.act("x", 1, 8, 8, 3)
	wt := m.f32("w", []int32{4, 3, 3, 3}, make([]float32, 4*27))
	y := m.act("y", 1, 8, 8, 4)
	z := m.act("z", 1, 8, 8, 4)
	m.op(opConv2D, []int32{x, wt, -1}, y, 1, convOpts(padSame, 1, actNone))
	m.op(opLeakyRelu, []int32{y}, z, 75, leakyOpts(0.2))
	m.inputs, m.outputs = []int32{x}, []int32{z}
	return m
}

func TestTinyModelFusesLeakyReLU(t *testing.T) {
	g := mustImport(t, tinyModel())
	if len(g.Nodes) != 1 || g.Nodes[0].Act != "leaky_relu" || g.Nodes[0].Alpha != 0.2 || g.Nodes[0].Name != "z" || g.Output != "z" {
		t.Fatalf("nodes %+v", g.Nodes)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m *sModel)
		want string
	}{
		{"unsupported op", func(m *sModel) { m.ops[1].code = 25; m.ops[1].optType = 0; m.ops[1].opts = nil }, `SOFTMAX) -> "z": unsupported op`},
		{"tensor index", func(m *sModel) { m.ops[1].in[0] = 99 }, "tensor index 99 out of range"},
		{"opcode index", func(m *sModel) { m.ops[0].opcode = 7 }, "opcode index 7 out of range"},
		{"buffer index", func(m *sModel) { m.tensors[1].buffer = 50 }, "buffer 50 out of range"},
		{"output index", func(m *sModel) { m.outputs = []int32{-4} }, "tensor index -4 out of range"},
		{"weight data size", func(m *sModel) { m.tensors[1].data = m.tensors[1].data[:20] }, "20 bytes for shape"},
		{"spatial constant", func(m *sModel) {
			c := m.f32("map", []int32{1, 8, 8, 1}, make([]float32, 64))
			m.op(opAdd, []int32{3, c}, m.act("u", 1, 8, 8, 4), 11, noOpts)
			m.outputs = []int32{int32(len(m.tensors) - 1)}
		}, "depends on the image size"},
		{"resize scale", func(m *sModel) {
			size := m.i32("size", []int32{2}, []int32{12, 12})
			m.op(opResizeBilinear, []int32{3, size}, m.act("u", 1, 12, 12, 4), 15, noOpts)
			m.outputs = []int32{int32(len(m.tensors) - 1)}
		}, "not an integer scale"},
		{"wrong options", func(m *sModel) { m.ops[0].optType = 2 }, "options of type 2"},
		{"fused activation", func(m *sModel) { m.ops[0].opts = convOpts(padSame, 1, 5) }, "unsupported fused activation 5"},
	} {
		m := tinyModel()
		tc.edit(m)
		_, err := importData(m.bytes(), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestHostileBytes(t *testing.T) {
	good := tinyModel().bytes()
	if _, err := importData(good, Options{}); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	copy(bad[4:8], "TFL2")
	if _, err := importData(bad, Options{}); err == nil || !strings.Contains(err.Error(), "identifier") {
		t.Errorf("wrong identifier: err = %v", err)
	}
	for n := range len(good) {
		if _, err := importData(good[:n], Options{}); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		b := append([]byte(nil), good...)
		for range 1 + r.IntN(4) {
			b[r.IntN(len(b))] = byte(r.Uint32())
		}
		importData(b, Options{}) // must not panic; an error or a graph is fine
	}
	for range 200 {
		b := make([]byte, r.IntN(300))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if len(b) >= 8 {
			copy(b[4:8], "TFL3")
		}
		if _, err := importData(b, Options{}); err == nil {
			t.Errorf("random bytes imported")
		}
	}
}

func FuzzImport(f *testing.F) {
	good := tinyModel().bytes()
	f.Add(good)
	for _, n := range []int{0, 8, 16, len(good) / 2, len(good) - 1} {
		f.Add(good[:n])
	}
	f.Add(boxModel(4, 4, 1, false).bytes())
	f.Add(normModel([]int32{1, 2}).bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := importData(data, Options{})
		if err == nil {
			if _, err := g.Shapes(g.NominalSize, g.NominalSize); err != nil {
				t.Fatalf("imported graph fails its own shapes: %v", err)
			}
		}
	})
}

// Cuts and corruptions of a real file: errors, never a panic.
func TestHostileRealModel(t *testing.T) {
	path := filepath.Join(modelsDir(t), "whitebox_cartoon_fp16.tflite")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	for range 100 {
		n := r.IntN(len(good))
		if _, err := importData(good[:n], Options{}); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	// Corrupt the flatbuffer's tables (its first part) rather than the
	// weights, where most offsets live.
	for range 300 {
		b := append([]byte(nil), good...)
		for range 1 + r.IntN(8) {
			b[r.IntN(4096)] = byte(r.Uint32())
		}
		importData(b, Options{})
	}
}
