//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"math"
	"syscall/js"
)

// Error codes the page can switch on (Error.code).
const (
	codeNoWebGL2     = "no-webgl2"
	codeModelLoad    = "model-load"
	codeModelInvalid = "model-invalid"
	codeShader       = "shader"
	codeTextureSize  = "texture-size"
	codeContextLost  = "context-lost"
	codeArgument     = "argument"
)

// codedError is an error with a code for the page; Msg is user-presentable.
type codedError struct {
	Code string
	Msg  string
}

func (e *codedError) Error() string { return e.Msg }

func errorf(code, format string, args ...any) error {
	return &codedError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// jsError converts err to a JS Error with .code.
func jsError(err error) js.Value {
	v := js.Global().Get("Error").New(err.Error())
	code := "internal"
	var ce *codedError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	v.Set("code", code)
	return v
}

// promise runs f on a goroutine (so it may wait on JS promises) and
// returns a Promise of its result.
func promise(f func() (any, error)) js.Value {
	executor := js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			v, err := f()
			if err != nil {
				reject.Invoke(jsError(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	defer executor.Release()
	return js.Global().Get("Promise").New(executor)
}

// await waits for a JS promise; call it only from a goroutine that JS is
// not waiting on.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	then := js.FuncOf(func(this js.Value, args []js.Value) any {
		ch <- result{v: arg(args, 0)}
		return nil
	})
	catch := js.FuncOf(func(this js.Value, args []js.Value) any {
		e := arg(args, 0)
		msg := e.String()
		if e.Type() == js.TypeObject && e.Get("message").Type() == js.TypeString {
			msg = e.Get("message").String()
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	defer then.Release()
	defer catch.Release()
	p.Call("then", then, catch)
	r := <-ch
	return r.v, r.err
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// options are create()'s arguments.
type options struct {
	canvas     js.Value
	model      string
	precision  string // "auto", "fp32" or "fp16"
	onProgress js.Value
}

// parseOptions checks create()'s options object.
func parseOptions(v js.Value) (options, error) {
	var o options
	if v.Type() != js.TypeObject {
		return o, errorf(codeArgument, "edgetoon.create: options must be an object")
	}
	o.canvas = v.Get("canvas")
	if o.canvas.Type() != js.TypeObject || o.canvas.Get("getContext").Type() != js.TypeFunction {
		return o, errorf(codeArgument, "edgetoon.create: options.canvas must be a canvas element")
	}
	if m := v.Get("model"); m.Type() == js.TypeString && m.String() != "" {
		o.model = m.String()
	} else {
		return o, errorf(codeArgument, "edgetoon.create: options.model must be a URL string")
	}
	var err error
	if o.precision, err = parsePrecision(v.Get("precision")); err != nil {
		return o, err
	}
	o.onProgress = v.Get("onProgress")
	if t := o.onProgress.Type(); t != js.TypeFunction && t != js.TypeUndefined && t != js.TypeNull {
		return o, errorf(codeArgument, "edgetoon.create: options.onProgress must be a function")
	}
	return o, nil
}

func parsePrecision(p js.Value) (string, error) {
	switch p.Type() {
	case js.TypeUndefined, js.TypeNull:
		return "auto", nil
	case js.TypeString:
		switch s := p.String(); s {
		case "auto", "fp32", "fp16":
			return s, nil
		}
	}
	return "", errorf(codeArgument, "precision %v: want \"auto\", \"fp32\" or \"fp16\"", p)
}

// sizeArgs reads stylize's width and height from JS. Any positive whole
// numbers will do (the engine pads a side that is not a multiple of the
// model's: build); anything else is an argument error, not a panic,
// which would end the Go program and the page's engine with it.
func sizeArgs(w, h js.Value) (int, int, error) {
	whole := func(v js.Value) bool {
		return v.Type() == js.TypeNumber && v.Float() >= 1 && v.Float() <= maxSide && v.Float() == math.Trunc(v.Float())
	}
	if !whole(w) || !whole(h) {
		return 0, 0, errorf(codeArgument, "stylize: size %v x %v: want whole numbers from 1 to %d", w, h, maxSide)
	}
	return w.Int(), h.Int(), nil
}

// maxSide bounds a side stylize is given, past any device's texture size
// (which build checks).
const maxSide = 1 << 16
