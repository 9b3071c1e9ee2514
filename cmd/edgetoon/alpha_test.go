package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/draw"

	"github.com/edgetoon/edgetoon/internal/photo"
)

// bidenAt is the Biden portrait resized to w x h, opaque.
func bidenAt(t *testing.T, w, h int) *image.NRGBA {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "biden.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := photo.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(img, img.Bounds(), src, src.Bounds(), draw.Src, nil)
	return img
}

// stylizeImage writes img as a PNG, runs stylize -size size on it and
// returns the cartoon as NRGBA.
func stylizeImage(t *testing.T, name string, img image.Image, size string) *image.NRGBA {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, name+".png"), filepath.Join(dir, name+"-out.png")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := runStylize([]string{"-size", size, in, "-o", out}); err != nil {
		t.Fatal(err)
	}
	got := readPNG(t, out)
	n := image.NewNRGBA(got.Bounds())
	draw.Draw(n, n.Bounds(), got, got.Bounds().Min, draw.Src)
	return n
}

// TestStylizeCutout: a cut-out photo's cartoon keeps the cut. The input
// is the Biden portrait at 48x64, the network's size (no resize), with
// its left quarter transparent (black stored under alpha 0) and its right
// quarter half-transparent; the output's alpha must be 0, 255 and 128
// there, and its colours those of the same picture made opaque by
// photo.Spread by hand and stylized as an opaque photo.
func TestStylizeCutout(t *testing.T) {
	const w, h = 48, 64
	cut := bidenAt(t, w, h)
	alphaAt := func(x int) uint8 {
		switch {
		case x < w/4:
			return 0
		case x >= 3*w/4:
			return 128
		}
		return 255
	}
	for y := range h {
		for x := range w {
			c := cut.NRGBAAt(x, y)
			if c.A = alphaAt(x); c.A == 0 {
				c = color.NRGBA{} // what most files store under alpha 0
			}
			cut.SetNRGBA(x, y, c)
		}
	}
	flat := image.NewNRGBA(cut.Bounds())
	copy(flat.Pix, cut.Pix)
	photo.Spread(flat)
	got, want := stylizeImage(t, "cut", cut, "64"), stylizeImage(t, "flat", flat, "64")
	if b := got.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("output %v, want %dx%d", b, w, h)
	}
	for y := range h {
		for x := range w {
			if a := got.NRGBAAt(x, y).A; a != alphaAt(x) {
				t.Fatalf("alpha at (%d,%d) = %d, want %d", x, y, a, alphaAt(x))
			}
		}
	}
	if !want.Opaque() {
		t.Error("the opaque photo's cartoon has transparent pixels")
	}
	var sum, worst int
	n := 0
	for y := range h {
		for x := w / 4; x < w; x++ { // where alpha > 0: under 0 the colour is not kept
			for ch := range 3 {
				d := int(got.Pix[got.PixOffset(x, y)+ch]) - int(want.Pix[want.PixOffset(x, y)+ch])
				d = max(d, -d)
				sum, worst, n = sum+d, max(worst, d), n+1
			}
		}
	}
	t.Logf("colours against the hand-spread photo's cartoon: mean |d| %.3f, max %d (of 255)", float64(sum)/float64(n), worst)
	if worst > 1 {
		t.Errorf("colours differ from the hand-spread photo's cartoon: mean |d| %.3f, max %d", float64(sum)/float64(n), worst)
	}
}

// TestCutoutEdge: a portrait cut out as a feathered oval is drawn, inside
// the oval and across its feather, as the whole portrait is: its cartoon,
// put over any background by its alpha, is compared there with the whole
// portrait's cartoon put over the same background (the difference is
// alpha times the colours'). The same cut-out flattened on white, as the
// CLI stylized one before, is the yardstick: on white the network drew a
// light ring along the cut.
func TestCutoutEdge(t *testing.T) {
	const w, h = 96, 128
	whole := bidenAt(t, w, h)
	cut, onWhite := image.NewNRGBA(whole.Bounds()), image.NewNRGBA(whole.Bounds())
	alpha := make([]float64, w*h)
	for y := range h {
		for x := range w {
			dx, dy := (float64(x)+0.5-w/2)/(0.38*w), (float64(y)+0.5-h/2)/(0.45*h)
			a := min(max((1-math.Hypot(dx, dy))/0.15, 0), 1)
			a8 := uint8(math.Round(255 * a))
			alpha[y*w+x] = float64(a8) / 255
			c := whole.NRGBAAt(x, y)
			on := func(v uint8) uint8 { return uint8((int(v)*int(a8) + 255*(255-int(a8)) + 127) / 255) }
			onWhite.SetNRGBA(x, y, color.NRGBA{on(c.R), on(c.G), on(c.B), 255})
			if a8 == 0 {
				c = color.NRGBA{}
			}
			c.A = a8
			cut.SetNRGBA(x, y, c)
		}
	}
	ref := stylizeImage(t, "whole", whole, "128")
	errs := func(img *image.NRGBA) (edge, inside float64) {
		var ne, ni int
		for y := range h {
			for x := range w {
				a := alpha[y*w+x]
				if a == 0 {
					continue
				}
				for ch := range 3 {
					d := a * math.Abs(float64(img.Pix[img.PixOffset(x, y)+ch])-float64(ref.Pix[ref.PixOffset(x, y)+ch]))
					if a < 1 {
						edge, ne = edge+d, ne+1
					} else {
						inside, ni = inside+d, ni+1
					}
				}
			}
		}
		return edge / float64(ne), inside / float64(ni)
	}
	cutEdge, cutIn := errs(stylizeImage(t, "cut", cut, "128"))
	whiteEdge, whiteIn := errs(stylizeImage(t, "white", onWhite, "128"))
	t.Logf("mean |d| (of 255) against the whole portrait's cartoon, feather | inside: cut-out %.2f | %.2f, on white %.2f | %.2f",
		cutEdge, cutIn, whiteEdge, whiteIn)
	// Inside, the white's influence is small either way: no worse than on
	// white, within a tenth.
	if cutEdge > 0.5*whiteEdge || cutIn > 1.1*whiteIn {
		t.Errorf("the cut-out's cartoon is not closer to the whole portrait's than on white: feather %.2f (on white %.2f), inside %.2f (%.2f)",
			cutEdge, whiteEdge, cutIn, whiteIn)
	}
}
