//go:build !js

package browsertest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/kernels/testgraph"
	"github.com/edgetoon/edgetoon/model"
)

// benchJS times frames through the page API. The sync (a 1-pixel
// readPixels, which waits for the frame) is here only: the engine's frame
// loop never reads back.
const benchJS = `
const benches = {};
async function benchCreate(key, model, precision, px, w, h) {
  const canvas = document.createElement("canvas");
  document.body.appendChild(canvas);
  const t0 = performance.now();
  const eng = await edgetoon.create({canvas, model, precision});
  const createMs = performance.now() - t0;
  benches[key] = {eng, canvas, gl: canvas.getContext("webgl2"), src: await rgbaCanvas(px, w, h), w, h};
  return JSON.stringify({createMs, info: eng.info()});
}
function benchFrame(key) {
  const b = benches[key];
  const px = new Uint8Array(4);
  const t0 = performance.now();
  b.eng.stylize(b.src, b.w, b.h);
  const submit = performance.now() - t0;
  b.gl.readPixels(0, 0, 1, 1, b.gl.RGBA, b.gl.UNSIGNED_BYTE, px);
  return JSON.stringify({ms: performance.now() - t0, submit, info: b.eng.info()});
}
function benchDispose(key) { benches[key].eng.dispose(); benches[key].canvas.remove(); delete benches[key]; }

// peakMAD measures the multiply-add rate of an ALU-bound fragment shader:
// 8 independent vec4 a*m+k chains (no memory traffic), 512x512 fragments.
function peakMAD(iters) {
  const c = document.createElement("canvas");
  c.width = c.height = 512;
  const gl = c.getContext("webgl2");
  gl.getExtension("EXT_color_buffer_float");
  const sh = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s); return s; };
  const p = gl.createProgram();
  gl.attachShader(p, sh(gl.VERTEX_SHADER, "#version 300 es\nvoid main(){vec2 v=vec2(float((gl_VertexID&1)<<2)-1.0,float((gl_VertexID&2)<<1)-1.0);gl_Position=vec4(v,0.0,1.0);}"));
  gl.attachShader(p, sh(gl.FRAGMENT_SHADER, "#version 300 es\nprecision highp float;uniform vec4 m,k;uniform int n;out vec4 o;void main(){" +
    "vec4 a0=gl_FragCoord.xyxy*1e-3,a1=a0+0.1,a2=a0+0.2,a3=a0+0.3,a4=a0+0.4,a5=a0+0.5,a6=a0+0.6,a7=a0+0.7;" +
    "for(int i=0;i<n;i++){a0=a0*m+k;a1=a1*m+k;a2=a2*m+k;a3=a3*m+k;a4=a4*m+k;a5=a5*m+k;a6=a6*m+k;a7=a7*m+k;}" +
    "o=a0+a1+a2+a3+a4+a5+a6+a7;}"));
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, 512, 512);
  const fb = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
  gl.useProgram(p);
  gl.uniform4f(gl.getUniformLocation(p, "m"), 0.9999, 0.9998, 0.9997, 0.9996);
  gl.uniform4f(gl.getUniformLocation(p, "k"), 1e-4, 2e-4, 3e-4, 4e-4);
  gl.viewport(0, 0, 512, 512);
  const px = new Float32Array(4);
  const run = n => {
    gl.uniform1i(gl.getUniformLocation(p, "n"), n);
    const t0 = performance.now();
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.FLOAT, px);
    return performance.now() - t0;
  };
  run(16); // warm up
  const ms = [run(iters), run(iters), run(iters)].sort((a, b) => a - b)[1];
  const base = run(1);
  const macs = 512 * 512 * iters * 32;
  return macs / ((ms - base) / 1000);
}`

// BenchmarkGPU times White-box (the real model when present, else a
// random network of the same shape and cost) in headless Chromium on
// SwiftShader: ms per frame at 256 and 512, fp32 and fp16, plus the
// engine's load time (compile), passes, and the fraction of the browser's
// peak multiply-add rate. Run: make bench-gpu.
//
// That peak is peakMAD's, a loop that SwiftShader does not unroll: it
// under-reads the ALU (issue 19 measured unrolled independent chains
// well above it), so the fraction overstates how near the kernels are to
// the real peak; compare fractions only with each other.
func BenchmarkGPU(b *testing.B) {
	g := benchModel(b)
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, benchJS); err != nil {
		b.Fatal(err)
	}
	data, err := model.Encode(g, "F16")
	if err != nil {
		b.Fatal(err)
	}
	mu := p.srv.put(data)
	for _, size := range []int{256, 512} {
		pu := p.srv.put(fixtureRGBA(b, size))
		for _, prec := range []string{"fp32", "fp16"} {
			b.Run(fmt.Sprintf("%s/%dx%d/%s", g.Name, size, size, prec), func(b *testing.B) {
				key := fmt.Sprintf("%d%s", size, prec)
				res, err := eval[string](p.ctx, fmt.Sprintf("benchCreate(%q, %q, %q, %q, %d, %d)", key, mu, prec, pu, size, size))
				if err != nil {
					b.Fatal(err)
				}
				defer eval[chromedp.Void](p.ctx, fmt.Sprintf("benchDispose(%q)", key))
				var created struct {
					CreateMs float64
					Info     map[string]any
				}
				json.Unmarshal([]byte(res), &created)
				// The first frame at a new size builds the plan.
				if _, err := eval[string](p.ctx, fmt.Sprintf("benchFrame(%q)", key)); err != nil {
					b.Fatal(err)
				}
				var ms, submit []float64
				var info map[string]any
				b.ResetTimer()
				for range b.N {
					res, err := eval[string](p.ctx, fmt.Sprintf("benchFrame(%q)", key))
					if err != nil {
						b.Fatal(err)
					}
					var f struct {
						Ms, Submit float64
						Info       map[string]any
					}
					json.Unmarshal([]byte(res), &f)
					ms, submit, info = append(ms, f.Ms), append(submit, f.Submit), f.Info
				}
				b.StopTimer()
				// The peak is measured next to each configuration, so that
				// both numbers of the fraction see the same machine load.
				peak, err := eval[float64](p.ctx, "peakMAD(512)")
				if err != nil {
					b.Fatal(err)
				}
				med := median(ms)
				macs, _ := info["macs"].(float64)
				b.ReportMetric(med, "ms/frame")
				b.ReportMetric(median(submit), "submit-ms")
				b.ReportMetric(created.Info["compileMs"].(float64), "compile-ms")
				b.ReportMetric(info["passes"].(float64), "passes")
				b.ReportMetric(macs/(med/1000)/1e9, "GMAC/s")
				b.ReportMetric(100*macs/(med/1000)/peak, "%peak")
				b.ReportMetric(peak/1e9, "peak-GMAD/s")
				b.Logf("%s %dx%d %s: %.0f ms/frame (median of %d), %.2f GMAC/frame, load %.0f ms (compile %.0f ms), %v passes, %.1f%% of peak %.2f GMAD/s, renderer %v",
					g.Name, size, size, prec, med, len(ms), macs/1e9, created.CreateMs, created.Info["compileMs"], info["passes"],
					100*macs/(med/1000)/peak, peak/1e9, info["renderer"])
			})
		}
	}
}

// fixtureRGBA is the benchmark picture at size x size as RGBA bytes.
func fixtureRGBA(b *testing.B, size int) []byte {
	px := fixture(b, "obama.jpg", size, size)
	rgba := make([]byte, size*size*4)
	for i := range size * size {
		for k := range 3 {
			rgba[4*i+k] = byte(math.Round(float64(px.Data[3*i+k]) * 255))
		}
		rgba[4*i+3] = 255
	}
	return rgba
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// benchModel is the real White-box model when present, else its shape
// with random weights.
func benchModel(b *testing.B) *model.Graph {
	path := filepath.Join(repoRoot(), "web", "dist", "models", "whitebox.safetensors")
	if _, err := os.Stat(path); err == nil {
		g, err := model.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		return g
	}
	b.Logf("%s absent: benchmarking a random network of the same shape", path)
	return testgraph.Whitebox(newRand(b))
}
