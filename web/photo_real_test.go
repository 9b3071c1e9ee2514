package web_test

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/image/draw"
)

// fitSize is core.js's fitSize: the long side at most long, each side
// rounded to whole pixels. readPhoto keeps a photo's aspect so, whatever
// the model's size multiple (the engines pad).
func fitSize(w, h, long int) (int, int) {
	s := math.Min(1, float64(long)/float64(max(w, h)))
	round := func(v int) int { return max(1, int(math.Round(float64(v)*s))) }
	return round(w), round(h)
}

// minJPEGPSNR bounds a photo's cartoon against the CPU reference run on
// the photo as Go decodes and scales it (see TestCameraDeniedReal).
const minJPEGPSNR = 32

// TestCameraDeniedReal: with the camera refused, the page says so, falls
// back to photo mode, and a photo goes through the real engine to a
// downloaded PNG that matches the CPU reference.
func TestCameraDeniedReal(t *testing.T) {
	rs := startReal(t)
	s := openFor(t, realLimit, chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("deny-permission-prompts", true))
	s.capture(t, 2)
	next := s.downloads(t)
	s.do(t, desktop(), chromedp.Navigate(rs.ts.URL+"/?size=128"))
	s.wait(t, "the camera-denied message", dropNote+`.includes("blocked")`)
	if !eval[bool](t, s, photoMode) {
		t.Fatal("no fallback to photo mode")
	}
	s.waitReal(t, "the engine", engineReady)
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{fixturePath(t, "obama.jpg")}))
	s.waitReal(t, "the cartoon", `!document.getElementById("download").disabled`)
	s.do(t, chromedp.Click(chromedp.CSS("#download")))
	data := next()
	saved := decodePNG(t, data)

	portrait := fixture(t, "obama.jpg")
	w, h := fitSize(portrait.Bounds().Dx(), portrait.Bounds().Dy(), 128)
	t.Logf("downloaded %d bytes: %v PNG", len(data), saved.Bounds().Size())
	if saved.Bounds() != image.Rect(0, 0, w, h) {
		t.Fatalf("the PNG is %v, want %dx%d (%v at 128 px)", saved.Bounds().Size(), w, h, portrait.Bounds().Size())
	}
	fs := s.frames(t)
	if len(fs) != 1 {
		t.Fatalf("%d frames recorded", len(fs))
	}
	f := fs[0]
	// The PNG is the canvas as it was drawn.
	if db := psnr(rgb(saved), rgb(f.out)); db < 90 {
		t.Errorf("the PNG differs from the canvas (%.1f dB)", db)
	}
	f.out = saved
	// The engine's input is the photo as the browser decoded and scaled
	// it (createImageBitmap, resizeQuality "high"): the exact check.
	checkFrame(t, "downloaded PNG", f.src, f)
	// From the JPEG alone, decoded and scaled in Go (x/image's BiLinear,
	// which widens its kernel when shrinking, like the browser's "high"
	// quality): Chromium's filter and JPEG decoder differ from Go's, which
	// costs 37.9 dB at the input and 36.3 dB at the output (measured);
	// 32 dB leaves 4 dB of margin, while a wrong orientation, crop or
	// scale scores under 20 dB.
	scaled := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.BiLinear.Scale(scaled, scaled.Bounds(), portrait, portrait.Bounds(), draw.Src, nil)
	db := psnr(rgb(saved), reference(t, scaled, w, h))
	t.Logf("downloaded PNG: %.1f dB against the CPU reference from the JPEG scaled in Go (input: %.1f dB)", db, psnr(rgb(scaled), rgb(f.src)))
	if db < minJPEGPSNR {
		t.Errorf("downloaded PNG: %.1f dB against the CPU reference from the JPEG scaled in Go, want >= %d", db, minJPEGPSNR)
	}
	if !strings.Contains(eval[string](t, s, `document.getElementById("status").textContent`), "Cartoon ready") {
		t.Error("no ready message")
	}

	// A cut-out photo: its PNG is the canvas where the photo is opaque and
	// transparent where it is not (the WebGL canvas read in the draw's task).
	cutout := filepath.Join(t.TempDir(), "cutout.png")
	os.WriteFile(cutout, cutoutPNG(t), 0o644)
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{cutout}))
	s.waitReal(t, "the cut-out's cartoon", `!document.getElementById("download").disabled && document.getElementById("before").width === 120`)
	s.do(t, chromedp.Click(chromedp.CSS("#download")))
	cut := decodePNG(t, next())
	checkCutout(t, "the real engine's", cut, true)
	fs = s.frames(t)
	if len(fs) != 2 {
		t.Fatalf("%d frames recorded, want the portrait's and the cut-out's", len(fs))
	}
	canvas := fs[1].out
	for _, p := range [][2]int{{40, 20}, {60, 40}, {79, 59}} {
		r, g, b, _ := cut.At(p[0], p[1]).RGBA()
		r2, g2, b2, _ := canvas.At(p[0], p[1]).RGBA()
		if r>>8 != r2>>8 || g>>8 != g2>>8 || b>>8 != b2>>8 {
			t.Errorf("cut-out PNG at %v: %d,%d,%d, the canvas %d,%d,%d", p, r>>8, g>>8, b>>8, r2>>8, g2>>8, b2>>8)
		}
	}
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, rs.ts.URL)
	rs.checkNoUploads(t)
}

// TestOfflineReal installs the service worker, stops the server, reloads,
// and stylizes a photo with the real engine and model from the cache.
func TestOfflineReal(t *testing.T) {
	rs := startReal(t)
	s := openFor(t, realLimit, chromedp.Flag("deny-permission-prompts", true))
	s.capture(t, 1)
	// 64 px: the cheapest detail level the test can ask for; the service
	// worker, not the picture, is under test here.
	s.do(t, desktop(), chromedp.Navigate(rs.ts.URL+"/?mode=photo&size=64"))
	s.waitReal(t, "the engine", engineReady)
	// The worker takes control once it has activated, after its install
	// step has cached every file.
	s.waitReal(t, "the service worker", `navigator.serviceWorker.controller !== null`)
	rs.ts.CloseClientConnections()
	rs.ts.Close()
	s.do(t, chromedp.Evaluate[chromedp.Void](`window.beforeReload = true`), chromedp.Reload())
	s.waitReal(t, "the engine, offline", `!window.beforeReload && `+engineReady)
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{fixturePath(t, "biden.jpg")}))
	s.waitReal(t, "the cartoon, offline", `!document.getElementById("download").disabled`)
	fs := s.frames(t)
	if len(fs) != 1 {
		t.Fatalf("%d frames recorded", len(fs))
	}
	portrait := fixture(t, "biden.jpg")
	if w, h := fitSize(portrait.Bounds().Dx(), portrait.Bounds().Dy(), 64); fs[0].W != w || fs[0].H != h {
		t.Errorf("stylized at %dx%d, want %dx%d", fs[0].W, fs[0].H, w, h)
	}
	checkFrame(t, "offline photo", fs[0].src, fs[0])
	if errs := s.errors("ERR_CONNECTION_REFUSED", "Failed to load resource"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	rs.checkNoUploads(t)
}
