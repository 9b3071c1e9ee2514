package tflite

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

// modelsDir returns ../shared/models next to the module root, skipping
// the test where the shared data is absent.
func modelsDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	models := filepath.Join(dir, "..", "shared", "models")
	if _, err := os.Stat(models); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must have ../shared/models: %v", err)
		}
		t.Skipf("shared models not found: %v", err)
	}
	return models
}

func importShared(t testing.TB, name string) *model.Graph {
	t.Helper()
	path := filepath.Join(modelsDir(t), name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not found", name)
	}
	g, err := ImportFile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// convLayer is a conv's kernel, channels and stride as MODELS.md lists them.
type convLayer struct{ k, in, out, stride int }

// whiteBoxConvs is the White-box generator's conv list from MODELS.md.
var whiteBoxConvs = func() []convLayer {
	l := []convLayer{{7, 3, 32, 1}, {3, 32, 32, 2}, {3, 32, 64, 1}, {3, 64, 64, 2}, {3, 64, 128, 1}}
	for range 8 {
		l = append(l, convLayer{3, 128, 128, 1})
	}
	return append(l, convLayer{3, 128, 64, 1}, convLayer{3, 64, 64, 1}, convLayer{3, 64, 32, 1},
		convLayer{3, 32, 32, 1}, convLayer{7, 32, 3, 1})
}()

func convLayers(g *model.Graph) []convLayer {
	var l []convLayer
	for _, n := range g.Nodes {
		if n.Op != model.OpConv2D {
			continue
		}
		w := g.Tensors[n.Inputs[1]].Shape
		l = append(l, convLayer{w[1], w[3] * n.GroupCount(), w[0], n.StrideY()})
	}
	return l
}

func countOps(g *model.Graph) map[string]int {
	m := map[string]int{}
	for _, n := range g.Nodes {
		m[n.Op]++
	}
	return m
}

func checkSizes(t *testing.T, g *model.Graph) {
	t.Helper()
	for _, s := range [][2]int{{224, 224}, {256, 256}, {512, 512}, {256, 384}, {384, 256}} {
		shapes, err := g.Shapes(s[0], s[1])
		if err != nil {
			t.Errorf("Shapes(%d, %d): %v", s[0], s[1], err)
			continue
		}
		if out := shapes[g.Output]; out[0] != s[0] || out[1] != s[1] || out[2] != 3 {
			t.Errorf("Shapes(%d, %d): output %v", s[0], s[1], out)
		}
	}
}

func TestWhiteBox(t *testing.T) {
	for _, name := range []string{"whitebox_cartoon_fp16.tflite", "whitebox_cartoon_dr.tflite"} {
		t.Run(name, func(t *testing.T) {
			g := importShared(t, name)
			checkSizes(t, g)
			if got := convLayers(g); !slices.Equal(got, whiteBoxConvs) {
				t.Errorf("conv layers:\n got %v\nwant %v", got, whiteBoxConvs)
			}
			var params int64
			for _, l := range whiteBoxConvs {
				params += int64(l.k*l.k*l.in*l.out + l.out)
			}
			// The layer list's weights and biases, plus the guided
			// filter's eps.
			if got := g.Params(); got != params+1 {
				t.Errorf("Params() = %d, want %d from the layer list", got, params+1)
			}
			ops := countOps(g)
			if ops[model.OpBoxMean] != 6 || ops[model.OpDiv] != 1 {
				t.Errorf("%d box_mean and %d div nodes, want 6 and 1 (the guided filter's A = cov/(var+eps))", ops[model.OpBoxMean], ops[model.OpDiv])
			}
			// Residual blocks: adds at 128 channels; skips: adds at 64, 32.
			shapes, err := g.Shapes(256, 256)
			if err != nil {
				t.Fatal(err)
			}
			adds := map[int]int{}
			for _, n := range g.Nodes {
				if n.Op == model.OpAdd {
					adds[shapes[n.Name][2]]++
				}
			}
			if adds[128] != 4 || adds[64] != 1 {
				t.Errorf("adds by channel count %v: want 4 residual adds at 128 and a skip at 64", adds)
			}
			for name, tt := range g.Tensors {
				if len(tt.Shape) != 1 && len(tt.Shape) != 4 {
					t.Errorf("constant %q of shape %v: only weights and [C] constants should remain", name, tt.Shape)
				}
			}
			if g.NominalSize != 256 || g.License != "CC BY-NC-SA 4.0" || g.Provenance == "" {
				t.Errorf("metadata: nominal %d, licence %q, provenance %q", g.NominalSize, g.License, g.Provenance)
			}
			macs, err := g.MACs(256, 256)
			if err != nil {
				t.Fatal(err)
			}
			var convMACs int64
			side := 256
			for i, l := range whiteBoxConvs {
				if i == 14 || i == 16 { // after each bilinear x2
					side *= 2
				}
				side /= l.stride
				convMACs += int64(side * side * l.k * l.k * l.in * l.out)
			}
			if r := float64(macs) / float64(convMACs); r < 1 || r > 1.02 {
				t.Errorf("MACs(256) = %d, want the layer list's %d conv MACs plus a little", macs, convMACs)
			}
		})
	}
}

// The dynamic-range file stores int8 weights with per-channel scales,
// the other fp16: both come from the same network, so the dequantized
// weights must agree to within the int8 step.
func TestWhiteBoxWeightsAgree(t *testing.T) {
	f16 := importShared(t, "whitebox_cartoon_fp16.tflite")
	dr := importShared(t, "whitebox_cartoon_dr.tflite")
	for i, n := range f16.Nodes {
		if n.Op != model.OpConv2D {
			continue
		}
		a, b := f16.Tensors[n.Inputs[1]], dr.Tensors[dr.Nodes[i].Inputs[1]]
		if len(a.Data) != len(b.Data) {
			t.Fatalf("node %q: weight sizes %d and %d", n.Name, len(a.Data), len(b.Data))
		}
		// Per output channel, the int8 step is max|w|/127.
		per := len(a.Data) / a.Shape[0]
		for o := range a.Shape[0] {
			var peak, worst float64
			for _, v := range a.Data[o*per : (o+1)*per] {
				peak = max(peak, math.Abs(float64(v)))
			}
			for j := o * per; j < (o+1)*per; j++ {
				worst = max(worst, math.Abs(float64(a.Data[j]-b.Data[j])))
			}
			// Half a step of rounding, plus fp16's own error.
			if worst > 0.5*peak/127*1.05+peak*1e-3 {
				t.Errorf("node %q channel %d: weights differ by %g, int8 step %g", n.Name, o, worst, peak/127)
				break
			}
		}
	}
}

func TestAnimeGAN(t *testing.T) {
	g := importShared(t, "animeganv2_hayao_256_int8.tflite")
	checkSizes(t, g)
	ops := countOps(g)
	// The file has 48 MEANs, two per norm, 16 MIRROR_PADs, 2 resizes.
	if ops[model.OpLayerNorm] != 24 || ops[model.OpInstanceNorm] != 0 {
		t.Errorf("%d layer_norm, %d instance_norm nodes, want 24 and 0", ops[model.OpLayerNorm], ops[model.OpInstanceNorm])
	}
	if ops[model.OpPad] != 16 || ops[model.OpResize] != 2 {
		t.Errorf("%d pad, %d resize nodes, want 16 and 2", ops[model.OpPad], ops[model.OpResize])
	}
	for _, op := range []string{model.OpDiv, model.OpMul, model.OpSub} {
		if ops[op] != 0 {
			t.Errorf("%d %s nodes left: the norm patterns should absorb them all", ops[op], op)
		}
	}
	depthwise := 0
	for _, n := range g.Nodes {
		switch n.Op {
		case model.OpConv2D:
			if n.GroupCount() > 1 {
				depthwise++
				w := g.Tensors[n.Inputs[1]].Shape
				if w[0] != n.Groups || w[3] != 1 {
					t.Errorf("depthwise %q: weight %v with %d groups", n.Name, w, n.Groups)
				}
			}
		case model.OpPad:
			if n.Mode != "reflect" {
				t.Errorf("pad %q: mode %q, want reflect", n.Name, n.Mode)
			}
		case model.OpLayerNorm:
			if n.Eps <= 0 || n.Eps > 1e-5 {
				t.Errorf("layer_norm %q: eps %g", n.Name, n.Eps)
			}
		case model.OpResize:
			if n.Scale != [2]int{2, 2} || n.Mode != "bilinear" {
				t.Errorf("resize %q: scale %v mode %q", n.Name, n.Scale, n.Mode)
			}
		}
	}
	if depthwise != 4 {
		t.Errorf("%d depthwise convs, want 4", depthwise)
	}
	if out := g.Node(g.Output); out == nil || out.Act != "tanh" {
		t.Errorf("output node %+v: want a conv with fused tanh", out)
	}
}
