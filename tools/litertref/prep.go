package main

import (
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // fixture photos are JPEG
	"os"

	xdraw "golang.org/x/image/draw"
)

// maxPixels rejects absurd fixture images before decoding them fully.
const maxPixels = 50 << 20

// loadInput decodes a photo, crops the largest centred square and resizes
// it to n x n with Catmull-Rom. The result is the exact 8-bit input the
// reference saw; it is also written out as PNG so tests need no JPEG
// decoder or resampler of their own.
func loadInput(name string, n int) (*image.RGBA, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open photo: %w", err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	if cfg.Width*cfg.Height > maxPixels {
		return nil, fmt.Errorf("%s: %dx%d pixels is too large", name, cfg.Width, cfg.Height)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", name, err)
	}
	src, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	b := src.Bounds()
	s := min(b.Dx(), b.Dy())
	x0 := b.Min.X + (b.Dx()-s)/2
	y0 := b.Min.Y + (b.Dy()-s)/2
	crop := image.Rect(x0, y0, x0+s, y0+s)
	// Convert to RGBA before resampling so the kernel works on the same
	// 8-bit RGB values whatever the JPEG's colour model.
	rgb := image.NewRGBA(image.Rect(0, 0, s, s))
	draw.Draw(rgb, rgb.Bounds(), src, crop.Min, draw.Src)
	dst := image.NewRGBA(image.Rect(0, 0, n, n))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), rgb, rgb.Bounds(), xdraw.Src, nil)
	// Photos are opaque; force alpha so the PNG encoder writes 8-bit RGB.
	for i := 3; i < len(dst.Pix); i += 4 {
		dst.Pix[i] = 0xff
	}
	return dst, nil
}
