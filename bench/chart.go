package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Chart colours: ours, the GPU-backend peers, the CPU (wasm) peers.
var (
	oursColor = color.RGBA{0xe8, 0x6a, 0x1a, 0xff}
	gpuColor  = color.RGBA{0x3a, 0x6e, 0xc8, 0xff}
	cpuColor  = color.RGBA{0x9a, 0x9a, 0x9a, 0xff}
	inkColor  = color.RGBA{0x20, 0x20, 0x20, 0xff}
	gridColor = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

// bar is one backend's value in a chart panel, with its spread.
type bar struct {
	med, lo, hi float64 // 0: no value
	note        string
}

// writeChart draws res as a PNG: ms/frame (median, whisker min-max) and
// cold start per backend, each on a logarithmic axis because under
// SwiftShader the backends span three decades. A backend that failed is
// listed without a bar.
func writeChart(path string, res *results) error {
	const width, head, foot = 1000, 44, 22
	frames := make([]bar, len(res.Rows))
	colds := make([]bar, len(res.Rows))
	for i, r := range res.Rows {
		switch {
		case r.MedianMs > 0:
			frames[i] = bar{r.MedianMs, r.MinMs, r.MaxMs, fmt.Sprintf("%.0f ms  %.2fx", r.MedianMs, r.Ratio)}
		case r.Err != "":
			frames[i].note = "failed"
		default:
			frames[i].note = "timing failed"
		}
		if len(r.ColdMs) > 0 {
			m := median(r.ColdMs)
			colds[i] = bar{m, slices.Min(r.ColdMs), slices.Max(r.ColdMs), fmt.Sprintf("%.0f ms", m)}
		} else {
			colds[i].note = "failed"
		}
	}
	ph := panelHeight(len(res.Rows))
	img := image.NewRGBA(image.Rect(0, 0, width, head+2*ph+foot))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text(img, 10, 16, fmt.Sprintf("%s (%.2f GMACs) at %dx%d, %d fresh loads per backend (A/B rounds) x %d timed frames",
		res.ModelName, res.GMACs, res.Size, res.Size, res.Rounds, res.Reps))
	text(img, 10, 34, fmt.Sprintf("%s, %s, %d cores", res.Browser, res.Renderer, res.Cores))
	panel(img, head, "ms per frame after warm-up (median; whisker min-max; Nx = median / ours fp32), log scale", res.Rows, frames)
	panel(img, head+ph, "cold start ms (script + wasm + weights + compile + first frame, fresh page; median, min-max), log scale", res.Rows, colds)
	text(img, 240, head+2*ph+foot-6, "orange: ours (WebGL2)   blue: peer GPU backends   grey: peer CPU (wasm) backends")
	return savePNG(path, img)
}

const rowH, barH, left, right = 24, 15, 240, 150

func panelHeight(rows int) int { return 26 + rows*rowH + 24 }

// panel draws one metric for every row at vertical offset y0.
func panel(img *image.RGBA, y0 int, title string, rows []*row, bars []bar) {
	text(img, 10, y0+16, title)
	top := y0 + 26
	lo, hi := math.Inf(1), 0.0
	for _, b := range bars {
		if b.med > 0 {
			lo, hi = min(lo, b.lo), max(hi, b.hi)
		}
	}
	if hi == 0 {
		text(img, left, top+barH, "no values")
		return
	}
	d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if d1 == d0 {
		d1++
	}
	plotW := float64(img.Bounds().Dx() - left - right)
	xOf := func(ms float64) int { return left + int(math.Round((math.Log10(ms)-d0)/(d1-d0)*plotW)) }
	bottom := top + rowH*len(rows)
	for d := d0; d <= d1; d++ {
		x := xOf(math.Pow(10, d))
		fill(img, image.Rect(x, top-4, x+1, bottom), gridColor)
		text(img, x-10, bottom+14, fmt.Sprintf("%g", math.Pow(10, d)))
	}
	for i, r := range rows {
		y := top + i*rowH
		b := bars[i]
		text(img, 10, y+barH-3, r.Label)
		if b.med <= 0 {
			text(img, left+6, y+barH-3, b.note)
			continue
		}
		c := cpuColor
		switch {
		case r.Runtime == "ours":
			c = oursColor
		case r.GPU:
			c = gpuColor
		}
		fill(img, image.Rect(left, y, xOf(b.med), y+barH), c)
		mid := y + barH/2
		fill(img, image.Rect(xOf(b.lo), mid, xOf(b.hi)+1, mid+1), inkColor)
		text(img, max(xOf(b.med), xOf(b.hi))+6, y+barH-3, b.note)
	}
}

func text(img *image.RGBA, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(inkColor), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func savePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("chart %s: %w", path, err)
	}
	return f.Close()
}
