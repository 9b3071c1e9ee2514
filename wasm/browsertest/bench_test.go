//go:build !js

package browsertest

import (
	"encoding/json"
	"fmt"
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
// loop never reads back. These benchmarks time steady frames, so engines
// start without the quick first layout (warmup.go), which BenchmarkColdStart
// in web/ measures.
const benchJS = peakJS + `
globalThis.edgetoonNoWarmup = true;
const benches = {};
// sw x sh: the source picture's size, when it differs from the output's.
async function benchCreate(key, model, precision, px, w, h, sw, sh) {
  const canvas = document.createElement("canvas");
  document.body.appendChild(canvas);
  const t0 = performance.now();
  const eng = await edgetoon.create({canvas, model, precision});
  const createMs = performance.now() - t0;
  benches[key] = {eng, canvas, gl: canvas.getContext("webgl2"), src: await rgbaCanvas(px, sw || w, sh || h), w, h};
  return JSON.stringify({createMs, info: eng.info()});
}
function benchFrame(key) {
  const b = benches[key];
  const px = new Uint8Array(4);
  const t0 = performance.now();
  const r = b.eng.stylize(b.src, b.w, b.h);
  if (r instanceof Error) throw r;
  const submit = performance.now() - t0;
  b.gl.readPixels(0, 0, 1, 1, b.gl.RGBA, b.gl.UNSIGNED_BYTE, px);
  // A page keeps a limited number of WebGL contexts (maxEngines): past it
  // the browser loses the oldest, whose frames then cost nothing.
  if (b.gl.isContextLost()) throw new Error(key + ": its WebGL context was lost");
  return JSON.stringify({ms: performance.now() - t0, submit, info: b.eng.info()});
}
function benchDispose(key) { benches[key].eng.dispose(); benches[key].canvas.remove(); delete benches[key]; }
`

// BenchmarkGPU times White-box (the real model when present, else a
// random network of the same shape and cost) in headless Chromium on
// SwiftShader: ms per frame at 256 and 512, fp32 and fp16, plus the
// engine's load time (compile), passes, and the fraction of the browser's
// peak multiply-add rate. Run: make bench-gpu.
//
// The peak is the peak probe's (peak_test.go): every variant is timed once
// at the start, then the three fastest again beside each configuration,
// the best of those three being the peak its fraction is computed against.
func BenchmarkGPU(b *testing.B) {
	g := benchModel(b)
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, benchJS); err != nil {
		b.Fatal(err)
	}
	_, sweep, err := p.peak(b)
	if err != nil {
		b.Fatal(err)
	}
	leaders := variants(sweep[:3])
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
				rs, err := p.timePeak(b, leaders)
				if err != nil {
					b.Fatal(err)
				}
				best, err := bestPeak(rs)
				if err != nil {
					b.Fatal(err)
				}
				peak := best.Rate
				med := median(ms)
				macs, _ := info["macs"].(float64)
				b.ReportMetric(med, "ms/frame")
				b.ReportMetric(median(submit), "submit-ms")
				b.ReportMetric(created.Info["compileMs"].(float64), "compile-ms")
				b.ReportMetric(info["passes"].(float64), "passes")
				b.ReportMetric(macs/(med/1000)/1e9, "GMAC/s")
				b.ReportMetric(100*macs/(med/1000)/peak, "%peak")
				b.ReportMetric(peak/1e9, "peak-GMAD/s")
				b.Logf("%s %dx%d %s: %.0f ms/frame (median of %d), %.2f GMAC/frame, load %.0f ms (compile %.0f ms), %v passes, %.1f%% of peak %.2f GMAD/s (%s), renderer %v",
					g.Name, size, size, prec, med, len(ms), macs/1e9, created.CreateMs, created.Info["compileMs"], info["passes"],
					100*macs/(med/1000)/peak, peak/1e9, best.Variant, info["renderer"])
			})
		}
	}
}

// fixtureRGBA is the benchmark picture at size x size as RGBA bytes.
func fixtureRGBA(b *testing.B, size int) []byte {
	_, rgba := opaqueFixture(b, "obama.jpg", size)
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
