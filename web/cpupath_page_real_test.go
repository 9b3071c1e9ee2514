package web_test

// The CPU path through the product page and the widget, on SwiftShader,
// where auto picks it.

import (
	"fmt"
	"image"
	"image/color"
	"testing"

	"github.com/chromedp/chromedp"
)

// canvasJS reads a 2D canvas's pixels as {w, h, px: base64 RGBA}.
const canvasJS = `((c) => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let s = "";
  for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode(...d.subarray(i, i + 8192));
  return {w: c.width, h: c.height, px: btoa(s)};
})`

type canvasPixels struct {
	W, H int
	PX   []byte
}

// cartoonOf checks a CPU-path canvas against the "before" canvas beside
// it, which holds the photo exactly as the engine read it (both draw the
// same bitmap at its own size): not blank, not its input, and the CPU
// reference engine's cartoon of those pixels within the page tests'
// bound (40 dB; only the 8-bit canvas rounds).
func cartoonOf(t *testing.T, what string, out, before canvasPixels) {
	t.Helper()
	for _, c := range []canvasPixels{out, before} {
		if c.W == 0 || len(c.PX) != 4*c.W*c.H {
			t.Fatalf("%s: a %dx%d canvas with %d bytes", what, c.W, c.H, len(c.PX))
		}
	}
	if out.W != before.W || out.H != before.H {
		t.Fatalf("%s: the cartoon is %dx%d, the photo %dx%d", what, out.W, out.H, before.W, before.H)
	}
	src := before.image()
	got, want, input := rgb(out.image()), reference(t, src, out.W, out.H), rgb(src)
	db, in, sd := psnr(got, want), psnr(got, input), stddev(got)
	t.Logf("%s: %dx%d, PSNR %.1f dB against the CPU reference, %.1f dB against the input; stddev %.3f", what, out.W, out.H, db, in, sd)
	if sd < minStddev || in > maxInputPSNR || db < minPSNR {
		t.Errorf("%s: stddev %.3f (want >= %v), %.1f dB to the input (want <= %d), %.1f dB to the reference (want >= %d)", what, sd, minStddev, in, maxInputPSNR, db, minPSNR)
	}
}

func (c canvasPixels) image() image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, c.W, c.H))
	for i := range c.W * c.H {
		img.SetNRGBA(i%c.W, i/c.W, color.NRGBA{c.PX[4*i], c.PX[4*i+1], c.PX[4*i+2], 255})
	}
	return img
}

// TestCPUPathOfflineReal: the page on SwiftShader runs the CPU path; once
// the service worker controls it, the runtime its worker fetches is
// kept (the model and the worker's script are precached), and with the server gone a reload stylizes a photo
// from the cache, and the PNG it offers is that cartoon.
func TestCPUPathOfflineReal(t *testing.T) {
	rs, s := startCPUPath(t)
	const ready = `document.getElementById("status").textContent.includes("ready")`
	s.do(t, desktop(), chromedp.Navigate(rs.ts.URL+"/?mode=photo&size=64"))
	s.waitReal(t, "the engine", ready)
	s.waitReal(t, "the service worker", `navigator.serviceWorker.controller !== null`)
	// The first visit fetched the runtime before the worker took control:
	// this visit fetches it through the worker, which keeps it.
	s.do(t, chromedp.Evaluate[chromedp.Void](`window.beforeReload = true`), chromedp.Reload())
	s.waitReal(t, "the engine, under the worker", `!window.beforeReload && `+ready)
	s.waitReal(t, "the runtime in the cache", `caches.keys().then((ks) => Promise.all(ks.map((k) => caches.open(k).then((c) => c.keys()))))
	  .then((ls) => { const u = ls.flat().map((r) => new URL(r.url).pathname);
	    return u.includes("/tfjs/tf-core.min.js") && u.some((p) => p.startsWith("/tfjs/tfjs-backend-wasm")); })`)
	rs.ts.CloseClientConnections()
	rs.ts.Close()
	s.do(t, chromedp.Evaluate[chromedp.Void](`window.beforeReload = true`), chromedp.Reload())
	s.waitReal(t, "the engine, offline", `!window.beforeReload && `+ready)
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{fixturePath(t, "biden.jpg")}))
	s.waitReal(t, "the cartoon, offline", `!document.getElementById("download").disabled`)
	c := eval[canvasPixels](t, s, canvasJS+`(document.getElementById("out"))`)
	portrait := fixture(t, "biden.jpg")
	if w, h := fitSize(portrait.Bounds().Dx(), portrait.Bounds().Dy(), 64); c.W != w || c.H != h {
		t.Errorf("stylized at %dx%d, want %dx%d", c.W, c.H, w, h)
	}
	cartoonOf(t, "offline photo", c, eval[canvasPixels](t, s, canvasJS+`(document.getElementById("before"))`))
	if errs := s.errors("ERR_CONNECTION_REFUSED", "Failed to load resource"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	checkNoBodies(t, rs)
}

// TestWidgetCPUReal: a page of another origin, not cross-origin
// isolated, embeds a photo widget, which on SwiftShader runs the CPU path
// from the edgetoon server (without the Go engine) and matches the CPU
// reference.
func TestWidgetCPUReal(t *testing.T) {
	rs, s := startCPUPath(t)
	host := thirdPartyPage(t, fmt.Sprintf(`<script type="module" src="%s/widget.js"></script>
<edge-toon id="a" mode="photo" src="/portrait.jpg" size="96"></edge-toon>`, rs.ts.URL))
	s.do(t, desktop(), chromedp.Navigate(host.URL))
	// Only a 2D context is asked for: the CPU path draws with one, and
	// asking for WebGL's would take the canvas from it.
	const out = `document.getElementById("a").shadowRoot.querySelector("canvas.out")`
	s.waitReal(t, "the widget's cartoon", `(() => { const c = `+out+`; return c && c.width > 0 && c.getContext("2d").getImageData(c.width >> 1, c.height >> 1, 1, 1).data[3] === 255; })()`)
	c := eval[canvasPixels](t, s, canvasJS+`(`+out+`)`)
	if max(c.W, c.H) != 96 {
		t.Errorf("the widget stylized at %dx%d, want 96 on the long side", c.W, c.H)
	}
	cartoonOf(t, "widget", c, eval[canvasPixels](t, s, canvasJS+`(document.getElementById("a").shadowRoot.querySelector("canvas.before"))`))
	if eval[bool](t, s, `typeof globalThis.edgetoon !== "undefined"`) {
		t.Error("the widget started the Go engine on SwiftShader")
	}
	if errs := s.errors(host.URL + "/favicon.ico"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	checkNoBodies(t, rs)
}

// TestCameraCPUReal: the live camera on the CPU path. Chromium's fake
// camera plays a still portrait (320x240); the page, on auto, runs the
// CPU engine at 128x96, its readout counts frames, and the canvas shows
// the CPU reference's cartoon of the clip's frame as decoded in Go (the
// WebGL camera test's bound: Chromium reads the clip as video-range
// BT.601).
func TestCameraCPUReal(t *testing.T) {
	path, flags := fakeCamera(t, portraitClip(t, 1))
	clip := readY4M(t, path)
	rs, s := startCPUPath(t, flags...)
	s.do(t, desktop(), chromedp.Navigate(rs.ts.URL+"/?size=128"))
	s.waitReal(t, "the frame rate of the CPU path's camera frames", `document.getElementById("readout").textContent.includes("fps")`)
	c := eval[canvasPixels](t, s, canvasJS+`(document.getElementById("out"))`)
	if c.W != 128 || c.H != 96 {
		t.Fatalf("camera frames stylized at %dx%d, want 128x96", c.W, c.H)
	}
	got := rgb(c.image())
	db, sd := psnr(got, reference(t, clip[0], c.W, c.H)), stddev(got)
	t.Logf("camera on the CPU path: %q; %.1f dB against the CPU reference of the clip's frame; stddev %.3f",
		eval[string](t, s, `document.getElementById("readout").textContent`), db, sd)
	if db < minClipPSNR || sd < minStddev {
		t.Errorf("the camera's cartoon: %.1f dB against the CPU reference (want >= %d), stddev %.3f", db, minClipPSNR, sd)
	}
	if eval[bool](t, s, `typeof globalThis.edgetoon !== "undefined"`) {
		t.Error("the page started the Go engine on SwiftShader")
	}
	checkNoBodies(t, rs)
}
