package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// barEnd is the rightmost x of colour c on row y, or -1.
func barEnd(t *testing.T, path string, y int, want [4]uint32) int {
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
	end := -1
	for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
		r, g, b, a := img.At(x, y).RGBA()
		if [4]uint32{r >> 8, g >> 8, b >> 8, a >> 8} == want {
			end = x
		}
	}
	return end
}

// The chart's bars are log-scaled medians: ten times the time is one
// decade further right, whatever the row; a failed backend has no bar.
func TestChartBars(t *testing.T) {
	res := &results{ModelName: "m", GMACs: 1, Size: 64, Rounds: 3, Reps: 2, Rows: []*row{
		{backend: backend{Key: "ours-fp32", Runtime: "ours", GPU: true}, Label: "ours", MedianMs: 10, MinMs: 9, MaxMs: 11, Ratio: 1, ColdMs: []float64{200}},
		{backend: backend{Key: "ort-webgl", Runtime: "ort", GPU: true}, Label: "ort", MedianMs: 100, MinMs: 90, MaxMs: 110, Ratio: 10, ColdMs: []float64{2000}},
		{backend: backend{Key: "tfjs-wasm", Runtime: "tfjs"}, Label: "tfjs", MedianMs: 1000, MinMs: 900, MaxMs: 1100, Ratio: 100, ColdMs: []float64{20}},
		{backend: backend{Key: "ort-webgpu", Runtime: "ort", GPU: true}, Label: "broken", Err: "no adapter"},
	}}
	path := filepath.Join(t.TempDir(), "r.png")
	if err := writeChart(path, res); err != nil {
		t.Fatal(err)
	}
	rgba := func(c [4]uint8) [4]uint32 { return [4]uint32{uint32(c[0]), uint32(c[1]), uint32(c[2]), uint32(c[3])} }
	orange := rgba([4]uint8{oursColor.R, oursColor.G, oursColor.B, 0xff})
	blue := rgba([4]uint8{gpuColor.R, gpuColor.G, gpuColor.B, 0xff})
	grey := rgba([4]uint8{cpuColor.R, cpuColor.G, cpuColor.B, 0xff})
	const head, top = 44, 26
	rowY := func(i int) int { return head + top + i*rowH + 2 } // inside the bar, above its whisker
	x0 := barEnd(t, path, rowY(0), orange)
	x1 := barEnd(t, path, rowY(1), blue)
	x2 := barEnd(t, path, rowY(2), grey)
	if x0 <= left || x1 <= x0 || x2 <= x1 {
		t.Fatalf("bar ends %d, %d, %d: want increasing, right of %d", x0, x1, x2, left)
	}
	if d1, d2 := x1-x0, x2-x1; d1-d2 > 1 || d2-d1 > 1 {
		t.Errorf("one decade is %d px then %d px: not a log scale", d1, d2)
	}
	for _, c := range [][4]uint32{orange, blue, grey} {
		if x := barEnd(t, path, rowY(3), c); x >= 0 {
			t.Errorf("failed backend has a bar ending at %d", x)
		}
	}
	// Cold starts: the wasm peer's 20 ms is the shortest bar of the second panel.
	cold := func(i int) int { return head + panelHeight(len(res.Rows)) + top + i*rowH + 2 }
	if c0, c2 := barEnd(t, path, cold(0), orange), barEnd(t, path, cold(2), grey); c2 <= left || c2 >= c0 {
		t.Errorf("cold bars: ours ends at %d, the 10x faster peer at %d (axis at %d)", c0, c2, left)
	}
}
