package photo

import (
	"image"
	"image/color"
	"testing"
)

// TestSpread checks Spread against pyramids worked by hand.
func TestSpread(t *testing.T) {
	red, blue := color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 255, 255}
	row := func(cs ...color.NRGBA) *image.NRGBA {
		img := image.NewNRGBA(image.Rect(0, 0, len(cs), 1))
		for x, c := range cs {
			img.SetNRGBA(x, 0, c)
		}
		return img
	}
	for _, c := range []struct {
		name string
		in   *image.NRGBA
		want []color.NRGBA
	}{
		// One level above: alpha (1+0+1+0)/4, colour red; the transparent
		// pixel takes it, whatever it stores.
		{"opaque beside transparent", row(red, color.NRGBA{0, 255, 0, 0}), []color.NRGBA{red, red}},
		// Above: alpha a = (2 + 2*128/255)/4 = 0.75098, premultiplied red
		// 2*(128/255)/4 = 0.25098, blue 0.5: colour (0.33420, 0, 0.66580).
		// The half-transparent red: 0.50196 + 0.49804*0.33420 = 0.66841
		// red (170.4), 0.49804*0.66580 = 0.33159 blue (84.6).
		{"half-transparent beside opaque", row(blue, color.NRGBA{255, 0, 0, 128}), []color.NRGBA{blue, {170, 0, 85, 255}}},
		{"nothing opaque", row(color.NRGBA{0, 0, 0, 0}, color.NRGBA{9, 9, 9, 0}), []color.NRGBA{{255, 255, 255, 255}, {255, 255, 255, 255}}},
		{"all opaque", row(red, blue, red), []color.NRGBA{red, blue, red}},
	} {
		Spread(c.in)
		for x, want := range c.want {
			if got := c.in.NRGBAAt(x, 0); got != want {
				t.Errorf("%s: pixel %d = %v, want %v", c.name, x, got, want)
			}
		}
	}
}

// TestSpreadFills: on a larger picture, red on the left, blue on the
// right and a transparent gap between them, every pixel comes out opaque,
// the opaque ones as they were, and each gap pixel a mix of the two
// colours (red + blue = 255, no green), redder nearer the red side.
func TestSpreadFills(t *testing.T) {
	const w, h = 37, 11 // odd sides: the pyramid repeats edges
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			switch {
			case x < 8:
				img.SetNRGBA(x, y, color.NRGBA{255, 0, 0, 255})
			case x >= 29:
				img.SetNRGBA(x, y, color.NRGBA{0, 0, 255, 255})
			default:
				img.SetNRGBA(x, y, color.NRGBA{0, 255, 0, 0}) // green, stored under alpha 0
			}
		}
	}
	Spread(img)
	meanRed := func(x int) float64 {
		s := 0.0
		for y := range h {
			s += float64(img.NRGBAAt(x, y).R)
		}
		return s / h
	}
	for y := range h {
		for x := range w {
			c := img.NRGBAAt(x, y)
			if c.A != 255 || c.G != 0 || int(c.R)+int(c.B) < 254 || int(c.R)+int(c.B) > 256 {
				t.Fatalf("pixel (%d,%d) = %v, want opaque red and blue summing to 255", x, y, c)
			}
			if (x < 8 && c.R != 255) || (x >= 29 && c.B != 255) {
				t.Fatalf("opaque pixel (%d,%d) changed to %v", x, y, c)
			}
		}
	}
	if l, r := meanRed(9), meanRed(27); !(l > r) {
		t.Errorf("the gap's red beside the red side %.1f, beside the blue side %.1f: want it redder beside red", l, r)
	}
}
