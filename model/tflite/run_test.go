package tflite

import (
	"image"
	_ "image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
	"golang.org/x/image/draw"
)

// fixture loads testdata/obama.jpg from the module root, scaled to
// size x size and mapped through g.Norm.
func fixture(t *testing.T, g *model.Graph, size int) *model.Tensor {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "obama.jpg"))
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	defer f.Close()
	src, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	px := model.NewTensor(size, size, 3)
	for i := range size * size {
		for c := range 3 {
			px.Data[3*i+c] = float32(dst.Pix[4*i+c]) / 255
		}
	}
	return g.Norm.Apply(px)
}

// The dynamic-range file (int8 weights, per-channel scales) and the fp16
// file are the same network: imported and run on the CPU engine, they
// must give nearly the same cartoon. This checks the int8 dequantization
// and the whole import end to end against a second, differently encoded
// copy of the weights.
func TestWhiteBoxInt8MatchesFP16(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the network twice")
	}
	f16 := importShared(t, "whitebox_cartoon_fp16.tflite")
	dr := importShared(t, "whitebox_cartoon_dr.tflite")
	const size = 256
	x := fixture(t, f16, size)
	a, err := cpu.Run(f16, x)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cpu.Run(dr, x)
	if err != nil {
		t.Fatal(err)
	}
	var sum, peak, rangeLo, rangeHi float64
	for i := range a.Data {
		d := math.Abs(float64(a.Data[i] - b.Data[i]))
		sum += d
		peak = max(peak, d)
		rangeLo = min(rangeLo, float64(a.Data[i]))
		rangeHi = max(rangeHi, float64(a.Data[i]))
	}
	mean := sum / float64(len(a.Data))
	t.Logf("fp16 vs int8 weights at %dx%d: mean |diff| %.5f, max %.4f (output range [%.2f, %.2f], in [-1,1] units; 1/255 of a pixel is %.4f)",
		size, size, mean, peak, rangeLo, rangeHi, 2.0/255)
	if rangeHi-rangeLo < 1 {
		t.Errorf("output range [%g, %g]: the cartoon is nearly flat", rangeLo, rangeHi)
	}
	// Two 8-bit pixel levels on average, a tenth of the range at worst.
	if mean > 4.0/255 || peak > 0.2 {
		t.Errorf("outputs differ: mean %g, max %g", mean, peak)
	}
}
