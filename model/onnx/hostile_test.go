package onnx

import (
	"math/rand"

	"github.com/edgetoon/edgetoon/model"
	"strings"
	"testing"
)

func exported(t testing.TB) []byte {
	data, err := Export(synthetic(), 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestHostile feeds truncated, bit-flipped and random bytes: each must
// give an error or a valid graph, never a panic (Import's recover would
// turn one into an error, so that message is forbidden too).
func TestHostile(t *testing.T) {
	data := exported(t)
	r := rand.New(rand.NewSource(1))
	check := func(what string, b []byte) {
		g, err := Import(b, Options{})
		if err != nil && strings.Contains(err.Error(), "malformed model") {
			t.Fatalf("%s: panic: %v", what, err)
		}
		if err == nil && g.Validate() != nil {
			t.Fatalf("%s: invalid graph accepted", what)
		}
	}
	for n := 0; n < len(data); n += 1 + len(data)/500 {
		check("truncated", data[:n])
	}
	for range 500 {
		b := append([]byte(nil), data...)
		for range 1 + r.Intn(4) {
			b[r.Intn(len(b))] ^= 1 << r.Intn(8)
		}
		check("bit-flipped", b)
	}
	for range 500 {
		b := make([]byte, r.Intn(256))
		r.Read(b)
		check("random", b)
	}
}

// TestErrors checks that hand-built models with unsupported content
// are rejected with a message naming the problem.
func TestErrors(t *testing.T) {
	in := valueInfoFloat("x", []dim{{value: 1}, {value: 3}, {value: 8}, {value: 8}})
	out := valueInfoFloat("y", []dim{{value: 1}, {value: 3}, {value: 8}, {value: 8}})
	model := func(nodes ...*onode) []byte {
		return encodeModel("g", nodes, nil, in, out, nil)
	}
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{nil, "no graph"},
		{[]byte{0xff, 0xff}, "onnx:"},
		{model(&onode{op: "Softmax", name: "sm", inputs: []string{"x"}, outputs: []string{"y"}}), `node "sm" (Softmax, output "y"): op Softmax is not supported`},
		{model(&onode{op: "Relu", inputs: []string{"z"}, outputs: []string{"y"}}), `"z" is not defined`},
		{model(&onode{op: "Resize", inputs: []string{"x"}, outputs: []string{"y"}}), "scales or sizes"},
		{model(&onode{op: "AveragePool", inputs: []string{"x"}, outputs: []string{"y"},
			attrs: [][]byte{attrInts("kernel_shape", 3, 3), attrInts("pads", 1, 1, 1, 1), attrInt("count_include_pad", 1)}}), "count_include_pad=0"},
		{model(&onode{op: "Relu", inputs: []string{"x"}, outputs: []string{"t"}}), `output "y" is not computed`},
	} {
		_, err := Import(tc.data, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to contain %q", err, tc.want)
		}
	}
	// A well-formed hand-built model imports.
	g, err := Import(model(&onode{op: "Relu", inputs: []string{"x"}, outputs: []string{"y"}}), Options{Name: "tiny"})
	if err != nil || len(g.Nodes) != 1 || g.Nodes[0].Op != "relu" || g.NominalSize != 8 {
		t.Errorf("tiny model: %v %+v", err, g)
	}
}

// tiny is a small graph of several ops, so that the fuzzer's seed is
// small enough to mutate quickly.
func tiny(t testing.TB) []byte {
	b := newBuilder(2, 8)
	x := b.conv("input", 3, 2, 3, 1, model.Node{Act: "leaky_relu", Alpha: 0.2, Stride: [2]int{2, 2}})
	x = b.node(model.Node{Op: model.OpResize, Inputs: []string{x}, Mode: "bilinear", Scale: [2]int{2, 2}})
	x = b.node(model.Node{Op: model.OpBoxMean, Inputs: []string{x}, Radius: 1})
	x = b.node(model.Node{Op: model.OpLayerNorm, Inputs: []string{x, b.tensor(1, 2, 2), b.tensor(0, 1, 2)}, Eps: 1e-5})
	b.conv(x, 2, 3, 1, 1, model.Node{Padding: model.PadValid})
	data, err := Export(b.g, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func FuzzImport(f *testing.F) {
	data := tiny(f)
	f.Add(data)
	f.Add(data[:len(data)/2])
	in := valueInfoFloat("x", []dim{{value: 1}, {value: 3}, {param: "h"}, {param: "w"}})
	f.Add(encodeModel("g", []*onode{{op: "Relu", inputs: []string{"x"}, outputs: []string{"y"}}}, nil, in,
		valueInfoFloat("y", nil), nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Import(b, Options{})
		if err != nil && strings.Contains(err.Error(), "malformed model") {
			t.Fatalf("panic: %v", err)
		}
		if err == nil && g.Validate() != nil {
			t.Fatal("invalid graph accepted")
		}
	})
}
