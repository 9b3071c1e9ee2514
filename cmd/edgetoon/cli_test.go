package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/tflite"
)

// teacher imports the shared White-box file (CI has ../shared).
func teacher(t *testing.T) *model.Graph {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "models", teacherFile)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	g, err := tflite.ImportFile(path, tflite.Options{Name: "whitebox"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The teacher's cost, counted by hand from its layer list (MODELS.md):
// at 256x256 the convs are 7x7 3->32 @256, 3x3 s2 32->32 @128,
// 3x3 32->64 @128, 3x3 s2 64->64 @64, 3x3 64->128 @64, 8 x 3x3 128->128
// @64, 3x3 128->64 @64, 3x3 64->64 @128, 3x3 64->32 @128, 3x3 32->32 @256,
// 7x7 32->3 @256. (MODELS.md rounds this to "about 8.3 G" and 1.52 M; the
// exact sums below are 8.17 G and 1.467 M.)
func TestInspectTeacher(t *testing.T) {
	g := teacher(t)
	type conv struct{ hw, k, cin, cout int64 }
	convs := []conv{{256, 7, 3, 32}, {128, 3, 32, 32}, {128, 3, 32, 64}, {64, 3, 64, 64}, {64, 3, 64, 128}}
	for range 8 {
		convs = append(convs, conv{64, 3, 128, 128})
	}
	convs = append(convs, conv{64, 3, 128, 64}, conv{128, 3, 64, 64}, conv{128, 3, 64, 32}, conv{256, 3, 32, 32}, conv{256, 7, 32, 3})
	var macs, params int64
	for _, c := range convs {
		macs += c.hw * c.hw * c.k * c.k * c.cin * c.cout
		params += c.k*c.k*c.cin*c.cout + c.cout
	}
	params++ // the guided filter's eps
	var out bytes.Buffer
	if err := inspect(&out, g, 256, true); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"MACs:        " + strconv.FormatInt(macs, 10) + " (8.17 G) at 256x256",
		"parameters:  " + strconv.FormatInt(params, 10) + " (1.47 M)",
		"CC BY-NC-SA 4.0",
		"box_mean",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text[:min(len(text), 600)])
		}
	}
}

func TestStylizeCLI(t *testing.T) {
	g := teacher(t)
	dir := t.TempDir()
	mpath := filepath.Join(dir, "wb.safetensors")
	if err := model.WriteFile(mpath, g, "F16"); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.png")
	// Flags after the input, as the usage line shows; biden.jpg is 225x512.
	if err := runStylize([]string{"-model", mpath, "-size", "64", filepath.Join("..", "..", "testdata", "biden.jpg"), "-o", out}); err != nil {
		t.Fatal(err)
	}
	img := readPNG(t, out)
	// Aspect kept: 225x512 at long side 64 is 28x64 (then padded to 28x64).
	if b := img.Bounds(); b.Dx() != 28 || b.Dy() != 64 {
		t.Errorf("output %v, want 28x64", b)
	}

	bad := filepath.Join(dir, "bad.safetensors")
	data, _ := os.ReadFile(mpath)
	os.WriteFile(bad, data[:len(data)/2], 0o644)
	err := runStylize([]string{"-model", bad, "-o", out, filepath.Join("..", "..", "testdata", "biden.jpg")})
	if err == nil || !strings.Contains(err.Error(), "bad.safetensors") {
		t.Errorf("truncated model: %v, want an error naming the file", err)
	}
	notImage := filepath.Join(dir, "x.jpg")
	os.WriteFile(notImage, []byte("GIF89a nonsense"), 0o644)
	err = runStylize([]string{"-model", mpath, "-o", out, notImage})
	if err == nil || !strings.Contains(err.Error(), "x.jpg") {
		t.Errorf("broken image: %v, want an error naming the file", err)
	}
}

// readPNG decodes the PNG file at path.
func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
