package y4m

import (
	"bytes"
	"image"
	"image/color"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 2))
	for x := range 4 {
		for yy := range 2 {
			img.SetNRGBA(x, yy, color.NRGBA{255, 255, 255, 255})
		}
	}
	img.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 255}) // pure red
	var buf bytes.Buffer
	if err := Write(&buf, []image.Image{img, img}, 30); err != nil {
		t.Fatal(err)
	}
	header := "YUV4MPEG2 W4 H2 F30:1 Ip A1:1 C420jpeg\n"
	if !strings.HasPrefix(buf.String(), header) {
		t.Fatalf("header %q", buf.String()[:40])
	}
	frame := 4*2 + 2*2 // Y plus two 2x1 chroma planes
	if buf.Len() != len(header)+2*(len("FRAME\n")+frame) {
		t.Fatalf("length %d", buf.Len())
	}
	data := buf.Bytes()[len(header)+len("FRAME\n"):]
	// JFIF: red is Y = 0.299*255 = 76; white is 255. Chroma of the first
	// 2x2 block averages one red and three white pixels:
	// Cb = 128 + (-0.168736*255 + 3*0)/4 ... white has Cb = Cr = 128.
	if data[0] != 76 || data[1] != 255 {
		t.Errorf("Y plane %v, want 76 then 255", data[:4])
	}
	wantCb := clamp(128 + (-0.168736*255)/4)
	wantCr := clamp(128 + (0.5*255-255*0)/4 + (-0.418688*0-0.081312*0)/4)
	if data[8] != wantCb || data[10] != wantCr || data[9] != 128 {
		t.Errorf("chroma %v, want Cb %d Cr %d", data[8:12], wantCb, wantCr)
	}
	if err := Write(&buf, []image.Image{image.NewNRGBA(image.Rect(0, 0, 3, 2))}, 30); err == nil {
		t.Error("odd width must be refused")
	}
}
