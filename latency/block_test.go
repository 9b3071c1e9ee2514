package latency

import (
	"math"
	"slices"
	"testing"
)

func TestBlockShapesAndMACs(t *testing.T) {
	cases := []struct {
		b          Block
		outH, outW int
		macs       int64
	}{
		// 128*128 out * 9 taps * 32 in * 64 out.
		{Block{Kind: KindConv, K: 3, Stride: 2, Cin: 32, Cout: 64, H: 256, W: 256, Act: leaky}, 128, 128, 128 * 128 * 9 * 32 * 64},
		// Odd size, stride 2, SAME: ceil(33/2) = 17.
		{Block{Kind: KindConv, K: 3, Stride: 2, Cin: 4, Cout: 4, H: 33, W: 20}, 17, 10, 17 * 10 * 9 * 16},
		// Two convs through the mid width.
		{Block{Kind: KindResBlock, K: 3, Stride: 1, Cin: 16, Cout: 16, Mid: 8, H: 10, W: 10}, 10, 10, 2 * 100 * 9 * 16 * 8},
		{Block{Kind: KindUpsampleAdd, Cin: 8, Cout: 8, H: 5, W: 7}, 10, 14, 0},
		{Block{Kind: KindGuidedFilter, K: 3, Cin: 3, Cout: 3, H: 5, W: 7}, 5, 7, 0},
	}
	for _, c := range cases {
		if err := c.b.Validate(); err != nil {
			t.Errorf("%s: %v", c.b.Key(), err)
		}
		if c.b.OutH() != c.outH || c.b.OutW() != c.outW || c.b.MACs() != c.macs {
			t.Errorf("%s: out %dx%d, %d MACs; want %dx%d, %d", c.b.Key(), c.b.OutH(), c.b.OutW(), c.b.MACs(), c.outH, c.outW, c.macs)
		}
	}
}

func TestBlockKeyAndCompare(t *testing.T) {
	b := Block{Kind: KindConv, K: 3, Stride: 1, Cin: 8, Cout: 16, H: 32, W: 32, Act: leaky, Residual: true}
	if got, want := b.Key(), "conv k3 s1 8->16 @32x32 leaky_relu +res"; got != want {
		t.Errorf("key %q, want %q", got, want)
	}
	for _, c := range []struct {
		b    Block
		want string
	}{
		{Block{Kind: KindResBlock, K: 3, Stride: 1, Cin: 8, Cout: 8, Mid: 4, H: 2, W: 3}, "resblock k3 8/4 @2x3"},
		{Block{Kind: KindUpsampleAdd, Cin: 8, Cout: 8, H: 2, W: 3}, "upsample_add 8 @2x3"},
		{Block{Kind: KindGuidedFilter, K: 5, Cin: 3, Cout: 3, H: 2, W: 3}, "guided_filter k5 3 @2x3"},
		{Block{Kind: KindUpsampleAdd, K: 3, Cin: 8, Cout: 8, H: 2, W: 3}, `"upsample_add" k3 s0 8->8 mid0 @2x3`},
	} {
		if got := c.b.Key(); got != c.want {
			t.Errorf("key %q, want %q", got, c.want)
		}
	}
	odd := Block{Kind: "x\"y", Cin: 1, Act: "\n"}
	if got, want := odd.Key(), `"x\"y" k0 s0 1->0 mid0 @0x0 "\n"`; got != want {
		t.Errorf("hostile key %q, want %q", got, want)
	}
	// Every field takes part in the order: flipping any one makes the
	// blocks compare unequal, in both directions.
	variants := []func(*Block){
		func(b *Block) { b.Kind = KindResBlock }, func(b *Block) { b.K = 5 },
		func(b *Block) { b.Stride = 2 }, func(b *Block) { b.Cin++ }, func(b *Block) { b.Cout++ },
		func(b *Block) { b.Mid++ }, func(b *Block) { b.H++ }, func(b *Block) { b.W++ },
		func(b *Block) { b.Act = "relu" }, func(b *Block) { b.Residual = false },
	}
	for i, v := range variants {
		c := b
		v(&c)
		if Compare(b, c) == 0 || Compare(b, c) != -Compare(c, b) {
			t.Errorf("variant %d: Compare %d / %d", i, Compare(b, c), Compare(c, b))
		}
		if c.Key() == b.Key() {
			t.Errorf("variant %d: same key %q", i, c.Key())
		}
	}
	if Compare(b, b) != 0 {
		t.Error("a block differs from itself")
	}
}

func TestCatalog(t *testing.T) {
	full := FullCatalog()
	// Count by hand (sizes 128 and 256, 9 widths): k3 s1 at 32, 64, 128,
	// 256 (the convs after each upsample run at S) and k3 s2 at 64, 128,
	// 256: 81 each; resblock and residual conv at 32 and 64: 2 * 81 each;
	// k7 in and out at 128 and 256: 2 * 2 * 9; upsample_add at 32, 64,
	// 128: 3 * 9; filters at 32, 64, 128, 256. The kernel choices at
	// 128 and 256, 5 widths: conv0 k3, k5 and conv9 k3, k5 (2 * 2 * 2 *
	// 5), conv8 k1, k5 (2 * 2 * 25); their k7 and k3 forms are above.
	want := 7*81 + 2*2*81 + 2*2*9 + 3*9 + 4 + 2*2*2*5 + 2*2*25
	if len(full) != want {
		t.Errorf("full catalogue: %d blocks, want %d", len(full), want)
	}
	if !slices.IsSortedFunc(full, Compare) {
		t.Error("full catalogue is not sorted")
	}
	seen := map[Block]bool{}
	res := map[int]bool{}
	for _, b := range full {
		if seen[b] {
			t.Errorf("%s listed twice", b.Key())
		}
		seen[b] = true
		res[b.H] = true
		if err := b.Validate(); err != nil {
			t.Error(err)
		}
	}
	for _, h := range []int{32, 64, 128, 256} {
		if !res[h] {
			t.Errorf("no block at %d", h)
		}
	}
	// Every block of the teacher and of a small student is in it.
	small := arch{C0: 8, C1: 16, C2: 24, C3: 32, R: 48, Mids: []int{16, 96}, C6: 64, C8: 4}
	withKernels := arch{C0: 32, C1: 16, C2: 24, C3: 32, R: 48, Mids: []int{16}, C6: 64, C8: 24, K0: 5, K8: 1, K9: 3}
	for _, a := range []arch{teacher, small, withKernels, withKernels.WithKernel("k0", 3).WithKernel("k8", 5).WithKernel("k9", 5)} {
		for _, size := range []int{128, 256} {
			bs, err := Decompose(a.graph(), size, size)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bs {
				if !seen[b] {
					t.Errorf("%v at %d: %s not in the catalogue", a, size, b.Key())
				}
			}
		}
	}
	again := FullCatalog()
	if !slices.Equal(full, again) {
		t.Error("catalogue differs between calls")
	}

	reduced := ReducedCatalog()
	if len(reduced) < 5 || len(reduced) > 12 {
		t.Errorf("reduced catalogue: %d blocks, want a handful", len(reduced))
	}
	kinds := map[string]bool{}
	for _, b := range reduced {
		kinds[b.Kind] = true
		if err := b.Validate(); err != nil {
			t.Error(err)
		}
	}
	if len(kinds) != 4 {
		t.Errorf("reduced catalogue covers kinds %v, want all 4", kinds)
	}
	for _, bad := range []CatalogSpec{{}, {InputSizes: []int{30}, Channels: []int{4}}, {InputSizes: []int{64}, Channels: []int{0}}} {
		if _, err := Catalog(bad); err == nil {
			t.Errorf("spec %+v: no error", bad)
		}
	}
}

// Features against hand-computed values.
func TestFeatures(t *testing.T) {
	if len(FeatureNames) != 19 {
		t.Fatalf("%d feature names", len(FeatureNames))
	}
	// conv k3 s2 6->16 @16x16 with a residual: out 8x8; slices 2 and 4;
	// baked (as 8->16: 1,152 weights, 9*2*4 = 72 products, 4 layers);
	// texel MACs 64*9*16*2*4 = 73728; texel io 256*2 + 64*4 + 64*4
	// (residual) = 1024.
	b := Block{Kind: KindConv, K: 3, Stride: 2, Cin: 6, Cout: 16, H: 16, W: 16, Act: "relu", Residual: true}
	want := []float64{1, 0, 0, 0, 1, 2, 0, 8, 6, 3, 2, 1, 1, 1, 0, 0, 0, math.Log2(73729), math.Log2(1025)}
	checkFeatures(t, b, want)
	// conv k7 3->32 @8x8: slices 1 and 8; not baked (as 4->32: 6,272
	// weights, 49*1*8 = 392 products); MACs 64*49*16*1*8 = 401408; io
	// 64*1 + 64*8 = 576.
	b = Block{Kind: KindConv, K: 7, Stride: 1, Cin: 3, Cout: 32, H: 8, W: 8, Act: leaky}
	checkFeatures(t, b, []float64{1, 0, 0, 0, 0, 3, 0, 6, 6, 7, 1, 1, 0, 0, 0, 0, 0, math.Log2(401409), math.Log2(577)})
	// resblock 32/8 @4x4: slices 8 and 2; both convs baked (2,304
	// weights, 9*8*2 = 144 products, 2 and 8 layers); MACs
	// 2*16*9*16*8*2 = 73728; io 3*16*8 + 2*16*2 = 448.
	b = Block{Kind: KindResBlock, K: 3, Stride: 1, Cin: 32, Cout: 32, Mid: 8, H: 4, W: 4, Act: leaky}
	checkFeatures(t, b, []float64{0, 1, 0, 0, 3, 3, 1, 4, 4, 3, 1, 1, 0, 1, 1, 0, 0, math.Log2(73729), math.Log2(449)})
	// resblock 32/48: neither conv baked (13,824 weights each).
	b = Block{Kind: KindResBlock, K: 3, Stride: 1, Cin: 32, Cout: 32, Mid: 48, H: 4, W: 4, Act: leaky}
	if f := Features(b); f[13] != 0 || f[14] != 0 || f[15] != 0 || f[16] != 0 {
		t.Errorf("%s: baked and Winograd features %v, want 0 0 0 0", b.Key(), f[13:17])
	}
	// Winograd (kernels.WinogradShape: 3x3, stride 1, 64 channels and
	// more in and out): resblock 128/64 both convs; 128/60 neither
	// (60 channels are 15 texels); conv k3 s1 64->128 yes, and not at
	// stride 2, nor 5x5.
	for _, c := range []struct {
		b     Block
		w, w2 float64
	}{
		{Block{Kind: KindResBlock, K: 3, Stride: 1, Cin: 128, Cout: 128, Mid: 64, H: 8, W: 8, Act: leaky}, 1, 1},
		{Block{Kind: KindResBlock, K: 3, Stride: 1, Cin: 128, Cout: 128, Mid: 60, H: 8, W: 8, Act: leaky}, 0, 0},
		{Block{Kind: KindConv, K: 3, Stride: 1, Cin: 64, Cout: 128, H: 8, W: 8, Act: leaky}, 1, 0},
		{Block{Kind: KindConv, K: 3, Stride: 1, Cin: 60, Cout: 128, H: 8, W: 8, Act: leaky}, 0, 0},
		{Block{Kind: KindConv, K: 3, Stride: 2, Cin: 64, Cout: 128, H: 8, W: 8, Act: leaky}, 0, 0},
		{Block{Kind: KindConv, K: 5, Stride: 1, Cin: 64, Cout: 128, H: 8, W: 8, Act: leaky}, 0, 0},
	} {
		if f := Features(c.b); f[15] != c.w || f[16] != c.w2 {
			t.Errorf("%s: Winograd features %v, want %v %v", c.b.Key(), f[15:17], c.w, c.w2)
		}
	}
	// upsample_add 8 @4x4: io 16*2 + 8*16*2 = 288.
	b = Block{Kind: KindUpsampleAdd, Cin: 8, Cout: 8, H: 4, W: 4}
	checkFeatures(t, b, []float64{0, 0, 1, 0, 1, 1, 0, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, math.Log2(289)})
	// guided_filter 3 @2x2: io 3*4*1 = 12.
	b = Block{Kind: KindGuidedFilter, K: 3, Cin: 3, Cout: 3, H: 2, W: 2}
	checkFeatures(t, b, []float64{0, 0, 0, 1, 0, 0, 0, 2, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, math.Log2(13)})
}

func checkFeatures(t *testing.T, b Block, want []float64) {
	t.Helper()
	got := Features(b)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("%s: feature %s = %g, want %g", b.Key(), FeatureNames[i], got[i], want[i])
		}
	}
}
