package main

import (
	"encoding/json"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// chartPath is the PNG next to a result file: results.json -> results.png.
func chartPath(out string) string {
	return strings.TrimSuffix(out, filepath.Ext(out)) + ".png"
}

// replot redraws the chart of a result file written earlier.
func replot(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	chart := chartPath(path)
	if err := writeChart(chart, &res); err != nil {
		return err
	}
	log.Printf("wrote %s", chart)
	return nil
}

// maxAbsDiff compares y with the reference; a NaN anywhere is +Inf so a
// broken runtime cannot look like an agreeing one.
func maxAbsDiff(y, ref []float32) (float64, error) {
	if len(y) != len(ref) {
		return 0, fmt.Errorf("output has %d values, reference %d", len(y), len(ref))
	}
	var m float64
	for i, v := range y {
		d := math.Abs(float64(v) - float64(ref[i]))
		if d != d {
			return math.Inf(1), nil
		}
		m = max(m, d)
	}
	return m, nil
}

func summarize(rows []*row) {
	var ours float64
	for _, r := range rows {
		if len(r.FramesMs) == 0 {
			continue
		}
		s := slices.Sorted(slices.Values(r.FramesMs))
		r.MedianMs = median(s)
		// Nearest-rank p90: with 3 frames it is the slowest.
		r.P90Ms = s[int(math.Ceil(0.9*float64(len(s))))-1]
		r.MinMs, r.MaxMs = s[0], s[len(s)-1]
		if r.Key == "ours-fp32" {
			ours = r.MedianMs
		}
	}
	if ours > 0 {
		for _, r := range rows {
			if r.MedianMs > 0 {
				r.Ratio = r.MedianMs / ours
			}
		}
	}
}

func printTable(f *os.File, res *results) {
	fmt.Fprintf(f, "\n%s (%.2f GMACs) at %dx%d; %s; %d cores; %d fresh loads per backend (A/B order), each %d warm-up + %d timed frames\n",
		res.ModelName, res.GMACs, res.Size, res.Size, res.Browser, res.Cores, res.Rounds, res.Warmup, res.Reps)
	fmt.Fprintf(f, "WebGL renderer: %s\n\n", res.Renderer)
	w := tabwriter.NewWriter(f, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "runtime/backend\tmedian ms\tp90 ms\tmin-max ms\tload medians ms\tcold start ms\tmax|diff|\tagrees\tpeer/ours-fp32\t")
	for _, r := range res.Rows {
		cold := "-"
		if len(r.ColdMs) > 0 {
			cold = fmt.Sprintf("%.0f", median(r.ColdMs))
		}
		loads := "-"
		if len(r.LoadMs) > 0 {
			loads = fmt.Sprintf("%.0f-%.0f", slices.Min(r.LoadMs), slices.Max(r.LoadMs))
		}
		if r.Err != "" {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t%s\t-\t-\t-\t  FAILED: %s\n", r.Label, cold, trim(r.Err))
			continue
		}
		note := ""
		if r.LiveError != "" {
			note = "  timing failed: " + trim(r.LiveError)
		}
		med, p90, spread, ratio := "-", "-", "-", "-"
		if r.MedianMs > 0 {
			med, p90 = fmt.Sprintf("%.1f", r.MedianMs), fmt.Sprintf("%.1f", r.P90Ms)
			spread = fmt.Sprintf("%.0f-%.0f", r.MinMs, r.MaxMs)
		}
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2fx", r.Ratio)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%.1e\t%v\t%s\t%s\n", r.Label, med, p90, spread, loads, cold, r.MaxAbs, r.Agrees, ratio, note)
	}
	w.Flush()
}

func trim(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
