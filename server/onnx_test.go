package server

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
	"github.com/edgetoon/edgetoon/model/onnx"
)

// TestONNXExport: the index offers the student's ONNX export for the CPU
// path (web/cpupath.js), with its normalization; the file served reads
// back (onnx.Import) as a graph that computes what the student computes
// (the CPU engine on both, a random input at a size that is not the
// nominal one: the export's size is symbolic).
func TestONNXExport(t *testing.T) {
	data, err := os.ReadFile("../web/models/student.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	fsys := webFS()
	fsys["models/student.safetensors"] = &fstest.MapFile{Data: data}
	s, err := New(Config{Assets: fsys, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var index []ModelEntry
	if err := json.Unmarshal(body(t, get(t, s, "GET", "/models/index.json")), &index); err != nil {
		t.Fatal(err)
	}
	if len(index) != 1 || index[0].ONNX == nil {
		t.Fatalf("index: %+v, want the student with its ONNX export", index)
	}
	m := index[0].ONNX
	g, err := model.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Multiple != g.SizeMultiple || !equal(m.Norm.Scale, g.Norm.Scale) || !equal(m.Norm.Bias, g.Norm.Bias) ||
		!equal(m.Denorm.Scale, g.Denorm.Scale) || !equal(m.Denorm.Bias, g.Denorm.Bias) {
		t.Errorf("onnx entry %+v, want the model's norm %+v, denorm %+v, multiple %d", m, g.Norm, g.Denorm, g.SizeMultiple)
	}
	resp := get(t, s, "GET", m.URL, "Accept-Encoding: br, gzip")
	served := body(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != cacheImmutable || resp.Header.Get("Content-Encoding") != "" ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET %s: %d, %q, encoding %q, CORS %q", m.URL, resp.StatusCode, resp.Header.Get("Cache-Control"),
			resp.Header.Get("Content-Encoding"), resp.Header.Get("Access-Control-Allow-Origin"))
	}
	back, err := onnx.Import(served, onnx.Options{})
	if err != nil {
		t.Fatalf("the served ONNX does not import: %v", err)
	}
	h, w := 9*g.SizeMultiple, 11*g.SizeMultiple // any size the model takes
	x := model.NewTensor(h, w, 3)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x.Data {
		x.Data[i] = rng.Float32()*2 - 1
	}
	want, err := cpu.Run(g, x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cpu.Run(back, x)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i := range want.Data {
		worst = max(worst, math.Abs(float64(got.Data[i]-want.Data[i])))
	}
	if len(got.Data) != len(want.Data) || worst > 1e-5 {
		t.Errorf("the served ONNX at %dx%d: %d values, max |diff| %g to the student, want %d within 1e-5", h, w, len(got.Data), worst, len(want.Data))
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestORTAssets: the runtime's files that make ort copies are served
// under /ort/ to any origin, the wasm with the gzip variant the build
// made (not compressed at start); where they are absent, the references
// to them still resolve and each answers 503 saying what to build.
func TestORTAssets(t *testing.T) {
	fsys := webFS()
	fsys["cpupath.js"] = &fstest.MapFile{Data: []byte(`import("/ort/ort.wasm.min.mjs?v=dev"); "/ort/ort-wasm-simd-threaded.wasm?v=dev";`)}
	missing, _ := newServer(t, fsys, "")
	for _, name := range ortFiles {
		resp := get(t, missing, "GET", ortPath+name)
		if b := string(body(t, resp)); resp.StatusCode != 503 || !strings.Contains(b, "make ort") {
			t.Errorf("GET %s%s without the build: %d %q, want 503 naming make ort", ortPath, name, resp.StatusCode, b)
		}
	}
	if len(missing.Missing()) != 0 {
		t.Errorf("the runtime's absence counts as not built: %v", missing.Missing())
	}

	wasm := []byte("\x00asm" + string(make([]byte, 4096)))
	gz := []byte("pretend gzip of the wasm")
	fsys["dist/ort/ort.wasm.min.mjs"] = &fstest.MapFile{Data: []byte("export const x = 1;\n")}
	fsys["dist/ort/ort-wasm-simd-threaded.mjs"] = &fstest.MapFile{Data: []byte("export default 1;\n")}
	fsys["dist/ort/ort-wasm-simd-threaded.wasm"] = &fstest.MapFile{Data: wasm}
	fsys["dist/ort/ort-wasm-simd-threaded.wasm.gz"] = &fstest.MapFile{Data: gz}
	s, _ := newServer(t, fsys, "")
	resp := get(t, s, "GET", "/ort/ort-wasm-simd-threaded.wasm", "Accept-Encoding: br, gzip")
	if b := body(t, resp); string(b) != string(gz) || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Errorf("GET the wasm: encoding %q, type %q, %d bytes, want the build's gzip", resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"), len(b))
	}
	resp = get(t, s, "GET", "/ort/ort-wasm-simd-threaded.wasm")
	if b := body(t, resp); string(b) != string(wasm) {
		t.Errorf("GET the wasm without Accept-Encoding: %d bytes, want the wasm", len(b))
	}
	resp = get(t, s, "GET", "/ort/ort.wasm.min.mjs")
	body(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
		t.Errorf("GET the module: %d, %q, CORS %q, COEP %q", resp.StatusCode, resp.Header.Get("Content-Type"),
			resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Cross-Origin-Embedder-Policy"))
	}
	if resp := get(t, s, "GET", "/ort/ort-wasm-simd-threaded.wasm.gz"); resp.StatusCode != 404 {
		t.Errorf("the gzip variant is served as a file of its own: %d", resp.StatusCode)
	}
}
