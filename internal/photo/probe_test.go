package photo

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

// flatPNG writes a w x h 8-bit grey PNG of zeros by hand, streaming the
// pixel rows into the compressor, so that a test can make a 50-megapixel
// file of a few kilobytes without holding the image.
func flatPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	chunk := func(out []byte, kind string, body []byte) []byte {
		out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
		c := append([]byte(kind), body...)
		out = append(out, c...)
		return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(c))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // 8-bit greyscale
	var idat bytes.Buffer
	z := zlib.NewWriter(&idat)
	row := make([]byte, w+1) // filter byte + pixels
	for range h {
		z.Write(row)
	}
	z.Close()
	out := chunk([]byte("\x89PNG\r\n\x1a\n"), "IHDR", ihdr)
	out = chunk(out, "IDAT", idat.Bytes())
	return chunk(out, "IEND", nil)
}

// allocated returns the bytes f allocates in all (live or not): an
// upper bound of its peak.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func encode(t *testing.T, img image.Image, asJPEG bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if asJPEG {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestProbeBoundsDecode checks DecodeBytes against what the decoders
// really allocate, counted by the Go runtime.
func TestProbeBoundsDecode(t *testing.T) {
	r := image.Rect(0, 0, 640, 480)
	gray, nrgba, rgba64 := image.NewGray(r), image.NewNRGBA(r), image.NewNRGBA64(r)
	pal := image.NewPaletted(r, color.Palette{color.Black, color.White})
	for i := range nrgba.Pix {
		nrgba.Pix[i] = uint8(i * 7)
	}
	for i := range rgba64.Pix {
		rgba64.Pix[i] = uint8(i * 3)
	}
	cases := map[string][]byte{
		"png gray":          encode(t, gray, false),
		"png nrgba":         encode(t, nrgba, false),
		"png 16-bit":        encode(t, rgba64, false),
		"png paletted":      encode(t, pal, false),
		"png 3000x1":        flatPNG(t, 3000, 1),
		"png 1x3000":        flatPNG(t, 1, 3000),
		"jpeg ycbcr":        encode(t, nrgba, true),
		"jpeg gray":         encode(t, gray, true),
		"jpeg orientation6": withOrientation(encode(t, nrgba, true), 6),
	}
	for name, data := range cases {
		info, err := Probe(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var img image.Image
		got := allocated(func() { img, err = DecodeData(data) })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height {
			t.Errorf("%s: decoded %v, Probe said %dx%d", name, b, info.Width, info.Height)
		}
		if got > uint64(info.DecodeBytes) {
			t.Errorf("%s: decoding allocated %d bytes, Probe bounded it by %d", name, got, info.DecodeBytes)
		}
	}
}

// TestResizeBytes checks ResizeBytes against ToTensor's allocations,
// the extreme aspect ratios included (the scaler's buffers grow with the
// source's length, not the output's).
func TestResizeBytes(t *testing.T) {
	for _, c := range []struct{ w, h, long, m int }{
		{640, 480, 256, 4}, {480, 640, 1024, 8}, {20000, 1, 1024, 4}, {1, 20000, 1024, 4}, {3, 2, 64, 4},
	} {
		img := image.NewNRGBA(image.Rect(0, 0, c.w, c.h))
		fw, fh, pw, ph := Fit(c.w, c.h, c.long, c.m)
		got := allocated(func() {
			ToTensor(img, fw, fh, pw, ph, model.Affine{Scale: []float32{1, 1, 1}, Bias: []float32{0, 0, 0}})
		})
		if want := ResizeBytes(c.w, c.h, fw, fh, pw, ph); got > uint64(want) {
			t.Errorf("%dx%d to %dx%d: ToTensor allocated %d bytes, ResizeBytes says %d", c.w, c.h, fw, fh, got, want)
		}
	}
}

func TestProbeRejects(t *testing.T) {
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"too many pixels": {flatPNG(t, 10_000, 5_001), "refusing more than 50 megapixels"},
		"gif":             {[]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "not a readable"},
	} {
		if _, err := Probe(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}

// FuzzDecodeImage feeds the image path arbitrary bytes: Probe and then,
// within a budget, the decoder. Neither may panic, and a decoded image
// has the size Probe announced, so that a budget computed from Probe is
// a budget for the real thing.
func FuzzDecodeImage(f *testing.F) {
	r := image.Rect(0, 0, 12, 9)
	img := image.NewNRGBA(r)
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	f.Add(buf.Bytes())
	buf.Reset()
	jpeg.Encode(&buf, img, nil)
	f.Add(buf.Bytes())
	f.Add(withOrientation(buf.Bytes(), 6))
	f.Add(flatPNG(f, 3, 70))
	for _, name := range []string{"gradient-lossless.webp", "gradient-lossy.webp", "gradient-alpha.webp"} {
		f.Add(readTestdata(f, name))
	}
	const budget = 64 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Probe(data)
		if err != nil {
			return
		}
		if info.Width <= 0 || info.Height <= 0 || info.DecodeBytes <= 0 {
			t.Fatalf("Probe accepted %+v", info)
		}
		if info.DecodeBytes > budget {
			return // what a caller with this budget refuses
		}
		got, err := DecodeData(data)
		if err != nil {
			return
		}
		if b := got.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height {
			t.Fatalf("decoded %v, Probe said %dx%d", b, info.Width, info.Height)
		}
	})
}

// jpegFrame reads the frame header that sizes the decoder's planes: a
// baseline colour and grey JPEG from image/jpeg, and the colour one with
// its start-of-frame marker changed to progressive (SOF2).
func TestJPEGFrame(t *testing.T) {
	r := image.Rect(0, 0, 16, 16)
	colour, grey := encode(t, image.NewNRGBA(r), true), encode(t, image.NewGray(r), true)
	prog := bytes.Replace(colour, []byte{0xff, 0xc0}, []byte{0xff, 0xc2}, 1)
	for name, c := range map[string]struct {
		data        []byte
		progressive bool
		comps       int
	}{
		"colour": {colour, false, 3}, "grey": {grey, false, 1}, "progressive": {prog, true, 3},
		"not a jpeg": {[]byte("\x89PNG"), false, 0}, "cut": {colour[:20], false, 0},
	} {
		p, n := jpegFrame(c.data)
		if p != c.progressive || n != c.comps {
			t.Errorf("%s: progressive %v, %d components; want %v, %d", name, p, n, c.progressive, c.comps)
		}
	}
	// A progressive colour file needs 4 bytes a pixel per component
	// more than a baseline one, for the coefficients.
	if d := jpegBytes(prog, 16, 16) - jpegBytes(colour, 16, 16); d != 12*48*48 {
		t.Errorf("progressive minus baseline: %d bytes, want %d", d, 12*48*48)
	}
}

// WebP files made by libwebp (Pillow: testdata/gradient*.webp, from
// gradient.png; the alpha one's alpha is 255x/319): the lossless one
// decodes to the PNG's pixels exactly, the lossy ones within what libwebp
// itself reads back (Pillow: a mean of 1.02 and 1.10; converted as
// full-range YCbCr, 7.9), and Probe bounds what decoding allocates.
func TestWebP(t *testing.T) {
	want, err := DecodeData(readTestdata(t, "gradient.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file    string
		maxMean float64 // mean absolute difference from the PNG, 0-255
	}{{"gradient-lossless.webp", 0}, {"gradient-lossy.webp", 1.5}, {"gradient-alpha.webp", 1.5}} {
		data := readTestdata(t, c.file)
		info, err := Probe(data)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		var img image.Image
		got := allocated(func() { img, err = DecodeData(data) })
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if info.Format != "webp" || img.Bounds() != want.Bounds() || info.Width != 320 || info.Height != 240 {
			t.Fatalf("%s: %s %v, Probe %dx%d; want webp %v", c.file, info.Format, img.Bounds(), info.Width, info.Height, want.Bounds())
		}
		if got > uint64(info.DecodeBytes) {
			t.Errorf("%s: decoding allocated %d bytes, Probe bounded it by %d", c.file, got, info.DecodeBytes)
		}
		var sum, da float64 // colour and alpha differences
		b := want.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				w := color.NRGBAModel.Convert(want.At(x, y)).(color.NRGBA)
				g := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				for _, d := range [3]int{int(w.R) - int(g.R), int(w.G) - int(g.G), int(w.B) - int(g.B)} {
					sum += math.Abs(float64(d))
				}
				da += math.Abs(float64(g.A) - float64(x*255/319))
			}
		}
		if da /= float64(b.Dx() * b.Dy()); c.file == "gradient-alpha.webp" && da > 1 {
			t.Errorf("%s: alpha %.3f from 255x/319 on average", c.file, da)
		}
		if mean := sum / float64(3*b.Dx()*b.Dy()); mean > c.maxMean || (c.maxMean == 0 && sum != 0) {
			t.Errorf("%s: mean absolute difference %.3f from the PNG, want at most %g", c.file, mean, c.maxMean)
		}
		t.Logf("%s: mean difference %.3f from the PNG; %d bytes allocated, bound %d", c.file, sum/float64(3*b.Dx()*b.Dy()), got, info.DecodeBytes)
	}
}

// TestWebPOrientationIgnored checks that a WebP's Exif orientation is
// not applied, as Chromium does not apply it (checked with Chromium 156:
// createImageBitmap of this file is 16x8 with or without imageOrientation
// "from-image", where the same tag in a JPEG gives 8x16): the CLI's picture
// is the page's. The fixture is 16x8, left half red, right half blue,
// lossless, with an EXIF chunk holding orientation 6 (made by Pillow
// through libwebp's muxer).
func TestWebPOrientationIgnored(t *testing.T) {
	data := readTestdata(t, "halves-orientation6.webp")
	if !bytes.Contains(data, []byte("EXIF")) || !bytes.Contains(data, []byte{0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0, 6}) {
		t.Fatal("fixture lost its EXIF chunk or its orientation 6")
	}
	info, err := Probe(data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := DecodeData(data)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 16 || b.Dy() != 8 || info.Width != 16 || info.Height != 8 {
		t.Fatalf("decoded %v, Probe %dx%d; want 16x8 as stored", b, info.Width, info.Height)
	}
	red := func(c color.Color) bool { r, _, b, _ := c.RGBA(); return r > 0xc000 && b < 0x4000 }
	if !red(img.At(2, 4)) || red(img.At(13, 4)) {
		t.Error("the red half should stay on the left, as stored")
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
