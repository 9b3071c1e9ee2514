//go:build js && wasm && lab

package main

// The lab build's exports (go build -tags lab): the latency profiler and
// the hooks the browser tests read the engine through. The shipped engine
// (built without the tag) has none of them: the page never reads pixels
// back or counts allocations, and the profiler is a tool for this project,
// not for the page's users.
//
//	edgetoon.profile(opts), edgetoon.profileNetworks(opts): see profile.go
//	edgetoon.debugRun(modelBytes, input, h, w, precision) -> Promise<Float32Array>
//	edgetoon.debugMallocs() -> number

import (
	"runtime"
	"strings"
	"syscall/js"

	"github.com/edgetoon/edgetoon/kernels"
)

// registerLab adds the profiler and the test hooks to the API object.
func registerLab(api js.Value) {
	api.Set("debugRun", js.FuncOf(func(this js.Value, args []js.Value) any {
		return promise(func() (any, error) { return debugRun(args) })
	}))
	// debugMallocs counts Go heap allocations so far (tests check that a
	// frame allocates nothing per pass).
	api.Set("debugMallocs", js.FuncOf(func(this js.Value, args []js.Value) any {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.Mallocs)
	}))
	registerProfile(api)
	// globalThis.edgetoonRejectBaked makes every baked conv's program
	// fail to compile, as a driver that refused its length would (tests
	// of the engine's fallback to unbaked plans).
	labSource = func(src string) string {
		if js.Global().Get("edgetoonRejectBaked").Truthy() && strings.Contains(src, kernels.BakedMarker) {
			return src + "#error refused by edgetoonRejectBaked\n"
		}
		return src
	}
}

// debugRun runs a model on a raw normalized HWC input and reads the
// output back (tests only: the page never reads pixels back).
// Arguments: modelBytes Uint8Array, input Float32Array, h, w, precision.
func debugRun(args []js.Value) (any, error) {
	mb := arg(args, 0)
	data := make([]byte, mb.Length())
	js.CopyBytesToGo(data, mb)
	g, err := decodeModel(data, "debugRun")
	if err != nil {
		return nil, err
	}
	h, w := arg(args, 2).Int(), arg(args, 3).Int()
	prec, err := parsePrecision(arg(args, 4))
	if err != nil {
		return nil, err
	}
	canvas := js.Global().Get("document").Call("createElement", "canvas")
	e, err := newEngine(canvas, prec)
	if err != nil {
		return nil, err
	}
	e.input, e.toCanvas = kernels.InputRaw, false
	e.graph, e.modelName = g, "debugRun"
	if err := e.setupGL(h, w, true); err != nil {
		return nil, err
	}
	defer e.freeGL()
	e.run.writeInput(e.gl, gl32(arg(args, 1)))
	e.run.frame()
	out := e.run.readOutput(e.gl)
	res := float32Array(out)
	res.Set("passes", len(e.run.plan.Passes))
	res.Set("unbaked", e.run.plan.Opts.Unbaked)
	res.Set("precision", e.precision())
	return res, nil
}
