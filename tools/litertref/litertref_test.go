package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The committed input PNGs must be exactly what loadInput makes from the
// JPEGs, or the references would no longer describe their inputs.
func TestInputsMatchFixtures(t *testing.T) {
	for _, c := range []struct {
		photo string
		n     int
	}{{"obama", 224}, {"astronaut", 224}, {"obama", 256}, {"astronaut", 256}} {
		fix := filepath.Join("..", "..", "testdata", "litert", c.photo+"_"+strconv.Itoa(c.n)+".png")
		b, err := os.ReadFile(fix)
		if os.IsNotExist(err) {
			t.Skipf("%s absent", fix)
		}
		if err != nil {
			t.Fatal(err)
		}
		want, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		got, err := loadInput(filepath.Join("..", "..", "testdata", c.photo+".jpg"), c.n)
		if err != nil {
			t.Fatal(err)
		}
		if want.Bounds() != got.Bounds() {
			t.Fatalf("%s: bounds %v, want %v", fix, got.Bounds(), want.Bounds())
		}
		for y := 0; y < c.n; y++ {
			for x := 0; x < c.n; x++ {
				r1, g1, b1, _ := want.At(x, y).RGBA()
				r2, g2, b2, _ := got.At(x, y).RGBA()
				if r1 != r2 || g1 != g2 || b1 != b2 {
					t.Fatalf("%s: pixel (%d,%d) differs from loadInput", fix, x, y)
				}
			}
		}
	}
}

func TestToFloat(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 1))
	copy(img.Pix, []uint8{0, 255, 128, 255, 1, 2, 3, 255})
	got := toFloat(img)
	want := []float32{-1, 1, float32(128)/127.5 - 1, float32(1)/127.5 - 1, float32(2)/127.5 - 1, float32(3)/127.5 - 1}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("x[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestReadTFLInfo(t *testing.T) {
	name := filepath.Join("..", "..", "..", "shared", "models", "whitebox_cartoon_fp16.tflite")
	b, err := os.ReadFile(name)
	if err != nil {
		t.Skipf("model absent: %v", err)
	}
	info, err := readTFLInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Inputs) != 1 || info.Inputs[0].Type != "FLOAT32" || info.Ops["CONV_2D"] != 18 || info.Ops["DEQUANTIZE"] != 42 {
		t.Errorf("unexpected summary: inputs %v ops %v", info.Inputs, info.Ops)
	}
	if _, err := readTFLInfo(b[:100]); err == nil {
		t.Error("truncated model: no error")
	}
	if _, err := readTFLInfo([]byte("not a model")); err == nil {
		t.Error("garbage: no error")
	}
}
