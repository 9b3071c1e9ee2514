//go:build js && wasm

package main

import (
	"errors"
	"math"
	"syscall/js"
	"testing"
)

// These run under node (GOOS=js GOARCH=wasm go test -exec=go_js_wasm_exec):
// the API's argument handling without a browser.

func jsObject(kv map[string]any) js.Value {
	o := js.Global().Get("Object").New()
	for k, v := range kv {
		o.Set(k, v)
	}
	return o
}

func fakeCanvas() js.Value {
	return jsObject(map[string]any{"getContext": js.FuncOf(func(js.Value, []js.Value) any { return nil })})
}

func code(err error) string {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(jsObject(map[string]any{"canvas": fakeCanvas(), "model": "m.safetensors"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.precision != "auto" || o.model != "m.safetensors" {
		t.Errorf("defaults: precision %q model %q", o.precision, o.model)
	}
	for _, p := range []string{"fp32", "fp16", "auto"} {
		o, err := parseOptions(jsObject(map[string]any{"canvas": fakeCanvas(), "model": "m", "precision": p}))
		if err != nil || o.precision != p {
			t.Errorf("precision %q: got %q, %v", p, o.precision, err)
		}
	}
	bad := []map[string]any{
		{"model": "m"},                        // no canvas
		{"canvas": 3, "model": "m"},           // not a canvas
		{"canvas": fakeCanvas()},              // no model
		{"canvas": fakeCanvas(), "model": ""}, // empty model
		{"canvas": fakeCanvas(), "model": "m", "precision": "fp8"},
		{"canvas": fakeCanvas(), "model": "m", "onProgress": "x"},
	}
	for _, kv := range bad {
		if _, err := parseOptions(jsObject(kv)); code(err) != codeArgument {
			t.Errorf("options %v: err %v, want an argument error", kv, err)
		}
	}
	if _, err := parseOptions(js.Undefined()); code(err) != codeArgument {
		t.Errorf("undefined options: err %v", err)
	}
}

func TestSizeArgs(t *testing.T) {
	for _, c := range []struct {
		w, h any
		ok   bool
	}{
		{256, 256, true}, {258, 255, true}, {1, 1, true}, {0, 256, false}, {256, -4, false},
		{10.5, 8, false}, {"64", 64, false}, {nil, 64, false}, {js.Undefined(), 64, false},
		{math.NaN(), 64, false}, {math.Inf(1), 64, false}, {1 << 17, 64, false},
	} {
		w, h, err := sizeArgs(js.ValueOf(c.w), js.ValueOf(c.h))
		if (err == nil) != c.ok || err != nil && code(err) != codeArgument {
			t.Errorf("sizeArgs(%v, %v) = %v", c.w, c.h, err)
			continue
		}
		if c.ok && (w != c.w.(int) || h != c.h.(int)) {
			t.Errorf("sizeArgs(%v, %v) = %d, %d", c.w, c.h, w, h)
		}
	}
}

// TestErrorValue checks that errors reach JS as Error objects with a code.
func TestErrorValue(t *testing.T) {
	e := jsError(errorf(codeTextureSize, "too big"))
	if !e.InstanceOf(js.Global().Get("Error")) || e.Get("code").String() != "texture-size" || e.Get("message").String() != "too big" {
		t.Errorf("error value: code %q message %q", e.Get("code").String(), e.Get("message").String())
	}
	if got := jsError(errors.New("plain")).Get("code").String(); got != "internal" {
		t.Errorf("uncoded error: code %q", got)
	}
}
