//go:build js && wasm && lab

package main

// The profiler's clocks: the GPU timer query where the browser has it,
// else the wall clock to a fence, and the waits between their polls.

import (
	"fmt"
	"math"
	"syscall/js"
	"time"

	"github.com/edgetoon/edgetoon/latency"
)

// WebGL2 and EXT_disjoint_timer_query_webgl2 enums.
const (
	glTimeElapsed        = 0x88BF // TIME_ELAPSED_EXT
	glGPUDisjoint        = 0x8FBB // GPU_DISJOINT_EXT
	glQueryResult        = 0x8866
	glQueryAvailable     = 0x8867
	glSyncGPUCommands    = 0x9117 // SYNC_GPU_COMMANDS_COMPLETE
	glSyncFlush          = 0x0001 // SYNC_FLUSH_COMMANDS_BIT
	glAlreadySignaled    = 0x911A
	glConditionSatisfied = 0x911C
	glWaitFailed         = 0x911D
	glUnmaskedVendor     = 0x9245
)

// time runs f once and returns how long the GPU took, in milliseconds.
// expect, if not 0, is about how long it should take: the wait sleeps
// through most of it before polling closely.
//
// With EXT_disjoint_timer_query_webgl2 the GPU itself measures the time
// between the query's begin and end (timeQueries with one run).
//
// Otherwise the time is the wall clock from before the first draw call to
// the moment a fence inserted after the last one has signaled. WebGL
// calls return as soon as the commands are queued, long before the GPU
// has run them; a fence (fenceSync) signals only when every command
// before it has completed, so waiting for it forces the wall clock to
// cover the GPU work itself. WebGL forbids blocking on a fence
// (clientWaitSync's timeout must be 0) and updates a fence's status only
// between tasks of the event loop, so the wait polls clientWaitSync with a
// zero timeout, yielding to the event loop between polls.
func (p *profiler) time(f func(), expect float64) (float64, error) {
	c := p.e.gl
	if p.timer == latency.TimerQuery {
		ms, err := p.timeQueries(f, 1, expect)
		if err != nil {
			return 0, err
		}
		return ms[0], nil
	}
	start := p.e.now.Invoke().Float()
	f()
	sync := c.Call("fenceSync", glSyncGPUCommands, 0)
	c.Call("flush")
	defer c.Call("deleteSync", sync)
	for {
		switch c.Call("clientWaitSync", sync, glSyncFlush, 0).Int() {
		case glAlreadySignaled, glConditionSatisfied:
			return p.e.now.Invoke().Float() - start, nil
		case glWaitFailed:
			return 0, fmt.Errorf("waiting for the GPU failed (clientWaitSync)")
		}
		if err := p.wait(start, expect); err != nil {
			return 0, err
		}
	}
}

// timeQueries times n runs of f, each inside its own GPU timer query,
// issued back to back, and returns their times in ms. Until the last
// result is due it sleeps rather than polls, so that the wait does not
// compete with a software GPU for the CPU. A disjoint timer (the GPU's
// clock was disturbed) discards the lot and times it again.
func (p *profiler) timeQueries(f func(), n int, expect float64) ([]float64, error) {
	c := p.e.gl
	qs := make([]js.Value, n)
	defer func() {
		for _, q := range qs {
			if q.Truthy() {
				c.Call("deleteQuery", q)
			}
		}
	}()
	for range 5 {
		c.Call("getParameter", glGPUDisjoint) // clears the flag
		for i := range qs {
			if !qs[i].Truthy() {
				qs[i] = c.Call("createQuery")
			}
			c.Call("beginQuery", glTimeElapsed, qs[i])
			f()
			c.Call("endQuery", glTimeElapsed)
		}
		c.Call("flush")
		start := p.e.now.Invoke().Float()
		due := expect * float64(n)
		for !c.Call("getQueryParameter", qs[n-1], glQueryAvailable).Bool() {
			if err := p.check(); err != nil {
				return nil, err
			}
			// Results only change between tasks: sleep to 9/10 of the
			// due time, then in steps of a twentieth of it; with no
			// estimate (a first run), in steps growing with the wait.
			elapsed := p.e.now.Invoke().Float() - start
			step := math.Max(1, due/20)
			if due == 0 {
				step = math.Min(math.Max(1, elapsed/8), 50)
			}
			d := math.Max(0.9*due-elapsed, step)
			time.Sleep(time.Duration(d * float64(time.Millisecond)))
		}
		ms := make([]float64, n)
		for i, q := range qs {
			for !c.Call("getQueryParameter", q, glQueryAvailable).Bool() {
				if err := p.check(); err != nil {
					return nil, err
				}
				time.Sleep(time.Millisecond)
			}
			ms[i] = c.Call("getQueryParameter", q, glQueryResult).Float() / 1e6
		}
		if !c.Call("getParameter", glGPUDisjoint).Bool() {
			return ms, nil
		}
	}
	return nil, fmt.Errorf("the GPU timer was disjoint 5 times in a row")
}

// check reports a lost context or an abort.
func (p *profiler) check() error {
	if p.e.gl.Call("isContextLost").Bool() {
		return errorf(codeContextLost, "The WebGL context was lost.")
	}
	return p.o.aborted()
}

// wait yields to the event loop once: by a timer while less than 3/4 of
// the expected time has passed (so that polling does not take the CPU a
// software GPU needs), else by a message, which returns at once.
func (p *profiler) wait(start, expect float64) error {
	if err := p.check(); err != nil {
		return err
	}
	elapsed := p.e.now.Invoke().Float() - start
	if left := 0.75*expect - elapsed; left > 2 {
		time.Sleep(time.Duration(left * 0.5 * float64(time.Millisecond)))
		return nil
	}
	if expect == 0 && elapsed > 20 {
		// Unknown duration, long already: poll every few milliseconds.
		time.Sleep(time.Duration(math.Min(elapsed/8, 50) * float64(time.Millisecond)))
		return nil
	}
	p.yield.yield()
	return nil
}

// yielder returns to the event loop for one task, without the 4 ms
// minimum that nested timers get: it posts itself a message.
type yielder struct {
	port1, port2 js.Value
	fn           js.Func
	ch           chan struct{}
}

func newYielder() *yielder {
	mc := js.Global().Get("MessageChannel").New()
	y := &yielder{port1: mc.Get("port1"), port2: mc.Get("port2"), ch: make(chan struct{}, 1)}
	y.fn = js.FuncOf(func(this js.Value, args []js.Value) any {
		select {
		case y.ch <- struct{}{}:
		default:
		}
		return nil
	})
	y.port1.Set("onmessage", y.fn)
	return y
}

func (y *yielder) yield() {
	y.port2.Call("postMessage", nil)
	<-y.ch
}

func (y *yielder) close() {
	y.port1.Set("onmessage", js.Null())
	y.port1.Call("close")
	y.port2.Call("close")
	y.fn.Release()
}
