//go:build ignore

// mkicons draws the app icons (a cartoon face on the theme colour) as
// PNGs at the sizes the web app manifest asks for. Run it with
// `go generate ./web` after changing the design; the PNGs are committed.
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
	"strconv"
)

var (
	bg   = color.NRGBA{0x1f, 0x2a, 0x44, 0xff} // theme colour
	face = color.NRGBA{0xff, 0xc8, 0x6b, 0xff}
	ink  = color.NRGBA{0x1f, 0x2a, 0x44, 0xff}
	hair = color.NRGBA{0xf0, 0x5d, 0x5e, 0xff}
)

func main() {
	for _, size := range []int{192, 512} {
		name := "icon-" + strconv.Itoa(size) + ".png"
		if err := write(name, draw(size)); err != nil {
			log.Fatal(err)
		}
	}
}

// draw paints the icon in unit coordinates so every size is the same
// picture. The face sits inside the central 80% so that maskable crops
// keep it whole.
func draw(size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	s := float64(size)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			u, v := (float64(x)+0.5)/s, (float64(y)+0.5)/s
			img.SetNRGBA(x, y, pixel(u, v))
		}
	}
	return img
}

func pixel(u, v float64) color.NRGBA {
	in := func(cx, cy, rx, ry float64) bool {
		dx, dy := (u-cx)/rx, (v-cy)/ry
		return dx*dx+dy*dy <= 1
	}
	switch {
	case in(0.36, 0.47, 0.045, 0.06) || in(0.64, 0.47, 0.045, 0.06): // eyes
		return ink
	case smile(u, v):
		return ink
	case in(0.5, 0.55, 0.27, 0.3): // face
		if v < 0.36 && in(0.5, 0.33, 0.3, 0.14) {
			return hair
		}
		return face
	case in(0.5, 0.33, 0.3, 0.14): // hair above the face
		return hair
	}
	return bg
}

// smile is an arc of a circle below the eyes.
func smile(u, v float64) bool {
	d := math.Hypot(u-0.5, v-0.56)
	return v > 0.6 && d > 0.13 && d < 0.16
}

func write(name string, img image.Image) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
