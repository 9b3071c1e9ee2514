package kernels

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/kernels/testgraph"
)

// TestConvRow checks the unrolled row of conv.glsl: one fetch per
// distinct input column the fragment's pixels read, and each tap of each
// pixel reading the column it would have fetched itself.
func TestConvRow(t *testing.T) {
	fetch := regexp.MustCompile(`vec4 u(\d+) = uint\(b\.x \+ (\d+)\)`)
	use := regexp.MustCompile(`acc\$k_(\d+)(\.[xyzw]+)? \+= .*\bu(\d+)\b`)
	tap := regexp.MustCompile(`WY \+ \(ky \* KW \+ (\d+)\)`)
	for _, c := range []struct{ pixels, kw, stride, dil, fetches int }{
		{4, 3, 1, 1, 6},  // 4 pixels x 3 taps = 12 reads of 6 columns
		{4, 7, 1, 1, 10}, // 28 reads of 10
		{4, 3, 2, 1, 9},  // stride 2: columns 0..8
		{4, 1, 2, 1, 4},  // 1x1 stride 2: columns 0, 2, 4, 6 only
		{1, 3, 1, 2, 3},  // dilation 2: columns 0, 2, 4
		{8, 3, 1, 1, 10},
	} {
		src := convRow(c.pixels, c.kw, c.stride, c.dil, tapShape{4, 4})
		var cols []int
		for _, m := range fetch.FindAllStringSubmatch(src, -1) {
			if m[1] != m[2] {
				t.Errorf("%+v: u%s fetches column %s", c, m[1], m[2])
			}
			d, _ := strconv.Atoi(m[1])
			cols = append(cols, d)
		}
		if len(cols) != c.fetches {
			t.Errorf("%+v: %d fetches %v, want %d", c, len(cols), cols, c.fetches)
		}
		kx := -1
		reads := 0
		for _, line := range regexp.MustCompile("\n").Split(src, -1) {
			if m := tap.FindStringSubmatch(line); m != nil {
				kx, _ = strconv.Atoi(m[1])
				continue
			}
			m := use.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			i, _ := strconv.Atoi(m[1])
			d, _ := strconv.Atoi(m[3])
			if want := i*c.stride + kx*c.dil; d != want || !slices.Contains(cols, d) {
				t.Errorf("%+v: pixel %d tap %d reads u%d, want u%d (fetched: %v)", c, i, kx, d, want, cols)
			}
			reads++
		}
		if reads != c.pixels*c.kw {
			t.Errorf("%+v: %d reads, want %d", c, reads, c.pixels*c.kw)
		}
	}
}

// TestTapShape checks the GLSL of one tap for inputs and outputs of 1-4
// channels: the weights' type, the texels fetched, the product and the
// accumulator lanes it adds to (hand-written; TestKernels in
// wasm/browsertest runs them against the CPU engine).
func TestTapShape(t *testing.T) {
	w := func(j int) string { return "W(w$k + ivec2(" + strconv.Itoa(j) + ", 0))" }
	for _, c := range []struct {
		sh                      tapShape
		mat, cols, product, dst string
	}{
		{tapShape{4, 4}, "mat4", w(0) + ", " + w(1) + ", " + w(2) + ", " + w(3), "m$k * u5", ""},
		{tapShape{3, 4}, "mat3x4", w(0) + ", " + w(1) + ", " + w(2), "m$k * u5.xyz", ""},
		{tapShape{1, 4}, "vec4", w(0), "m$k * u5.x", ""},
		{tapShape{4, 3}, "mat3x4", w(0) + ", " + w(1) + ", " + w(2), "u5 * m$k", ".xyz"},
		{tapShape{4, 1}, "vec4", w(0), "dot(u5, m$k)", ".x"},
		{tapShape{3, 3}, "mat3", w(0) + ".xyz, " + w(1) + ".xyz, " + w(2) + ".xyz", "u5.xyz * m$k", ".xyz"},
		{tapShape{2, 1}, "vec2", w(0) + ".xy", "dot(u5.xy, m$k)", ".x"},
		{tapShape{1, 2}, "vec2", w(0) + ".x, " + w(1) + ".x", "u5.x * m$k", ".xy"},
		{tapShape{1, 1}, "float", w(0) + ".x", "u5.x * m$k", ".x"},
		{tapShape{2, 4}, "mat2x4", w(0) + ", " + w(1), "m$k * u5.xy", ""},
	} {
		if got := c.sh.mat(); got != c.mat {
			t.Errorf("%+v: mat %q, want %q", c.sh, got, c.mat)
		}
		if got := c.sh.cols(); got != c.cols {
			t.Errorf("%+v: cols %q, want %q", c.sh, got, c.cols)
		}
		if got := c.sh.product(5); got != c.product {
			t.Errorf("%+v: product %q, want %q", c.sh, got, c.product)
		}
		if got := c.sh.dst(); got != c.dst {
			t.Errorf("%+v: dst %q, want %q", c.sh, got, c.dst)
		}
	}
}

// TestBakedConvs checks which convs take their weights as constants: a
// dense conv of at most maxBaked weights and maxBakedTerms terms whose
// layers fit one draw, at the widest fragment whose render targets and
// terms allow; its program samples no weight texture and spells its
// bias; the others keep the layout of Options.ConvPixels. Unbaked bakes
// none.
func TestBakedConvs(t *testing.T) {
	b := testgraph.New(rand.New(rand.NewPCG(3, 4)), 3)
	x := b.Conv("input", 3, 8, 7, 1, 1, "leaky_relu")  // 98 terms a pixel, 2 layers
	y := b.Conv(x, 8, 20, 3, 1, 1, "leaky_relu")       // 5 layers
	z := b.Conv(y, 20, 24, 3, 1, 1, "")                // 270 terms
	z = b.Conv(z, 24, 40, 3, 1, 1, "")                 // 8,640 weights
	d := b.Conv(z, 40, 40, 3, 1, 40, "")               // depthwise
	b.Conv(d, 40, 3, 1, 1, 1, "")                      // 1 layer
	baked := map[string]int{x: 2, y: 1, b.G.Output: 8} // the pixels of each
	var weights []Weights
	for _, unbaked := range []bool{false, true} {
		p, err := Build(b.G, Options{H: 20, W: 24, Input: InputRaw, MaxOutputs: 8, Unbaked: unbaked})
		if err != nil {
			t.Fatal(err)
		}
		weights = append(weights, p.Weights)
		for _, pass := range p.Passes {
			prog := p.Programs[pass.Program]
			px, bake := baked[pass.Value]
			bake = bake && !unbaked
			if !bake {
				px = DefaultConvPixels
			}
			if pass.Pixels != px || bake && len(pass.Bases) != 1 {
				t.Errorf("unbaked %v: %s: %d pixels, draws at %v; want %d pixels", unbaked, pass.Value, pass.Pixels, pass.Bases, px)
			}
			samples := slices.Contains(pass.Inputs, TexWeights)
			if samples == bake {
				t.Errorf("unbaked %v: %s samples the weight texture: %v", unbaked, pass.Value, samples)
			}
			if bake {
				n := b.G.Node(pass.Value)
				bias := b.G.Tensors[n.Inputs[2]].Data[0]
				if !strings.Contains(prog.Source, "vec4("+glslFloat(bias)+", ") {
					t.Errorf("%s: bias %v not in the program", pass.Value, bias)
				}
			}
		}
	}
	// The engine uploads a model's weights once, for the quick layout's
	// plan (unbaked) and the default one's alike.
	if weights[0].W != weights[1].W || weights[0].H != weights[1].H || !slices.Equal(weights[0].Data, weights[1].Data) {
		t.Errorf("baked and unbaked plans lay out the weights differently: %dx%d, %dx%d", weights[0].W, weights[0].H, weights[1].W, weights[1].H)
	}
}
