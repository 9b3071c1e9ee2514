//go:build !js

package browsertest

import (
	"fmt"
	"math"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPeakShaders draws every probe shape (chains x unroll) at 4x4 in the
// browser, with the loop skipped and run 3 times, and compares every
// pixel with peakWant, the same arithmetic done by hand in Go: a shader
// whose compiler folded the loop away or dropped a chain would not match.
func TestPeakShaders(t *testing.T) {
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, peakJS); err != nil {
		t.Fatal(err)
	}
	const size = 4
	all := func(int) bool { return true }
	for _, v := range peakVariants() {
		if v.Size != 256 {
			continue // the render size does not change the shader
		}
		v.Size = size
		for _, n := range []int{0, 3} {
			t.Run(fmt.Sprintf("%dchains-x%d/n=%d", v.Chains, v.Unroll, n), func(t *testing.T) {
				px, err := eval[[]float64](p.ctx, fmt.Sprintf("peakRead(%q, %d, %d, %s, %s)", v.shader(), size, n, jsVec4(peakM), jsVec4(peakK)))
				if err != nil {
					t.Fatal(err)
				}
				if len(px) != size*size*4 {
					t.Fatalf("read %d floats, want %d", len(px), size*size*4)
				}
				var worst float64
				for y := range size {
					for x := range size {
						want := v.peakWant(x, y, n, all)
						for c := range 4 {
							got, w := px[(y*size+x)*4+c], float64(want[c])
							tol := peakTol(w)
							if d := math.Abs(got - w); d > tol {
								t.Errorf("pixel (%d,%d)[%d] = %.8g, want %.8g (off by %.3g, bound %.3g)", x, y, c, got, w, d, tol)
							} else {
								worst = max(worst, d/math.Abs(w))
							}
							// The bound must be tight enough to see any one
							// chain missing from the output.
							for j := range v.Chains {
								drop := v.peakWant(x, y, n, func(i int) bool { return i != j })
								if math.Abs(float64(drop[c])-w) <= tol {
									t.Fatalf("the bound %.3g cannot tell chain %d missing at (%d,%d)[%d]", tol, j, x, y, c)
								}
							}
						}
					}
				}
				t.Logf("max relative error %.2g", worst)
			})
		}
	}
}

// peakTol bounds the difference between the shader and peakWant: a fused
// multiply-add rounds once where peakWant rounds twice, an ulp a step.
func peakTol(want float64) float64 { return 1e-5*math.Abs(want) + 1e-6 }

// TestPeakWork checks the probe's arithmetic against counts made by hand:
// every variant does peakWork vec4 multiply-adds a fragment per draw.
func TestPeakWork(t *testing.T) {
	for _, tc := range []struct {
		v     peakVariant
		iters int
		mads  float64
	}{
		// 2048 vec4 MADs = 8192 MADs a fragment, 65,536 fragments.
		{peakVariant{8, 4, 256}, 64, 536_870_912},
		{peakVariant{4, 1, 256}, 512, 536_870_912},
		// 32 chains x 8 = 256 vec4 MADs an iteration; 262,144 fragments.
		{peakVariant{32, 8, 512}, 8, 2_147_483_648},
	} {
		if got := tc.v.iters(); got != tc.iters {
			t.Errorf("%s: iters %d, want %d", tc.v, got, tc.iters)
		}
		if got := tc.v.mads(tc.v.iters()); got != tc.mads {
			t.Errorf("%s: mads %.0f, want %.0f", tc.v, got, tc.mads)
		}
	}
	vs := peakVariants()
	if len(vs) != 24 {
		t.Errorf("%d variants, want 24 (4 chain counts x 3 unrolls x 2 sizes)", len(vs))
	}
	for _, v := range vs {
		if v.iters()*v.Chains*v.Unroll != peakWork {
			t.Errorf("%s: %d iterations of %d vec4 MADs is not %d", v, v.iters(), v.Chains*v.Unroll, peakWork)
		}
	}
}

// TestBestPeak checks that the best-of picks the highest valid rate and
// never a non-measurement.
func TestBestPeak(t *testing.T) {
	a, b, c := peakVariant{4, 1, 256}, peakVariant{16, 4, 512}, peakVariant{32, 8, 256}
	best, err := bestPeak([]peakResult{{a, 3.1e9}, {b, 6.8e9}, {c, 5.2e9}, {a, math.Inf(1)}, {b, math.NaN()}, {c, -4e9}})
	if err != nil {
		t.Fatal(err)
	}
	if best.Variant != b || best.Rate != 6.8e9 {
		t.Errorf("best = %s %.3g, want %s 6.8e9", best.Variant, best.Rate, b)
	}
	// The maximum last, and alone among invalid ones.
	if best, _ := bestPeak([]peakResult{{a, 1e9}, {c, 2e9}}); best.Variant != c {
		t.Errorf("best = %s, want %s", best.Variant, c)
	}
	for _, rs := range [][]peakResult{nil, {{a, 0}, {b, math.Inf(1)}, {c, math.NaN()}}} {
		if best, err := bestPeak(rs); err == nil {
			t.Errorf("bestPeak(%v) = %v, want an error", rs, best)
		}
	}
}

// BenchmarkPeak sweeps the peak probe's variants once, logging each rate
// (-v), and reports the best: go test -run '^$' -bench Peak -benchtime 1x
// -v ./wasm/browsertest.
func BenchmarkPeak(b *testing.B) {
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, peakJS); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		best, _, err := p.peak(b)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(best.Rate/1e9, "peak-GMAD/s")
	}
}
