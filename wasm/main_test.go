//go:build js && wasm

package main

import (
	"errors"
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

func TestCheckSize(t *testing.T) {
	for _, c := range []struct {
		w, h, m int
		ok      bool
	}{{256, 256, 4, true}, {512, 384, 4, true}, {258, 256, 4, false}, {0, 256, 1, false}, {7, 9, 1, true}} {
		if err := checkSize(c.w, c.h, c.m); (err == nil) != c.ok {
			t.Errorf("checkSize(%d, %d, %d) = %v", c.w, c.h, c.m, err)
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
