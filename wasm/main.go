//go:build js && wasm

// Command wasm is edgetoon's in-browser engine: it runs a model's passes
// as WebGL2 fragment shaders and exposes globalThis.edgetoon to the page:
//
//	edgetoon.create({canvas, model, precision, onProgress}) -> Promise<Engine>
//	Engine: stylize(source, width, height), setModel(url, onProgress),
//	        info(), sizeMultiple(), lastFrameMs(), dispose(), onstatechange,
//	        setOptions({strength, stabilize}), redraw(), gpuFrameMs(),
//	        framesInFlight(), framesDone()
//
// stylize takes a picture of any size; the engine pads a side that is not
// a multiple of sizeMultiple() and shows the picture's part, so a size of
// multiples computes nothing to be cropped.
//
// Built with -tags lab (web/dist/edgetoon-lab.wasm, which only the /profile
// page and the tests load), it also exports the latency profiler and the
// test hooks: see profiledebug.go.
//
// Errors are JS Errors with a user-presentable message and a .code (see
// jsutil.go).
package main

import (
	"syscall/js"
)

const version = "0.1.0"

func main() {
	api := js.Global().Get("Object").New()
	api.Set("version", version)
	api.Set("create", js.FuncOf(func(this js.Value, args []js.Value) any {
		return promise(func() (any, error) { return create(arg(args, 0)) })
	}))
	registerLab(api) // the lab build only: see profiledebug.go
	js.Global().Set("edgetoon", api)
	select {}
}

// create opens an engine on opts.canvas with opts.model loaded.
func create(v js.Value) (any, error) {
	opts, err := parseOptions(v)
	if err != nil {
		return nil, err
	}
	// The model downloads while the context opens (a GPU process to start,
	// on some devices for hundreds of milliseconds).
	pending := startFetch(opts.model)
	e, err := newEngine(opts.canvas, opts.precision)
	if err != nil {
		return nil, err
	}
	g, err := fetchModel(pending, opts.model, opts.onProgress)
	if err != nil {
		return nil, err
	}
	if err := e.setGraph(g, opts.model, true); err != nil {
		e.freeGL()
		return nil, err
	}
	return e.jsObject(), nil
}

// jsObject is the Engine the page holds.
func (e *engine) jsObject() js.Value {
	obj := js.Global().Get("Object").New()
	method := func(name string, f func(args []js.Value) any) {
		fn := js.FuncOf(func(this js.Value, args []js.Value) any { return f(args) })
		e.disposeFns = append(e.disposeFns, fn)
		obj.Set(name, fn)
	}
	// A Go callback cannot throw into JS, so stylize returns its error and
	// a JS shim throws it.
	stylize := js.FuncOf(func(this js.Value, args []js.Value) any {
		w, h, err := sizeArgs(arg(args, 1), arg(args, 2))
		if err == nil {
			err = e.stylize(arg(args, 0), w, h)
		}
		if err != nil {
			return jsError(err)
		}
		return nil
	})
	e.disposeFns = append(e.disposeFns, stylize)
	// stylize returns its Error rather than throwing it: a Go callback
	// cannot throw, and a JS wrapper made with new Function would need
	// 'unsafe-eval', which the page's CSP rightly forbids.
	obj.Set("stylize", stylize)
	method("setModel", func(args []js.Value) any {
		url, onProgress := arg(args, 0), arg(args, 1)
		return promise(func() (any, error) {
			if url.Type() != js.TypeString {
				return nil, errorf(codeArgument, "setModel: url must be a string")
			}
			g, err := fetchModel(startFetch(url.String()), url.String(), onProgress)
			if err != nil {
				return nil, err
			}
			return nil, e.setGraph(g, url.String(), true)
		})
	})
	method("info", func(args []js.Value) any { return js.ValueOf(e.info()) })
	// The multiple that the engine pads a picture's sides to, for the
	// model loaded now: a camera frame's size is chosen with it, so that
	// no pixels are computed to be cropped.
	method("sizeMultiple", func(args []js.Value) any { return e.sizeMultiple() })
	method("lastFrameMs", func(args []js.Value) any { return e.lastMs })
	e.liveMethods(method) // setOptions, redraw, frame timing: see post.go
	obj.Set("onstatechange", js.Null())
	e.onState = func(s string) {
		if f := obj.Get("onstatechange"); f.Type() == js.TypeFunction {
			f.Invoke(s)
		}
	}
	lost := js.FuncOf(func(this js.Value, args []js.Value) any {
		arg(args, 0).Call("preventDefault") // ask the browser to restore it
		e.contextLost()
		return nil
	})
	restored := js.FuncOf(func(this js.Value, args []js.Value) any {
		go func() {
			if err := e.contextRestored(); err != nil {
				js.Global().Get("console").Call("error", "edgetoon: "+err.Error())
			}
		}()
		return nil
	})
	e.canvas.Call("addEventListener", "webglcontextlost", lost)
	e.canvas.Call("addEventListener", "webglcontextrestored", restored)
	e.disposeFns = append(e.disposeFns, lost, restored)
	method("dispose", func(args []js.Value) any {
		e.canvas.Call("removeEventListener", "webglcontextlost", lost)
		e.canvas.Call("removeEventListener", "webglcontextrestored", restored)
		e.freeGL()
		e.graph = nil
		for _, fn := range e.disposeFns {
			defer fn.Release()
		}
		return nil
	})
	return obj
}
