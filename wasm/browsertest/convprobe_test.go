//go:build !js

package browsertest

import (
	"encoding/json"
	"flag"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/model"
)

// probeDrawJS holds what the raw-WebGL2 conv probes share (benchmark-only:
// they test nothing). probeDraw compiles fragment shader src in a context
// of its own, gives it an input texture array x of o.inW x o.inH x
// o.layers random texels (unit 0) and a weight texture w of o.wW x o.wH
// (unit 1), lets setup(gl, program, rand) bind anything else, renders to
// o.outs layers of an o.outW x o.outH texture array through an o.viewW x
// o.outH viewport, and times the draws, each waited for by a 1-pixel
// readPixels: the first with the compile (firstMs, from before the
// compile), then the median of o.runs. It drops the context before it
// returns.
const probeDrawJS = `
function probeDraw(src, o, setup) {
  const c = document.createElement("canvas");
  const gl = c.getContext("webgl2");
  gl.getExtension("EXT_color_buffer_float");
  const rand = n => new Float32Array(n).map(() => Math.random());
  const sh = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s)); return s; };
  const t0 = performance.now();
  const p = gl.createProgram();
  gl.attachShader(p, sh(gl.VERTEX_SHADER, "#version 300 es\nvoid main(){vec2 v=vec2(float((gl_VertexID&1)<<2)-1.0,float((gl_VertexID&2)<<1)-1.0);gl_Position=vec4(v,0.0,1.0);}"));
  gl.attachShader(p, sh(gl.FRAGMENT_SHADER, src));
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
  gl.useProgram(p);
  const xt = gl.createTexture(); gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D_ARRAY, xt);
  gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, gl.RGBA32F, o.inW, o.inH, o.layers);
  gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, 0, o.inW, o.inH, o.layers, gl.RGBA, gl.FLOAT, rand(o.inW * o.inH * o.layers * 4));
  const wt = gl.createTexture(); gl.activeTexture(gl.TEXTURE1); gl.bindTexture(gl.TEXTURE_2D, wt);
  gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, o.wW, o.wH);
  gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, o.wW, o.wH, gl.RGBA, gl.FLOAT, rand(o.wW * o.wH * 4));
  gl.uniform1i(gl.getUniformLocation(p, "x"), 0);
  gl.uniform1i(gl.getUniformLocation(p, "w"), 1);
  setup(gl, p, rand);
  const ot = gl.createTexture(); gl.bindTexture(gl.TEXTURE_2D_ARRAY, ot);
  gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, gl.RGBA32F, o.outW, o.outH, o.outs);
  const fb = gl.createFramebuffer(); gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  const bufs = [];
  for (let k = 0; k < o.outs; k++) { gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, ot, 0, k); bufs.push(gl.COLOR_ATTACHMENT0 + k); }
  gl.drawBuffers(bufs);
  gl.viewport(0, 0, o.viewW, o.outH);
  const out = new Float32Array(4);
  const run = () => { const t = performance.now(); gl.drawArrays(gl.TRIANGLES, 0, 3); gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.FLOAT, out); return performance.now() - t; };
  run();
  const firstMs = performance.now() - t0;
  const ms = Array.from({length: o.runs}, run).sort((a, b) => a - b)[o.runs >> 1];
  const lost = gl.isContextLost();
  const maxUBO = gl.getParameter(gl.MAX_UNIFORM_BLOCK_SIZE), drawBuffers = gl.getParameter(gl.MAX_DRAW_BUFFERS);
  gl.getExtension("WEBGL_lose_context").loseContext();
  if (lost) throw new Error("context lost");
  return {firstMs, ms, maxUBO, drawBuffers};
}`

// probeJS times one 3x3 conv of 128 -> 16*OUT/4 channels at 64x64 in raw
// WebGL2, with the weights read in different ways, to see what a conv
// fragment spends its time on (benchmark-only: it tests nothing).
const probeJS = probeDrawJS + `
function convProbe(variant, outs) {
  const W = 64, H = 64, L = 32, T = 9;
  let body = "";
  const px = variant === "tex2px" ? 2 : 1;
  for (let k = 0; k < outs; k++) body += "vec4 acc" + k + " = vec4(0.0), bcc" + k + " = vec4(0.0);\n";
  body += "for (int t = 0; t < 9; t++) { ivec2 q = p * ivec2(" + px + ", 1) + ivec2(t % 3, t / 3);\n for (int s = 0; s < 32; s++) {\n vec4 v = texelFetch(x, ivec3(q, s), 0);\n";
  if (px == 2) body += " vec4 v2 = texelFetch(x, ivec3(q + ivec2(1, 0), s), 0);\n";
  for (let k = 0; k < outs; k++) {
    let m;
    if (variant === "tex" || variant === "tex2px") m = "mat4(texelFetch(w, ivec2(" + 4*k + ", t*32+s), 0), texelFetch(w, ivec2(" + (4*k+1) + ", t*32+s), 0), texelFetch(w, ivec2(" + (4*k+2) + ", t*32+s), 0), texelFetch(w, ivec2(" + (4*k+3) + ", t*32+s), 0))";
    else if (variant === "ubo") m = "wb[(t*32+s)*" + outs + "+" + k + "]";
    else m = "mc[" + k + "]";
    body += " { mat4 m = " + m + ";\n acc" + k + " += m * v;\n";
    if (px == 2) body += " bcc" + k + " += m * v2;\n";
    body += " }\n";
  }
  body += "}}\n";
  for (let k = 0; k < outs; k++) body += "o" + k + " = acc" + k + " + bcc" + k + ";\n";
  let decl = "#version 300 es\nprecision highp float; precision highp int; precision highp sampler2DArray;\nuniform highp sampler2DArray x; uniform highp sampler2D w; uniform mat4 mc[4];\n";
  if (variant === "ubo") decl += "layout(std140) uniform WB { mat4 wb[" + 9*32*outs + "]; };\n";
  for (let k = 0; k < outs; k++) decl += "layout(location=" + k + ") out vec4 o" + k + ";\n";
  const src = decl + "void main() { ivec2 p = ivec2(gl_FragCoord.xy);\n" + body + "}";
  const r = probeDraw(src, {inW: W + 2, inH: H + 2, layers: L, wW: 16, wH: 9 * 32, outW: W, outH: H, outs, viewW: W / px, runs: 3}, (gl, p, rand) => {
    if (variant !== "ubo") return;
    const ub = gl.createBuffer(); gl.bindBuffer(gl.UNIFORM_BUFFER, ub);
    gl.bufferData(gl.UNIFORM_BUFFER, rand(9 * 32 * outs * 16), gl.STATIC_DRAW);
    gl.uniformBlockBinding(p, gl.getUniformBlockIndex(p, "WB"), 0);
    gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, ub);
  });
  const macs = W * H * 9 * 128 * 4 * outs;
  return JSON.stringify({variant, outs, ms: r.ms, gmacs: macs / r.ms / 1e6, maxUBO: r.maxUBO, drawBuffers: r.drawBuffers});
}`

// BenchmarkConvProbe times the conv probe's variants (one iteration is
// enough: each variant reports its own median).
func BenchmarkConvProbe(b *testing.B) {
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, benchJS+probeJS); err != nil {
		b.Fatal(err)
	}
	if _, _, err := p.peak(b); err != nil {
		b.Fatal(err)
	}
	// Rounds interleave the variants so that a change in the machine's
	// load hits them all alike.
	for round := range 3 {
		for _, v := range []string{"tex", "ubo", "none", "tex2px"} {
			// The ubo variant holds 9*32*outs mat4s: 18 KiB per output
			// layer, so 2 layers need a 36 KiB uniform block (WebGL2
			// guarantees 16 KiB; SwiftShader and most phones offer 64).
			for _, outs := range []int{1, 2, 4} {
				if v == "ubo" && outs*9*32*64 > 65536 {
					continue
				}
				res, err := eval[string](p.ctx, fmt.Sprintf("convProbe(%q, %d)", v, outs))
				if err != nil {
					b.Logf("%s/%d: %v", v, outs, err)
					continue
				}
				b.Log(round, res)
			}
		}
	}
}

// layoutSize overrides BenchmarkConvPixels' input size (go test ... -args
// -layout-size 224).
var layoutSize = flag.Int("layout-size", 0, "BenchmarkConvPixels: input height and width (0: 256, 128 with -short)")

// BenchmarkConvPixels compares the engine's conv fragment layouts (4
// pixels of 1 layer, of 2 layers, 8 pixels of 1: see layout; -v prints
// every round) on White-box and on the shipped student at 256x256 fp32
// (128x128 with -short), frames interleaved in rounds so that a change in
// the machine's load hits every layout alike.
func BenchmarkConvPixels(b *testing.B) {
	student := studentModel(b)
	b.Run("whitebox", func(b *testing.B) { benchLayouts(b, benchModel(b)) })
	b.Run("student", func(b *testing.B) { benchLayouts(b, student) })
}

// benchLayouts times g in every layout, interleaved, in one page.
func benchLayouts(b *testing.B, g *model.Graph) {
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, benchJS); err != nil {
		b.Fatal(err)
	}
	best, _, err := p.peak(b)
	if err != nil {
		b.Fatal(err)
	}
	peak := best.Rate
	data, err := model.Encode(g, "F16")
	if err != nil {
		b.Fatal(err)
	}
	size := 256
	if testing.Short() {
		size = 128
	}
	if *layoutSize > 0 {
		size = *layoutSize
	}
	mu, pu := p.srv.put(data), p.srv.put(fixtureRGBA(b, size))
	widths := []layout{{4, 1}, {4, 2}, {8, 1}}
	for _, n := range widths {
		// The engine reads the layout when it opens its context.
		js := fmt.Sprintf("%s benchCreate('px%s', %q, 'fp32', %q, %d, %d).finally(() => { %s })", n.pin(), n, mu, pu, size, size, unpinLayout)
		if _, err := eval[string](p.ctx, js); err != nil {
			b.Fatal(err)
		}
		defer eval[chromedp.Void](p.ctx, fmt.Sprintf("benchDispose('px%s')", n))
		if _, err := eval[string](p.ctx, fmt.Sprintf("benchFrame('px%s')", n)); err != nil {
			b.Fatal(err)
		}
	}
	ms := map[layout][]float64{}
	var macs float64
	for round := range max(b.N, 3) {
		for _, n := range widths {
			f := timedFrame(b, p, "px"+n.String())
			macs, _ = f.Info["macs"].(float64)
			ms[n] = append(ms[n], f.Ms)
			b.Logf("round %d: layout %s: %.0f ms, %v passes", round, n, f.Ms, f.Info["passes"])
		}
	}
	for _, n := range widths {
		med := median(ms[n])
		b.Logf("layout %s: %.0f ms/frame (median of %d), %.2fx the first layout's speed, %.1f%% of peak %.2f GMAD/s",
			n, med, len(ms[n]), median(ms[widths[0]])/med, 100*macs/(med/1000)/peak, peak/1e9)
	}
}

// frame is one timed frame of benchFrame: its wall-clock ms and the
// engine's info.
type frame struct {
	Ms   float64
	Info map[string]any
}

// timedFrame draws one frame of the engine benchCreate made under key.
func timedFrame(b *testing.B, p *page, key string) frame {
	res, err := eval[string](p.ctx, fmt.Sprintf("benchFrame(%q)", key))
	if err != nil {
		b.Fatal(err)
	}
	var f frame
	json.Unmarshal([]byte(res), &f)
	return f
}

// layout is a conv fragment's output: pixels side by side, each of layers
// output layers (4 channels each), written through pixels*layers render
// targets.
type layout struct {
	pixels, layers int // 0: the engine's default
}

func (l layout) String() string {
	s := "default"
	if l.pixels > 0 {
		s = fmt.Sprintf("%dx%d", l.pixels, l.layers)
	}
	return s
}

// pin is the JS that makes the next engine opened in the page use l
// (kernels.Options.ConvPixels and MaxOutputs, through wasm/engine.go).
func (l layout) pin() string {
	return fmt.Sprintf("globalThis.edgetoonConvPixels = %d; globalThis.edgetoonMaxOutputs = %d;", l.pixels, l.pixels*l.layers)
}

// unpinLayout gives the page's engines their own layout back.
const unpinLayout = "delete globalThis.edgetoonConvPixels; delete globalThis.edgetoonMaxOutputs"
