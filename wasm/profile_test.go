//go:build js && wasm && lab

package main

import "testing"

// The profiler's own tests, under node with the lab build:
// GOOS=js GOARCH=wasm go test -tags lab -exec=go_js_wasm_exec ./wasm/

// TestQueryChunk checks how many timer-query runs measure issues at once:
// about queryChunkMS of work, never past reps, then only what minMs and
// the extraReps cap still ask for.
func TestQueryChunk(t *testing.T) {
	p := &profiler{o: profileOptions{reps: 10, minMS: 200}}
	for _, c := range []struct {
		expect, total float64
		have, want    int
	}{
		{expect: 50, have: 0, want: 2},              // 100 ms of 50 ms runs
		{expect: 1, have: 0, want: 10},              // reps caps the 100 runs
		{expect: 1, have: 6, want: 4},               // the 4 reps left
		{expect: 0, have: 0, want: 10},              // a 0 ms estimate still counts
		{expect: 1000, have: 3, want: 1},            // one slow run at a time
		{expect: 1, have: 10, total: 10, want: 32},  // minMs: 190 ms short, maxQueries
		{expect: 10, have: 10, total: 150, want: 5}, // minMs: 50 ms short
		{expect: 1, have: 75, total: 75, want: 5},   // the extraReps cap: 80
	} {
		if got := p.queryChunk(c.expect, c.have, c.total); got != c.want {
			t.Errorf("queryChunk(expect %g, have %d, total %g) = %d, want %d", c.expect, c.have, c.total, got, c.want)
		}
	}
}
