package photo

import (
	"encoding/binary"
	"image"
	"image/color"
)

// exifOrientation finds the Orientation tag (0x0112) in a JPEG's APP1 Exif
// segment. Anything malformed yields 1 (as stored): orientation is a hint,
// never a reason to reject a photo.
func exifOrientation(jpeg []byte) int {
	if len(jpeg) < 4 || jpeg[0] != 0xff || jpeg[1] != 0xd8 {
		return 1
	}
	for i := 2; i+4 <= len(jpeg); {
		if jpeg[i] != 0xff {
			return 1
		}
		marker := jpeg[i+1]
		size := int(binary.BigEndian.Uint16(jpeg[i+2:]))
		if marker == 0xda || size < 2 || i+2+size > len(jpeg) {
			return 1 // Start of scan: no Exif before the image data.
		}
		seg := jpeg[i+4 : i+2+size]
		if marker == 0xe1 && len(seg) > 14 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + size
	}
	return 1
}

func tiffOrientation(t []byte) int {
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return 1
	}
	n := int(bo.Uint16(t[ifd:]))
	for k := range n {
		e := ifd + 2 + 12*k
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 {
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// Orient returns img as it should be displayed for an EXIF orientation
// (1..8): 2 mirrored, 3 rotated 180, 4 flipped, 5 transposed, 6 rotated
// 90 clockwise, 7 transversed, 8 rotated 90 counter-clockwise.
func Orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := image.NewNRGBA(image.Rect(0, 0, ow, oh))
	at := pixel(img)
	for y := range h {
		for x := range w {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			out.SetNRGBA(dx, dy, at(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

// pixel returns a reader of img's pixels as NRGBA. The decoders' own
// image types are read without boxing each pixel in a color.Color,
// which would allocate for every pixel of a large photo.
func pixel(img image.Image) func(x, y int) color.NRGBA {
	rgb := func(r, g, b, _ uint32) color.NRGBA {
		return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}
	}
	switch src := img.(type) {
	case *image.YCbCr:
		return func(x, y int) color.NRGBA { return rgb(src.YCbCrAt(x, y).RGBA()) }
	case *image.Gray:
		return func(x, y int) color.NRGBA { return rgb(src.GrayAt(x, y).RGBA()) }
	case *image.CMYK:
		return func(x, y int) color.NRGBA { return rgb(src.CMYKAt(x, y).RGBA()) }
	}
	return func(x, y int) color.NRGBA {
		return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
	}
}
