package web_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/image/draw"

	"github.com/edgetoon/edgetoon/internal/photo"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/web"
)

// teacherRef runs the teacher (White-box, when built into web/dist) on
// img sampled at w x h as the shader samples it, as RGB in [0,1]; it
// skips the test when the teacher is not built.
func teacherRef(t testing.TB, img image.Image, w, h int) []float32 {
	t.Helper()
	data, err := fs.ReadFile(web.FS, "dist/models/whitebox.safetensors")
	if err != nil {
		t.Skipf("the teacher is not built (make model): %v", err)
	}
	g, err := model.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return runCPU(t, g, img, w, h)
}

// engineHookJS, run before the page's scripts, keeps the page's engine in
// globalThis.__engine, so that a test can hand it exact frames in order.
var engineHookJS = onEngine("", `(engine) => (globalThis.__engine = engine)`)

// playJS hands one frame (RGBA, base64: the page's CSP lets it fetch
// no data: URL) to the page's engine with the stabilizer on or off, and
// reads the canvas in the same task.
const playJS = `(async (rgba, w, h, stabilize) => {
  const e = globalThis.__engine, out = document.getElementById("out");
  const px = Uint8ClampedArray.from(atob(rgba), (c) => c.charCodeAt(0));
  const bmp = await createImageBitmap(new ImageData(px, w, h));
  e.setOptions({ stabilize });
  e.stylize(bmp, 128, 96);
  return out.toDataURL("image/png");
})`

// playClip runs clip through the page's engine at 128x96, every frame
// once and in order, with the stabilizer on or off.
func playClip(t *testing.T, s *session, clip []image.Image, stabilize bool) clipRun {
	t.Helper()
	r := clipRun{steady: stabilize}
	for i, img := range clip {
		b := img.Bounds()
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
		call := fmt.Sprintf("%s(%q, %d, %d, %v)", playJS, base64.StdEncoding.EncodeToString(rgba.Pix), b.Dx(), b.Dy(), stabilize)
		u, err := chromedp.Run(s.ctx, chromedp.Evaluate[string](call, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		r.frames = append(r.frames, frame{W: 128, H: 96, Src: fmt.Sprint(i), src: img, out: dataPNG(t, u), exact: true})
	}
	return r
}

// TestStabilizePanReal plays a slow pan and zoom over a portrait through
// the page's engine, every frame once and in order (the fake camera,
// under load, drops and repeats frames of a moving clip at random), with
// the stabilizer off and on. Stabilizing must not make the cartoon lag
// behind the camera: the stabilized frames' PSNR to the teacher's cartoon
// of the same frame must be within 1 dB of the per-frame ones'. It also
// measures the stabilized frames against the per-frame ones, and writes a
// strip of camera, per-frame cartoon and stabilized cartoon for people to
// look at (/tmp/edgetoon-shots/camera_strip.png; with -docs, also
// docs/camera_strip.jpg).
func TestStabilizePanReal(t *testing.T) {
	rs := startReal(t)
	if _, err := fs.Stat(web.FS, "dist/models/whitebox.safetensors"); err != nil {
		t.Skipf("the teacher is not built (make model): %v", err)
	}
	clip := panClip(sharedImage(t, "faces/webmorphcc0_60cm.jpg"), 16)
	s := openFor(t, realLimit, chromedp.Flag("deny-permission-prompts", true))
	webglEngine(t, s)
	if _, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: engineHookJS}); err != nil {
		t.Fatal(err)
	}
	s.do(t, desktop(), chromedp.Navigate(rs.ts.URL+"/?mode=photo"))
	s.waitReal(t, "the engine", engineReady)
	checkWebGL(t, s)
	off := playClip(t, s, clip, false)
	on := playClip(t, s, clip, true)
	const skip = 1 // the first stabilized frame is the cartoon as is
	teacher := func(f frame) []float32 { return teacherRef(t, f.src, f.W, f.H) }
	var tOff, tOn, sOn float64
	n := 0
	for i := skip; i < len(clip); i++ {
		want := teacher(on.frames[i])
		a, b, c := psnr(rgb(off.frames[i].out), want), psnr(rgb(on.frames[i].out), want), psnr(rgb(on.frames[i].out), rgb(off.frames[i].out))
		t.Logf("frame %d: to the teacher: per-frame %.2f dB, stabilized %.2f dB; stabilized to per-frame %.2f dB", i, a, b, c)
		tOff, tOn, sOn, n = tOff+a, tOn+b, sOn+c, n+1
	}
	tOff, tOn, sOn = tOff/float64(n), tOn/float64(n), sOn/float64(n)
	fOff, cOff, _ := flickerStats(off, 0)
	fOn, cOn, _ := flickerStats(on, skip)
	t.Logf("pan clip, 128x96, %d frames: PSNR to the teacher: per-frame %.2f dB, stabilized %.2f dB (%+.2f dB); stabilized to per-frame %.2f dB; still-pixel flicker per-frame %.5f (%.2fx the camera's), stabilized %.5f (%.2fx)",
		n, tOff, tOn, tOn-tOff, sOn, fOff, fOff/cOff, fOn, fOn/cOn)
	if tOn < tOff-1 {
		t.Errorf("stabilized frames %.2f dB to the teacher, per-frame %.2f: more than 1 dB lost", tOn, tOff)
	}
	writeStrip(t, on.frames[len(clip)-4:])
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	rs.checkNoUploads(t)
}

// writeStrip lays out up to 4 frames side by side, 2x: the camera frame
// as the engine saw it, the student's per-frame cartoon of it (CPU) and
// the page's stabilized cartoon, one row each.
func writeStrip(t *testing.T, frames []frame) {
	t.Helper()
	frames = frames[:min(4, len(frames))]
	w, h := frames[0].W, frames[0].H
	strip := image.NewRGBA(image.Rect(0, 0, len(frames)*(2*w+4)-4, 3*(2*h+4)-4))
	for i, f := range frames {
		rows := []image.Image{
			imageOf(photo.Sample(f.src, w, h)),
			imageOf(tensorOf(reference(t, f.src, w, h), h, w)),
			f.out,
		}
		for j, img := range rows {
			r := image.Rect(0, 0, 2*w, 2*h).Add(image.Pt(i*(2*w+4), j*(2*h+4)))
			draw.NearestNeighbor.Scale(strip, r, img, img.Bounds(), draw.Src, nil)
		}
	}
	os.MkdirAll("/tmp/edgetoon-shots", 0o755)
	var b bytes.Buffer
	if err := png.Encode(&b, strip); err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/edgetoon-shots/camera_strip.png", b.Bytes(), 0o644)
	t.Log("strip: /tmp/edgetoon-shots/camera_strip.png")
	if !*updateDocs {
		return
	}
	b.Reset()
	if err := jpeg.Encode(&b, strip, &jpeg.Options{Quality: 88}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "docs", "camera_strip.jpg")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %v, %d bytes", path, strip.Bounds().Size(), b.Len())
}

// tensorOf wraps RGB [0,1] HWC pixels as a tensor.
func tensorOf(px []float32, h, w int) *model.Tensor {
	x := model.NewTensor(h, w, 3)
	copy(x.Data, px)
	return x
}
