//go:build js && wasm && lab

package main

// The profiler's options, shared by edgetoon.profile and
// edgetoon.profileNetworks, and their limits.

import (
	"fmt"
	"math"
	"syscall/js"
)

// Profiling limits.
const (
	maxWarmup = 100
	maxReps   = 1000
	maxMinMS  = 600000
	maxRounds = 100
	// extraReps bounds the samples minMs adds: at most this many times reps.
	extraReps = 8
	// minSampleMS: with the fence timer, a block faster than this is run
	// several times back to back per timed sample (and the time divided),
	// so that the fixed cost of one fence round trip and the clock's
	// resolution (performance.now is coarsened to 0.1 ms without
	// cross-origin isolation) do not swamp it.
	minSampleMS = 4.0
	maxBatch    = 64
	// With the GPU timer query, a fast block's timed runs are issued back
	// to back, each inside its own query, up to maxQueries or about
	// queryChunkMS of expected work, and read after the last completes:
	// polling for every run's result took the CPU from a software GPU on
	// a 2-core machine and spread a fast block's samples by 50-70 %.
	maxQueries   = 32
	queryChunkMS = 100.0
	// floorMS is the smallest latency reported: the table has no zeros.
	floorMS = 1e-3
)

// profileOptions are the options both functions share.
type profileOptions struct {
	canvas     js.Value
	precision  string
	warmup     int
	reps       int
	minMS      int
	rounds     int // profile only
	onProgress js.Value
	signal     js.Value
	fence      bool // timer: "fence" forces the fence timer
}

func parseProfileOptions(v js.Value, fn string) (profileOptions, error) {
	var o profileOptions
	if v.Type() != js.TypeObject {
		return o, errorf(codeArgument, "edgetoon.%s: options must be an object", fn)
	}
	o.canvas = v.Get("canvas")
	switch o.canvas.Type() {
	case js.TypeUndefined, js.TypeNull:
		o.canvas = js.Global().Get("document").Call("createElement", "canvas")
	case js.TypeObject:
		if o.canvas.Get("getContext").Type() != js.TypeFunction {
			return o, errorf(codeArgument, "edgetoon.%s: options.canvas must be a canvas element", fn)
		}
	default:
		return o, errorf(codeArgument, "edgetoon.%s: options.canvas must be a canvas element", fn)
	}
	p := v.Get("precision")
	if p.Type() == js.TypeUndefined || p.Type() == js.TypeNull {
		o.precision = "fp32"
	} else {
		var err error
		if o.precision, err = parsePrecision(p); err != nil {
			return o, err
		}
	}
	var err error
	if o.warmup, err = intOption(v, "warmup", 2, 0, maxWarmup); err != nil {
		return o, errorf(codeArgument, "edgetoon.%s: %v", fn, err)
	}
	if o.reps, err = intOption(v, "reps", 10, 1, maxReps); err != nil {
		return o, errorf(codeArgument, "edgetoon.%s: %v", fn, err)
	}
	if o.minMS, err = intOption(v, "minMs", 0, 0, maxMinMS); err != nil {
		return o, errorf(codeArgument, "edgetoon.%s: %v", fn, err)
	}
	if o.rounds, err = intOption(v, "rounds", 1, 1, maxRounds); err != nil {
		return o, errorf(codeArgument, "edgetoon.%s: %v", fn, err)
	}
	switch t := v.Get("timer"); {
	case t.Type() == js.TypeString && t.String() == "fence":
		o.fence = true
	case t.Type() == js.TypeUndefined || t.Type() == js.TypeNull || t.Type() == js.TypeString && t.String() == "auto":
	default:
		return o, errorf(codeArgument, "edgetoon.%s: options.timer: want \"auto\" or \"fence\"", fn)
	}
	o.onProgress = v.Get("onProgress")
	if t := o.onProgress.Type(); t != js.TypeFunction && t != js.TypeUndefined && t != js.TypeNull {
		return o, errorf(codeArgument, "edgetoon.%s: options.onProgress must be a function", fn)
	}
	o.signal = v.Get("signal")
	if t := o.signal.Type(); t != js.TypeObject && t != js.TypeUndefined && t != js.TypeNull {
		return o, errorf(codeArgument, "edgetoon.%s: options.signal must be an AbortSignal", fn)
	}
	return o, nil
}

// intOption reads an integer option in lo..hi, def when absent.
func intOption(v js.Value, name string, def, lo, hi int) (int, error) {
	x := v.Get(name)
	switch x.Type() {
	case js.TypeUndefined, js.TypeNull:
		return def, nil
	case js.TypeNumber:
		f := x.Float()
		if f == math.Trunc(f) && f >= float64(lo) && f <= float64(hi) {
			return int(f), nil
		}
	}
	return 0, fmt.Errorf("options.%s %v: want an integer in %d..%d", name, x, lo, hi)
}

// jsonOption returns option name as JSON: a string as it is, anything
// else through JSON.stringify.
func jsonOption(v js.Value, name string) ([]byte, error) {
	x := v.Get(name)
	switch x.Type() {
	case js.TypeString:
		return []byte(x.String()), nil
	case js.TypeObject:
		return []byte(js.Global().Get("JSON").Call("stringify", x).String()), nil
	}
	return nil, fmt.Errorf("options.%s: want a JSON string or an array", name)
}

func (o profileOptions) aborted() error {
	if o.signal.Type() == js.TypeObject && o.signal.Get("aborted").Truthy() {
		return errorf(codeAborted, "The profile run was aborted.")
	}
	return nil
}

func (o profileOptions) progress(done, total int, what string) {
	if o.onProgress.Type() == js.TypeFunction {
		o.onProgress.Invoke(done, total, what)
	}
}
