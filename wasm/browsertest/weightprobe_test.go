//go:build !js

package browsertest

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// weightProbeJS times one 3x3 conv of CIN -> 4*N channels at 256x128 in
// raw WebGL2, each fragment computing N output layers at P adjacent
// pixels with shared input columns as conv.glsl does, its weights read
// from where mode says: "texture" (the engine's unbaked conv: loops over
// the rows and input layers, 4 texel fetches a matrix), "ubo" (a uniform
// block indexed in the same loops), "ubo-unrolled" (a uniform block,
// every row and layer unrolled so that every index is a constant) or
// "uniform-unrolled" (a plain uniform array, constant indices). It asks
// whether a weight read costs less from a buffer than from a texture
// (benchmark-only: it tests nothing).
const weightProbeJS = probeDrawJS + `
function weightProbe(mode, N, P, CIN) {
  const W = 256, H = 128, L = CIN / 4, M = 9 * L * 4; // M vec4s a layer
  let decl = "#version 300 es\nprecision highp float; precision highp int; precision highp sampler2DArray;\nuniform highp sampler2DArray x; uniform highp sampler2D w;\n";
  for (let k = 0; k < N; k++) {
    if (mode === "uniform-unrolled") decl += "uniform vec4 wb" + k + "[" + M + "];\n";
    else if (mode !== "texture") decl += "layout(std140) uniform WB" + k + " { vec4 wb" + k + "[" + M + "]; };\n";
  }
  for (let o = 0; o < N * P; o++) decl += "layout(location=" + o + ") out vec4 o" + o + ";\n";
  let b = "ivec2 p = ivec2(gl_FragCoord.xy) * ivec2(" + P + ", 1);\n";
  for (let k = 0; k < N; k++) for (let i = 0; i < P; i++) b += "vec4 a" + k + "_" + i + " = vec4(0.0);\n";
  const row = (ky, s) => {
    let t = "";
    for (let d = 0; d < P + 2; d++) t += "vec4 u" + d + " = texelFetch(x, ivec3(p.x + " + d + ", p.y + " + ky + ", " + s + "), 0);\n";
    for (let kx = 0; kx < 3; kx++) for (let k = 0; k < N; k++) {
      const wrow = "((" + ky + ") * 3 + " + kx + ") * " + L + " + (" + s + ")";
      const col = j => mode === "texture" ? "texelFetch(w, ivec2(" + (4 * k + j) + ", " + wrow + "), 0)" : "wb" + k + "[(" + wrow + ") * 4 + " + j + "]";
      t += "{ mat4 m = mat4(" + [0, 1, 2, 3].map(col).join(", ") + ");\n";
      for (let i = 0; i < P; i++) t += " a" + k + "_" + i + " += m * u" + (i + kx) + ";\n";
      t += "}\n";
    }
    return t;
  };
  if (mode === "texture" || mode === "ubo") b += "for (int ky = 0; ky < 3; ky++) for (int s = 0; s < " + L + "; s++) {\n" + row("ky", "s") + "}\n";
  else for (let ky = 0; ky < 3; ky++) for (let s = 0; s < L; s++) b += "{\n" + row(ky, s) + "}\n";
  for (let k = 0; k < N; k++) for (let i = 0; i < P; i++) b += "o" + (k * P + i) + " = a" + k + "_" + i + ";\n";
  const src = decl + "void main() {\n" + b + "}";
  const r = probeDraw(src, {inW: W + 10, inH: H + 2, layers: L, wW: 4 * N, wH: 9 * L, outW: W, outH: H, outs: N * P, viewW: W / P, runs: 5}, (gl, p, rand) => {
    for (let k = 0; k < N; k++) {
      if (mode === "uniform-unrolled") gl.uniform4fv(gl.getUniformLocation(p, "wb" + k), rand(4 * M));
      else if (mode !== "texture") {
        const ub = gl.createBuffer(); gl.bindBuffer(gl.UNIFORM_BUFFER, ub);
        gl.bufferData(gl.UNIFORM_BUFFER, rand(4 * M), gl.STATIC_DRAW);
        gl.uniformBlockBinding(p, gl.getUniformBlockIndex(p, "WB" + k), k);
        gl.bindBufferBase(gl.UNIFORM_BUFFER, k, ub);
      }
    }
  });
  return JSON.stringify({mode, N, P, CIN, ms: +r.ms.toFixed(1), firstMs: Math.round(r.firstMs), gmacs: +(W * H * 9 * CIN * 4 * N / r.ms / 1e6).toFixed(3), glsl: src.length});
}`

// BenchmarkWeightReads times the weight probe's variants at 32 and 64
// input channels, interleaved in rounds (one iteration is enough: each
// variant reports its own median; -v prints them).
func BenchmarkWeightReads(b *testing.B) {
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, weightProbeJS); err != nil {
		b.Fatal(err)
	}
	type variant struct {
		mode       string
		n, px, cin int
	}
	var vs []variant
	for _, cin := range []int{32, 64} {
		vs = append(vs, variant{"texture", 1, 8, cin}, variant{"ubo", 1, 8, cin}, variant{"ubo-unrolled", 1, 8, cin},
			variant{"uniform-unrolled", 1, 8, cin}, variant{"uniform-unrolled", 2, 4, cin}, variant{"texture", 2, 4, cin})
	}
	for round := range 3 {
		for _, v := range vs {
			res, err := eval[string](p.ctx, fmt.Sprintf("weightProbe(%q, %d, %d, %d)", v.mode, v.n, v.px, v.cin))
			if err != nil {
				b.Logf("%v: %v", v, err)
				continue
			}
			b.Log(round, res)
		}
	}
}
