//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/edgetoon/edgetoon/wasm/gl"
)

// EXT_disjoint_timer_query_webgl2 and WebGL2 query enums.
const (
	timeElapsedEXT   = 0x88BF // TIME_ELAPSED_EXT
	gpuDisjointEXT   = 0x8FBB // GPU_DISJOINT_EXT
	anySamplesPassed = 0x8C2F // ANY_SAMPLES_PASSED
	queryResult      = 0x8866
	queryAvailable   = 0x8867
)

// frameTimer follows each frame on the GPU. stylize returns as soon as the
// work is queued, long before it is done, so its own wall clock says
// nothing of a frame's cost: a query around each frame says when the GPU
// finished it (its result becomes available) and, with
// EXT_disjoint_timer_query_webgl2, how long the GPU spent on it. Without
// the extension an occlusion query (core WebGL2) still tells completion.
// Results arrive frames later: a ring of queries is kept in flight and
// polled, never waited for. The page uses the count in flight to drop
// camera frames instead of queueing them behind a busy GPU. Every call is
// prepared: no Go allocation per frame.
type frameTimer struct {
	timer   bool // TIME_ELAPSED_EXT queries, else ANY_SAMPLES_PASSED
	queries [4]js.Value
	begin   [4]gl.Call
	end     gl.Call
	// getQueryParameter and getParameter, bound, with their boxed
	// arguments per query.
	getQuery, getParam js.Value
	avail, result      [4][]any
	disjoint           []any
	head, pending      int     // the oldest query in flight, and how many are
	ms                 float64 // GPU time of the last frame measured, 0 before the first
	done               int     // frames finished so far
}

// newFrameTimer returns a timer for the context. A test may set
// globalThis.edgetoonNoGPUTimer to follow frames as a browser without the
// timer extension does.
func newFrameTimer(c *gl.Context) *frameTimer {
	t := &frameTimer{
		timer: !c.Extension("EXT_disjoint_timer_query_webgl2").IsNull() &&
			!js.Global().Get("edgetoonNoGPUTimer").Truthy(),
		getQuery: c.Get("getQueryParameter").Call("bind", c.Value),
		getParam: c.Get("getParameter").Call("bind", c.Value),
		disjoint: []any{gpuDisjointEXT},
	}
	target := anySamplesPassed
	if t.timer {
		target = timeElapsedEXT
	}
	t.end = c.Prepare("endQuery", target)
	for i := range t.queries {
		q := c.Call("createQuery")
		t.queries[i] = q
		t.begin[i] = c.Prepare("beginQuery", target, q)
		t.avail[i] = []any{q, queryAvailable}
		t.result[i] = []any{q, queryResult}
	}
	return t
}

// poll collects the frames the GPU has finished and returns how many are
// still in flight.
func (t *frameTimer) poll() int {
	for t.pending > 0 && t.getQuery.Invoke(t.avail[t.head]...).Bool() {
		if t.timer {
			ns := t.getQuery.Invoke(t.result[t.head]...).Float()
			// A disjoint clock (power state, another context) spoils the
			// results in flight: keep the last good one.
			if !t.getParam.Invoke(t.disjoint...).Bool() {
				t.ms = ns / 1e6
			}
		}
		t.head = (t.head + 1) % len(t.queries)
		t.pending--
		t.done++
	}
	return t.pending
}

// start begins following a frame, unless every query is in flight (the
// frame then goes unfollowed).
func (t *frameTimer) start() bool {
	if t.poll() == len(t.queries) {
		return false
	}
	t.begin[(t.head+t.pending)%len(t.queries)].Do()
	t.pending++
	return true
}

// stop ends the frame begun by start.
func (t *frameTimer) stop() { t.end.Do() }

func (t *frameTimer) free(c *gl.Context) {
	if c.Call("isContextLost").Bool() {
		return
	}
	for _, q := range t.queries {
		c.Call("deleteQuery", q)
	}
}
