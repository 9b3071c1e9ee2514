package web_test

import (
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/internal/photo"
)

// spreadJS runs cutout.js's spread on a w x h RGBA picture given in
// base64 and returns its result's pixels in base64, and whether it saw
// transparency.
const spreadJS = `(async (b64, w, h) => {
  const { spread } = await import("/cutout.js");
  const c = new OffscreenCanvas(w, h), g = c.getContext("2d");
  g.putImageData(new ImageData(Uint8ClampedArray.from(atob(b64), (ch) => ch.charCodeAt(0)), w, h), 0, 0);
  const r = await spread(await createImageBitmap(c));
  const o = new OffscreenCanvas(w, h), og = o.getContext("2d");
  og.drawImage(r.bitmap, 0, 0);
  const px = og.getImageData(0, 0, w, h).data;
  let s = "";
  for (let i = 0; i < px.length; i += 8192) s += String.fromCharCode(...px.subarray(i, i + 8192));
  return { pixels: btoa(s), cut: r.alpha !== null && r.alpha.length === w * h };
})(%q, %d, %d)`

// TestSpreadMatchesCLI: the page makes a cut-out photo opaque as the CLI
// does (internal/photo.Spread), on a picture with odd sides, a feathered
// disc of colour gradients, random colours stored under alpha 0 and a
// second, hard-edged shape. A canvas keeps colours premultiplied by
// alpha in 8 bits, so a faint pixel's colour reaches the page less
// exactly than the CLI reads it: a level or two of difference is allowed.
func TestSpreadMatchesCLI(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	const w, h = 77, 53
	rng := rand.New(rand.NewPCG(7, 11))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := min(max((14-math.Hypot(float64(x)-30, float64(y)-26))/4, 0), 1)
			if x >= 60 && y >= 10 && y < 20 {
				a = 1
			}
			c := color.NRGBA{uint8(3 * x), uint8(4 * y), uint8(200 - x), uint8(math.Round(255 * a))}
			if c.A == 0 {
				c = color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 0}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	want := image.NewNRGBA(img.Bounds())
	copy(want.Pix, img.Pix)
	photo.Spread(want)

	s := open(t)
	s.do(t, chromedp.Navigate(url+"/healthz"))
	type result struct {
		Pixels string
		Cut    bool
	}
	r := await[result](t, s, fmt.Sprintf(spreadJS, base64.StdEncoding.EncodeToString(img.Pix), w, h))
	got, err := base64.StdEncoding.DecodeString(r.Pixels)
	if err != nil || len(got) != len(want.Pix) {
		t.Fatalf("spread returned %d bytes (%v), want %d", len(got), err, len(want.Pix))
	}
	if !r.Cut {
		t.Error("spread did not return the picture's transparency")
	}
	worst, at := 0, 0
	for i := range got {
		d := int(got[i]) - int(want.Pix[i])
		if d = max(d, -d); d > worst {
			worst, at = d, i
		}
	}
	t.Logf("page against CLI: max difference %d (of 255)", worst)
	if worst > 2 {
		p := at / 4
		t.Errorf("pixel (%d,%d) channel %d: the page made %d, the CLI %d", p%w, p/w, at%4, got[at], want.Pix[at])
	}
}
