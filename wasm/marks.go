//go:build js && wasm

package main

import "syscall/js"

// mark records a point of the engine's start on the page's performance
// timeline (performance.mark("edgetoon:"+name)), beside the page's own
// marks (core.js, app.js): BenchmarkColdStart in web/ reads them to say
// where the time before the first frame goes. A mark is a few
// microseconds, taken once per model or plan, never per frame.
func mark(name string) {
	if p := js.Global().Get("performance"); p.Truthy() && p.Get("mark").Type() == js.TypeFunction {
		p.Call("mark", "edgetoon:"+name)
	}
}
