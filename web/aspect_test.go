package web_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// barClip is a w x h camera frame, black, with white vertical bars whose
// centres lie at 10 % and 90 % of its width: where they show on the
// stage says how the picture was scaled and cropped there.
func barClip(w, h int) []image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{0, 0, 0, 255}
			if f := (float64(x) + 0.5) / float64(w); math.Abs(f-0.1) < 0.03 || math.Abs(f-0.9) < 0.03 {
				c = color.RGBA{255, 255, 255, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return []image.Image{img}
}

// barCentre returns the centre, as a fraction of the row's width, of the
// pixels of row y between x0 and x1 (fractions) whose brightness is
// bright (or dark, with !bright), or -1 if there are none.
func barCentre(img image.Image, y int, x0, x1 float64, bright bool) float64 {
	b := img.Bounds()
	sum, n := 0.0, 0
	for x := b.Min.X + int(x0*float64(b.Dx())); x < b.Min.X+int(x1*float64(b.Dx())); x++ {
		r, g, bl, _ := img.At(x, y).RGBA()
		if l := (r + g + bl) / 3 >> 8; (l > 160) == bright && (l < 96) == !bright {
			sum += (float64(x-b.Min.X) + 0.5) / float64(b.Dx())
			n++
		}
	}
	if n == 0 {
		return -1
	}
	return sum / float64(n)
}

// TestCameraAspect opens the camera, on the page (on a desktop screen and
// a short one) and in the widget, on frames that are not 4:3 (a 16:9
// webcam, a phone held upright) at a detail whose plain rounding to the
// model's multiple would stretch them (128 px: a 16:9 frame would be
// 128x80, 11 % off).
func TestCameraAspect(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	host := thirdPartyPage(t, fmt.Sprintf(`<script type="module" src="%s/widget.js"></script>
<edge-toon id="w" size="128"></edge-toon>`, url))
	const root = `document.getElementById("w").shadowRoot`
	for _, c := range []struct{ w, h int }{{640, 360}, {270, 480}} {
		t.Run(fmt.Sprintf("%dx%d", c.w, c.h), func(t *testing.T) {
			_, flags := fakeCamera(t, barClip(c.w, c.h))
			s := open(t, flags...)
			if _, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: "globalThis.fakeSizeMultiple = 16"}); err != nil {
				t.Fatal(err)
			}
			s.do(t, desktop(), chromedp.Navigate(url+"/?size=128"))
			s.wait(t, "the frame readout", `document.getElementById("readout").textContent.includes("fps")`)
			maxErr, err := chromedp.Run(s.ctx, chromedp.Evaluate[float64](`import("/core.js").then((m) => m.maxAspectError)`, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			checkAspect(t, s, "page", c.w, c.h, maxErr, `document.getElementById("video")`, `document.getElementById("out")`, `document.getElementById("stage")`)
			// A phone held sideways: a short screen, where the stage keeps
			// its aspect too.
			s.do(t, chromedp.EmulateViewport(844, 390))
			checkAspect(t, s, "page, 844x390", c.w, c.h, maxErr, `document.getElementById("video")`, `document.getElementById("out")`, `document.getElementById("stage")`)
			s.do(t, desktop())
			s.do(t, chromedp.Navigate(host.URL))
			s.wait(t, "the widget", `!!customElements.get("edge-toon") && !!`+root+`.querySelector(".start")`)
			s.do(t, chromedp.Evaluate[chromedp.Void](root+`.querySelector(".start").click()`))
			s.wait(t, "the widget's readout", root+`.querySelector(".fps").textContent.includes("fps")`)
			checkAspect(t, s, "widget", c.w, c.h, maxErr, root+`.querySelector("video")`, root+`.querySelector(".out")`, root+`.querySelector(".stage")`)
			if errs := s.errors(host.URL + "/favicon.ico"); len(errs) > 0 {
				t.Errorf("console errors: %v", errs)
			}
		})
	}
}

// checkAspect checks that the cartoon of w x h camera frames keeps their
// aspect within maxErr (core.js's maxAspectError), and that on the stage the
// picture (left of the divider) and the cartoon (right of it, inverted by
// the stand-in engine) each show barClip's bars where they are in the
// frame: they lie over each other.
func checkAspect(t *testing.T, s *session, what string, w, h int, maxErr float64, video, out, stage string) {
	t.Helper()
	v := eval[[]int](t, s, `[`+video+`.videoWidth, `+video+`.videoHeight]`)
	if v[0] != w || v[1] != h {
		t.Fatalf("%s: the camera gives %dx%d frames, want the clip's %dx%d", what, v[0], v[1], w, h)
	}
	d := eval[[]int](t, s, `[`+out+`.width, `+out+`.height]`)
	long, short := max(d[0], d[1]), min(d[0], d[1])
	want := float64(min(w, h)) / float64(max(w, h))
	aspectErr := math.Abs(float64(short)/float64(long)-want) / want
	t.Logf("%s: %dx%d frames, cartoon %dx%d (aspect off by %.1f %%)", what, w, h, d[0], d[1], 100*aspectErr)
	if d[0]%16 != 0 || d[1]%16 != 0 || long > 128 || long < 128-16 || (d[0] > d[1]) != (w > h) {
		t.Errorf("%s: cartoon %dx%d, want multiples of 16, 112 to 128 on the frame's long side", what, d[0], d[1])
	}
	if !(aspectErr <= maxErr) {
		t.Errorf("%s: cartoon %dx%d, aspect off by %.1f %%, want at most %.0f %%", what, d[0], d[1], 100*aspectErr, 100*maxErr)
	}
	// The stage, its divider in the middle.
	s.do(t, chromedp.Sleep(300*time.Millisecond))
	r := eval[[]float64](t, s, `(() => { const b = `+stage+`.getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; })()`)
	buf, err := chromedp.Run(s.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shot, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	if sa, fa := r[2]/r[3], float64(w)/float64(h); math.Abs(sa-fa)/fa > 0.01 {
		t.Errorf("%s: stage %.0fx%.0f, want the frame's aspect %d:%d", what, r[2], r[3], w, h)
	}
	img := shot.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(int(math.Ceil(r[0])), int(math.Ceil(r[1])), int(r[0]+r[2]), int(r[1]+r[3])))
	y := img.Bounds().Min.Y + img.Bounds().Dy()/2
	// Clear of the divider's handle, which is wide on a small stage.
	left := barCentre(img, y, 0, 0.3, true)   // the picture: a white bar
	right := barCentre(img, y, 0.7, 1, false) // the cartoon: the stand-in inverts it
	t.Logf("%s: bars at %.3f (picture) and %.3f (cartoon) of the stage's width", what, left, right)
	// A pixel or two of the stage; the 16:9 frame's 11 % stretch would
	// move a bar by 4-5 % of it.
	const tol = 0.015
	if math.Abs(left-0.1) > tol {
		t.Errorf("%s: the picture's bar at %.3f of the stage, want 0.1 (as in the frame)", what, left)
	}
	if math.Abs(right-0.9) > tol {
		t.Errorf("%s: the cartoon's bar at %.3f of the stage, want 0.9 (as in the frame)", what, right)
	}
}

// TestLiveSize checks core.js's liveSize against sizes worked out by
// hand: the longest long side whose rounded short side keeps the aspect
// within 4 %, else one multiple shorter, else the one of the two that came
// closer with its short side exact (the engine pads it).
func TestLiveSize(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	s := open(t, chromedp.Flag("deny-permission-prompts", true))
	s.do(t, desktop(), chromedp.Navigate(url+"/?mode=photo"))
	s.wait(t, "the page", `!!document.getElementById("size")`)
	for _, c := range []struct{ w, h, long, m, wantW, wantH int }{
		{640, 480, 256, 16, 256, 192}, // 4:3 divides evenly
		{640, 480, 160, 16, 144, 112}, // 160x120 would round to 160x128 (6.7 %); 144x108 to 144x112 (3.7 %)
		{640, 360, 128, 16, 112, 64},  // 128x72 would round to 128x80 (11 %); 112x63 to 112x64 (1.6 %)
		{640, 360, 192, 16, 192, 112}, // 192x108 rounds to 192x112 (3.7 %): kept
		{360, 640, 128, 16, 64, 112},  // upright
		{176, 144, 128, 16, 112, 92},  // 128x105 -> 112 (6.9 %), 112x92 -> 96 (4.8 %): neither; 112x92 padded
		{600, 100, 128, 16, 112, 19},  // 128x21 -> 16 (25 %), 112x19 -> 16 (14 %): 112x19 padded
		{176, 144, 512, 16, 176, 144}, // never enlarged
		{300, 200, 512, 8, 296, 200},  // 300 is no multiple of 8: 296x197 rounds to 296x200 (1.4 %)
		{8, 8, 128, 16, 16, 16},       // never under the multiple
	} {
		got, err := chromedp.Run(s.ctx, chromedp.Evaluate[[]int](fmt.Sprintf(`import("/core.js").then((m) => m.liveSize(%d, %d, %d, %d))`, c.w, c.h, c.long, c.m), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != c.wantW || got[1] != c.wantH {
			t.Errorf("liveSize(%d, %d, %d, %d) = %dx%d, want %dx%d", c.w, c.h, c.long, c.m, got[0], got[1], c.wantW, c.wantH)
		}
	}
}
