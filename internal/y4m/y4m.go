// Package y4m writes YUV4MPEG2 clips, the format Chromium's fake camera
// (--use-file-for-fake-video-capture) plays, so browser tests can point a
// "camera" at a known portrait.
package y4m

import (
	"bufio"
	"fmt"
	"image"
	"io"
)

// Write encodes frames (all of the first frame's size, which must be even)
// as 4:2:0 YUV4MPEG2 (C420jpeg: full-range BT.601, chroma centred), at fps.
func Write(w io.Writer, frames []image.Image, fps int) error {
	if len(frames) == 0 {
		return fmt.Errorf("y4m: no frames")
	}
	b := frames[0].Bounds()
	width, height := b.Dx(), b.Dy()
	if width%2 != 0 || height%2 != 0 || width == 0 {
		return fmt.Errorf("y4m: frame size %dx%d must be even", width, height)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", width, height, fps)
	y := make([]byte, width*height)
	cb := make([]byte, width*height/4)
	cr := make([]byte, width*height/4)
	for i, f := range frames {
		if f.Bounds().Dx() != width || f.Bounds().Dy() != height {
			return fmt.Errorf("y4m: frame %d is %v, want %dx%d", i, f.Bounds(), width, height)
		}
		toYCbCr(f, y, cb, cr)
		bw.WriteString("FRAME\n")
		bw.Write(y)
		bw.Write(cb)
		bw.Write(cr)
	}
	return bw.Flush()
}

// toYCbCr converts with the JFIF (full range) matrix, averaging each 2x2
// block for the chroma planes.
func toYCbCr(img image.Image, y, cb, cr []byte) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	for j := 0; j < h; j += 2 {
		for i := 0; i < w; i += 2 {
			var sb, sr float64
			for dj := range 2 {
				for di := range 2 {
					r, g, bl, _ := img.At(b.Min.X+i+di, b.Min.Y+j+dj).RGBA()
					R, G, B := float64(r>>8), float64(g>>8), float64(bl>>8)
					y[(j+dj)*w+i+di] = clamp(0.299*R + 0.587*G + 0.114*B)
					sb += -0.168736*R - 0.331264*G + 0.5*B + 128
					sr += 0.5*R - 0.418688*G - 0.081312*B + 128
				}
			}
			cb[(j/2)*(w/2)+i/2] = clamp(sb / 4)
			cr[(j/2)*(w/2)+i/2] = clamp(sr / 4)
		}
	}
}

func clamp(v float64) byte {
	return byte(min(max(v+0.5, 0), 255))
}
