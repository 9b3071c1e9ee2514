package main

import (
	"math"
	"testing"
)

// A backend's statistics pool the frames of all its loads; the ratio is
// to ours fp32's pooled median. Values computed by hand.
func TestSummarize(t *testing.T) {
	ours := &row{backend: backend{Key: "ours-fp32"}, FramesMs: []float64{30, 10, 50, 20, 40, 60}}  // sorted 10..60
	peer := &row{backend: backend{Key: "ort-webgl"}, FramesMs: []float64{100, 300, 200, 900, 500}} // sorted 100 200 300 500 900
	broken := &row{backend: backend{Key: "tfjs-webgpu"}, Err: "no adapter"}
	summarize([]*row{ours, peer, broken})
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"ours median (upper of an even count)", ours.MedianMs, 40},
		{"ours p90 (nearest rank: 6th of 6)", ours.P90Ms, 60},
		{"ours min", ours.MinMs, 10},
		{"peer median", peer.MedianMs, 300},
		{"peer p90 (5th of 5)", peer.P90Ms, 900},
		{"peer ratio", peer.Ratio, 7.5},
		{"ours ratio", ours.Ratio, 1},
		{"broken ratio", broken.Ratio, 0},
	} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// A NaN in an output must not pass for agreement.
func TestMaxAbsDiff(t *testing.T) {
	d, err := maxAbsDiff([]float32{0.5, -0.25, 1}, []float32{0.5, 0.25, 0.75})
	if err != nil || d != 0.5 {
		t.Errorf("maxAbsDiff = %v, %v; want 0.5", d, err)
	}
	if d, _ := maxAbsDiff([]float32{float32(math.NaN()), 0}, []float32{0, 0}); !math.IsInf(d, 1) {
		t.Errorf("NaN output: maxAbsDiff = %v, want +Inf", d)
	}
	if _, err := maxAbsDiff([]float32{0}, []float32{0, 0}); err == nil {
		t.Error("length mismatch: no error")
	}
}
