package web_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/edgetoon/edgetoon/web"
)

// TestPageNotBuilt loads the page as a fresh clone serves it, with no
// engine built and the camera refused: it must say both, in words.
func TestPageNotBuilt(t *testing.T) {
	srv, url := serve(t, web.FS, nil)
	if !slices.Contains(srv.Missing(), "/edgetoon.wasm") {
		t.Skip("edgetoon.wasm is built; this test is about a server without it")
	}
	s := open(t, chromedp.Flag("deny-permission-prompts", true))
	s.do(t, desktop(), chromedp.Navigate(url))
	s.wait(t, "the not-built notice", noticeText+`.includes("not built")`)
	s.wait(t, "the camera message", dropNote+` !== ""`)
	if !eval[bool](t, s, photoMode) {
		t.Error("no fallback to photo mode")
	}
	for _, id := range []string{"choose", "file", "download", "model", "size", "split", "status"} {
		if !eval[bool](t, s, fmt.Sprintf(`!!document.getElementById(%q)`, id)) {
			t.Errorf("no #%s", id)
		}
	}
	t.Logf("notice: %q; camera: %q", eval[string](t, s, noticeText), eval[string](t, s, dropNote))
	s.screenshot(t, "desktop-not-built")
	s.do(t, phone())
	s.screenshot(t, "phone-not-built")
	if errs := s.errors("503", "edgetoon.wasm"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, url)
}

func TestCameraDenied(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	s := open(t, chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("deny-permission-prompts", true))
	s.do(t, desktop(), chromedp.Navigate(url))
	s.wait(t, "the camera-denied message", dropNote+`.includes("blocked")`)
	if !eval[bool](t, s, photoMode) {
		t.Error("no fallback to photo mode")
	}
	s.wait(t, "the engine", engineReady)
	s.screenshot(t, "desktop-camera-denied")
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// TestInsecureContext opens the page over plain HTTP under a name that is
// not localhost, where browsers give no camera.
func TestInsecureContext(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	url = strings.Replace(url, "127.0.0.1", "edgetoon.test", 1)
	s := open(t, chromedp.Flag("host-resolver-rules", "MAP edgetoon.test 127.0.0.1"))
	s.do(t, desktop(), chromedp.Navigate(url))
	s.wait(t, "the HTTPS explanation", dropNote+`.includes("-tls")`)
	s.screenshot(t, "desktop-insecure")
}

func TestCamera(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	s := open(t, chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true))
	next := s.downloads(t)
	// A pinned detail (the rate holder has a test of its own).
	s.do(t, desktop(), chromedp.Navigate(url+"/?size=256"))
	s.wait(t, "the frame readout", `document.getElementById("readout").textContent.includes("fps")`)
	if eval[bool](t, s, photoMode) {
		t.Fatal("in photo mode with a camera")
	}
	if n := eval[int](t, s, `document.getElementById("model").options.length`); n != 2 {
		t.Errorf("%d models in the picker, want 2", n)
	}
	s.do(t, chromedp.Click(chromedp.CSS("#shutter")))
	shot := decodePNG(t, next())
	if b := shot.Bounds(); b.Dx() != 256 || b.Dy()%4 != 0 {
		t.Errorf("saved frame %v, want 256 wide", b)
	}
	// The split follows the keyboard.
	s.do(t, chromedp.Focus(chromedp.CSS("#split")), chromedp.KeyEvent(kb.ArrowLeft))
	if v := eval[string](t, s, `document.getElementById("stage").style.getPropertyValue("--split")`); v != "49%" {
		t.Errorf("--split %q after arrow left", v)
	}
	checkFrameTime(t, s)
	// A bigger detail level reaches the engine.
	s.do(t, chromedp.SetValue(chromedp.CSS("#size"), "512"), chromedp.Evaluate[chromedp.Void](`document.getElementById("size").dispatchEvent(new Event("change"))`))
	s.wait(t, "512 px frames", `document.getElementById("readout").textContent.includes("512×")`)
	s.screenshot(t, "desktop-camera")
	s.do(t, phone())
	s.screenshot(t, "phone-camera")
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, url)
}

// readoutMs is the readout's time per frame (0 when it shows none).
const readoutMs = `Number((document.getElementById("readout").textContent.match(/([\d.]+) ms\/frame/) || [])[1] || 0)`

// checkFrameTime checks that the camera readout shows the real time per
// frame, not the time stylize takes to queue the work: the fake engine
// returns at once (lastFrameMs 0.5) unless told to hold each frame, as a
// backed-up GPU holds the page's frames back.
func checkFrameTime(t *testing.T, s *session) {
	t.Helper()
	s.do(t, chromedp.Evaluate[chromedp.Void](`globalThis.fakeFrameDelayMs = 150`))
	s.wait(t, "the time of a 150 ms frame", readoutMs+` >= 140`)
	// Only a sanity bound above: on a loaded machine the fake frame's
	// 150 ms can stretch well past a second.
	if ms := eval[float64](t, s, readoutMs); !(ms < 10000) {
		t.Errorf("150 ms frames: readout %.1f ms/frame", ms)
	}
	s.do(t, chromedp.Evaluate[chromedp.Void](`globalThis.fakeFrameDelayMs = 0`))
}

// orientedJPEG is a landscape JPEG, red on the left and blue on the
// right, whose EXIF orientation 6 says "rotate 90° clockwise to show".
func orientedJPEG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 240, 160))
	for y := 0; y < 160; y++ {
		for x := 0; x < 240; x++ {
			c := color.RGBA{220, 20, 20, 255}
			if x >= 120 {
				c = color.RGBA{20, 20, 220, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	// APP1 Exif, big-endian TIFF, one IFD entry: Orientation (0x0112) = 6.
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00")
	payload := append([]byte("Exif\x00\x00"), tiff...)
	app1 := append([]byte{0xff, 0xe1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}, payload...)
	data := b.Bytes()
	return slices.Concat(data[:2], app1, data[2:])
}

func TestPhoto(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	dir := t.TempDir()
	rotated := filepath.Join(dir, "rotated.jpg")
	broken := filepath.Join(dir, "broken.jpg")
	os.WriteFile(rotated, orientedJPEG(t), 0o644)
	os.WriteFile(broken, []byte("\xff\xd8\xff\xe0 this is not a JPEG"), 0o644)
	cutout := filepath.Join(dir, "cutout.png")
	os.WriteFile(cutout, cutoutPNG(t), 0o644)
	portrait, err := filepath.Abs("../testdata/obama.jpg")
	if err != nil {
		t.Fatal(err)
	}

	s := open(t)
	next := s.downloads(t)
	s.do(t, desktop(), chromedp.Navigate(url+"/?mode=photo"))
	s.wait(t, "the engine", engineReady)

	// A broken file gets a message, not a blank canvas.
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{broken}))
	s.wait(t, "the broken-image message", dropNote+`.includes("could not be read")`)

	// EXIF orientation is honoured: the landscape file shows as portrait,
	// its left (red) half on top.
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{rotated}))
	s.wait(t, "the rotated photo", `!document.getElementById("download").disabled`)
	px := eval[[]int](t, s, `(() => {
		const c = document.getElementById("before"), g = c.getContext("2d");
		return [c.width, c.height, ...g.getImageData(80, 20, 1, 1).data, ...g.getImageData(80, 220, 1, 1).data];
	})()`)
	if px[0] != 160 || px[1] != 240 || px[2] < 150 || px[4] > 100 || px[6] > 100 || px[8] < 150 {
		t.Errorf("rotated photo: size %dx%d, top pixel %v, bottom pixel %v", px[0], px[1], px[2:6], px[6:10])
	}

	// A transparent PNG (a cut-out portrait) is made opaque with its own
	// colours (cutout.js spread, as the CLI's photo.Spread), not with the
	// black its file stores under alpha 0: the engine is given blue
	// everywhere (the fake engine inverts it: yellow). On the stage the
	// cut layer covers the transparent part with its checkerboard and
	// leaves the square clear.
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{cutout}))
	s.wait(t, "the cut-out photo", `!document.getElementById("download").disabled && document.getElementById("before").width === 120`)
	px = eval[[]int](t, s, `(() => {
		const at = (id, x, y) => [...document.getElementById(id).getContext("2d").getImageData(x, y, 1, 1).data];
		return [...at("before", 2, 2), ...at("before", 60, 40), ...at("out", 2, 2), ...at("cut", 2, 2), ...at("cut", 60, 40)];
	})()`)
	blue := func(p []int) bool { return p[0] <= 10 && p[1] <= 10 && p[2] >= 245 }
	if !blue(px[0:4]) || !blue(px[4:8]) || px[8] < 245 || px[9] < 245 || px[10] > 10 {
		t.Errorf("cut-out photo: background %v and centre %v (want blue), cartoon's background %v (want blue inverted: yellow)", px[:4], px[4:8], px[8:12])
	}
	if px[15] != 255 || px[19] != 0 {
		t.Errorf("cut layer: alpha %d outside the square (want 255), %d inside (want 0)", px[15], px[19])
	}
	cutShown := `getComputedStyle(document.getElementById("cut")).display !== "none"`
	if !eval[bool](t, s, cutShown) {
		t.Error("the cut layer is not shown with the cut-out photo")
	}
	// The camera hides it with the photo.
	s.do(t, chromedp.Click(chromedp.CSS("#mode-camera")))
	s.wait(t, "the camera mode", `document.getElementById("before").hidden`)
	if eval[bool](t, s, cutShown) {
		t.Error("the cut layer is shown in camera mode")
	}
	s.do(t, chromedp.Click(chromedp.CSS("#mode-photo")))
	s.wait(t, "the photo again", `!document.getElementById("before").hidden && !document.getElementById("download").disabled`)
	// Its PNG keeps the cut: transparent where the photo is, the cartoon
	// (blue inverted: yellow) opaque in the square.
	s.do(t, chromedp.Click(chromedp.CSS("#download")))
	checkCutout(t, "the page's", decodePNG(t, next()), false)

	// A portrait (410x512): stylized at its own size, 512 on the long
	// side, saved as that PNG.
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{portrait}))
	s.wait(t, "the cartoon", `!document.getElementById("download").disabled && document.getElementById("before").width !== 160`)
	if eval[bool](t, s, cutShown) {
		t.Error("the cut layer is still shown with an opaque photo")
	}
	dims := eval[[]int](t, s, `[before.width, before.height, out.width, out.height]`)
	if dims[0] != 410 || dims[1] != 512 || dims[2] != dims[0] || dims[3] != dims[1] {
		t.Errorf("before %dx%d, cartoon %dx%d", dims[0], dims[1], dims[2], dims[3])
	}
	s.do(t, chromedp.Click(chromedp.CSS("#download")))
	saved := decodePNG(t, next())
	if b := saved.Bounds(); b.Dx() != dims[2] || b.Dy() != dims[3] {
		t.Errorf("saved %v, want %dx%d", b, dims[2], dims[3])
	}
	if !opaque(saved) {
		t.Error("the JPEG portrait's PNG has transparent pixels")
	}
	// The fake engine inverts: the saved cartoon is the inverse of the original.
	orig := eval[[]int](t, s, `[...before.getContext("2d").getImageData(before.width/2, before.height/2, 1, 1).data]`)
	r, g, bl, _ := saved.At(dims[2]/2, dims[3]/2).RGBA()
	if d := abs(int(r>>8)-(255-orig[0])) + abs(int(g>>8)-(255-orig[1])) + abs(int(bl>>8)-(255-orig[2])); d > 12 {
		t.Errorf("centre pixel %v -> %d,%d,%d", orig, r>>8, g>>8, bl>>8)
	}

	// Strength 0 shows the photo itself, in the download too, and is
	// remembered.
	s.do(t, chromedp.Evaluate[chromedp.Void](`strength.value = 0; strength.dispatchEvent(new Event("input"))`))
	s.wait(t, "the new PNG", `!document.getElementById("download").disabled && document.getElementById("strength-value").textContent === "0%"`)
	s.do(t, chromedp.Click(chromedp.CSS("#download")))
	plain := decodePNG(t, next())
	r, g, bl, _ = plain.At(dims[2]/2, dims[3]/2).RGBA()
	if d := abs(int(r>>8)-orig[0]) + abs(int(g>>8)-orig[1]) + abs(int(bl>>8)-orig[2]); d > 12 {
		t.Errorf("strength 0: centre pixel %v -> %d,%d,%d", orig, r>>8, g>>8, bl>>8)
	}
	if v := eval[string](t, s, `localStorage.getItem("edgetoon.strength")`); v != "0" {
		t.Errorf("strength stored as %q", v)
	}

	// Another model re-renders the photo.
	s.do(t, chromedp.SetValue(chromedp.CSS("#model"), "anime"), chromedp.Evaluate[chromedp.Void](`document.getElementById("model").dispatchEvent(new Event("change"))`))
	s.wait(t, "the second model", `document.getElementById("status").textContent.includes("Fake anime ready")`)
	s.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById("split").value = 30; document.getElementById("split").dispatchEvent(new Event("input"))`))
	s.screenshot(t, "desktop-photo")
	s.do(t, phone())
	s.screenshot(t, "phone-photo")
	// A tall photo (225x512) on a phone: the stage narrows, its aspect
	// kept, so that it and the buttons under it fit the screen.
	tall, err := filepath.Abs("../testdata/biden.jpg")
	if err != nil {
		t.Fatal(err)
	}
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{tall}))
	s.wait(t, "the tall photo", `!document.getElementById("download").disabled && document.getElementById("before").width === 225`)
	box := eval[[]float64](t, s, `(() => {
		const st = document.querySelector(".stage").getBoundingClientRect(), d = document.getElementById("download").getBoundingClientRect();
		return [st.width, st.height, d.bottom, innerHeight];
	})()`)
	s.screenshot(t, "phone-photo-tall")
	if box[2] > box[3] || math.Abs(box[0]/box[1]-225.0/512) > 0.01 {
		t.Errorf("tall photo on a phone: stage %.0fx%.0f (want the aspect 225:512), Download's bottom at %.0f of %.0f px", box[0], box[1], box[2], box[3])
	}
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	// The next visit starts at the strength of the last.
	s.do(t, chromedp.Reload())
	s.wait(t, "the engine after a reload", engineReady)
	if v := eval[string](t, s, `strength.value + " " + document.getElementById("strength-value").textContent`); v != "0 0%" {
		t.Errorf("strength after a reload: %q, want 0 0%%", v)
	}
	s.checkRequests(t, url)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestOffline installs the service worker, stops the server, and reloads:
// the page, the engine and the default model come from the cache.
func TestOffline(t *testing.T) {
	_, ts := startServer(t, fakeFS(t), fakeInspect)
	s := open(t, chromedp.Flag("deny-permission-prompts", true))
	s.do(t, desktop(), chromedp.Navigate(ts.URL+"/?mode=photo"))
	s.wait(t, "the engine", engineReady)
	s.wait(t, "the service worker", `navigator.serviceWorker.controller !== null`)
	caches, err := chromedp.Run(s.ctx, chromedp.Evaluate[[]string](`caches.keys()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if len(caches) != 1 || !strings.HasPrefix(caches[0], "edgetoon-") {
		t.Fatalf("caches %v", caches)
	}
	ts.CloseClientConnections()
	ts.Close()
	s.do(t, chromedp.Evaluate[chromedp.Void](`window.beforeReload = true`), chromedp.Reload())
	s.wait(t, "the engine, offline", `!window.beforeReload && `+engineReady)
	if n := eval[int](t, s, `document.getElementById("model").options.length`); n != 2 {
		t.Errorf("offline model list has %d entries", n)
	}
	if errs := s.errors("ERR_CONNECTION_REFUSED", "Failed to load resource"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// TestSizeMultiple: with a model whose size multiple is 16, the camera at
// a detail of 180 (a 4:3 frame of 180x135) is stylized at multiples of 16
// (liveSize: nothing computed to be cropped), on the page and in the
// widget, and a photo (obama.jpg, 410x512) at its own size (the engine
// pads it).
func TestSizeMultiple(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	host := thirdPartyPage(t, fmt.Sprintf(`<script type="module" src="%s/widget.js"></script>
<edge-toon id="w" size="180"></edge-toon>`, url))
	portrait, err := filepath.Abs("../testdata/obama.jpg")
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true))
	if _, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: "globalThis.fakeSizeMultiple = 16"}); err != nil {
		t.Fatal(err)
	}
	check := func(what, canvas string, long int) {
		t.Helper()
		d := eval[[]int](t, s, `[`+canvas+`.width, `+canvas+`.height]`)
		if d[0]%16 != 0 || d[1]%16 != 0 || max(d[0], d[1]) != long {
			t.Errorf("%s: cartoon %dx%d, want multiples of 16, %d on the long side", what, d[0], d[1], long)
		}
	}
	checkPhoto := func() {
		t.Helper()
		if d := eval[[]int](t, s, `[out.width, out.height]`); d[0] != 410 || d[1] != 512 {
			t.Errorf("photo: cartoon %dx%d, want the photo's 410x512", d[0], d[1])
		}
	}
	s.do(t, desktop(), chromedp.Navigate(url+"/?size=180"))
	s.wait(t, "the frame readout", `document.getElementById("readout").textContent.includes("fps")`)
	check("camera", "out", 176)
	s.do(t, chromedp.Navigate(url+"/?mode=photo"))
	s.wait(t, "the engine", engineReady)
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{portrait}))
	s.wait(t, "the cartoon", `!document.getElementById("download").disabled`)
	checkPhoto()
	if n := eval[string](t, s, `document.getElementById("notice").hidden ? "" : document.getElementById("notice").textContent`); n != "" {
		t.Errorf("notice %q", n)
	}
	s.do(t, chromedp.Navigate(host.URL))
	const root = `document.getElementById("w").shadowRoot`
	s.wait(t, "the widget", `!!customElements.get("edge-toon") && !!`+root+`.querySelector(".start")`)
	s.do(t, chromedp.Evaluate[chromedp.Void](root+`.querySelector(".start").click()`))
	s.wait(t, "the widget's readout", root+`.querySelector(".fps").textContent.includes("fps")`)
	check("widget camera", root+`.querySelector(".out")`, 176)
	if errs := s.errors(host.URL + "/favicon.ico"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// checkCutout checks a cartoon of cutoutPNG: transparent where the photo
// is, opaque in its square; there, by the fake engine (which inverts),
// yellow (blue inverted), unless real (the real engine's colours are
// checked against its canvas by the caller).
func checkCutout(t *testing.T, what string, img image.Image, real bool) {
	t.Helper()
	if b := img.Bounds(); b.Dx() != 120 || b.Dy() != 80 {
		t.Fatalf("%s cut-out PNG is %v, want 120x80", what, b)
	}
	for _, p := range []struct {
		x, y int
		in   bool
	}{{2, 2, false}, {39, 40, false}, {40, 20, true}, {60, 40, true}, {79, 59, true}, {80, 59, false}, {119, 79, false}} {
		got := color.NRGBAModel.Convert(img.At(p.x, p.y)).(color.NRGBA)
		yellow := got.B <= 10 && got.R >= 245 && got.G >= 245
		if p.in && (got.A != 255 || !real && !yellow) || !p.in && got.A != 0 {
			t.Errorf("%s cut-out PNG at (%d,%d): %v, want %s", what, p.x, p.y, got, map[bool]string{true: "opaque", false: "transparent"}[p.in])
		}
	}
}

// opaque says whether every pixel of img is opaque.
func opaque(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a != 0xffff {
				return false
			}
		}
	}
	return true
}

// cutoutPNG is a 120x80 PNG, transparent (black under alpha 0) but for an
// opaque blue square in its middle.
func cutoutPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 120, 80))
	for y := 20; y < 60; y++ {
		for x := 40; x < 80; x++ {
			img.SetNRGBA(x, y, color.NRGBA{0, 0, 255, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
