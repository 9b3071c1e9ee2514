//go:build !js

package browsertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// The peak probe measures the browser's multiply-add rate on fragment
// shaders that do nothing but arithmetic, in several shapes, and keeps the
// fastest: a single shape under-reads the ALU (a loop of 8 vec4 chains that
// SwiftShader does not unroll measured its loop overhead, issue 19), and
// which shape is fastest depends on the compiler and the register file.
// Every fraction of peak in the benchmarks is computed against the best.

// peakVariant is one shape of the probe: Chains independent vec4
// multiply-add chains, the loop body repeating every chain Unroll times,
// drawn over Size x Size fragments.
type peakVariant struct {
	Chains, Unroll, Size int
}

// peakWork is the vec4 multiply-adds each fragment does per timed draw,
// the same for every variant, so that each draw costs about the same.
const peakWork = 2048

// peakM and peakK are the uniforms of a = a*m + k; |m| < 1 keeps every
// chain bounded, whatever the loop count.
var (
	peakM = [4]float32{0.9999, 0.9998, 0.9997, 0.9996}
	peakK = [4]float32{1e-4, 2e-4, 3e-4, 4e-4}
)

func (v peakVariant) String() string {
	return fmt.Sprintf("%dchains-x%d-%dpx", v.Chains, v.Unroll, v.Size)
}

// peakVariants is the probe's sweep: 4 to 32 chains, bodies unrolled 1, 4
// and 8 times, at two render sizes.
func peakVariants() []peakVariant {
	var vs []peakVariant
	for _, size := range []int{256, 512} {
		for _, chains := range []int{4, 8, 16, 32} {
			for _, unroll := range []int{1, 4, 8} {
				vs = append(vs, peakVariant{chains, unroll, size})
			}
		}
	}
	return vs
}

// iters is the loop count that makes a fragment do peakWork vec4 MADs.
func (v peakVariant) iters() int { return peakWork / (v.Chains * v.Unroll) }

// mads is the scalar multiply-adds of one draw looping n times.
func (v peakVariant) mads(n int) float64 {
	return float64(v.Size) * float64(v.Size) * float64(n) * float64(v.Chains*v.Unroll) * 4
}

// shader is the variant's fragment shader. Each chain starts from the
// fragment's position plus its own offset, the loop count n is a uniform,
// and the output sums every chain, so the compiler can neither evaluate
// the loop ahead of time nor drop a chain; TestPeakShaders checks the
// output against peakWant.
func (v peakVariant) shader() string {
	var b strings.Builder
	b.WriteString("#version 300 es\nprecision highp float;\nuniform vec4 m, k;\nuniform int n;\nout vec4 o;\nvoid main() {\n")
	for j := range v.Chains {
		fmt.Fprintf(&b, "  vec4 a%d = gl_FragCoord.xyxy * 0.0009765625 + %.6f;\n", j, chainOffset(j))
	}
	b.WriteString("  for (int i = 0; i < n; i++) {\n")
	for range v.Unroll {
		for j := range v.Chains {
			fmt.Fprintf(&b, "    a%d = a%d * m + k;\n", j, j)
		}
	}
	b.WriteString("  }\n  o = a0")
	for j := 1; j < v.Chains; j++ {
		fmt.Fprintf(&b, " + a%d", j)
	}
	b.WriteString(";\n}\n")
	return b.String()
}

// chainOffset is chain j's starting offset, exact in float32.
func chainOffset(j int) float32 { return float32(j) / 32 }

// peakWant computes by hand, in float32, what the variant's shader writes
// at pixel (x, y) after n loop iterations: one rounding per multiply and
// per add, as the shader's mul and add (a fused multiply-add differs by an
// ulp a step, within the test's bound). keep[j] false leaves chain j out
// of the sum, to check that the test would see a dropped chain.
func (v peakVariant) peakWant(x, y, n int, keep func(j int) bool) [4]float32 {
	fx, fy := float32(x)+0.5, float32(y)+0.5
	pos := [4]float32{fx, fy, fx, fy}
	var sum [4]float32
	for j := range v.Chains {
		if !keep(j) {
			continue
		}
		for c := range 4 {
			a := float32(pos[c]*0.0009765625) + chainOffset(j)
			for range n * v.Unroll {
				a = float32(a*peakM[c]) + peakK[c]
			}
			sum[c] += a
		}
	}
	return sum
}

// peakResult is one timed variant: Rate multiply-adds per second.
type peakResult struct {
	Variant peakVariant
	Rate    float64
}

// bestPeak is the fastest result; a rate that is not a positive finite
// number (a draw no slower than the empty one) is no measurement.
func bestPeak(rs []peakResult) (peakResult, error) {
	var best peakResult
	for _, r := range rs {
		if math.IsInf(r.Rate, 0) || math.IsNaN(r.Rate) || r.Rate <= 0 {
			continue
		}
		if r.Rate > best.Rate {
			best = r
		}
	}
	if best.Rate == 0 {
		return best, errors.New("peak probe: no variant gave a valid rate")
	}
	return best, nil
}

// peakJS compiles and draws the probe's shaders on one WebGL2 context,
// reused by every variant (a page may hold only a few contexts), and made
// afresh where the browser took it back for a newer one (Chromium keeps
// 16: BenchmarkStudents opens one per model after the first sweep).
// side, when not 0, gives the shader an RGBA32F input texture "t" of
// side x side texels, texel (x, y) = (1 + x%16, 1 + y%16, 1 + (x+y)%16, 1)
// (the fetch probe, fetchpeak_test.go); a negative side, an RGBA32UI one
// holding those four values as half floats twice over (lanes x and z:
// the first two, y and w: the last two, low half first). With layers,
// an RGBA32F TEXTURE_2D_ARRAY of that many layers, each those texels.
const peakJS = `
let peakCtx;
function peakProgram(src, size, m, k, side, layers) {
  if (!peakCtx || peakCtx.isContextLost()) {
    peakCtx = document.createElement("canvas").getContext("webgl2");
    if (!peakCtx.getExtension("EXT_color_buffer_float")) throw new Error("peak probe: no EXT_color_buffer_float");
  }
  const gl = peakCtx;
  const sh = (type, s) => { const x = gl.createShader(type); gl.shaderSource(x, s); gl.compileShader(x);
    if (!gl.getShaderParameter(x, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(x)); return x; };
  const vs = sh(gl.VERTEX_SHADER, "#version 300 es\nvoid main(){vec2 v=vec2(float((gl_VertexID&1)<<2)-1.0,float((gl_VertexID&2)<<1)-1.0);gl_Position=vec4(v,0.0,1.0);}");
  const fs = sh(gl.FRAGMENT_SHADER, src);
  const p = gl.createProgram();
  gl.attachShader(p, vs); gl.attachShader(p, fs); gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, size, size);
  const fb = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
  gl.useProgram(p);
  gl.uniform4fv(gl.getUniformLocation(p, "m"), m);
  gl.uniform4fv(gl.getUniformLocation(p, "k"), k);
  let input = null;
  if (side) {
    const packed = side < 0;
    side = Math.abs(side);
    // half bits of a small positive integer
    const half = (n) => { const e = Math.floor(Math.log2(n)); return ((e + 15) << 10) | Math.round((n / 2 ** e - 1) * 1024); };
    const data = packed ? new Uint32Array(side * side * 4) : new Float32Array(side * side * 4);
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
      const v = [1 + x % 16, 1 + y % 16, 1 + (x + y) % 16, 1];
      const lo = (half(v[0]) | (half(v[1]) << 16)) >>> 0, hi = (half(v[2]) | (half(v[3]) << 16)) >>> 0;
      data.set(packed ? [lo, hi, lo, hi] : v, (y * side + x) * 4);
    }
    input = gl.createTexture();
    gl.activeTexture(gl.TEXTURE1);
    const target = layers ? gl.TEXTURE_2D_ARRAY : gl.TEXTURE_2D;
    gl.bindTexture(target, input);
    if (layers) {
      gl.texStorage3D(target, 1, gl.RGBA32F, side, side, layers);
      for (let l = 0; l < layers; l++) gl.texSubImage3D(target, 0, 0, 0, l, side, side, 1, gl.RGBA, gl.FLOAT, data);
    } else {
      gl.texStorage2D(target, 1, packed ? gl.RGBA32UI : gl.RGBA32F, side, side);
      gl.texSubImage2D(target, 0, 0, 0, side, side, packed ? gl.RGBA_INTEGER : gl.RGBA, packed ? gl.UNSIGNED_INT : gl.FLOAT, data);
    }
    // Float textures do not filter: NEAREST, or the texture is incomplete.
    gl.texParameteri(target, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(target, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.uniform1i(gl.getUniformLocation(p, "t"), 1);
    gl.activeTexture(gl.TEXTURE0);
  }
  gl.viewport(0, 0, size, size);
  const nLoc = gl.getUniformLocation(p, "n");
  return {
    // draw loops n times and waits for it, reading back w x h pixels.
    draw(n, w, h) {
      gl.uniform1i(nLoc, n);
      const px = new Float32Array(w * h * 4);
      const t0 = performance.now();
      gl.drawArrays(gl.TRIANGLES, 0, 3);
      gl.readPixels(0, 0, w, h, gl.RGBA, gl.FLOAT, px);
      return {ms: performance.now() - t0, px};
    },
    dispose() { gl.deleteFramebuffer(fb); gl.deleteTexture(tex); if (input) gl.deleteTexture(input); gl.deleteProgram(p); gl.deleteShader(vs); gl.deleteShader(fs); },
  };
}
// peakTime times a variant: the median of 3 draws looping iters times and
// the fastest of 2 draws that skip the loop (the draw's fixed cost).
function peakTime(src, size, iters, m, k, side, layers) {
  const pr = peakProgram(src, size, m, k, side, layers);
  try {
    pr.draw(1, 1, 1); // SwiftShader compiles the shader at its first draw
    const ms = [1, 2, 3].map(() => pr.draw(iters, 1, 1).ms).sort((a, b) => a - b)[1];
    const base = Math.min(pr.draw(0, 1, 1).ms, pr.draw(0, 1, 1).ms);
    return JSON.stringify({ms, base});
  } finally { pr.dispose(); }
}
// peakRead draws a variant looping n times and returns every pixel.
function peakRead(src, size, n, m, k, side, layers) {
  const pr = peakProgram(src, size, m, k, side, layers);
  try { return Array.from(pr.draw(n, size, size).px); } finally { pr.dispose(); }
}`

// jsVec4 writes v as a JS array literal.
func jsVec4(v [4]float32) string {
	return fmt.Sprintf("[%v, %v, %v, %v]", v[0], v[1], v[2], v[3])
}

// timePeak times each variant in p's page (peakJS loaded), logging each
// rate, and returns the results in order.
func (p *page) timePeak(tb testing.TB, vs []peakVariant) ([]peakResult, error) {
	var rs []peakResult
	for _, v := range vs {
		res, err := eval[string](p.ctx, fmt.Sprintf("peakTime(%q, %d, %d, %s, %s)", v.shader(), v.Size, v.iters(), jsVec4(peakM), jsVec4(peakK)))
		if err != nil {
			return nil, fmt.Errorf("peak probe %s: %w", v, err)
		}
		var t struct{ Ms, Base float64 }
		if err := json.Unmarshal([]byte(res), &t); err != nil {
			return nil, fmt.Errorf("peak probe %s: %w", v, err)
		}
		r := peakResult{v, v.mads(v.iters()) / ((t.Ms - t.Base) / 1000)}
		tb.Logf("peak probe %s: %.2f GMAD/s (%.1f ms a draw, %.1f ms without the loop)", v, r.Rate/1e9, t.Ms, t.Base)
		rs = append(rs, r)
	}
	return rs, nil
}

// peak sweeps every probe variant in p's page and returns the best; the
// results come back sorted fastest first, for re-timing the leaders.
func (p *page) peak(tb testing.TB) (peakResult, []peakResult, error) {
	rs, err := p.timePeak(tb, peakVariants())
	if err != nil {
		return peakResult{}, nil, err
	}
	best, err := bestPeak(rs)
	if err != nil {
		return best, nil, err
	}
	slices.SortFunc(rs, func(a, b peakResult) int { return -cmpRate(a.Rate, b.Rate) })
	tb.Logf("peak: %.2f GMAD/s, %s", best.Rate/1e9, best.Variant)
	return best, rs, nil
}

// cmpRate orders rates, invalid ones (NaN, infinite, not positive) lowest.
func cmpRate(a, b float64) int {
	valid := func(r float64) float64 {
		if math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
			return -1
		}
		return r
	}
	a, b = valid(a), valid(b)
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// variants lists the results' variants.
func variants(rs []peakResult) []peakVariant {
	vs := make([]peakVariant, len(rs))
	for i, r := range rs {
		vs[i] = r.Variant
	}
	return vs
}
