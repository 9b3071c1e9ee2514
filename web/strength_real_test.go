package web_test

import (
	"image"
	"math"
	"strconv"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/internal/photo"
)

// webglEngine makes the session's pages run the WebGL engine: on
// SwiftShader the page would pick the CPU path (cpupath.js), and these
// tests are about the WebGL engine's own passes (strength, stabilizer,
// frame queries).
func webglEngine(t testing.TB, s *session) {
	t.Helper()
	src := `try { localStorage.setItem("edgetoon-engine", "webgl"); } catch {}`
	if _, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		t.Fatal(err)
	}
}

// checkWebGL fails the test unless the page loaded the WebGL engine and
// not the CPU path's runtime.
func checkWebGL(t testing.TB, s *session) {
	t.Helper()
	const js = `(() => { const r = performance.getEntriesByType("resource").map((e) => e.name);
	  return [r.some((n) => n.includes("/edgetoon.wasm")), r.some((n) => n.includes("/cpuengine.js"))]; })()`
	if got := eval[[]bool](t, s, js); !got[0] || got[1] {
		t.Fatalf("the page loaded edgetoon.wasm: %v, the CPU path's runtime: %v; want the WebGL engine alone", got[0], got[1])
	}
}

// maxAbs is the largest difference between two RGB [0,1] pictures, in
// 1/255 steps.
func maxAbs(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range a {
		worst = max(worst, math.Abs(float64(a[i]-b[i]))*255)
	}
	return worst
}

// strengthJS sets the page's strength slider to each value in turn and,
// in the same task as each redraw (a WebGL canvas may be cleared once
// shown), reads the canvas.
const strengthJS = `(() => {
  const s = document.getElementById("strength"), out = document.getElementById("out");
  return [0, 50, 100].map((v) => {
    s.value = v;
    s.dispatchEvent(new Event("input"));
    return out.toDataURL("image/png");
  });
})()`

// TestStrengthReal checks the strength slider on the real engine, in
// photo mode: at 0 the canvas is the picture the engine was given (the
// present pass samples it as the first conv does), at 100 the cartoon
// exactly as drawn without the slider, at 50 their mean; the download
// follows the slider.
func TestStrengthReal(t *testing.T) {
	rs := startReal(t)
	s := openFor(t, realLimit, chromedp.Flag("deny-permission-prompts", true))
	webglEngine(t, s)
	s.capture(t, 1)
	next := s.downloads(t)
	s.do(t, desktop(), chromedp.Navigate(rs.ts.URL+"/?mode=photo&size=128"))
	s.waitReal(t, "the engine", engineReady)
	checkWebGL(t, s)
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{fixturePath(t, "obama.jpg")}))
	s.waitReal(t, "the cartoon", `globalThis.__frames.length >= 1 && !document.getElementById("download").disabled`)
	f := s.frames(t)[0]
	cartoon := rgb(f.out)
	checkFrame(t, "the photo's cartoon", f.src, f)
	input := rgb(imageOf(photo.Sample(f.src, f.W, f.H)))

	shots := eval[[]string](t, s, strengthJS)
	var got [3][]float32
	for i, u := range shots {
		img := dataPNG(t, u)
		if img.Bounds() != image.Rect(0, 0, f.W, f.H) {
			t.Fatalf("canvas %v after the slider, want %dx%d", img.Bounds(), f.W, f.H)
		}
		got[i] = rgb(img)
	}
	mid := make([]float32, len(input))
	for i := range mid {
		mid[i] = (input[i] + cartoon[i]) / 2
	}
	d0, d50, d100 := maxAbs(got[0], input), maxAbs(got[1], mid), maxAbs(got[2], cartoon)
	t.Logf("max difference: strength 0 to the input %.2f/255, 50 to the mean %.2f/255, 100 to the cartoon %.2f/255", d0, d50, d100)
	if d0 > 1.001 {
		t.Errorf("strength 0: %.2f/255 from the input, want <= 1", d0)
	}
	if d50 > 1.5 {
		t.Errorf("strength 50: %.2f/255 from the mean of input and cartoon, want <= 1.5", d50)
	}
	if d100 != 0 {
		t.Errorf("strength 100: %.2f/255 from the cartoon drawn without the slider, want 0", d100)
	}

	// The download is the picture at the slider's strength.
	s.do(t, chromedp.Evaluate[chromedp.Void](`strength.value = 0; strength.dispatchEvent(new Event("input"))`))
	s.waitReal(t, "the new PNG", `!document.getElementById("download").disabled`)
	s.do(t, chromedp.Click(chromedp.CSS("#download")))
	if d := maxAbs(rgb(decodePNG(t, next())), got[0]); d != 0 {
		t.Errorf("the download at strength 0 differs from the canvas by %.2f/255", d)
	}
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, rs.ts.URL)
	rs.checkNoUploads(t)
}

// TestStrengthCameraReal sets the strength to 0 on the live camera: the
// canvas is then the camera frame the engine was given, scaled from
// 320x240 to 128x96 by the present pass's LINEAR sampler, after the
// browser's YUV to RGB conversion (the captured source is that RGB).
// The engine runs without its GPU timer (a hook), as in a browser without
// EXT_disjoint_timer_query_webgl2: occlusion queries still tell when each
// frame is done, which the readout needs.
func TestStrengthCameraReal(t *testing.T) {
	rs := startReal(t)
	_, flags := fakeCamera(t, portraitClip(t, 1))
	s := openFor(t, realLimit, flags...)
	if _, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: "globalThis.edgetoonNoGPUTimer = true"}); err != nil {
		t.Fatal(err)
	}
	webglEngine(t, s)
	s.capture(t, 50)
	s.do(t, desktop(), chromedp.Navigate(rs.ts.URL+"/?size=128"))
	s.waitReal(t, "a stylized camera frame", `globalThis.__frames.length >= 1`)
	checkWebGL(t, s)
	n := eval[int](t, s, `strength.value = 0; strength.dispatchEvent(new Event("input")); globalThis.__frames.length`)
	s.waitReal(t, "two frames at strength 0", `globalThis.__frames.length >= `+itoa(n+2))
	fs := s.frames(t)
	f := fs[n+1]
	if !f.exact {
		t.Fatal("the camera frame changed during the call")
	}
	d := maxAbs(rgb(f.out), rgb(imageOf(photo.Sample(f.src, f.W, f.H))))
	t.Logf("strength 0, camera frame %d: %.2f/255 from the input", n+1, d)
	// One step: the sampler's 8-bit sub-texel weights against exact
	// bilinear weights in Go, then rounding to 8 bits on both sides.
	if d > 1.001 {
		t.Errorf("strength 0: %.2f/255 from the camera frame, want <= 1", d)
	}
	s.waitReal(t, "the readout's time per frame", `document.getElementById("readout").textContent.includes("ms/frame")`)
	t.Logf("readout without the GPU timer: %q", eval[string](t, s, `document.getElementById("readout").textContent`))
	s.checkRequests(t, rs.ts.URL)
	rs.checkNoUploads(t)
}

func itoa(n int) string { return strconv.Itoa(n) }
