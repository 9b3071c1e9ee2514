// Package photo turns photos into network inputs and network outputs back
// into images for the CPU path (the CLI, tests, training fixtures): safe
// decoding with EXIF orientation, aspect-preserving resizing to the
// network's size multiple, and the pixel <-> tensor maps.
package photo

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for Decode
	_ "image/png"
	"io"
	"math"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // phones and browsers save WebP

	"github.com/edgetoon/edgetoon/model"
)

// MaxPixels caps decoded images: a small file can declare a huge canvas
// (a decompression bomb), so the size is checked before decoding.
const MaxPixels = 50_000_000

// MaxBytes caps the encoded file size read into memory.
const MaxBytes = 64 << 20

// Decode reads a JPEG, PNG or WebP, refuses decompression bombs and broken
// files with a clear error, and applies the EXIF orientation.
func Decode(r io.Reader) (image.Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	return DecodeData(data)
}

// DecodeData decodes an image file's bytes, refusing what Probe refuses,
// and applies a JPEG's EXIF orientation. A WebP's is not applied, as
// Chromium does not apply it: the picture is the one the page shows. A
// caller with a memory budget calls Probe first and checks its
// DecodeBytes.
func DecodeData(data []byte) (image.Image, error) {
	if _, err := Probe(data); err != nil {
		return nil, err
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode %s image: %w", format, err)
	}
	switch format {
	case "jpeg":
		img = Orient(img, exifOrientation(data))
	case "webp":
		img = vp8RGB(img)
	}
	return img, nil
}

// vp8RGB converts a lossy WebP's picture to RGB. VP8 codes limited-range
// BT.601 YCbCr (RFC 6386 section 9.2 refers to ITU-R BT.601; luma 16-235),
// but golang.org/x/image/webp returns its planes as image.YCbCr, which
// Go converts as JPEG's full range (golang/go#40173): blacks lifted,
// whites dimmed. The integer conversion is libwebp's (src/dsp/yuv.h),
// chroma taken from the nearest sample. A lossless picture (NRGBA)
// passes unchanged.
func vp8RGB(img image.Image) image.Image {
	var ycc *image.YCbCr
	var alpha *image.NYCbCrA
	switch m := img.(type) {
	case *image.YCbCr:
		ycc = m
	case *image.NYCbCrA:
		ycc, alpha = &m.YCbCr, m
	default:
		return img
	}
	b := ycc.Rect
	out := image.NewNRGBA(b)
	hi := func(v, c int) int { return v * c >> 8 }
	clip := func(v int) uint8 { return uint8(min(max(v>>6, 0), 255)) }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			yy := int(ycc.Y[ycc.YOffset(x, y)])
			ci := ycc.COffset(x, y)
			u, v := int(ycc.Cb[ci]), int(ycc.Cr[ci])
			i := out.PixOffset(x, y)
			out.Pix[i+0] = clip(hi(yy, 19077) + hi(v, 26149) - 14234)
			out.Pix[i+1] = clip(hi(yy, 19077) - hi(u, 6419) - hi(v, 13320) + 8708)
			out.Pix[i+2] = clip(hi(yy, 19077) + hi(u, 33050) - 17685)
			out.Pix[i+3] = 255
			if alpha != nil {
				out.Pix[i+3] = alpha.A[alpha.AOffset(x, y)]
			}
		}
	}
	return out
}

// Fit computes the network input size for a w x h image whose longer side
// becomes long: the aspect ratio is kept and each side rounded up to a
// multiple of m (the extra pixels are padding, cropped off afterwards).
func Fit(w, h, long, m int) (fw, fh, pw, ph int) {
	if w >= h {
		fw, fh = long, max(1, (h*long+w/2)/w)
	} else {
		fw, fh = max(1, (w*long+h/2)/h), long
	}
	pw, ph = (fw+m-1)/m*m, (fh+m-1)/m*m
	return fw, fh, pw, ph
}

// ToTensor resizes img to fw x fh (Catmull-Rom), pads it to pw x ph by
// repeating the edge pixels (zeros would print a dark seam into the
// convolutions), and maps pixels p in [0,1] to p*norm.Scale+norm.Bias.
//
// A picture with transparent parts (a cut-out portrait) is made opaque
// after the resize by Spread, as the page does (web/cutout.js spread):
// their stored colour, black in most files, is no part of the picture.
// Its transparency, resized with the colours, is returned for the
// cartoon to take back (KeepAlpha), as the page's download does
// (web/core.js canvasPNG); alpha is nil where the resized picture is
// opaque.
func ToTensor(img image.Image, fw, fh, pw, ph int, norm model.Affine) (t *model.Tensor, alpha *image.Alpha) {
	dst := image.NewNRGBA(image.Rect(0, 0, fw, fh))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	if !opaque(img) {
		alpha = alphaOf(dst)
		Spread(dst)
	}
	t = model.NewTensor(fh, fw, 3)
	for y := range fh {
		for x := range fw {
			c := dst.NRGBAAt(x, y)
			i := (y*fw + x) * 3
			for ch, v := range [3]uint8{c.R, c.G, c.B} {
				t.Data[i+ch] = float32(v)/255*norm.Scale[ch] + norm.Bias[ch]
			}
		}
	}
	return Pad(t, pw, ph), alpha
}

// alphaOf returns img's alpha channel, or nil where it is opaque.
func alphaOf(img *image.NRGBA) *image.Alpha {
	b := img.Bounds()
	a := image.NewAlpha(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			a.Pix[a.PixOffset(x, y)] = img.Pix[img.PixOffset(x, y)+3]
		}
	}
	if a.Opaque() {
		return nil
	}
	return a
}

// opaque says whether img says it has no transparent pixel (the image
// package's types all can).
func opaque(img image.Image) bool {
	o, ok := img.(interface{ Opaque() bool })
	return ok && o.Opaque()
}

// KeepAlpha gives out (a cartoon) the transparency a, of its size.
func KeepAlpha(out *image.NRGBA, a *image.Alpha) {
	b := out.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Pix[out.PixOffset(x, y)+3] = a.AlphaAt(x, y).A
		}
	}
}

// Pad returns the [H,W,C] tensor t enlarged to w x h by repeating its last
// column and row, as the GPU engine pads a picture whose sides are not
// multiples of its model's (kernels.Options.ContentW). t itself is
// returned where it is that size already.
func Pad(t *model.Tensor, w, h int) *model.Tensor {
	th, tw, c := t.Shape[0], t.Shape[1], t.Shape[2]
	if tw == w && th == h {
		return t
	}
	out := model.NewTensor(h, w, c)
	for y := range h {
		for x := range w {
			src := (min(y, th-1)*tw + min(x, tw-1)) * c
			copy(out.Data[(y*w+x)*c:(y*w+x+1)*c], t.Data[src:src+c])
		}
	}
	return out
}

// Crop returns the top-left w x h of the [H,W,C] tensor t: the part of a
// padded picture's output that stands for the picture.
func Crop(t *model.Tensor, w, h int) *model.Tensor {
	tw, c := t.Shape[1], t.Shape[2]
	if tw == w && t.Shape[0] == h {
		return t
	}
	out := model.NewTensor(h, w, c)
	for y := range h {
		copy(out.Data[y*w*c:(y+1)*w*c], t.Data[y*tw*c:(y*tw+w)*c])
	}
	return out
}

// FromTensor maps a [H,W,3] output back to pixels with denorm, clamps,
// rounds, and crops to w x h.
func FromTensor(t *model.Tensor, w, h int, denorm model.Affine) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	tw := t.Shape[1]
	for y := range h {
		for x := range w {
			i := (y*tw + x) * 3
			var c [3]uint8
			for ch := range c {
				v := (t.Data[i+ch]*denorm.Scale[ch] + denorm.Bias[ch]) * 255
				c[ch] = uint8(min(max(v+0.5, 0), 255))
			}
			out.SetNRGBA(x, y, color.NRGBA{c[0], c[1], c[2], 255})
		}
	}
	return out
}

// Sample resizes img to w x h the way the GPU engine's shader reads its
// input (kernels/fetch_image.glsl): per axis, n = ceil(source pixels per
// output pixel) taps (1 to 8) spread evenly over the output pixel, at
// (x + (i+0.5)/n) * W/w - 0.5 in source pixels, each a LINEAR sample
// clamped to the edge, and their mean. At or below one source pixel per
// output pixel that is one tap at the pixel's centre (plain bilinear);
// a larger source is filtered over each output pixel's footprint rather
// than point-sampled, so that a shrunk camera frame does not alias. It
// returns RGB in [0,1], HWC: the reference input for comparing the
// engine with the CPU engine.
func Sample(img image.Image, w, h int) *model.Tensor {
	b := img.Bounds()
	px := func(x, y int) [3]float64 {
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return [3]float64{float64(r) / 65535, float64(g) / 65535, float64(bl) / 65535}
	}
	out := model.NewTensor(h, w, 3)
	cols := make([][]tap, w)
	for x := range w {
		cols[x] = taps(x, b.Dx(), w)
	}
	for y := range h {
		ty := taps(y, b.Dy(), h)
		for x, tx := range cols {
			var sum [3]float64
			for _, v := range ty {
				for _, u := range tx {
					p00, p10, p01, p11 := px(u.lo, v.lo), px(u.hi, v.lo), px(u.lo, v.hi), px(u.hi, v.hi)
					for k := range 3 {
						top := p00[k] + (p10[k]-p00[k])*u.t
						bot := p01[k] + (p11[k]-p01[k])*u.t
						sum[k] += top + (bot-top)*v.t
					}
				}
			}
			for k := range 3 {
				out.Data[(y*w+x)*3+k] = float32(sum[k] / float64(len(tx)*len(ty)))
			}
		}
	}
	return out
}

// A tap is one LINEAR sample along an axis: the pixels below and above
// the coordinate and the weight of the one above.
type tap struct {
	lo, hi int
	t      float64
}

// taps returns the taps output coordinate out reads along an axis of src
// source pixels resampled to size (Sample).
func taps(out, src, size int) []tap {
	n := min(max(int(math.Ceil(float64(src)/float64(size)-0.001)), 1), 8)
	ts := make([]tap, n)
	for i := range n {
		f := max((float64(out)+(float64(i)+0.5)/float64(n))*float64(src)/float64(size)-0.5, 0)
		lo := int(f)
		ts[i] = tap{lo, min(lo+1, src-1), f - float64(lo)}
	}
	return ts
}
