package server

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestModels(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"anime.safetensors":    toyModel("anime"),
		"whitebox.safetensors": toyModel("impostor"), // clashes with the embedded default
		"bad.safetensors":      []byte("not a model"),
		"-x.safetensors":       toyModel("dash"), // an unsafe name
		"readme.txt":           []byte("not a model file"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, logs := newServer(t, webFS(), dir)
	var index []ModelEntry
	if err := json.Unmarshal(body(t, get(t, s, "GET", "/models/index.json")), &index); err != nil {
		t.Fatal(err)
	}
	if len(index) != 3 || index[0].Name != "student" || !index[0].Default || index[1].Name != "whitebox" || index[1].Default ||
		index[2].Name != "anime" || index[2].Default {
		t.Fatalf("index: %+v", index)
	}
	// The built-in models draw one style; a -models one is its own.
	if fams := []string{index[0].Family, index[1].Family, index[2].Family}; !slices.Equal(fams, []string{"builtin", "builtin", "anime"}) {
		t.Errorf("families %v, want builtin, builtin, anime", fams)
	}
	w := index[1]
	if w.Title != "Toy whitebox" || w.License != "CC0" || w.MACs256 != 123 || w.Params != 45 || w.NominalSize != 256 || w.Bytes != int64(len(toyModel("whitebox"))) {
		t.Errorf("whitebox entry: %+v", w)
	}
	for _, m := range index {
		resp := get(t, s, "GET", m.URL)
		b := body(t, resp)
		if resp.StatusCode != 200 || int64(len(b)) != m.Bytes || resp.Header.Get("Cache-Control") != cacheImmutable {
			t.Errorf("GET %s: %d, %d bytes, %q", m.URL, resp.StatusCode, len(b), resp.Header.Get("Cache-Control"))
		}
		if !bytes.Equal(b, toyModel(m.Name)) {
			t.Errorf("GET %s: wrong file", m.URL)
		}
	}
	joined := strings.Join(logs, "\n")
	for _, want := range []string{`"broken"`, `"bad"`, `"-x"`, `"whitebox" from ` + dir} {
		if !strings.Contains(joined, want) {
			t.Errorf("no log line about %s in:\n%s", want, joined)
		}
	}
	if len(s.Missing()) != 0 {
		t.Errorf("missing: %v", s.Missing())
	}
	if _, err := New(Config{Assets: webFS(), ModelDir: filepath.Join(dir, "nope"), Inspect: inspect}); err == nil {
		t.Error("a missing -models dir was accepted")
	}
}

func TestNotBuilt(t *testing.T) {
	fsys := webFS()
	for name := range fsys {
		if strings.HasPrefix(name, "dist/") && name != "dist/.gitkeep" {
			delete(fsys, name)
		}
	}
	s, _ := newServer(t, fsys, "")
	// The default model is committed (web/models), so only the WASM is missing.
	if got := strings.Join(s.Missing(), " "); got != "/edgetoon.wasm /wasm_exec.js" {
		t.Errorf("Missing() = %q", got)
	}
	for _, p := range []string{"/edgetoon.wasm", "/wasm_exec.js"} {
		resp := get(t, s, "GET", p)
		msg := string(body(t, resp))
		if resp.StatusCode != 503 || !strings.Contains(msg, "run `make`") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d %q", p, resp.StatusCode, msg)
		}
	}
	if c := get(t, s, "GET", "/models/whitebox.safetensors").StatusCode; c != 404 {
		t.Errorf("the teacher, not built and not the default: %d", c)
	}
	if resp := get(t, s, "GET", "/healthz"); resp.StatusCode != 503 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	var index []ModelEntry
	if err := json.Unmarshal(body(t, get(t, s, "GET", "/models/index.json")), &index); err != nil || len(index) != 1 || index[0].Name != "student" {
		t.Errorf("index: %+v %v", index, err)
	}
	if c := get(t, s, "GET", "/").StatusCode; c != 200 {
		t.Errorf("the page: %d", c)
	}

	// A default that is not there (here: -model whitebox before `make model`) is missing too.
	s, err := New(Config{Assets: fsys, DefaultModel: "whitebox", Inspect: inspect, Log: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Missing(), " "); got != "/edgetoon.wasm /wasm_exec.js /models/whitebox.safetensors" {
		t.Errorf("Missing() = %q", got)
	}
	if resp := get(t, s, "GET", "/models/whitebox.safetensors"); resp.StatusCode != 503 || !strings.Contains(string(body(t, resp)), "run `make`") {
		t.Errorf("GET the missing default: %d", resp.StatusCode)
	}
}

func TestHealthz(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	resp := get(t, s, "GET", "/healthz")
	var h struct {
		Status string
		Models int
	}
	if err := json.Unmarshal(body(t, resp), &h); err != nil || resp.StatusCode != 200 || h.Status != "ok" || h.Models != 2 {
		t.Errorf("healthz: %d %+v %v", resp.StatusCode, h, err)
	}
}
