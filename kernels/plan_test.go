package kernels

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/kernels/testgraph"
	"github.com/edgetoon/edgetoon/model"
)

// newRand is seeded the same every run: a plan's structure does not
// depend on the weights' values, only on the graph's shapes.
func newRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// whiteboxPlan plans White-box with the image (canvas) inlined in its
// readers' fetches, as the layers' fusion tests expect; TestInputPass
// checks the default, the input in a pass of its own.
func whiteboxPlan(t *testing.T, size int, canvas bool) (*model.Graph, *Plan) {
	t.Helper()
	g := testgraph.Whitebox(newRand())
	in := InputImage
	if !canvas {
		in = InputRaw
	}
	p, err := Build(g, Options{H: size, W: size, Input: in, ToCanvas: canvas, InlineInput: true})
	if err != nil {
		t.Fatal(err)
	}
	return g, p
}

func TestWhiteboxFusion(t *testing.T) {
	g, p := whiteboxPlan(t, 256, true)
	convs := 0
	for _, n := range g.Nodes {
		if n.Op == model.OpConv2D {
			convs++
		}
	}
	// One pass per conv, one per upsample + skip add (see tooDear), plus
	// two for the guided filter (guided.go).
	if want := convs + 2 + 2; len(p.Passes) != want {
		t.Errorf("passes: %d, want %d", len(p.Passes), want)
	}
	for i, pass := range p.Passes {
		root := g.Node(pass.Nodes[0])
		if strings.HasPrefix(p.Programs[pass.Program].Op, "guided filter") {
			continue // TestGuidedFilterFusion
		}
		switch root.Op {
		case model.OpConv2D:
		case model.OpAdd: // upsample + skip, checked below
		default:
			t.Errorf("pass %d: root %s (%s) should have been fused", i, root.Name, root.Op)
		}
		for _, name := range pass.Nodes[1:] {
			if op := g.Node(name).Op; !elementwise(op) {
				t.Errorf("pass %d: %s folded into an epilogue", i, op)
			}
		}
	}
	// Residual blocks: the second conv of each carries the skip add.
	adds := 0
	for _, pass := range p.Passes {
		if g.Node(pass.Nodes[0]).Op == model.OpConv2D && slices.ContainsFunc(pass.Nodes, func(n string) bool {
			return g.Node(n).Op == model.OpAdd
		}) {
			adds++
		}
	}
	if adds != 4 {
		t.Errorf("convs with a fused residual add: %d, want 4", adds)
	}
	// The first conv reads the picture directly (normalization fused).
	if first := p.Programs[p.Passes[0].Program]; !slices.Contains(first.Samplers, "timg") {
		t.Errorf("first pass samples %v, want the image", first.Samplers)
	}
	// Each upsample + skip add is a pass of its own sampling two
	// textures, read by a 3x3 conv that does not resample.
	ups := 0
	for i, pass := range p.Passes {
		resamples := strings.Contains(p.Programs[pass.Program].Source, "floor(s)")
		if g.Node(pass.Nodes[0]).Op != model.OpAdd {
			if resamples {
				t.Errorf("pass %d (%s) resamples its input", i, pass.Nodes[0])
			}
			continue
		}
		if !resamples || len(pass.Inputs) != 2 {
			t.Errorf("pass %d: add reads %d textures, resamples %v; want the upsample and the skip", i, len(pass.Inputs), resamples)
		}
		if next := g.Node(p.Passes[i+1].Nodes[0]); next.Op != model.OpConv2D || next.Inputs[0] != pass.Nodes[len(pass.Nodes)-1] {
			t.Errorf("pass %d: followed by %s, want the conv reading it", i, next.Name)
		}
		ups++
	}
	if ups != 2 {
		t.Errorf("upsample + skip passes: %d, want 2", ups)
	}
	last := p.Passes[len(p.Passes)-1]
	if last.Out != TexCanvas || last.Nodes[len(last.Nodes)-1] != g.Output {
		t.Errorf("last pass writes %d (%v), want the canvas and %q", last.Out, last.Nodes, g.Output)
	}
	if !strings.Contains(p.Programs[last.Program].Source, "denormalize") {
		t.Error("last pass does not denormalize")
	}
	// The 8 residual convs share programs (sizes are uniforms).
	if len(p.Programs) > len(p.Passes)-6 {
		t.Errorf("%d programs for %d passes: too little sharing", len(p.Programs), len(p.Passes))
	}
	if macs, _ := gMACs(p); macs < 8.0e9 || macs > 8.6e9 {
		t.Errorf("MACs %d, want about 8.3e9", macs)
	}
}

func gMACs(p *Plan) (int64, error) { return p.MACs(), nil }

// TestTextureReuse checks that liveness reuse keeps far fewer textures
// than stored values, and that no pass reads the texture it writes.
func TestTextureReuse(t *testing.T) {
	g, p := whiteboxPlan(t, 256, false)
	shapes, _ := g.Shapes(256, 256)
	var naive int64
	value := func(pass Pass) []int {
		if s, ok := shapes[pass.Value]; ok {
			return s
		}
		s := shapes[pass.Nodes[len(pass.Nodes)-1]] // a guided filter's a and b
		return []int{s[0], s[1], 8}
	}
	for _, pass := range p.Passes {
		s := value(pass)
		naive += int64(s[0] * s[1] * layers(s[2]) * 16)
	}
	// The least any allocation can do: the largest sum of the values
	// alive at once (written, and read again at or after that pass).
	size := func(i int) int64 {
		s := value(p.Passes[i])
		return int64(s[0] * s[1] * layers(s[2]) * 16)
	}
	var peak int64
	for i := range p.Passes {
		var live int64
		for j := 0; j <= i; j++ {
			// Pass j's value is alive at i if some pass k >= i reads its
			// texture before another pass overwrites it.
			for k := i; k < len(p.Passes); k++ {
				if k > j && k > i && p.Passes[k-1].Out == p.Passes[j].Out && k-1 > j {
					break
				}
				if slices.Contains(p.Passes[k].Inputs, p.Passes[j].Out) || (k == i && j == i) {
					live += size(j)
					break
				}
			}
		}
		peak = max(peak, live)
	}
	t.Logf("%d textures, %d KiB; values alive at once: %d KiB; one texture per value: %d KiB",
		len(p.Textures), p.TextureBytes()>>10, peak>>10, naive>>10)
	if p.TextureBytes() > peak*3/2 {
		t.Errorf("texture memory %d KiB, want at most 1.5x the live peak %d KiB", p.TextureBytes()>>10, peak>>10)
	}
	for i, pass := range p.Passes {
		if slices.Contains(pass.Inputs, pass.Out) {
			t.Errorf("pass %d (%v) reads its own output texture %d", i, pass.Nodes, pass.Out)
		}
		tex := p.Textures[pass.Out]
		s := shapes[pass.Nodes[len(pass.Nodes)-1]]
		if w, h, l := Storage(s, pass.Pixels); tex.W < w || tex.H < h || tex.Layers < l {
			t.Errorf("pass %d: texture %v too small for %v", i, tex, s)
		}
	}
	if p.Output < 0 || p.Input < 0 {
		t.Errorf("raw plan: input %d output %d", p.Input, p.Output)
	}
}

func TestTextureLimits(t *testing.T) {
	g := testgraph.Whitebox(newRand())
	_, err := Build(g, Options{H: 512, W: 512, MaxTextureSize: 256})
	if _, ok := err.(*SizeError); !ok {
		t.Errorf("512x512 with MAX_TEXTURE_SIZE 256: err %v, want a SizeError", err)
	}
}

func TestExpand(t *testing.T) {
	got := expand("a\nb$k c$k\nd\n", 3, 1)
	if want := "a\nb0 c0\nb1 c1\nb2 c2\nd\n"; got != want {
		t.Errorf("expand: %q, want %q", got, want)
	}
	got = expand("a$k\nb$i\no$o = c$k_$i\n", 4, 2)
	if want := "a0\na1\nb0\nb1\no0 = c0_0\no1 = c0_1\no2 = c1_0\no3 = c1_1\n"; got != want {
		t.Errorf("expand with pixels: %q, want %q", got, want)
	}
}

// TestConvPixels checks the column-split conv passes: every conv stored in
// a texture, its weights in the weight texture, computes ConvPixels pixels
// per fragment (fewer where the
// layers would exceed MaxLayers), its viewport and draws cover the split
// texture, and the rest of the plan does not change.
func TestConvPixels(t *testing.T) {
	g := testgraph.Whitebox(newRand())
	const h, w = 64, 68
	base, err := Build(g, Options{H: h, W: w, Input: InputRaw, ConvPixels: 1, MaxOutputs: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ pixels, maxLayers int }{{2, 0}, {4, 0}, {4, 64}, {8, 0}} {
		// Unbaked: a baked conv takes its own width (TestBakedConvs);
		// Direct: a Winograd conv's passes have their own
		// (TestWinogradPlan).
		p, err := Build(g, Options{H: h, W: w, Input: InputRaw, ConvPixels: tc.pixels, MaxLayers: tc.maxLayers, MaxOutputs: 8, Unbaked: true, Direct: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Passes) != len(base.Passes) {
			t.Errorf("%d pixels: %d passes, want %d", tc.pixels, len(p.Passes), len(base.Passes))
		}
		shapes, _ := g.Shapes(h, w)
		reduced := 0
		for i, pass := range p.Passes {
			s := shapes[pass.Value]
			if s == nil { // a guided filter's a and b: two layers
				o := shapes[pass.Nodes[len(pass.Nodes)-1]]
				s = []int{o[0], o[1], 8}
			}
			n, outs := pass.Pixels, p.Programs[pass.Program].Outputs
			if n > 1 && n < tc.pixels {
				reduced++
			}
			_, _, l := Storage(s, n)
			// Convs and stored elementwise values split columns; norm
			// statistics and box means do not.
			root := g.Node(pass.Nodes[0]).Op
			guided := strings.HasPrefix(p.Programs[pass.Program].Op, "guided filter")
			split := (root == model.OpConv2D || inlinable(root)) && !guided
			switch {
			case split && n != tc.pixels && (tc.maxLayers == 0 || l*2 <= tc.maxLayers):
				t.Errorf("%d pixels: %s pass %d (%s) has %d pixels", tc.pixels, root, i, pass.String(), n)
			case !split && n != 1:
				t.Errorf("pass %d (%s, %s) has %d pixels, want 1", i, pass.String(), root, n)
			case tc.maxLayers > 0 && l > tc.maxLayers:
				t.Errorf("pass %d: %d layers, MaxLayers %d", i, l, tc.maxLayers)
			case pass.W != (s[1]+n-1)/n || outs%n != 0:
				t.Errorf("pass %d: viewport %d, %d outputs for width %d at %d pixels", i, pass.W, outs, s[1], n)
			}
			for _, b := range pass.Bases {
				if b%n != 0 || b+outs > l {
					t.Errorf("pass %d: draw at layer %d of %d (%d outputs, %d pixels)", i, b, l, outs, n)
				}
			}
		}
		if (reduced > 0) != (tc.maxLayers > 0) {
			t.Errorf("%d pixels, MaxLayers %d: %d convs with fewer pixels", tc.pixels, tc.maxLayers, reduced)
		}
	}
}

// TestInputPass: by default the first pass stores the graph input sampled
// from the image, and no other pass samples the image; with
// Options.InlineInput every reader of the input samples it.
func TestInputPass(t *testing.T) {
	g := testgraph.Whitebox(newRand())
	base, err := Build(g, Options{H: 64, W: 64, ToCanvas: true, InlineInput: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(g, Options{H: 64, W: 64, ToCanvas: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Passes) != len(base.Passes)+1 {
		t.Errorf("%d passes, want %d + 1", len(p.Passes), len(base.Passes))
	}
	for i, pass := range p.Passes {
		image := slices.Contains(pass.Inputs, TexImage)
		if image != (i == 0) || i == 0 && (pass.Value != g.Input || len(pass.Inputs) != 1) {
			t.Errorf("pass %d (%s) reads %v", i, pass.Value, pass.Inputs)
		}
		if i > 0 && slices.Contains(pass.Inputs, p.Passes[0].Out) != slices.Contains(base.Passes[i-1].Inputs, TexImage) {
			t.Errorf("pass %d (%s) reads %v: not the stored input where it sampled the image", i, pass.Value, pass.Inputs)
		}
	}
}

// TestContent: a picture smaller than the plan (its sides padded to the
// graph's multiple) changes uniforms, not programs: the plan has the same
// passes and programs as the full-size one, and its canvas pass draws the
// picture's size. An input that is not an image cannot be padded.
func TestContent(t *testing.T) {
	g := testgraph.Whitebox(newRand())
	base, err := Build(g, Options{H: 64, W: 64, ToCanvas: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(g, Options{H: 64, W: 64, ContentH: 50, ContentW: 61, ToCanvas: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Passes) != len(base.Passes) || len(p.Programs) != len(base.Programs) {
		t.Fatalf("%d passes, %d programs; want %d, %d as at full size", len(p.Passes), len(p.Programs), len(base.Passes), len(base.Programs))
	}
	for i := range p.Programs {
		if p.Programs[i].Source != base.Programs[i].Source {
			t.Errorf("program %d (%s) differs from the full-size plan's", i, p.Programs[i].Op)
		}
	}
	last := p.Passes[len(p.Passes)-1]
	if last.Out != TexCanvas || last.W != 61 || last.H != 50 {
		t.Errorf("canvas pass %dx%d to %d, want 61x50 to the canvas", last.W, last.H, last.Out)
	}
	if p.Opts.ContentW != 61 || p.Opts.ContentH != 50 || base.Opts.ContentW != 64 || base.Opts.ContentH != 64 {
		t.Errorf("content %dx%d and %dx%d, want 61x50 and 64x64 (0 is the whole plan)", p.Opts.ContentW, p.Opts.ContentH, base.Opts.ContentW, base.Opts.ContentH)
	}
	for _, o := range []Options{
		{H: 64, W: 64, ContentH: 50, ContentW: 61, Input: InputRaw},
		{H: 64, W: 64, ContentH: 65, ContentW: 64, ToCanvas: true},
		{H: 64, W: 64, ContentH: 64, ContentW: -1, ToCanvas: true},
	} {
		if _, err := Build(g, o); err == nil {
			t.Errorf("content %dx%d of %dx%d, input %v: no error", o.ContentW, o.ContentH, o.W, o.H, o.Input)
		}
	}
}

// TestShapeUniforms: convs of one kernel size and activation that differ
// in stride, input and output channels get a program each, and one
// program between them with their shapes in uniforms; the passes are
// the same either way.
func TestShapeUniforms(t *testing.T) {
	b := testgraph.New(newRand(), 8)
	x := b.Conv(b.G.Input, 8, 8, 3, 1, 1, "leaky_relu")
	x = b.Conv(x, 8, 16, 3, 2, 1, "leaky_relu")
	x = b.Conv(x, 16, 24, 3, 1, 1, "leaky_relu")
	b.Conv(x, 24, 4, 3, 1, 1, "leaky_relu")
	opts := Options{H: 32, W: 32, Input: InputRaw, ConvPixels: 1, MaxOutputs: 1, Unbaked: true}
	for _, tc := range []struct {
		shapes   bool
		programs int
	}{{false, 4}, {true, 1}} {
		opts.ShapeUniforms = tc.shapes
		p, err := Build(b.G, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Passes) != 4 || len(p.Programs) != tc.programs {
			t.Errorf("shape uniforms %v: %d passes, %d programs, want 4 and %d", tc.shapes, len(p.Passes), len(p.Programs), tc.programs)
		}
		for _, pr := range p.Programs {
			if uni := strings.Contains(pr.Source, "#define INL u_i["); uni != tc.shapes {
				t.Errorf("shape uniforms %v: input layers read from a uniform: %v", tc.shapes, uni)
			}
		}
	}
}

// Bakes, the rule the latency features restate, says of a dense conv
// what the planner does with it: bakes its weights into its program or
// not, at both render-target counts, on both sides of each bound (the
// weights, the unrolled products, the output layers).
func TestBakesIsThePlanners(t *testing.T) {
	for _, c := range []struct{ k, in, out int }{
		{3, 8, 16}, {3, 16, 32}, {3, 16, 36}, {3, 24, 24}, {5, 3, 32}, {5, 4, 32}, {5, 12, 16},
		{7, 3, 16}, {7, 3, 32}, {7, 4, 24}, {1, 64, 32}, {1, 128, 36}, {3, 32, 16}, {5, 16, 3},
	} {
		for _, outputs := range []int{4, 8} {
			b := testgraph.New(newRand(), c.in)
			b.Conv(b.G.Input, c.in, c.out, c.k, 1, 1, "leaky_relu")
			p, err := Build(b.G, Options{H: 16, W: 16, Input: InputRaw, MaxOutputs: outputs})
			if err != nil {
				t.Fatal(err)
			}
			baked := false
			for _, pr := range p.Programs {
				baked = baked || strings.Contains(pr.Source, BakedMarker)
			}
			if want := Bakes(c.k, c.k, c.in, c.out, outputs); baked != want {
				t.Errorf("conv %dx%d %d->%d, %d outputs: planned baked %v, Bakes says %v", c.k, c.k, c.in, c.out, outputs, baked, want)
			}
		}
	}
}

// BakedPixelTerms widens a baked conv's fragment and nothing else: a 5x5
// conv from 20 channels to 3 (125 products a pixel) computes 2 pixels a
// fragment under the default 256 products, 8 under 1,024, baked in both.
func TestBakedPixelTerms(t *testing.T) {
	for _, c := range []struct{ terms, pixels int }{{0, 2}, {512, 4}, {1024, 8}} {
		b := testgraph.New(newRand(), 20)
		b.Conv(b.G.Input, 20, 3, 5, 1, 1, "")
		p, err := Build(b.G, Options{H: 16, W: 16, Input: InputRaw, MaxOutputs: 8, BakedPixelTerms: c.terms})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Passes) != 1 || p.Passes[0].Pixels != c.pixels || !strings.Contains(p.Programs[0].Source, BakedMarker) {
			t.Errorf("bound %d: %d passes, %d pixels a fragment, want 1 baked pass of %d", c.terms, len(p.Passes), p.Passes[0].Pixels, c.pixels)
		}
	}
}
