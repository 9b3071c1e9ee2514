//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/edgetoon/edgetoon/model"
)

// startFetch asks for url and returns fetch's promise. A rejection is
// also handled (by a no-op), so that a download nobody waits for, as when
// the engine cannot open, does not log an unhandled rejection.
func startFetch(url string) js.Value {
	p := js.Global().Call("fetch", url)
	p.Call("catch", js.Global().Get("Boolean"))
	return p
}

// fetchModel downloads and decodes a model, streaming the body through a
// ReadableStream reader so onProgress(loaded, total) can follow it; total
// is 0 when the server sends no Content-Length. pending is the fetch of
// url, started with startFetch.
func fetchModel(pending js.Value, url string, onProgress js.Value) (*model.Graph, error) {
	resp, err := await(pending)
	if err != nil {
		return nil, errorf(codeModelLoad, "Could not download the model %s: %v", url, err)
	}
	if !resp.Get("ok").Bool() {
		return nil, errorf(codeModelLoad, "Could not download the model %s: HTTP %d", url, resp.Get("status").Int())
	}
	total := 0
	if n := resp.Get("headers").Call("get", "Content-Length"); n.Type() == js.TypeString {
		total = js.Global().Call("parseInt", n).Int()
	}
	progress := func(loaded int) {
		if onProgress.Type() == js.TypeFunction {
			onProgress.Invoke(loaded, total)
		}
	}
	data := make([]byte, 0, total)
	reader := resp.Get("body").Call("getReader")
	for {
		chunk, err := await(reader.Call("read"))
		if err != nil {
			return nil, errorf(codeModelLoad, "Downloading the model %s failed: %v", url, err)
		}
		if chunk.Get("done").Bool() {
			break
		}
		v := chunk.Get("value")
		n := len(data)
		data = append(data, make([]byte, v.Length())...)
		js.CopyBytesToGo(data[n:], v)
		progress(len(data))
	}
	return decodeModel(data, url)
}

// decodeModel parses a model file and checks it at its nominal size.
func decodeModel(data []byte, name string) (*model.Graph, error) {
	g, err := model.Decode(data)
	if err != nil {
		return nil, errorf(codeModelInvalid, "The model %s is not a valid edgetoon model: %v", name, err)
	}
	if g.NominalSize > 0 {
		if _, err := g.Shapes(g.NominalSize, g.NominalSize); err != nil {
			return nil, errorf(codeModelInvalid, "The model %s is not a valid edgetoon model: %v", name, err)
		}
	}
	return g, nil
}
