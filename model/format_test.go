package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// tinyGraph is a small graph touching most attributes: a strided conv, a
// residual add, a resize and a box mean.
func tinyGraph(r *rand.Rand) *Graph {
	randT := func(shape ...int) *Tensor {
		t := NewTensor(shape...)
		for i := range t.Data {
			t.Data[i] = r.Float32()*2 - 1
		}
		return t
	}
	return &Graph{
		Version: FormatVersion, Name: "tiny", Input: "x", InputChannels: 3, Output: "out",
		Norm:        Affine{Scale: []float32{2, 2, 2}, Bias: []float32{-1, -1, -1}},
		Denorm:      Affine{Scale: []float32{.5, .5, .5}, Bias: []float32{.5, .5, .5}},
		NominalSize: 16, SizeMultiple: 4, License: "test",
		Nodes: []Node{
			{Name: "c1", Op: OpConv2D, Inputs: []string{"x", "w1", "b1"}, Stride: [2]int{2, 2}, Padding: PadSame, Act: "leaky_relu", Alpha: 0.2},
			{Name: "c2", Op: OpConv2D, Inputs: []string{"c1", "w2"}, Padding: PadExplicit, Pads: [4]int{1, 1, 1, 1}},
			{Name: "res", Op: OpAdd, Inputs: []string{"c1", "c2"}},
			{Name: "up", Op: OpResize, Inputs: []string{"res"}, Mode: "bilinear", Scale: [2]int{2, 2}, HalfPixel: true},
			{Name: "c3", Op: OpConv2D, Inputs: []string{"up", "w3", "b3"}, Padding: PadSame},
			{Name: "out", Op: OpBoxMean, Inputs: []string{"c3"}, Radius: 1},
		},
		Tensors: map[string]*Tensor{
			"w1": randT(8, 3, 3, 3), "b1": randT(8),
			"w2": randT(8, 3, 3, 8),
			"w3": randT(3, 3, 3, 8), "b3": randT(3),
		},
	}
}

func TestRoundTrip(t *testing.T) {
	g := tinyGraph(rand.New(rand.NewPCG(1, 2)))
	for _, dtype := range []string{"F32", "F16"} {
		data, err := Encode(g, dtype)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", dtype, err)
		}
		if len(got.Nodes) != len(g.Nodes) || got.Nodes[0].Act != "leaky_relu" || got.Nodes[3].Scale != [2]int{2, 2} {
			t.Fatalf("%s: graph spec changed in the round trip: %+v", dtype, got.Nodes)
		}
		for name, want := range g.Tensors {
			have := got.Tensors[name]
			if have == nil || len(have.Data) != len(want.Data) || have.DType != dtype {
				t.Fatalf("%s: tensor %q lost or reshaped", dtype, name)
			}
			for i := range want.Data {
				// fp16 has an 11-bit significand: relative error <= 2^-11.
				tol := 0.0
				if dtype == "F16" {
					tol = math.Abs(float64(want.Data[i])) / 2048
				}
				if d := math.Abs(float64(have.Data[i] - want.Data[i])); d > tol {
					t.Fatalf("%s: %s[%d] = %v, want %v", dtype, name, i, have.Data[i], want.Data[i])
				}
			}
		}
	}
}

func TestHalfExhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := HalfToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			if back := Float32ToHalf(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back := Float32ToHalf(f); back != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, back)
		}
	}
	// Rounding: a float32 must map to the nearer of its two half
	// neighbours (found by walking the exactly-representable halves).
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		f := float32(math.Ldexp(r.Float64()*2-1, r.IntN(40)-28))
		h := Float32ToHalf(f)
		got := float64(HalfToFloat32(h))
		for _, nb := range []uint16{h - 1, h + 1} {
			if nb&0x7c00 == 0x7c00 {
				continue
			}
			alt := float64(HalfToFloat32(nb))
			if math.Abs(alt-float64(f)) < math.Abs(got-float64(f)) {
				t.Fatalf("%v rounded to %v, but %v is nearer", f, got, alt)
			}
		}
	}
	if HalfToFloat32(Float32ToHalf(1e6)) != float32(math.Inf(1)) {
		t.Fatal("overflow must give +Inf")
	}
}

// rewrite decodes a valid file's header, lets edit change it, and
// re-encodes the file with the same body.
func rewrite(t *testing.T, data []byte, edit func(h map[string]any)) []byte {
	t.Helper()
	n := binary.LittleEndian.Uint64(data)
	var h map[string]any
	if err := json.Unmarshal(data[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	hb, _ := json.Marshal(h)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	return append(append(out, hb...), data[8+n:]...)
}

func editGraph(t *testing.T, data []byte, edit func(g *Graph)) []byte {
	return rewrite(t, data, func(h map[string]any) {
		meta := h["__metadata__"].(map[string]any)
		var g Graph
		if err := json.Unmarshal([]byte(meta[metaGraph].(string)), &g); err != nil {
			t.Fatal(err)
		}
		edit(&g)
		spec, _ := json.Marshal(&g)
		meta[metaGraph] = string(spec)
	})
}

func TestDecodeRejects(t *testing.T) {
	good, err := Encode(tinyGraph(rand.New(rand.NewPCG(5, 6))), "F32")
	if err != nil {
		t.Fatal(err)
	}
	tensor := func(name string, edit func(m map[string]any)) func(h map[string]any) {
		return func(h map[string]any) { edit(h[name].(map[string]any)) }
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"truncated header", good[:40], "exceeds the file"},
		{"truncated data", good[:len(good)-10], "outside"},
		{"trailing bytes", append(append([]byte{}, good...), 0, 0, 0, 0), "trailing"},
		{"not json", append(binary.LittleEndian.AppendUint64(nil, 4), "{{{{"...), "not valid JSON"},
		{"huge header length", append(binary.LittleEndian.AppendUint64(nil, 1<<62), good[8:]...), "exceeds"},
		{"foreign safetensors", rewrite(t, good, func(h map[string]any) { delete(h, "__metadata__") }), "not an edgetoon model"},
		{"future version", rewrite(t, good, func(h map[string]any) { h["__metadata__"].(map[string]any)[metaVersion] = "99" }), "not supported"},
		{"bad dtype", rewrite(t, good, tensor("w1", func(m map[string]any) { m["dtype"] = "I64" })), `tensor "w1": dtype`},
		{"length mismatch", rewrite(t, good, tensor("b1", func(m map[string]any) { m["shape"] = []int{9} })), `tensor "b1"`},
		{"negative dim", rewrite(t, good, tensor("b1", func(m map[string]any) { m["shape"] = []int{-8} })), `tensor "b1": bad dimension`},
		{"overlap", rewrite(t, good, tensor("b1", func(m map[string]any) { m["data_offsets"] = []int{0, 32} })), "overlaps"},
		{"unknown op", editGraph(t, good, func(g *Graph) { g.Nodes[1].Op = "fft" }), `node "c2" (fft): unknown op`},
		{"undefined input", editGraph(t, good, func(g *Graph) { g.Nodes[2].Inputs[1] = "later" }), `node "res" (add): input "later" is not defined`},
		{"cycle", editGraph(t, good, func(g *Graph) { g.Nodes[0].Inputs[0] = "out" }), `node "c1"`},
		{"missing weight", editGraph(t, good, func(g *Graph) { g.Nodes[1].Inputs[1] = "w9" }), `node "c2" (conv2d): input "w9": no such constant`},
		{"wrong weight shape", editGraph(t, good, func(g *Graph) { g.Nodes[1].Inputs[1] = "w1" }), `node "c2" (conv2d): weight "w1"`},
		{"duplicate name", editGraph(t, good, func(g *Graph) { g.Nodes[2].Name = "c1" }), "already used"},
		{"bad padding", editGraph(t, good, func(g *Graph) { g.Nodes[0].Padding = "wrap" }), `unknown padding "wrap"`},
		{"bad act", editGraph(t, good, func(g *Graph) { g.Nodes[0].Act = "gelu" }), `unknown activation "gelu"`},
		{"huge stride", editGraph(t, good, func(g *Graph) { g.Nodes[0].Stride = [2]int{1 << 30, 1} }), "out of range"},
		{"bad norm", editGraph(t, good, func(g *Graph) { g.Norm.Scale = []float32{1} }), "norm"},
		{"bad nominal", editGraph(t, good, func(g *Graph) { g.NominalSize = 18 }), "nominal size"},
		{"unknown field", rewrite(t, good, func(h map[string]any) {
			meta := h["__metadata__"].(map[string]any)
			meta[metaGraph] = strings.Replace(meta[metaGraph].(string), `"name"`, `"nmae":1,"name"`, 1)
		}), "unknown field"},
	}
	for _, c := range cases {
		_, err := Decode(c.data)
		if err == nil {
			t.Errorf("%s: decoded without error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
}

func TestDecodeRejectsNaN(t *testing.T) {
	g := tinyGraph(rand.New(rand.NewPCG(7, 8)))
	g.Tensors["b3"].Data[1] = float32(math.NaN())
	data, err := Encode(g, "F32")
	if err == nil {
		_, err = Decode(data)
	}
	if err == nil || !strings.Contains(err.Error(), `"b3"`) {
		t.Fatalf("NaN weight: got %v, want an error naming b3", err)
	}
}

func TestShapesAtSizes(t *testing.T) {
	g := tinyGraph(rand.New(rand.NewPCG(9, 10)))
	for _, sz := range [][2]int{{16, 16}, {32, 48}, {4, 4}} {
		s, err := g.Shapes(sz[0], sz[1])
		if err != nil {
			t.Fatal(err)
		}
		// SAME conv with stride 2 halves (rounding up); the resize doubles.
		if want := []int{sz[0], sz[1], 3}; !slices.Equal(s["out"], want) {
			t.Errorf("%v: out %v, want %v", sz, s["out"], want)
		}
		if want := []int{(sz[0] + 1) / 2, (sz[1] + 1) / 2, 8}; !slices.Equal(s["c1"], want) {
			t.Errorf("%v: c1 %v, want %v", sz, s["c1"], want)
		}
	}
	if _, err := g.Shapes(18, 16); err == nil {
		t.Error("18x16 is not a multiple of 4 and must be refused")
	}
}

func TestConvPadsSame(t *testing.T) {
	// TensorFlow's SAME: total = max((ceil(in/s)-1)*s + k - in, 0), the
	// odd pixel at the bottom/right. Hand-computed cases.
	cases := []struct{ in, k, s, top, bottom int }{
		{8, 3, 2, 0, 1}, {7, 3, 2, 1, 1}, {8, 3, 1, 1, 1}, {8, 7, 1, 3, 3}, {8, 4, 1, 1, 2}, {8, 1, 2, 0, 0},
	}
	for _, c := range cases {
		n := &Node{Padding: PadSame, Stride: [2]int{c.s, c.s}}
		top, left, bottom, right, err := ConvPads(n, c.in, c.in, c.k, c.k)
		if err != nil || top != c.top || bottom != c.bottom || left != c.top || right != c.bottom {
			t.Errorf("in %d k %d s %d: pads %d,%d,%d,%d, want top %d bottom %d", c.in, c.k, c.s, top, left, bottom, right, c.top, c.bottom)
		}
	}
}

func TestCost(t *testing.T) {
	g := tinyGraph(rand.New(rand.NewPCG(11, 12)))
	macs, err := g.MACs(16, 16)
	if err != nil {
		t.Fatal(err)
	}
	// c1: 8x8 out, 8 ch, 3*3*3 taps; c2: 8x8x8, 3*3*8; c3: 16x16x3, 3*3*8.
	want := int64(8*8*8*27 + 8*8*8*72 + 16*16*3*72)
	if macs != want {
		t.Errorf("MACs %d, want %d", macs, want)
	}
	if p := g.Params(); p != 8*27+8+8*72+3*72+3 {
		t.Errorf("params %d", p)
	}
}

// FuzzDecode: no input may panic the reader, and what it accepts must
// survive a round trip.
func FuzzDecode(f *testing.F) {
	good, err := Encode(tinyGraph(rand.New(rand.NewPCG(13, 14))), "F16")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:12])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Encode(g, "F32")
		if err != nil {
			t.Fatalf("accepted graph does not re-encode: %v", err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("re-encoded graph does not decode: %v", err)
		}
	})
}
