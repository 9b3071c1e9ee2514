package kernels

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/kernels/testgraph"
	"github.com/edgetoon/edgetoon/model"
)

// The transforms compute a 3x3 correlation: A^T [(G g G^T) ⊙ (B^T d B)] A
// equals the direct sum over the taps, for random tiles and kernels
// (float64, so only the matrices can differ).
func TestWinogradTransforms(t *testing.T) {
	const n = winogradN
	rng := newRand()
	for range 20 {
		var d [n][n]float64
		var g [3][3]float64
		for r := range n {
			for c := range n {
				d[r][c] = rng.Float64()*2 - 1
			}
		}
		for r := range 3 {
			for c := range 3 {
				g[r][c] = rng.Float64()*2 - 1
			}
		}
		var m [n][n]float64 // U ⊙ V
		for i := range n {
			for j := range n {
				var u, v float64
				for ky := range 3 {
					for kx := range 3 {
						u += winogradG[i][ky] * g[ky][kx] * winogradG[j][kx]
					}
				}
				for r := range n {
					for c := range n {
						v += winogradBT[i][r] * d[r][c] * winogradBT[j][c]
					}
				}
				m[i][j] = u * v
			}
		}
		for a := range winogradM {
			for b := range winogradM {
				var y, want float64
				for i := range n {
					for j := range n {
						y += winogradAT[a][i] * m[i][j] * winogradAT[b][j]
					}
				}
				for ky := range 3 {
					for kx := range 3 {
						want += d[a+ky][b+kx] * g[ky][kx]
					}
				}
				if math.Abs(y-want) > 1e-9 {
					t.Fatalf("output (%d, %d): %g, direct %g", a, b, y, want)
				}
			}
		}
	}
}

// The input transform's rows (winogradRowTaps) weigh the same rows of
// the window by the same weights as B^T: every row's taps distinct and
// inside the window, as many for every row, every non-zero weight of
// B^T among them, the padding weighted 0 (counted against B^T by hand:
// rows 0 and 5 weigh 3 rows, rows 1-4 weigh 4).
func TestWinogradRowTaps(t *testing.T) {
	taps, weights := winogradRowTaps()
	if len(taps) != winogradN || len(weights) != winogradN {
		t.Fatalf("%d rows of taps, %d of weights, want %d", len(taps), len(weights), winogradN)
	}
	for i, row := range taps {
		if len(row) != 4 || len(weights[i]) != 4 {
			t.Fatalf("row %d: %d taps, %d weights, want 4", i, len(row), len(weights[i]))
		}
		var got [winogradN]float64
		seen := map[int]bool{}
		for k, r := range row {
			if r < 0 || r >= winogradN || seen[r] {
				t.Fatalf("row %d: tap %d is row %d (taps %v)", i, k, r, row)
			}
			seen[r] = true
			got[r] = weights[i][k]
		}
		nonzero := 0
		for r, v := range winogradBT[i] {
			if got[r] != v {
				t.Errorf("row %d: window row %d weighed %g, B^T has %g", i, r, got[r], v)
			}
			if got[r] != 0 {
				nonzero++
			}
		}
		if want := []int{3, 4, 4, 4, 4, 3}[i]; nonzero != want {
			t.Errorf("row %d weighs %d rows, want %d", i, nonzero, want)
		}
	}
}

// A plan at the engine's limits runs White-box's wide 3x3 convs as
// Winograd, three passes each counting the direct conv's multiply-adds
// once, with the same programs at every size; fp16, Direct and the quick
// layout's plans run them direct; and every plan lays the weight texture
// out alike (the engine uploads it once per model), a Memo's too.
func TestWinogradPlan(t *testing.T) {
	g := testgraph.Whitebox(newRand())
	base := Options{H: 64, W: 64, ToCanvas: true, MaxOutputs: 8, MaxLayers: 2048}
	shapes, err := g.Shapes(base.H, base.W)
	if err != nil {
		t.Fatal(err)
	}
	var wide []string
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Op == model.OpConv2D && n.StrideX() == 1 && n.GroupCount() == 1 {
			wt := g.Tensors[n.Inputs[1]]
			if wt.Shape[1] == 3 && shapes[n.Inputs[0]][2] >= winogradMinChannels && wt.Shape[0] >= winogradMinChannels {
				wide = append(wide, n.Name)
			}
		}
	}
	if len(wide) == 0 {
		t.Fatal("White-box has no conv of Winograd's shape")
	}
	quick := base
	quick.ConvPixels, quick.MaxOutputs, quick.Unbaked, quick.ShapeUniforms = 1, 1, true, true
	half, direct, memo := base, base, base
	half.Half, direct.Direct, memo.Memo = true, true, NewMemo()
	plans := map[string]*Plan{}
	// "memo" is built twice: the second reads the first's transform.
	for name, o := range map[string]Options{"winograd": base, "fp16": half, "direct": direct, "quick": quick, "memo": memo, "memo again": memo} {
		if plans[name], err = Build(g, o); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	w := plans["winograd"]
	// Sizes are uniforms: a plan of another size has the same programs
	// (the engine compiles them on a small plan).
	other := base
	other.H, other.W = 96, 120
	p, err := Build(g, other)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Programs) != len(w.Programs) {
		t.Errorf("%d programs at %dx%d, %d at %dx%d", len(p.Programs), other.W, other.H, len(w.Programs), base.W, base.H)
	}
	for i := range min(len(p.Programs), len(w.Programs)) {
		if p.Programs[i].Source != w.Programs[i].Source {
			t.Errorf("program %d (%s) differs between sizes", i, w.Programs[i].Op)
		}
	}
	for _, name := range wide {
		var stages []string
		for _, p := range w.Passes {
			if p.Nodes[0] == name {
				stages = append(stages, strings.TrimPrefix(p.Value, name))
			}
		}
		if len(stages) != 3 || stages[0] != winoVSuffix || stages[1] != winoMSuffix {
			t.Errorf("conv %s: passes %q, want V, M, then its value", name, stages)
		}
	}
	for name, p := range plans {
		if p.MACs() != plans["direct"].MACs() {
			t.Errorf("%s plan counts %d multiply-adds, the direct one %d", name, p.MACs(), plans["direct"].MACs())
		}
		if p.Weights.W != w.Weights.W || p.Weights.H != w.Weights.H || !slices.Equal(p.Weights.Data, w.Weights.Data) {
			t.Errorf("%s plan's weights differ from the Winograd plan's", name)
		}
		if strings.HasPrefix(name, "winograd") || strings.HasPrefix(name, "memo") {
			continue
		}
		for _, pass := range p.Passes {
			if strings.HasSuffix(pass.Value, winoVSuffix) {
				t.Errorf("%s plan runs %s as Winograd", name, pass.Nodes[0])
			}
		}
	}
}

// A conv's tiles fill V's and M's grid of slots along its rows, so that
// an image whose row of tiles is not a whole number of 8-tile fragments
// wastes at most the last row's slots, within the device's texture size;
// widths counted by hand (8-pixel fragments, 64 input channels: 16
// layers of V a slot row).
func TestWinogradTiles(t *testing.T) {
	for _, tc := range []struct{ h, w, maxTex, cols, rows int }{
		{64, 64, 0, 16, 16},   // 16x16 tiles: the image's own grid, nothing to save
		{56, 56, 0, 8, 25},    // 14x14 = 196 tiles: 200 slots, not 16x14 = 224
		{56, 56, 399, 16, 13}, // 8x25 would stack V 400 texels tall: 208 slots
		{112, 112, 0, 56, 14}, // 28x28 = 784: exactly, where 32x28 = 896
		{64, 48, 0, 16, 12},   // 12x16 = 192 (a portrait frame): 192, not 16x16 = 256
		{13, 22, 0, 8, 3},     // 22 columns store 24: 6x4 = 24 tiles
	} {
		b := testgraph.New(newRand(), 3)
		b.Conv(b.Conv("input", 3, 64, 1, 1, 1, ""), 64, 64, 3, 1, 1, "relu")
		p, err := Build(b.G, Options{H: tc.h, W: tc.w, MaxOutputs: 8, MaxLayers: 2048, MaxTextureSize: tc.maxTex})
		if err != nil {
			t.Fatal(err)
		}
		var v *Pass
		for i := range p.Passes {
			if strings.HasSuffix(p.Passes[i].Value, winoVSuffix) {
				v = &p.Passes[i]
			}
		}
		if v == nil {
			t.Fatalf("%dx%d: no Winograd conv", tc.w, tc.h)
		}
		if v.W != tc.cols || v.H != tc.rows*16 {
			t.Errorf("%dx%d, textures up to %d: V's grid %dx%d, want %dx%d slots by 16 layers", tc.w, tc.h, tc.maxTex, v.W, v.H, tc.cols, tc.rows*16)
		}
	}
}
