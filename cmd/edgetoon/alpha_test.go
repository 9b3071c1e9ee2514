package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/draw"

	"github.com/edgetoon/edgetoon/internal/photo"
)

// TestStylizeCutout: a cut-out photo's cartoon keeps the cut. The input
// is the Biden portrait at 96x128 with its left quarter transparent
// (black stored under alpha 0) and its right quarter half-transparent;
// the output's alpha must be 0, 255 and 128 there (hand-set values a
// resize keeps away from the borders between them), and its colours those
// of the same picture flattened on white by hand and stylized opaque: a
// resize is linear and keeps a constant, so flattening before it or after
// it gives the same pixels but for rounding.
func TestStylizeCutout(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "biden.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := photo.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 96, 128
	cut := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(cut, cut.Bounds(), src, src.Bounds(), draw.Src, nil)
	flat := image.NewNRGBA(cut.Bounds())
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
			a := alphaAt(x)
			on := func(v uint8) uint8 { return uint8((int(v)*int(a) + 255*(255-int(a)) + 127) / 255) }
			flat.SetNRGBA(x, y, color.NRGBA{on(c.R), on(c.G), on(c.B), 255})
			if a == 0 {
				c = color.NRGBA{} // what most files store under alpha 0
			}
			c.A = a
			cut.SetNRGBA(x, y, c)
		}
	}
	dir := t.TempDir()
	run := func(name string, img image.Image) *image.NRGBA {
		in, out := filepath.Join(dir, name+".png"), filepath.Join(dir, name+"-out.png")
		f, err := os.Create(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := runStylize([]string{"-size", "64", in, "-o", out}); err != nil {
			t.Fatal(err)
		}
		got := readPNG(t, out)
		n := image.NewNRGBA(got.Bounds())
		draw.Draw(n, n.Bounds(), got, got.Bounds().Min, draw.Src)
		return n
	}
	got, want := run("cut", cut), run("flat", flat)
	if b := got.Bounds(); b.Dx() != 48 || b.Dy() != 64 {
		t.Fatalf("output %v, want 48x64", b)
	}
	for y := range 64 {
		for _, c := range []struct{ x, a int }{{0, 0}, {8, 0}, {14, 255}, {24, 255}, {33, 255}, {40, 128}, {47, 128}} {
			if a := int(got.NRGBAAt(c.x, y).A); a < c.a-1 || a > c.a+1 {
				t.Fatalf("alpha at (%d,%d) = %d, want %d", c.x, y, a, c.a)
			}
		}
	}
	if !want.Opaque() {
		t.Error("the opaque photo's cartoon has transparent pixels")
	}
	var sum, worst int
	n := 0
	for y := range 64 {
		for x := 12; x < 48; x++ { // where alpha > 0: under 0 the colour is not kept
			for ch := range 3 {
				d := int(got.Pix[got.PixOffset(x, y)+ch]) - int(want.Pix[want.PixOffset(x, y)+ch])
				d = max(d, -d)
				sum, worst, n = sum+d, max(worst, d), n+1
			}
		}
	}
	t.Logf("colours against the hand-flattened photo's cartoon: mean |d| %.3f, max %d (of 255)", float64(sum)/float64(n), worst)
	if float64(sum)/float64(n) > 0.5 || worst > 8 {
		t.Errorf("colours differ from the hand-flattened photo's cartoon: mean |d| %.3f, max %d", float64(sum)/float64(n), worst)
	}
}
