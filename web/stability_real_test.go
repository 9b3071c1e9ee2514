package web_test

// Temporal stability of the live cartoon on the real engine: fake-camera
// clips made from a photo, the page's frames captured with the picture
// each was made from (captureJS), and the flicker measured on them.

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/image/draw"

	"github.com/edgetoon/edgetoon/internal/photo"
)

// stillThreshold is the input change (largest channel, [0,1]) under
// which a pixel counts as still for the flicker measure: sensor noise of
// a few levels stays under it, a moving edge does not.
const stillThreshold = 0.05

// sharedImage decodes ../shared/images/name, skipping the test where the
// shared photos are not at hand.
func sharedImage(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "shared", "images", name))
	if err != nil {
		t.Skipf("the shared photos are not here: %v", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// view renders the 4:3 window of src centred at (cx, cy) (fractions of its
// size) with width w (a fraction of its width) at 320x240.
func view(src image.Image, cx, cy, w float64) *image.RGBA {
	b := src.Bounds()
	ww := w * float64(b.Dx())
	wh := ww * 3 / 4
	x0 := float64(b.Min.X) + cx*float64(b.Dx()) - ww/2
	y0 := float64(b.Min.Y) + cy*float64(b.Dy()) - wh/2
	dst := image.NewRGBA(image.Rect(0, 0, 320, 240))
	// CatmullRom on a float rectangle: an affine transform, source to
	// destination.
	sx, sy := 320/ww, 240/wh
	draw.CatmullRom.Transform(dst, [6]float64{sx, 0, -x0 * sx, 0, sy, -y0 * sy}, src, b, draw.Src, nil)
	return dst
}

// noisyStillClip is n frames of one view of src with independent Gaussian
// noise of sigma (in [0,1]) on every channel: a camera on a tripod.
func noisyStillClip(src image.Image, n int, sigma float64, seed uint64) []image.Image {
	base := view(src, 0.5, 0.42, 0.9)
	rng := rand.New(rand.NewPCG(seed, 1))
	var clip []image.Image
	for range n {
		f := image.NewRGBA(base.Rect)
		for i := 0; i < len(base.Pix); i += 4 {
			for k := range 3 {
				v := float64(base.Pix[i+k]) + rng.NormFloat64()*sigma*255
				f.Pix[i+k] = uint8(math.Round(min(max(v, 0), 255)))
			}
			f.Pix[i+3] = 255
		}
		clip = append(clip, f)
	}
	return clip
}

// panClip is n frames of a slow pan and zoom over src: each frame moves
// the window by 0.3 % of the photo's width and narrows it by 0.4 %.
func panClip(src image.Image, n int) []image.Image {
	var clip []image.Image
	for i := range n {
		clip = append(clip, view(src, 0.47+0.003*float64(i), 0.42, 0.9*(1-0.004*float64(i))))
	}
	return clip
}

// clipRun is what the page made of a clip.
type clipRun struct {
	steady bool
	frames []frame // captured after the setting took effect
}

// runClip plays clip (at fps) to the page at ?size=128 with the
// stabilizer on or off and returns n frames captured after the setting
// took effect (the frame in flight when it changed is left out).
func runClip(t *testing.T, rs *realServer, clip []image.Image, fps int, steady bool, n int, query string) clipRun {
	t.Helper()
	_, flags := fakeCameraAt(t, clip, fps)
	s := openFor(t, realLimit, flags...)
	webglEngine(t, s)
	s.capture(t, 1000)
	s.do(t, desktop(), chromedp.Navigate(rs.ts.URL+"/?size=128"+query))
	s.waitReal(t, "a stylized camera frame", `globalThis.__frames.length >= 1`)
	checkWebGL(t, s)
	k := eval[int](t, s, fmt.Sprintf(`steady.checked = %v; steady.dispatchEvent(new Event("change")); globalThis.__frames.length`, steady))
	s.waitReal(t, fmt.Sprintf("%d frames", n), fmt.Sprintf(`globalThis.__frames.length >= %d`, k+1+n))
	fs := s.frames(t)[k+1 : k+1+n]
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, rs.ts.URL)
	return clipRun{steady: steady, frames: fs}
}

// flickerStats measures consecutive captured frames whose sources differ:
// over the pixels whose input (the source sampled at the output size, as
// the engine sees it) changed by less than stillThreshold, the mean
// absolute change of the cartoon and of the input, per channel in [0,1].
// skip leaves out the first pairs (the stabilizer's history filling up).
// (Under load the camera frame often changes during a captured call, so
// the source may be the frame after the one the engine read: on a still
// clip that changes only the noise in the mask. A pair whose cartoons are
// identical is such a case, the engine given one frame twice, and is not
// counted: without the stabilizer a new noisy frame always changes the
// cartoon.)
func flickerStats(r clipRun, skip int) (flicker, change float64, pairs int) {
	var sumOut, sumIn float64
	var count int
	var prevIn, prevOut []float32
	var prevSrc string
	for _, f := range r.frames {
		in := rgb(imageOf(photo.Sample(f.src, f.W, f.H)))
		out := rgb(f.out)
		if prevIn != nil && f.Src != prevSrc && maxAbs(out, prevOut) > 0 {
			if pairs >= skip {
				for p := 0; p < len(in); p += 3 {
					d := 0.0
					for k := range 3 {
						d = max(d, math.Abs(float64(in[p+k]-prevIn[p+k])))
					}
					if d >= stillThreshold {
						continue
					}
					for k := range 3 {
						sumOut += math.Abs(float64(out[p+k] - prevOut[p+k]))
						sumIn += math.Abs(float64(in[p+k] - prevIn[p+k]))
					}
					count += 3
				}
			}
			pairs++
		}
		prevIn, prevOut, prevSrc = in, out, f.Src
	}
	if count == 0 {
		return 0, 0, 0
	}
	return sumOut / float64(count), sumIn / float64(count), pairs - skip
}

// TestStabilizeReal plays a still portrait with sensor noise (sigma 4/255
// a channel) to the page, with the stabilizer off and on: on, the still
// cartoon must change at most half as much from frame to frame as off,
// and at most 0.2x as much as the camera image does. It runs the default
// model (the student); with EDGETOON_FULL=1, also the teacher (about 5 s
// a frame on SwiftShader).
func TestStabilizeReal(t *testing.T) {
	rs := startReal(t)
	clip := noisyStillClip(sharedImage(t, "faces/webmorphcc0_60cm.jpg"), 8, 4.0/255, 1)
	models := []string{""}
	if os.Getenv("EDGETOON_FULL") != "" {
		models = append(models, "whitebox")
	}
	for _, m := range models {
		name := m
		if name == "" {
			name = "student"
		}
		t.Run(name, func(t *testing.T) {
			query := ""
			if m != "" {
				query = "&model=" + m
			}
			stabilizeStill(t, rs, clip, query)
		})
	}
	rs.checkNoUploads(t)
}

func stabilizeStill(t *testing.T, rs *realServer, clip []image.Image, query string) {
	off := runClip(t, rs, clip, 3, false, 8, query)
	on := runClip(t, rs, clip, 3, true, 12, query)
	fOff, cOff, nOff := flickerStats(off, 0)
	// The history fills up over a few frames: the new cartoon's weight on
	// a still pixel is gateFloor (wasm/post.go).
	fOn, cOn, nOn := flickerStats(on, 4)
	t.Logf("noisy still clip, 128x96: off: flicker %.5f, camera change %.5f (%.2fx; %d pairs); on: flicker %.5f, camera change %.5f (%.2fx; %d pairs); on/off %.2f",
		fOff, cOff, fOff/cOff, nOff, fOn, cOn, fOn/cOn, nOn, fOn/fOff)
	if nOff < 2 || nOn < 2 {
		t.Fatalf("too few frame pairs with distinct sources: %d off, %d on", nOff, nOn)
	}
	if fOn > 0.5*fOff {
		t.Errorf("stabilized flicker %.5f is more than half the unstabilized %.5f", fOn, fOff)
	}
	if fOn > 0.2*cOn {
		t.Errorf("stabilized flicker %.5f is more than 0.2x the camera's change %.5f", fOn, cOn)
	}
}
