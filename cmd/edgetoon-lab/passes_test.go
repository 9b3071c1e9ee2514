package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/latency"
)

// TestPrintProfile checks the table against sums made by hand: a
// Winograd conv's three passes are one row under their root node, rows
// come slowest first, and shares and rates follow from the passes.
func TestPrintProfile(t *testing.T) {
	tm := func(ms float64) latency.Timing { return latency.Timing{MedianMS: ms, P10MS: ms, P90MS: ms, Reps: 1} }
	p := &latency.ModelProfile{
		Schema: latency.ProfileSchema, Model: "m", Height: 8, Width: 8, Frame: tm(20),
		Passes: []latency.PassTiming{
			{Value: "a", Nodes: []string{"a"}, MACs: 2e6, Timing: tm(1)},
			{Value: "b#winograd-v", Nodes: []string{"b"}, Timing: tm(2)},
			{Value: "b#winograd-m", Nodes: []string{"b"}, Timing: tm(6)},
			{Value: "c", Nodes: []string{"b", "c"}, MACs: 18e6, Timing: tm(1)},
		},
	}
	var out bytes.Buffer
	printProfile(&out, p)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// Header, frame, blank, column names, then the rows: b (9 ms: 90 %
	// of the 10 ms the passes add up to, 18e6 MACs / 9 ms = 2.00
	// GMAC/s), then a (1 ms, 10 %, 2.00).
	if len(lines) != 6 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[1], "frame 20.0 ms") || !strings.Contains(lines[1], "4 passes, timed alone, add up to 10.0 ms") || !strings.Contains(lines[1], "1.00 GMAC/s") {
		t.Errorf("frame line %q", lines[1])
	}
	for i, want := range []string{"9.00  90.0 %    2.00   18.0  b (c; v 2.0 + m 6.0 + out 1.0)", "1.00  10.0 %    2.00    2.0  a"} {
		if got := strings.TrimSpace(lines[4+i]); got != want {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
}
