package photo

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

// withOrientation inserts an APP1 Exif segment carrying orientation o
// right after a JPEG's SOI marker.
func withOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08")
	tiff = binary.BigEndian.AppendUint16(tiff, 1) // one IFD entry
	tiff = binary.BigEndian.AppendUint16(tiff, 0x0112)
	tiff = binary.BigEndian.AppendUint16(tiff, 3) // SHORT
	tiff = binary.BigEndian.AppendUint32(tiff, 1)
	tiff = binary.BigEndian.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xff, 0xe1}
	app1 = binary.BigEndian.AppendUint16(app1, uint16(len(seg)+2))
	app1 = append(app1, seg...)
	return append(append(append([]byte{}, jpg[:2]...), app1...), jpg[2:]...)
}

func TestDecodeOrientation(t *testing.T) {
	// 16x8, left half red, right half blue (large blocks survive JPEG).
	img := image.NewNRGBA(image.Rect(0, 0, 16, 8))
	for y := range 8 {
		for x := range 16 {
			c := color.NRGBA{255, 0, 0, 255}
			if x >= 8 {
				c = color.NRGBA{0, 0, 255, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	red := func(c color.Color) bool { r, _, b, _ := c.RGBA(); return r > 0xc000 && b < 0x4000 }
	// Orientation 6: the displayed image is the stored one rotated 90°
	// clockwise, so the stored left (red) half ends up on top.
	got, err := Decode(bytes.NewReader(withOrientation(buf.Bytes(), 6)))
	if err != nil {
		t.Fatal(err)
	}
	if b := got.Bounds(); b.Dx() != 8 || b.Dy() != 16 {
		t.Fatalf("orientation 6: %v, want 8x16", b)
	}
	if !red(got.At(4, 2)) || red(got.At(4, 13)) {
		t.Error("orientation 6: red half should be on top")
	}
	// Orientation 3: rotated 180°, red moves to the right.
	got, err = Decode(bytes.NewReader(withOrientation(buf.Bytes(), 3)))
	if err != nil {
		t.Fatal(err)
	}
	if !red(got.At(13, 4)) || red(got.At(2, 4)) {
		t.Error("orientation 3: red half should be on the right")
	}
	// No Exif: as stored.
	got, _ = Decode(bytes.NewReader(buf.Bytes()))
	if !red(got.At(2, 4)) {
		t.Error("no exif: red half should stay left")
	}
}

func TestOrientAll(t *testing.T) {
	// A 3x2 image with distinct pixels; each orientation checked against
	// the displayed position of the stored (0,0) pixel, worked out by hand.
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	img.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 255})
	want := map[int]image.Point{1: {0, 0}, 2: {2, 0}, 3: {2, 1}, 4: {0, 1}, 5: {0, 0}, 6: {1, 0}, 7: {1, 2}, 8: {0, 2}}
	for o, p := range want {
		got := Orient(img, o)
		r, _, _, _ := got.At(p.X, p.Y).RGBA()
		if r != 0 {
			t.Errorf("orientation %d: stored (0,0) not at %v", o, p)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	// A PNG that declares 100000x100000 pixels: only the header is needed
	// to refuse it, so it is rejected before any pixel is allocated.
	ihdr := binary.BigEndian.AppendUint32(nil, 100000)
	ihdr = binary.BigEndian.AppendUint32(ihdr, 100000)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	chunk := append([]byte("IHDR"), ihdr...)
	bomb := append([]byte("\x89PNG\r\n\x1a\n"), binary.BigEndian.AppendUint32(nil, uint32(len(ihdr)))...)
	bomb = append(bomb, chunk...)
	bomb = binary.BigEndian.AppendUint32(bomb, crc32.ChecksumIEEE(chunk))
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"bomb":      {bomb, "megapixels"},
		"garbage":   {[]byte("this is not an image at all"), "not a readable"},
		"empty":     {nil, "not a readable"},
		"truncated": {truncatedPNG(t), "decode png"},
	} {
		_, err := Decode(bytes.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}

func truncatedPNG(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()[:buf.Len()-30]
}

func TestFit(t *testing.T) {
	cases := []struct{ w, h, long, m, fw, fh, pw, ph int }{
		{512, 288, 256, 4, 256, 144, 256, 144},
		{410, 512, 256, 4, 205, 256, 208, 256},
		{100, 100, 256, 4, 256, 256, 256, 256},
		{1000, 3, 256, 4, 256, 1, 256, 4},
	}
	for _, c := range cases {
		fw, fh, pw, ph := Fit(c.w, c.h, c.long, c.m)
		if fw != c.fw || fh != c.fh || pw != c.pw || ph != c.ph {
			t.Errorf("Fit(%d,%d,%d,%d) = %d,%d,%d,%d, want %d,%d,%d,%d", c.w, c.h, c.long, c.m, fw, fh, pw, ph, c.fw, c.fh, c.pw, c.ph)
		}
	}
}

func TestTensorRoundTrip(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 6, 5))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	norm := model.Affine{Scale: []float32{2, 2, 2}, Bias: []float32{-1, -1, -1}}
	denorm := model.Affine{Scale: []float32{.5, .5, .5}, Bias: []float32{.5, .5, .5}}
	tt, alpha := ToTensor(img, 6, 5, 8, 8, norm)
	if tt.Shape[0] != 8 || tt.Shape[1] != 8 {
		t.Fatalf("shape %v", tt.Shape)
	}
	if alpha != nil {
		t.Errorf("an opaque picture's alpha = %v, want nil", alpha.Pix)
	}
	// Padding repeats the edge: column 7 equals column 5.
	for y := range 8 {
		for ch := range 3 {
			if tt.Data[(y*8+7)*3+ch] != tt.Data[(y*8+5)*3+ch] {
				t.Fatal("padding does not repeat the edge pixel")
			}
		}
	}
	// Same size resize is the identity, so the round trip is exact.
	back := FromTensor(tt, 6, 5, denorm)
	if !bytes.Equal(back.Pix, img.Pix) {
		t.Errorf("round trip changed pixels:\n%v\n%v", back.Pix[:12], img.Pix[:12])
	}
}

// TestToTensorTransparent: a picture's transparent parts take its own
// colours (Spread), whatever colour the file stores there: the top half
// of this one is transparent (red stored), its bottom half blue at alpha
// 128 over a background of that blue, so the whole input is blue. The
// alpha comes back as it was (a same-size resize is the identity).
func TestToTensorTransparent(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for i := range 16 {
		img.Pix[4*i] = 200 // stored colour under alpha 0: not part of the picture
	}
	for y := range 2 {
		for x := range 4 {
			img.SetNRGBA(x, y+2, color.NRGBA{0, 0, 255, 128})
		}
	}
	id := model.Affine{Scale: []float32{1, 1, 1}, Bias: []float32{0, 0, 0}}
	x, alpha := ToTensor(img, 4, 4, 4, 4, id)
	if alpha == nil {
		t.Fatal("alpha = nil, want the picture's")
	}
	for y := range 4 {
		for xx := range 4 {
			if got, want := alpha.AlphaAt(xx, y).A, img.NRGBAAt(xx, y).A; got != want {
				t.Errorf("alpha at (%d,%d) = %d, want %d", xx, y, got, want)
			}
		}
	}
	for _, c := range []struct {
		x, y int
		want [3]float32
	}{{1, 0, [3]float32{0, 0, 1}}, {2, 3, [3]float32{0, 0, 1}}} {
		for ch := range 3 {
			if got := x.Data[(c.y*4+c.x)*3+ch]; math.Abs(float64(got-c.want[ch])) > 1.5/255 {
				t.Errorf("pixel (%d,%d) channel %d = %.4f, want %.4f", c.x, c.y, ch, got, c.want[ch])
			}
		}
	}
}

func TestPadCrop(t *testing.T) {
	// A 2x2 picture of one channel, 1 2 / 3 4, padded to 3x3 repeats its
	// last column and row (hand-computed), and cropped back is itself.
	x := &model.Tensor{Shape: []int{2, 2, 1}, Data: []float32{1, 2, 3, 4}}
	p := Pad(x, 3, 3)
	want := []float32{1, 2, 2, 3, 4, 4, 3, 4, 4}
	if !slices.Equal(p.Shape, []int{3, 3, 1}) || !slices.Equal(p.Data, want) {
		t.Errorf("Pad = %v %v, want [3 3 1] %v", p.Shape, p.Data, want)
	}
	if c := Crop(p, 2, 2); !slices.Equal(c.Shape, x.Shape) || !slices.Equal(c.Data, x.Data) {
		t.Errorf("Crop(Pad) = %v %v, want %v %v", c.Shape, c.Data, x.Shape, x.Data)
	}
	if c := Crop(p, 3, 1); !slices.Equal(c.Data, []float32{1, 2, 2}) {
		t.Errorf("Crop to the first row = %v", c.Data)
	}
}

func TestSample(t *testing.T) {
	// A 2x1 image, black then white, sampled to 4x1: pixel centres map to
	// source x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 255})
	img.SetNRGBA(1, 0, color.NRGBA{255, 255, 255, 255})
	got := Sample(img, 4, 1)
	for x, want := range []float32{0, 0.25, 0.75, 1} {
		if d := got.Data[3*x] - want; d > 1e-6 || d < -1e-6 {
			t.Errorf("x=%d: %v, want %v", x, got.Data[3*x], want)
		}
	}
}

func TestSampleShrinks(t *testing.T) {
	// A 6x2 image sampled to 2x2: 3 source pixels per output pixel across,
	// so 3 taps, at source x = 0, 1, 2 and 3, 4, 5 (exact pixels); 1 down,
	// so one tap at the row's centre. Row 0 is white, black, black, black,
	// black, white: each output pixel is the mean of its three, 1/3 (one
	// bilinear tap at the centre would read 0). Row 1 is all grey 102.
	img := image.NewNRGBA(image.Rect(0, 0, 6, 2))
	for x := range 6 {
		v := uint8(0)
		if x == 0 || x == 5 {
			v = 255
		}
		img.SetNRGBA(x, 0, color.NRGBA{v, v, v, 255})
		img.SetNRGBA(x, 1, color.NRGBA{102, 102, 102, 255})
	}
	got := Sample(img, 2, 2)
	for i, want := range []float32{1.0 / 3, 1.0 / 3, 0.4, 0.4} {
		if d := got.Data[3*i] - want; d > 1e-6 || d < -1e-6 {
			t.Errorf("pixel %d: %v, want %v", i, got.Data[3*i], want)
		}
	}
	// 2.5 source pixels per output pixel (a 640-wide frame at 256): 3 taps
	// at x = 0.5/3*2.5-0.5 ... : a 5x1 ramp 0, 1, 2, 3, 4 (x 51) to 2x1 reads
	// source x -0.0833 (clamped to 0), 0.75, 1.5833 for pixel 0: mean of
	// 0, 0.75, 1.5833 = 0.7778 (x 51/255).
	ramp := image.NewNRGBA(image.Rect(0, 0, 5, 1))
	for x := range 5 {
		ramp.SetNRGBA(x, 0, color.NRGBA{uint8(51 * x), 0, 0, 255})
	}
	if got, want := Sample(ramp, 2, 1).Data[0], float32((0+0.75+19.0/12)/3*0.2); got-want > 1e-6 || want-got > 1e-6 {
		t.Errorf("ramp pixel 0: %v, want %v", got, want)
	}
}
