package server

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
)

// TestTFJSAssets: the CPU path's runtime, the files make tfjs copies, is
// served under /tfjs/ to any origin (the widget's worker loads it from
// other sites), compressed like the other assets; where it is absent, the
// references to it still resolve and each file answers 503 saying what to
// build, and the server does not count it as missing (the page keeps to
// WebGL).
func TestTFJSAssets(t *testing.T) {
	fsys := webFS()
	fsys["cpuworker.js"] = &fstest.MapFile{Data: []byte(`importScripts("/tfjs/tf-core.min.js?v=dev", "/tfjs/tf-backend-wasm.min.js?v=dev");`)}
	missing, _ := newServer(t, fsys, "")
	for _, name := range tfjsFiles {
		resp := get(t, missing, "GET", tfjsPath+name)
		if b := string(body(t, resp)); resp.StatusCode != 503 || !strings.Contains(b, "make tfjs") {
			t.Errorf("GET %s%s without the build: %d %q, want 503 naming make tfjs", tfjsPath, name, resp.StatusCode, b)
		}
	}
	if len(missing.Missing()) != 0 {
		t.Errorf("the runtime's absence counts as not built: %v", missing.Missing())
	}

	wasm := []byte("\x00asm\x01\x00\x00\x00" + strings.Repeat("\x00\x01\x02\x03", 4096))
	js := []byte(strings.Repeat("var tf = globalThis.tf || {};\n", 200))
	for _, name := range tfjsFiles {
		data := js
		if strings.HasSuffix(name, ".wasm") {
			data = wasm
		}
		fsys["dist/tfjs/"+name] = &fstest.MapFile{Data: data}
	}
	s, _ := newServer(t, fsys, "")
	resp := get(t, s, "GET", "/tfjs/tfjs-backend-wasm-simd.wasm", "Accept-Encoding: br")
	b := body(t, resp)
	if resp.Header.Get("Content-Encoding") != "br" || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("GET the wasm: encoding %q, type %q, want br and application/wasm", resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
	}
	if plain, err := io.ReadAll(brotli.NewReader(bytes.NewReader(b))); err != nil || !bytes.Equal(plain, wasm) {
		t.Errorf("the wasm's brotli variant decodes to %d bytes (%v), want the wasm's %d", len(plain), err, len(wasm))
	}
	resp = get(t, s, "GET", "/tfjs/tfjs-backend-wasm-simd.wasm")
	if b := body(t, resp); !bytes.Equal(b, wasm) {
		t.Errorf("GET the wasm without Accept-Encoding: %d bytes, want the wasm", len(b))
	}
	resp = get(t, s, "GET", "/tfjs/tf-core.min.js")
	body(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
		t.Errorf("GET the core: %d, %q, CORS %q, COEP %q", resp.StatusCode, resp.Header.Get("Content-Type"),
			resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Cross-Origin-Embedder-Policy"))
	}
	resp = get(t, s, "GET", "/cpuworker.js")
	if b := string(body(t, resp)); !strings.Contains(b, "/tfjs/tf-core.min.js?v=") || strings.Contains(b, "?v=dev") {
		t.Errorf("the worker's references are not versioned: %q", b)
	}
	// The worker alone may start workers from blobs and run blob scripts
	// (the runtime's thread pool); the page may not.
	if csp := resp.Header.Get("Content-Security-Policy"); csp != workerPolicy ||
		!strings.Contains(csp, "worker-src 'self' blob:") || !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval' blob:") {
		t.Errorf("the worker's policy: %q", csp)
	}
	resp = get(t, s, "GET", "/")
	body(t, resp)
	if csp := resp.Header.Get("Content-Security-Policy"); csp != ContentSecurityPolicy || strings.Contains(csp, "worker-src 'self' blob:") {
		t.Errorf("the page's policy: %q", csp)
	}
	resp = get(t, s, "GET", "/cpuworker.js/")
	body(t, resp)
	if csp := resp.Header.Get("Content-Security-Policy"); csp != ContentSecurityPolicy {
		t.Errorf("a path beside the worker's has the policy %q", csp)
	}
}
