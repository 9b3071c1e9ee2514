//go:build !js

package browsertest

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// winoProbeJS times one 3x3 conv of 128 -> 128 channels at 64x64 in raw
// WebGL2, done directly as the engine's texture-weight conv does it (8
// pixels of one output layer a fragment, shared input columns along a
// row) and as Winograd F(2x2,3x3) or F(4x4,3x3) (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016) in three passes:
// the input transform (B^T d B per tile, one draw per row of
// components), the batched products (each component a 1x1 conv of its
// own weights, 8 tiles of one output layer a fragment, as the direct
// conv's pixels) and the output transform (A^T M A, the tile's pixels
// through render targets). Each pass runs all the draws a whole conv
// needs, one readPixels at the end, median of 3 after a first run that
// compiles. It asks whether fewer multiplies pay for more passes and
// activations where the fetches dominate (benchmark-only: it tests
// nothing; docs/performance.md).
const winoProbeJS = `
function winoProbe(m) {
  const H = 64, W = 64, L = 32, LO = 32; // 128 -> 128 channels
  const gl = document.createElement("canvas").getContext("webgl2");
  gl.getExtension("EXT_color_buffer_float");
  const rand = n => new Float32Array(n).map(() => Math.random() - 0.5);
  const vs = "#version 300 es\nvoid main(){vec2 v=vec2(float((gl_VertexID&1)<<2)-1.0,float((gl_VertexID&2)<<1)-1.0);gl_Position=vec4(v,0.0,1.0);}";
  const head = "#version 300 es\nprecision highp float; precision highp int; precision highp sampler2DArray;\nuniform highp sampler2DArray x; uniform highp sampler2D w; uniform int u_s;\n";
  const prog = (body, outs) => {
    const sh = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s) + src); return s; };
    const p = gl.createProgram();
    let src = head;
    for (let o = 0; o < outs; o++) src += "layout(location=" + o + ") out vec4 o" + o + ";\n";
    gl.attachShader(p, sh(gl.VERTEX_SHADER, vs));
    gl.attachShader(p, sh(gl.FRAGMENT_SHADER, src + "void main() {\n" + body + "}\n"));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
    gl.useProgram(p);
    gl.uniform1i(gl.getUniformLocation(p, "x"), 0);
    gl.uniform1i(gl.getUniformLocation(p, "w"), 1);
    return {p, s: gl.getUniformLocation(p, "u_s"), outs};
  };
  const arr = (w, h, layers, data) => { const t = gl.createTexture(); gl.bindTexture(gl.TEXTURE_2D_ARRAY, t);
    gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, gl.RGBA32F, w, h, layers);
    if (data) gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, 0, w, h, layers, gl.RGBA, gl.FLOAT, rand(w * h * layers * 4));
    return t; };
  const tex2 = (w, h) => { const t = gl.createTexture(); gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, w, h);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, h, gl.RGBA, gl.FLOAT, rand(w * h * 4)); return t; };
  // pass runs draws draws of progs (cycled), reading input texture array
  // xin and weights win, writing outs layers of out through a viewW x
  // viewH viewport; u_s counts the draws. It returns the median ms.
  const pass = (progs, draws, xin, win, out, viewW, viewH) => {
    gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D_ARRAY, xin);
    gl.activeTexture(gl.TEXTURE1); gl.bindTexture(gl.TEXTURE_2D, win);
    const fbs = progs.map(pr => { const fb = gl.createFramebuffer(); gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
      const bufs = []; for (let k = 0; k < pr.outs; k++) { gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, out, 0, k); bufs.push(gl.COLOR_ATTACHMENT0 + k); }
      gl.drawBuffers(bufs); return fb; });
    gl.viewport(0, 0, viewW, viewH);
    const px = new Float32Array(4);
    const run = () => { const t = performance.now();
      for (let d = 0; d < draws; d++) { const i = d % progs.length; gl.useProgram(progs[i].p); gl.bindFramebuffer(gl.FRAMEBUFFER, fbs[i]); gl.uniform1i(progs[i].s, d); gl.drawArrays(gl.TRIANGLES, 0, 3); }
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.FLOAT, px); return performance.now() - t; };
    run();
    const ms = [run(), run(), run()].sort((a, b) => a - b)[1];
    if (gl.isContextLost()) throw new Error("context lost");
    return ms;
  };
  const sum = (terms) => terms.length ? terms.join(" + ") : "vec4(0.0)";
  const co = (c, v) => c === 1 ? v : c === -1 ? "-" + v : c.toFixed(1) + " * " + v;
  const res = {m};
  if (m === 0) {
    // The engine's conv: 8 pixels of one output layer, rows and layers looped.
    const x = arr(W + 10, H + 2, L, true), wt = tex2(4, 9 * L), out = arr(W / 8, H, 8, false);
    let b = "ivec2 p = ivec2(gl_FragCoord.xy) * ivec2(8, 1);\n";
    for (let i = 0; i < 8; i++) b += "vec4 a" + i + " = vec4(0.0);\n";
    b += "for (int ky = 0; ky < 3; ky++) for (int s = 0; s < " + L + "; s++) {\n";
    for (let d = 0; d < 10; d++) b += "vec4 u" + d + " = texelFetch(x, ivec3(p.x + " + d + ", p.y + ky, s), 0);\n";
    for (let kx = 0; kx < 3; kx++) {
      b += "{ int r = (ky * 3 + " + kx + ") * " + L + " + s; mat4 m = mat4(texelFetch(w, ivec2(0, r), 0), texelFetch(w, ivec2(1, r), 0), texelFetch(w, ivec2(2, r), 0), texelFetch(w, ivec2(3, r), 0));\n";
      for (let i = 0; i < 8; i++) b += " a" + i + " += m * u" + (i + kx) + ";\n";
      b += "}\n";
    }
    b += "}\n";
    for (let i = 0; i < 8; i++) b += "o" + i + " = a" + i + ";\n";
    res.direct = pass([prog(b, 8)], LO, x, wt, out, W / 8, H);
    res.total = res.direct;
    return JSON.stringify(res);
  }
  const BT = m === 2 ? [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    : [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]];
  const AT = m === 2 ? [[1, 1, 1, 0], [0, 1, -1, -1]]
    : [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]];
  const n = m + 2, C = n * n, T = H / m; // tile side, components, tiles a side
  // Input transform: one program per group of component rows (8 render
  // targets at most), a fragment per tile: V[i][j] = sum BT[i][r] BT[j][c] d[r][c].
  const rowsPer = Math.floor(8 / n), inProgs = [];
  for (let i0 = 0; i0 < n; i0 += rowsPer) {
    const rows = []; for (let i = i0; i < Math.min(n, i0 + rowsPer); i++) rows.push(i);
    let b = "ivec2 q = ivec2(gl_FragCoord.xy) * " + m + "; int s = u_s % " + L + ";\n";
    const need = new Set(); rows.forEach(i => BT[i].forEach((v, r) => { if (v) need.add(r); }));
    need.forEach(r => { for (let c = 0; c < n; c++) b += "vec4 d" + r + "_" + c + " = texelFetch(x, ivec3(q.x + " + c + ", q.y + " + r + ", s), 0);\n"; });
    let o = 0;
    rows.forEach(i => {
      for (let c = 0; c < n; c++) b += "vec4 t" + i + "_" + c + " = " + sum(BT[i].map((v, r) => v ? co(v, "d" + r + "_" + c) : null).filter(Boolean)) + ";\n";
      for (let j = 0; j < n; j++) b += "o" + (o++) + " = " + sum(BT[j].map((v, c) => v ? co(v, "t" + i + "_" + c) : null).filter(Boolean)) + ";\n";
    });
    inProgs.push(prog(b, o));
  }
  const x = arr(W + 2, H + 2, L, true), v = arr(T, T, 8, false);
  res.input = pass(inProgs, L * inProgs.length, x, tex2(4, 4), v, T, T);
  // Products: component k's tiles side by side in x (k*T + tile), every
  // input layer s's components stacked as layers s*C + k; 8 tiles of one
  // output layer a fragment; weight rows k*L + s.
  const vin = arr(T, T, L * C, true), wt = tex2(4, C * L), mo = arr(C * T / 8, T, 8, false);
  let b = "ivec2 f = ivec2(gl_FragCoord.xy); int x0 = f.x * 8; int k = x0 / " + T + "; int tx = x0 % " + T + ";\n";
  for (let i = 0; i < 8; i++) b += "vec4 a" + i + " = vec4(0.0);\n";
  b += "for (int s = 0; s < " + L + "; s++) {\n int r = k * " + L + " + s; mat4 m = mat4(texelFetch(w, ivec2(0, r), 0), texelFetch(w, ivec2(1, r), 0), texelFetch(w, ivec2(2, r), 0), texelFetch(w, ivec2(3, r), 0));\n";
  for (let i = 0; i < 8; i++) b += " a" + i + " += m * texelFetch(x, ivec3(tx + " + i + ", f.y, s * " + C + " + k), 0);\n";
  b += "}\n";
  for (let i = 0; i < 8; i++) b += "o" + i + " = a" + i + ";\n";
  res.products = pass([prog(b, 8)], LO, vin, wt, mo, C * T / 8, T);
  // Output transform: a fragment per tile and output layer, its pixels
  // through render targets (8 at most: F(4x4) takes two programs of 2 rows).
  const min = arr(C * T, T, LO, true), outProgs = [], outRows = Math.min(m, Math.floor(8 / m));
  for (let a0 = 0; a0 < m; a0 += outRows) {
    let b = "ivec2 t = ivec2(gl_FragCoord.xy); int l = u_s % " + LO + ";\n";
    const need = new Set(); for (let a = a0; a < a0 + outRows; a++) AT[a].forEach((v, i) => { if (v) need.add(i); });
    need.forEach(i => { for (let j = 0; j < n; j++) b += "vec4 m" + i + "_" + j + " = texelFetch(x, ivec3(" + (i * n + j) + " * " + T + " + t.x, t.y, l), 0);\n"; });
    let o = 0;
    for (let a = a0; a < a0 + outRows; a++) {
      for (let j = 0; j < n; j++) b += "vec4 r" + a + "_" + j + " = " + sum(AT[a].map((v, i) => v ? co(v, "m" + i + "_" + j) : null).filter(Boolean)) + ";\n";
      for (let c = 0; c < m; c++) b += "o" + (o++) + " = max(" + sum(AT[c].map((v, j) => v ? co(v, "r" + a + "_" + j) : null).filter(Boolean)) + ", vec4(0.0));\n";
    }
    outProgs.push(prog(b, o));
  }
  res.output = pass(outProgs, LO * outProgs.length, min, tex2(4, 4), arr(T, T, 8, false), T, T);
  res.total = res.input + res.products + res.output;
  for (const k of ["input", "products", "output", "total"]) res[k] = +res[k].toFixed(1);
  gl.getExtension("WEBGL_lose_context").loseContext();
  return JSON.stringify(res);
}`

// BenchmarkWinograd times the direct conv and Winograd F(2x2,3x3) and
// F(4x4,3x3) in three passes, interleaved in rounds (one iteration is
// enough: -v prints each round).
func BenchmarkWinograd(b *testing.B) {
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, winoProbeJS); err != nil {
		b.Fatal(err)
	}
	for round := range 3 {
		for _, m := range []int{0, 2, 4} {
			res, err := eval[string](p.ctx, fmt.Sprintf("winoProbe(%d)", m))
			if err != nil {
				b.Fatalf("F(%d): %v", m, err)
			}
			b.Log(round, res)
		}
	}
}
