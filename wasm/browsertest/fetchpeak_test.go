//go:build !js

package browsertest

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The fetch probe measures the browser's rate of texel fetches: texelFetch
// of an RGBA32F texture, as every kernel of the engine reads its inputs
// and weights, with nothing but a vec4 add per fetch. Under SwiftShader
// the engine's kernels are bound by their fetches, not their arithmetic
// (docs/performance.md), so beside the multiply-add peak (peak_test.go)
// this rate is the other limit a kernel is measured against. Two
// patterns, as the kernels read: "local", each fragment the texels about
// its own position (a conv's input), and "shared", every fragment the
// same texels (a conv's weights). Each in several shapes, the fastest
// kept, as the peak probe does.

// fetchVariant is one shape of the probe: Chains independent sums, the
// loop body repeating every chain Unroll times. Packed reads an RGBA32UI
// texture of two half floats a lane (unpackHalf2x16): 8 values a fetch
// where RGBA32F gives 4, the storage an fp16 plan could use. Array reads
// an RGBA32F TEXTURE_2D_ARRAY, as the engine stores activations (every
// layer the same texels; chain j reads layer j mod fetchLayers), where
// the others read a TEXTURE_2D, as the engine stores weights.
type fetchVariant struct {
	Shared, Packed, Array bool
	Chains, Unroll        int
}

// fetchLayers is the layers of an Array variant's texture.
const fetchLayers = 4

// fetchWork is the fetches each fragment does per timed draw, the same
// for every variant; fetchSize the render size; fetchSide the input
// texture's side (a power of two: addresses wrap with a mask).
const (
	fetchWork = 1024
	fetchSize = 256
	fetchSide = 256
)

func (v fetchVariant) String() string {
	p := "local"
	if v.Shared {
		p = "shared"
	}
	if v.Packed {
		p += "-packed"
	}
	if v.Array {
		p += "-array"
	}
	return fmt.Sprintf("%s-%dchains-x%d", p, v.Chains, v.Unroll)
}

func fetchVariants() []fetchVariant {
	var vs []fetchVariant
	for _, kind := range []struct{ packed, array bool }{{false, false}, {true, false}, {false, true}} {
		for _, shared := range []bool{false, true} {
			for _, chains := range []int{1, 4, 8} {
				for _, unroll := range []int{1, 4, 8} {
					vs = append(vs, fetchVariant{shared, kind.packed, kind.array, chains, unroll})
				}
			}
		}
	}
	return vs
}

// textureArgs are peakJS's arguments for the variant's input texture:
// its side (negative: packed) and its layers (0: a TEXTURE_2D).
func (v fetchVariant) textureArgs() string {
	switch {
	case v.Packed:
		return fmt.Sprintf("%d, 0", -fetchSide)
	case v.Array:
		return fmt.Sprintf("%d, %d", fetchSide, fetchLayers)
	}
	return fmt.Sprintf("%d, 0", fetchSide)
}

func (v fetchVariant) iters() int { return fetchWork / (v.Chains * v.Unroll) }

// fetches is the texel fetches of one draw looping n times over size².
func (v fetchVariant) fetches(size, n int) float64 {
	return float64(size) * float64(size) * float64(n) * float64(v.Chains*v.Unroll)
}

// addr is the texel that fetch (u, j) of iteration i reads at pixel
// (x, y), as the shader computes it: the local pattern steps along the
// row from the fragment's own texel, a row down each iteration; the
// shared pattern reads texel (u*Chains + j, i) at every pixel.
func (v fetchVariant) addr(x, y, i, u, j int) (int, int) {
	o := u*v.Chains + j
	if v.Shared {
		return o & (fetchSide - 1), i & (fetchSide - 1)
	}
	return (x + o) & (fetchSide - 1), (y + i) & (fetchSide - 1)
}

// shader is the variant's fragment shader: the loop count n is a uniform
// and the output sums every chain, so that no fetch can be dropped.
func (v fetchVariant) shader() string {
	var b strings.Builder
	b.WriteString("#version 300 es\nprecision highp float;\nprecision highp sampler2D;\nprecision highp usampler2D;\nprecision highp sampler2DArray;\n")
	fetch := "texelFetch(t, %s, 0)"
	switch {
	case v.Packed:
		b.WriteString("uniform usampler2D t;\nvec4 unpack(uvec4 u) { return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y)) + vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w)); }\n")
		fetch = "unpack(texelFetch(t, %s, 0))"
	case v.Array:
		b.WriteString("uniform sampler2DArray t;\n")
	default:
		b.WriteString("uniform sampler2D t;\n")
	}
	b.WriteString("uniform int n;\nout vec4 o;\nvoid main() {\n  ivec2 p = ivec2(gl_FragCoord.xy);\n")
	for j := range v.Chains {
		fmt.Fprintf(&b, "  vec4 a%d = vec4(0.0);\n", j)
	}
	fmt.Fprintf(&b, "  const int M = %d;\n  for (int i = 0; i < n; i++) {\n", fetchSide-1)
	for u := range v.Unroll {
		for j := range v.Chains {
			o := u*v.Chains + j
			addr := fmt.Sprintf("ivec2((p.x + %d) & M, (p.y + i) & M)", o)
			if v.Shared {
				addr = fmt.Sprintf("ivec2(%d, i & M)", o&(fetchSide-1))
			}
			if v.Array {
				addr = fmt.Sprintf("ivec3(%s, %d)", addr, j%fetchLayers)
			}
			fmt.Fprintf(&b, "    a%d += %s;\n", j, fmt.Sprintf(fetch, addr))
		}
	}
	b.WriteString("  }\n  o = a0")
	for j := 1; j < v.Chains; j++ {
		fmt.Fprintf(&b, " + a%d", j)
	}
	b.WriteString(";\n}\n")
	return b.String()
}

// fetchWant computes by hand what the shader writes at pixel (x, y)
// after n iterations. The texels are
// small integers (peakJS), so every sum is exact in float32; a packed
// texel holds its values twice.
func (v fetchVariant) fetchWant(x, y, n int) [4]float64 {
	var sum [4]float64
	for i := range n {
		for u := range v.Unroll {
			for j := range v.Chains {
				tx, ty := v.addr(x, y, i, u, j)
				k := 1.0
				if v.Packed {
					k = 2
				}
				sum[0] += k * float64(1+tx%16)
				sum[1] += k * float64(1+ty%16)
				sum[2] += k * float64(1+(tx+ty)%16)
				sum[3] += k
			}
		}
	}
	return sum
}

// TestFetchShaders draws every probe shape at 4x4 with the loop skipped
// and run 3 times, and compares every pixel with fetchWant: a shader
// that read other texels, or whose compiler dropped a fetch, would not
// match.
func TestFetchShaders(t *testing.T) {
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, peakJS); err != nil {
		t.Fatal(err)
	}
	const size = 4
	for _, v := range fetchVariants() {
		for _, n := range []int{0, 3} {
			px, err := eval[[]float64](p.ctx, fmt.Sprintf("peakRead(%q, %d, %d, [0,0,0,0], [0,0,0,0], %s)", v.shader(), size, n, v.textureArgs()))
			if err != nil {
				t.Fatalf("%s: %v", v, err)
			}
			if len(px) != size*size*4 {
				t.Fatalf("%s: read %d floats, want %d", v, len(px), size*size*4)
			}
			for y := range size {
				for x := range size {
					want := v.fetchWant(x, y, n)
					for c := range 4 {
						if got := px[(y*size+x)*4+c]; got != want[c] {
							t.Errorf("%s n=%d: pixel (%d,%d)[%d] = %v, want %v", v, n, x, y, c, got, want[c])
						}
					}
				}
			}
		}
	}
}

// fetchResult is one timed variant: Rate texel fetches per second.
type fetchResult struct {
	Variant fetchVariant
	Rate    float64
}

// BenchmarkFetchPeak times every fetch probe shape at 256x256 and logs
// the fastest of each pattern, then the multiply-add peak in the same
// page for comparison:
//
//	go test -run '^$' -bench FetchPeak -benchtime 1x -v ./wasm/browsertest
func BenchmarkFetchPeak(b *testing.B) {
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, peakJS); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		type kind struct{ shared, packed, array bool }
		best := map[kind]fetchResult{}
		for _, v := range fetchVariants() {
			res, err := eval[string](p.ctx, fmt.Sprintf("peakTime(%q, %d, %d, [0,0,0,0], [0,0,0,0], %s)", v.shader(), fetchSize, v.iters(), v.textureArgs()))
			if err != nil {
				b.Fatalf("fetch probe %s: %v", v, err)
			}
			var t struct{ Ms, Base float64 }
			if err := json.Unmarshal([]byte(res), &t); err != nil {
				b.Fatal(err)
			}
			rate := v.fetches(fetchSize, v.iters()) / ((t.Ms - t.Base) / 1000)
			b.Logf("fetch probe %s: %.3f G fetches/s (%.1f ms a draw, %.1f ms without the loop)", v, rate/1e9, t.Ms, t.Base)
			k := kind{v.Shared, v.Packed, v.Array}
			if !math.IsInf(rate, 0) && rate > best[k].Rate {
				best[k] = fetchResult{v, rate}
			}
		}
		// The best of each kind, 2D beside 2D array beside packed.
		for _, k := range []kind{{false, false, false}, {false, false, true}, {true, false, false}, {true, false, true}, {false, true, false}, {true, true, false}} {
			r := best[k]
			values := 4.0
			if k.packed {
				values = 8
			}
			b.Logf("fetch peak: %.3f G fetches/s (%.2f G values/s), %s", r.Rate/1e9, values*r.Rate/1e9, r.Variant)
		}
		if _, _, err := p.peak(b); err != nil {
			b.Fatal(err)
		}
	}
}
