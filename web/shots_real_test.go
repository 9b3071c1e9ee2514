package web_test

import (
	"bytes"
	"flag"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/image/draw"
)

var updateDocs = flag.Bool("docs", false, "write the real page's screenshots to ../docs")

// TestScreenshotsReal photographs the page stylizing a photo with the
// real engine, on a desktop and a phone viewport, for people to look at
// (/tmp/edgetoon-shots; with -docs, also docs/page-desktop.jpg and
// docs/page-phone.jpg, as JPEG under 300 KB).
func TestScreenshotsReal(t *testing.T) {
	rs := startReal(t)
	s := openFor(t, realLimit, chromedp.Flag("deny-permission-prompts", true))
	s.capture(t, 1)
	// 256 px: detailed enough to show the style on a screen, one frame
	// of 10-25 s on SwiftShader.
	s.do(t, desktop(), chromedp.Navigate(rs.ts.URL+"/?mode=photo&size=256"))
	s.waitReal(t, "the engine", engineReady)
	s.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{fixturePath(t, "astronaut.jpg")}))
	s.waitReal(t, "the cartoon", `!document.getElementById("download").disabled`)
	fs := s.frames(t)
	checkFrame(t, "astronaut", fs[0].src, fs[0])
	// The divider a little left of centre shows more of the cartoon.
	s.do(t, chromedp.Evaluate[chromedp.Void](`split.value = 35; split.dispatchEvent(new Event("input"))`))
	s.screenshot(t, "page-desktop")
	docShot(t, s, "page-desktop")
	s.do(t, phone())
	s.screenshot(t, "page-phone")
	docShot(t, s, "page-phone")
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// docShot saves the viewport as ../docs/name.jpg when -docs is given,
// halving it until it is under 300 KB.
func docShot(t *testing.T, s *session, name string) {
	t.Helper()
	if !*updateDocs {
		return
	}
	buf, err := chromedp.Run(s.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, buf)
	for {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
			t.Fatal(err)
		}
		if b.Len() < 300<<10 {
			path := filepath.Join("..", "docs", name+".jpg")
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v, %d bytes", path, img.Bounds().Size(), b.Len())
			return
		}
		half := image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx()/2, img.Bounds().Dy()/2))
		draw.CatmullRom.Scale(half, half.Bounds(), img, img.Bounds(), draw.Src, nil)
		img = half
	}
}
