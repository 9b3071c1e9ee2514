//go:build !js

package browsertest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/kernels/testgraph"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

// engineJS drives the page API: create an engine on #out, stylize a
// canvas of RGBA bytes, read the canvas back; then lose and restore the
// context and do it again.
const engineJS = `
const consoleErrors = [];
const origError = console.error;
console.error = (...a) => { consoleErrors.push(a.join(" ")); origError(...a); };
// within rejects after ms, saying what was awaited and what went wrong.
function within(p, ms, what) {
  return Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + ": timed out; console: " + consoleErrors.join("; "))), ms))]);
}
async function stylizeTwice(model, px, w, h, out1, out2, precision, loseContext) {
  const canvas = document.getElementById("out");
  const eng = await edgetoon.create({canvas, model, precision});
  const src = await rgbaCanvas(px, w, h);
  eng.stylize(src, w, h);
  await readCanvas(canvas, out1);
  const states = [];
  if (loseContext) {
    const waitState = s => new Promise(r => { eng.onstatechange = st => { states.push(st); if (st === s) r(); }; });
    const ext = canvas.getContext("webgl2").getExtension("WEBGL_lose_context");
    canvas.addEventListener("webglcontextrestored", () => consoleErrors.push("event: restored"));
    canvas.addEventListener("webglcontextlost", () => consoleErrors.push("event: lost"));
    let p = waitState("lost");
    ext.loseContext();
    await within(p, 20000, "webglcontextlost");
    eng.stylize(src, w, h); // a no-op while lost; must not throw
    p = waitState("restored");
    // Restore from a later task: called while the lost event is still
    // being dispatched, Chromium ignores it.
    await new Promise(r => setTimeout(r, 50));
    ext.restoreContext();
    await within(p, 60000, "webglcontextrestored");
    eng.stylize(src, w, h);
    await readCanvas(canvas, out2);
  }
  // Go heap allocations per frame, once the plan exists.
  const m0 = edgetoon.debugMallocs();
  for (let i = 0; i < 4; i++) eng.stylize(src, w, h);
  const mallocs = (edgetoon.debugMallocs() - m0) / 4;
  // The same for a trivial call: what syscall/js itself allocates per
  // callback (the event, this, the arguments).
  const c0 = edgetoon.debugMallocs();
  for (let i = 0; i < 4; i++) eng.lastFrameMs(src, w, h);
  const callMallocs = (edgetoon.debugMallocs() - c0) / 4;
  // Sizes that are not positive whole numbers and sources that are no
  // picture (an embedder's slips) get an argument error each, and the
  // engine lives on.
  const bad = [];
  for (const args of [[src, 0, h], [src], [src, w + 0.5, h], [src, String(w), h], [src, NaN, h], [src, Infinity, h],
      [undefined, w, h], ["photo.jpg", w, h], [{}, w, h]]) {
    try {
      const e = eng.stylize(...args);
      bad.push(e ? e.code : "no error");
    } catch (x) {
      bad.push("threw: " + x.message);
    }
  }
  eng.stylize(src, w, h);
  const info = eng.info();
  return JSON.stringify({states, info, bad, mallocs, callMallocs});
}`

// canvasCase is a random network of White-box's shape and a random
// opaque w x h picture: the model file, the picture's RGBA bytes (the
// engine's input) and the CPU engine's output for it, denormalized, which
// the canvas must show.
func canvasCase(t *testing.T, w, h int) (data, rgba []byte, want []float32) {
	t.Helper()
	rng := newRand(t)
	g := testgraph.Whitebox(rng)
	// Light at its nominal size, so that the engine starts it with the
	// quick layout and the warm-up (wasm/warmup.go), as a student.
	g.NominalSize = 64
	rgba = make([]byte, w*h*4)
	px := model.NewTensor(h, w, 3)
	for i := range w * h {
		for k := range 3 {
			rgba[4*i+k] = byte(rng.IntN(256))
			px.Data[3*i+k] = float32(rgba[4*i+k]) / 255
		}
		rgba[4*i+3] = 255
	}
	y, err := cpu.Run(g, normalize(g, px))
	if err != nil {
		t.Fatal(err)
	}
	data, err = model.Encode(g, "F32")
	if err != nil {
		t.Fatal(err)
	}
	return data, rgba, denormalize(g, y)
}

// canvasDiff is the largest difference, in 1/255 steps, between a canvas's
// RGBA bytes and the CPU engine's RGB output in [0,1] (clipped as the
// canvas is).
func canvasDiff(got []byte, want []float32) float64 {
	worst := 0.0
	for j := range len(want) / 3 {
		for k := range 3 {
			worst = math.Max(worst, math.Abs(float64(got[4*j+k])-255*clip01(want[3*j+k])))
		}
	}
	return worst
}

// canvasCheck stylizes random RGBA pixels through the page API (picture
// upload, normalization and denormalization on the GPU, canvas output) and
// compares the canvas with the CPU engine, before and after a context loss.
func TestCanvasAndContextLoss(t *testing.T) {
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, engineJS); err != nil {
		t.Fatal(err)
	}
	const w, h = 64, 48
	data, rgba, wantPx := canvasCase(t, w, h)
	mu, pu := p.srv.put(data), p.srv.put(rgba)
	post1, id1 := p.srv.slot()
	post2, id2 := p.srv.slot()
	res, err := eval[string](p.ctx, fmt.Sprintf("stylizeTwice(%q, %q, %d, %d, %q, %q, 'fp32', true)", mu, pu, w, h, post1, post2))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		States      []string
		Info        map[string]any
		Bad         []string
		Mallocs     float64
		CallMallocs float64
	}
	if err := json.Unmarshal([]byte(res), &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("states %v, info %v; Go allocations per frame %.1f, per trivial call %.1f", r.States, r.Info, r.Mallocs, r.CallMallocs)
	// Beyond what syscall/js allocates for any callback, a frame may
	// allocate only the boxed source image: nothing per pass.
	if r.Mallocs > r.CallMallocs+1 {
		t.Errorf("%.1f Go allocations per frame, %.1f per trivial call: the frame itself allocates", r.Mallocs, r.CallMallocs)
	}
	if len(r.States) != 2 || r.States[0] != "lost" || r.States[1] != "restored" {
		t.Errorf("onstatechange saw %v, want [lost restored]", r.States)
	}
	for i, b := range r.Bad {
		if b != "argument" {
			t.Errorf("stylize with bad arguments %d: %q, want an argument error", i, b)
		}
	}
	if len(r.Bad) != 9 {
		t.Errorf("%d bad calls tried, want 9", len(r.Bad))
	}
	for i, id := range []string{id1, id2} {
		got := p.srv.get(id)
		if len(got) != w*h*4 {
			t.Fatalf("frame %d: canvas has %d bytes, want %d", i, len(got), w*h*4)
		}
		worst := canvasDiff(got, wantPx)
		t.Logf("frame %d: max difference %.2f/255", i, worst)
		if worst > 1.5 {
			t.Errorf("frame %d (after loss: %v): canvas differs from the CPU by %.2f/255", i, i == 1, worst)
		}
	}
}

// TestScreenshot stylizes the Obama portrait with the real model through
// the page API and saves a screenshot of the canvas to $EDGETOON_SCREENSHOT
// (or the test's temp dir) for a human to look at.
func TestScreenshot(t *testing.T) {
	g := whiteboxModel(t)
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, engineJS); err != nil {
		t.Fatal(err)
	}
	const size = 256
	px, rgba := opaqueFixture(t, "obama.jpg", size)
	want, err := cpu.Run(g, normalize(g, px))
	if err != nil {
		t.Fatal(err)
	}
	data, err := model.Encode(g, "F32")
	if err != nil {
		t.Fatal(err)
	}
	post, id := p.srv.slot()
	if _, err := eval[string](p.ctx, fmt.Sprintf("stylizeTwice(%q, %q, %d, %d, %q, '', 'auto', false)", p.srv.put(data), p.srv.put(rgba), size, size, post)); err != nil {
		t.Fatal(err)
	}
	db := psnr(canvasRGB(p.srv.get(id)), denormalize(g, want))
	t.Logf("canvas vs CPU: PSNR %.1f dB", db)
	if db < 40 {
		t.Errorf("canvas vs CPU: PSNR %.1f dB < 40 dB", db)
	}
	shot, err := chromedp.Run(p.ctx, chromedp.Screenshot(chromedp.ID("out")))
	if err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("EDGETOON_SCREENSHOT")
	if path == "" {
		path = t.TempDir() + "/whitebox.png"
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestCreateModelErrors: create downloads the model while the context
// opens; a missing or corrupt model file rejects with its code, a good one
// after them still works, and a download nobody waits for (the context
// failed first, the server is unreachable) leaves no unhandled rejection.
func TestCreateModelErrors(t *testing.T) {
	p := newPage(t)
	data, _, _ := canvasCase(t, 8, 8)
	good, corrupt := p.srv.put(data), p.srv.put([]byte("not a model"))
	res, err := eval[[]string](p.ctx, fmt.Sprintf(`(async () => {
		const unhandled = [];
		addEventListener("unhandledrejection", (e) => unhandled.push(String(e.reason)));
		const codes = [];
		for (const model of ["/blob/missing", %q, %q, "http://127.0.0.1:1/unreachable"]) {
			const canvas = document.createElement("canvas");
			if (model.includes("unreachable")) canvas.getContext("2d"); // no WebGL2 on this canvas
			try {
				const eng = await edgetoon.create({canvas, model, precision: "fp32"});
				codes.push("ok " + eng.info().passes);
				eng.dispose();
			} catch (e) {
				codes.push(e.code + ": " + e.message);
			}
		}
		// Unhandled rejections are reported after a task.
		await new Promise((r) => setTimeout(r, 200));
		return [...codes, ...unhandled];
	})()`, corrupt, good))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%q", res)
	if len(res) != 4 {
		t.Fatalf("got %q, want 4 results and no unhandled rejection", res)
	}
	for i, want := range []string{"model-load: Could not download the model /blob/missing: HTTP 404", "model-invalid: ", "ok ", "no-webgl2: "} {
		if !strings.HasPrefix(res[i], want) {
			t.Errorf("model %d: %q, want %q...", i, res[i], want)
		}
	}
}
