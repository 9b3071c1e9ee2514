package tflite

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/edgetoon/edgetoon/internal/npy"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

// The independent check of importer + CPU engine: the same TFLite files
// run by LiteRT.js (XNNPACK, in Chromium) on the same inputs. The
// reference outputs and the tool that made them are in testdata/litert
// and tools/litertref.

// litertInput reads a fixture PNG and maps it exactly as the reference
// tool did: x = float32(p)/127.5 - 1.
func litertInput(t *testing.T, name string) *model.Tensor {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "litert", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	x := model.NewTensor(b.Dy(), b.Dx(), 3)
	rgba := image.NewRGBA(b)
	for y := range b.Dy() {
		for xx := range b.Dx() {
			rgba.Set(xx, y, img.At(b.Min.X+xx, b.Min.Y+y))
		}
	}
	for i := range b.Dx() * b.Dy() {
		for c := range 3 {
			x.Data[3*i+c] = float32(rgba.Pix[4*i+c])/127.5 - 1
		}
	}
	return x
}

type diffStats struct{ max, mean, p99, corr float64 }

func compareRef(t *testing.T, got *model.Tensor, refFile string) diffStats {
	t.Helper()
	shape, want, err := npy.ReadFile(filepath.Join("..", "..", "testdata", "litert", refFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 3 || shape[0] != got.Shape[0] || shape[1] != got.Shape[1] || shape[2] != got.Shape[2] {
		t.Fatalf("%s: reference shape %v, ours %v", refFile, shape, got.Shape)
	}
	d := make([]float64, len(want))
	var s diffStats
	for i := range want {
		d[i] = math.Abs(float64(got.Data[i] - want[i]))
		s.mean += d[i]
		s.max = max(s.max, d[i])
	}
	s.mean /= float64(len(d))
	s.corr = correlation(got.Data, want)
	sort.Float64s(d)
	s.p99 = d[len(d)*99/100]
	return s
}

func TestAgainstLiteRTWhiteBox(t *testing.T) {
	g := importShared(t, "whitebox_cartoon_fp16.tflite")
	for _, photo := range []string{"obama", "astronaut"} {
		y, err := cpu.Run(g, litertInput(t, photo+"_224.png"))
		if err != nil {
			t.Fatal(err)
		}
		s := compareRef(t, y, "whitebox_cartoon_fp16_"+photo+"_224.npy")
		t.Logf("white-box fp16, %s 224: max %.2e mean %.2e p99 %.2e", photo, s.max, s.mean, s.p99)
		if s.max > 2e-3 {
			t.Errorf("white-box fp16, %s: max abs error %.2e > 2e-3", photo, s.max)
		}
	}
}

// AnimeGANv2's file quantizes every activation to int8 (a 1/128 grid at
// the output): LiteRT rounds each of ~300 activations to 256 levels, our
// engine runs the dequantized network in float. The difference is that
// rounding noise, accumulated through 90 layers, so the bound is on the
// typical error (mean and 99th percentile, in units of the [-1,1] output)
// and on the correlation of the two images, which a wrong layer (a bad
// pad, norm or resize) destroys but rounding noise does not. Measured:
// mean 0.09-0.11, p99 0.25-0.27, the float output slightly less saturated.
func TestAgainstLiteRTAnimeGAN(t *testing.T) {
	if testing.Short() {
		t.Skip("26 GMACs per frame on the CPU")
	}
	g := importShared(t, "animeganv2_hayao_256_int8.tflite")
	for _, photo := range []string{"obama", "astronaut"} {
		y, err := cpu.Run(g, litertInput(t, photo+"_256.png"))
		if err != nil {
			t.Fatal(err)
		}
		s := compareRef(t, y, "animeganv2_hayao_256_int8_"+photo+"_256.npy")
		t.Logf("animeganv2 int8, %s 256: max %.2e mean %.2e p99 %.2e correlation %.4f", photo, s.max, s.mean, s.p99, s.corr)
		if s.mean > 0.12 || s.p99 > 0.35 || s.corr < 0.95 {
			t.Errorf("animeganv2, %s: mean %.3f (bound 0.12), p99 %.3f (bound 0.35), correlation %.3f (bound 0.95)", photo, s.mean, s.p99, s.corr)
		}
	}
}

// correlation is Pearson's r over all values.
func correlation(a, b []float32) float64 {
	var ma, mb float64
	for i := range a {
		ma += float64(a[i])
		mb += float64(b[i])
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		da, db := float64(a[i])-ma, float64(b[i])-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	return sab / math.Sqrt(saa*sbb)
}
