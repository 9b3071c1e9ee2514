package photo

import (
	"image"
	"image/color"
)

// Spread makes img opaque by filling its transparent parts with its own
// colours, spread outward from where it is opaque (push-pull: a pyramid
// of alpha-weighted 2x2 means, pulled back down, each level filling what
// the finer one lacks). A partly transparent pixel becomes its colour
// over the spread colours behind it; a transparent pixel's stored colour
// is no part of the picture and is ignored. A picture with no opaque
// pixel becomes white.
//
// This is what a cut-out portrait stands on when it is stylized: the
// network sees a picture that goes on past the cut as it looks near it,
// so it draws no outline along the cut and no light fringe where the cut
// is feathered, as it did on white (docs/students.md, cut-out photos).
// The cartoon takes the transparency back (Alpha, KeepAlpha). The page
// does the same (web/cutout.js spread); both follow these steps exactly.
func Spread(img *image.NRGBA) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 {
		return
	}
	// Level 0: colours premultiplied by alpha, and alpha, in [0,1].
	lv := []level{{w: w, h: h, pre: make([]float32, 3*w*h), a: make([]float32, w*h)}}
	for y := range h {
		for x := range w {
			c := img.NRGBAAt(b.Min.X+x, b.Min.Y+y)
			a := float32(c.A) / 255
			i := y*w + x
			lv[0].a[i] = a
			for ch, v := range [3]uint8{c.R, c.G, c.B} {
				lv[0].pre[3*i+ch] = float32(v) / 255 * a
			}
		}
	}
	for l := lv[0]; l.w > 1 || l.h > 1; {
		l = l.down()
		lv = append(lv, l)
	}
	// The coarsest level's colour is the picture's mean colour, or white.
	// Each level's pre then becomes its colour, pulled from the level above.
	top := lv[len(lv)-1]
	for ch := range 3 {
		if top.a[0] > 0 {
			top.pre[ch] /= top.a[0]
		} else {
			top.pre[ch] = 1
		}
	}
	for i := len(lv) - 2; i >= 0; i-- {
		lv[i].pull(lv[i+1])
	}
	col := lv[0].pre
	for y := range h {
		for x := range w {
			i := 3 * (y*w + x)
			img.SetNRGBA(b.Min.X+x, b.Min.Y+y, rgba8(col[i], col[i+1], col[i+2]))
		}
	}
}

// level is one level of Spread's pyramid.
type level struct {
	w, h int
	pre  []float32 // RGB premultiplied by alpha (by pull: the colour)
	a    []float32
}

// down is the next coarser level: each pixel the mean of a 2x2 block, a
// side of odd length repeating its last row or column.
func (l level) down() level {
	cw, ch := (l.w+1)/2, (l.h+1)/2
	c := level{w: cw, h: ch, pre: make([]float32, 3*cw*ch), a: make([]float32, cw*ch)}
	for y := range ch {
		for x := range cw {
			o := y*cw + x
			for _, p := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				i := min(2*y+p[1], l.h-1)*l.w + min(2*x+p[0], l.w-1)
				c.a[o] += l.a[i] / 4
				for ch := range 3 {
					c.pre[3*o+ch] += l.pre[3*i+ch] / 4
				}
			}
		}
	}
	return c
}

// pull makes l's pre its colour: its own premultiplied colour plus, for
// the part its alpha leaves, the colour of the pixel above it in the
// coarser level c (whose pre is already its colour).
func (l level) pull(c level) {
	for y := range l.h {
		for x := range l.w {
			i, j := y*l.w+x, (y/2)*c.w+x/2
			for ch := range 3 {
				l.pre[3*i+ch] += (1 - l.a[i]) * c.pre[3*j+ch]
			}
		}
	}
}

// rgba8 is an opaque colour of components in [0,1], rounded.
func rgba8(r, g, b float32) color.NRGBA {
	u := func(v float32) uint8 { return uint8(min(max(v*255+0.5, 0), 255)) }
	return color.NRGBA{u(r), u(g), u(b), 255}
}
