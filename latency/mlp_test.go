package latency

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

// handMLP has one hidden layer of two units reading the features
// log2_in_pixels (index 7) and kernel (index 9), unscaled inputs.
func handMLP() *MLP {
	n := len(FeatureNames)
	m := &MLP{
		Format: MLPFormat, Features: append([]string(nil), FeatureNames...), Activation: "relu", Target: "ln_ms",
		InMean: make([]float64, n), InStd: make([]float64, n), OutMean: 0.5, OutStd: 2,
	}
	for i := range m.InStd {
		m.InStd[i] = 1
	}
	m.InMean[9], m.InStd[9] = 1, 2 // kernel enters as (k-1)/2
	h := DenseLayer{W: [][]float64{make([]float64, n), make([]float64, n)}, B: []float64{-10, 1}}
	h.W[0][7] = 1  // relu(log2(h*w) - 10)
	h.W[1][9] = -1 // relu(1 - (k-1)/2)
	out := DenseLayer{W: [][]float64{{0.25, 0.5}}, B: []float64{-0.1}}
	m.Layers = []DenseLayer{h, out}
	return m
}

func TestPredictByHand(t *testing.T) {
	m := handMLP()
	// 64x64: log2 pixels 12, hidden 2; k=3: (3-1)/2 = 1, hidden 0.
	// y = 0.25*2 - 0.1 = 0.4; ms = exp(0.4*2 + 0.5) = exp(1.3).
	b := Block{Kind: KindConv, K: 3, Stride: 1, Cin: 4, Cout: 4, H: 64, W: 64}
	if got, want := m.Predict(b), math.Exp(1.3); math.Abs(got-want) > 1e-12*want {
		t.Errorf("predict %v, want %v", got, want)
	}
	// 16x16: hidden 0 (relu of -2); k=1: hidden 1. y = 0.5 - 0.1 = 0.4 again,
	// but through the other unit.
	b = Block{Kind: KindConv, K: 1, Stride: 1, Cin: 4, Cout: 4, H: 16, W: 16}
	if got, want := m.Predict(b), math.Exp(1.3); math.Abs(got-want) > 1e-12*want {
		t.Errorf("predict %v, want %v", got, want)
	}
	// Invalid block: NaN, not a panic.
	for _, b := range []Block{{}, {Kind: KindConv, K: 3, Stride: 1, Cin: -4, Cout: 4, H: 1, W: 1}} {
		if v := m.Predict(b); !math.IsNaN(v) {
			t.Errorf("invalid block %s: predicted %v", b.Key(), v)
		}
	}
	// A network: the sum over its blocks.
	g := teacher.graph()
	sum, err := m.PredictGraph(g, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	bs, _ := Decompose(g, 64, 64)
	want := 0.0
	for _, b := range bs {
		want += m.Predict(b)
	}
	if sum != want || len(bs) != 17 {
		t.Errorf("graph: %v over %d blocks, want %v", sum, len(bs), want)
	}
	if _, err := m.PredictGraph(g, 63, 64); err == nil {
		t.Error("graph at a size that is not a multiple of 4: no error")
	}
}

func TestMLPEncodeDecode(t *testing.T) {
	m := handMLP()
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeMLP(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Encode()
	if !bytes.Equal(data, again) {
		t.Error("encode(decode(encode(m))) differs from encode(m)")
	}
	if _, err := ReadMLP(bytes.NewReader(data)); err != nil {
		t.Errorf("ReadMLP: %v", err)
	}

	edit := func(f func(map[string]any)) []byte {
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
		f(v)
		out, _ := json.Marshal(v)
		return out
	}
	layer := func(v map[string]any, l int) map[string]any { return v["layers"].([]any)[l].(map[string]any) }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"format", edit(func(v map[string]any) { v["format"] = "x" }), `format "x"`},
		{"features", edit(func(v map[string]any) { v["features"] = []string{"conv"} }), "features"},
		{"unknown field", edit(func(v map[string]any) { v["bias"] = 1 }), `unknown field "bias"`},
		{"activation", edit(func(v map[string]any) { v["activation"] = "tanh" }), "activation"},
		{"in_std zero", edit(func(v map[string]any) { v["in_std"].([]any)[3] = 0 }), "feature guided_filter"},
		{"in_mean short", edit(func(v map[string]any) { v["in_mean"] = []float64{1} }), "in_mean"},
		{"out_std", edit(func(v map[string]any) { v["out_std"] = -1 }), "out_std"},
		{"no layers", edit(func(v map[string]any) { v["layers"] = []any{} }), "0 layers"},
		{"row width", edit(func(v map[string]any) {
			layer(v, 0)["w"].([]any)[1] = []float64{1}
		}), fmt.Sprintf("layer 0 row 1: 1 weights, want %d", len(FeatureNames))},
		{"bias count", edit(func(v map[string]any) { layer(v, 1)["b"] = []float64{1, 2} }), "layer 1: 2 biases, 1 weight rows"},
		{"two outputs", edit(func(v map[string]any) {
			layer(v, 1)["w"] = [][]float64{{1, 1}, {1, 1}}
			layer(v, 1)["b"] = []float64{1, 2}
		}), "2 outputs"},
		{"huge value", []byte(strings.Replace(string(data), `"out_mean": 0.5`, `"out_mean": 1e999`, 1)), "out_mean"},
		{"trailing", append(append([]byte(nil), data...), "{}"...), "data after"},
		{"oversized", append(append([]byte(nil), data...), bytes.Repeat([]byte(" "), MaxMLPBytes)...), "larger than"},
	}
	for _, c := range cases {
		if _, err := DecodeMLP(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
