package photo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"

	"github.com/edgetoon/edgetoon/model"
)

// Info is what an image file's header says about it, read without
// decoding the pixels.
type Info struct {
	Format string // "jpeg" or "png"
	// Width and Height are as displayed: after the EXIF orientation.
	Width, Height int
	// DecodeBytes bounds the memory Decode allocates for this file
	// beyond the file's own bytes.
	DecodeBytes int64
}

// ReadFile reads an image file of at most limit bytes (and MaxBytes);
// only a regular file is read (see model.ReadRegularFile).
func ReadFile(path string, limit int64) ([]byte, error) {
	data, err := model.ReadRegularFile(path, min(limit, MaxBytes))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	return data, nil
}

// Probe reads an image's header: its format, size and the memory that
// decoding it will take. It refuses what Decode would refuse for its
// size, so that a caller can check a memory budget before decoding.
func Probe(data []byte) (Info, error) {
	if len(data) > MaxBytes {
		return Info{}, fmt.Errorf("image file larger than %d MB", MaxBytes>>20)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Info{}, fmt.Errorf("not a readable JPEG, PNG or WebP image: %w", err)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return Info{}, fmt.Errorf("%s image of %dx%d pixels: refusing more than %d megapixels", format, w, h, MaxPixels/1_000_000)
	}
	info := Info{Format: format, Width: w, Height: h}
	pixels := int64(w) * int64(h)
	switch format {
	case "png":
		info.DecodeBytes = pngBytes(w, h, cfg.ColorModel)
	case "jpeg":
		info.DecodeBytes = jpegBytes(data, w, h)
		if o := exifOrientation(data); o > 1 {
			info.DecodeBytes += 4 * pixels // Orient's NRGBA copy
			if o >= 5 {
				info.Width, info.Height = h, w
			}
		}
	case "webp":
		info.DecodeBytes = webpBytes(w, h)
	default:
		return Info{}, fmt.Errorf("%s image: want JPEG, PNG or WebP", format)
	}
	return info, nil
}

// pngBytes bounds image/png's allocations: the image, once more for an
// interlaced file (each pass is decoded into its own image, then
// merged), two rows of the widest pixel format, and the inflater.
func pngBytes(w, h int, m color.Model) int64 {
	bpp := int64(8) // 16-bit RGBA, the widest
	switch m {
	case color.GrayModel:
		bpp = 1
	case color.Gray16Model:
		bpp = 2
	case color.RGBAModel, color.NRGBAModel:
		bpp = 4
	default:
		if _, ok := m.(color.Palette); ok {
			bpp = 1
		}
	}
	return 2*bpp*int64(w)*int64(h) + 2*(8*int64(w)+1) + 1<<16
}

// webpBytes bounds golang.org/x/image/webp's allocations: a lossy image
// is 4:2:0 YCbCr planes padded to 16-pixel macroblocks (1.5 bytes a
// pixel) plus an alpha plane, whose chunk may itself be coded lossless,
// decoded as a lossless image is: 4 bytes a pixel for its pixels and as
// many for a transform's copy; then DecodeData's RGB copy of a lossy
// picture (vp8RGB), 4 bytes a pixel. So at most 15.5 bytes a padded
// pixel.
func webpBytes(w, h int) int64 {
	padded := int64(w+16) * int64(h+16)
	return 16*padded + 1<<16
}

// jpegBytes bounds image/jpeg's allocations from the frame header: the
// planes (YCbCr at most 3 bytes a pixel, CMYK 4 plus the YCbCr and black
// planes it is converted from), and for a progressive file the
// coefficients of every block (an int32 per coefficient: 4 bytes a pixel
// for each component), each padded to whole 32-pixel MCUs. A frame
// header it cannot read is treated as the most expensive kind.
func jpegBytes(data []byte, w, h int) int64 {
	progressive, comps := jpegFrame(data)
	if comps < 1 || comps > 4 {
		progressive, comps = true, 4
	}
	perPixel := int64(comps)
	if comps == 4 {
		perPixel = 8
	}
	if progressive {
		perPixel += 4 * int64(comps)
	}
	padded := int64(w+32) * int64(h+32)
	return perPixel*padded + 1<<16
}

// jpegFrame finds a JPEG's start-of-frame marker and returns whether it
// is progressive and its number of components (0 if not found).
func jpegFrame(data []byte) (progressive bool, comps int) {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return false, 0
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xff {
			return false, 0
		}
		marker := data[i+1]
		if marker == 0xff { // fill byte
			i++
			continue
		}
		size := int(binary.BigEndian.Uint16(data[i+2:]))
		if size < 2 || i+2+size > len(data) {
			return false, 0
		}
		switch marker {
		case 0xc0, 0xc1, 0xc2:
			if size < 8 {
				return false, 0
			}
			return marker == 0xc2, int(data[i+9])
		case 0xda:
			return false, 0 // scan data before any frame header
		}
		i += 2 + size
	}
	return false, 0
}

// ResizeBytes bounds what ToTensor allocates to resize a w x h image to
// fw x fh and pad it to pw x ph: the resized NRGBA image, the tensor,
// and the Catmull-Rom scaler's own buffers (golang.org/x/image/draw: an
// intermediate of fw x h pixels of four float64s after the horizontal
// pass, and a list of source weights, 16 bytes each, per axis, which
// grows with the source size when shrinking), Spread's pyramid where the
// image has transparency (four float32s a pixel on every level: the
// levels after the first add at most a third, plus a row and a column
// each) with the alpha kept for the cartoon, and a little for the rest.
func ResizeBytes(w, h, fw, fh, pw, ph int) int64 {
	weights := func(src, dst int) int64 {
		return 16*(4*int64(max(src, dst))+2*int64(dst)+2) + 24*int64(dst)
	}
	spread := 16*(2*int64(fw)*int64(fh)+int64(fw)+int64(fh)) + int64(fw)*int64(fh)
	return 4*int64(fw)*int64(fh) + 12*int64(pw)*int64(ph) +
		32*int64(fw)*int64(h) + weights(w, fw) + weights(h, fh) + spread + 1<<16
}
