package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
)

// toyModel is a model file the fake inspector accepts.
func toyModel(tag string) []byte {
	return []byte("TOY:" + tag + ":" + strings.Repeat("\x01\x7f\x33", 300))
}

// inspect accepts toy models only.
func inspect(data []byte) (ModelInfo, error) {
	if !bytes.HasPrefix(data, []byte("TOY:")) {
		return ModelInfo{}, errors.New("not a toy model")
	}
	return ModelInfo{Title: "Toy " + strings.Split(string(data), ":")[1], License: "CC0", NominalSize: 256, MACs256: 123, Params: 45}, nil
}

// webFS is a small web directory that uses every server feature.
func webFS() fstest.MapFS {
	js := strings.Repeat("console.log('edgetoon');\n", 100)
	return fstest.MapFS{
		"index.html":                       {Data: []byte(`<!doctype html><link rel="stylesheet" href="/style.css?v=dev"><script type="module" src="/app.js?v=dev"></script>` + strings.Repeat("<p>hello</p>", 50))},
		"app.js":                           {Data: []byte(`import "/core.js?v=dev";` + js)},
		"core.js":                          {Data: []byte(`fetch("/edgetoon.wasm?v=dev");` + js)},
		"style.css":                        {Data: []byte(strings.Repeat("body { margin: 0 }\n", 50))},
		"widget.js":                        {Data: []byte(`import "/core.js?v=dev"; import "/live.js?v=dev";` + js)},
		"live.js":                          {Data: []byte(`import "/core.js?v=dev";` + js)},
		"sw.js":                            {Data: []byte(`const CACHE = "edgetoon-__VERSION__"; ["/?v=dev", "/app.js?v=dev", "/models/student.safetensors?v=dev"];` + js)},
		"manifest.webmanifest":             {Data: []byte(`{"icons": [{"src": "/icons/icon-192.png?v=dev"}]}`)},
		"icons/icon-192.png":               {Data: []byte("\x89PNG\r\n\x1a\nnot really")},
		"dist/.gitkeep":                    {Data: nil},
		"dist/edgetoon.wasm":               {Data: append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("wasm code "), 2000)...)},
		"dist/wasm_exec.js":                {Data: []byte(js)},
		"dist/models/whitebox.safetensors": {Data: toyModel("whitebox")},
		"models/student.safetensors":       {Data: toyModel("student")}, // the default: committed, not built
		"dist/models/broken.safetensors":   {Data: []byte("garbage")},
	}
}

func newServer(t *testing.T, fsys fstest.MapFS, modelDir string) (*Server, []string) {
	t.Helper()
	var mu sync.Mutex
	var logs []string
	s, err := New(Config{Assets: fsys, ModelDir: modelDir, Inspect: inspect, Log: func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, fmt.Sprintf(f, a...))
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// get sends a request through the handler, with headers as "Key: value".
func get(t *testing.T, h http.Handler, method, target string, headers ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ": ")
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestContentTypes(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	want := map[string]string{
		"/":                            "text/html; charset=utf-8",
		"/app.js":                      "text/javascript; charset=utf-8",
		"/sw.js":                       "text/javascript; charset=utf-8",
		"/style.css":                   "text/css; charset=utf-8",
		"/manifest.webmanifest":        "application/manifest+json",
		"/edgetoon.wasm":               "application/wasm",
		"/wasm_exec.js":                "text/javascript; charset=utf-8",
		"/icons/icon-192.png":          "image/png",
		"/models/index.json":           "application/json",
		"/models/whitebox.safetensors": "application/octet-stream",
		"/healthz":                     "application/json",
	}
	for p, ct := range want {
		resp := get(t, s, "GET", p)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct {
			t.Errorf("GET %s: %d %q, want 200 %q", p, resp.StatusCode, resp.Header.Get("Content-Type"), ct)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/app.js"}, {"GET", "/widget.js"}, {"GET", "/nope"}, {"POST", "/"}, {"GET", "/healthz"},
	} {
		resp := get(t, s, tc.method, tc.path)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, part := range []string{"default-src 'self'", "script-src 'self' 'wasm-unsafe-eval';", "style-src 'self';", "object-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, part) {
				t.Errorf("%s %s: CSP %q lacks %q", tc.method, tc.path, csp, part)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
			t.Errorf("%s %s: CSP %q allows inline code or eval", tc.method, tc.path, csp)
		}
		for k, v := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
		} {
			if h.Get(k) != v {
				t.Errorf("%s %s: %s = %q, want %q", tc.method, tc.path, k, h.Get(k), v)
			}
		}
		if pp := h.Get("Permissions-Policy"); !strings.Contains(pp, "camera=(self)") {
			t.Errorf("%s %s: Permissions-Policy %q does not allow the camera for self", tc.method, tc.path, pp)
		}
	}
}

func TestCORSOnlyForWidgetAssets(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	cors := map[string]bool{
		"/widget.js": true, "/core.js": true, "/live.js": true, "/edgetoon.wasm": true, "/wasm_exec.js": true,
		"/models/index.json": true, "/models/whitebox.safetensors": true,
		"/": false, "/app.js": false, "/sw.js": false, "/style.css": false, "/manifest.webmanifest": false, "/healthz": false,
	}
	for p, want := range cors {
		resp := get(t, s, "GET", p, "Origin: https://other.example")
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if want && got != "*" || !want && got != "" {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q, want CORS %v", p, got, want)
		}
		corp := resp.Header.Get("Cross-Origin-Resource-Policy")
		if want && corp != "cross-origin" || !want && p != "/healthz" && corp != "same-origin" {
			t.Errorf("GET %s: Cross-Origin-Resource-Policy %q", p, corp)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		accept      string
		haveBr, hGz bool
		want        string
	}{
		{"", true, true, ""},
		{"gzip", true, true, "gzip"},
		{"br", true, true, "br"},
		{"gzip, deflate, br, zstd", true, true, "br"},
		{"gzip, deflate, br", false, true, "gzip"},
		{"br", false, true, ""},
		{"br;q=0.5, gzip;q=0.8", true, true, "gzip"},
		{"br;q=0, gzip", true, true, "gzip"},
		{"BR", true, true, "br"},
		{"*", true, true, "br"},
		{"*;q=0.1, br;q=0", true, true, "gzip"},
		{"gzip;q=0.5, identity;q=1", true, true, ""},
		{"identity", true, true, ""},
		{"gzip;q=bogus", true, true, ""},
		{" gzip ; q=1.0 , br ; q=0.9", true, true, "gzip"},
	} {
		if got := negotiate(tc.accept, tc.haveBr, tc.hGz); got != tc.want {
			t.Errorf("negotiate(%q, br=%v, gz=%v) = %q, want %q", tc.accept, tc.haveBr, tc.hGz, got, tc.want)
		}
	}
}

func TestCompression(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	for _, p := range []string{"/", "/app.js", "/style.css", "/edgetoon.wasm", "/models/index.json"} {
		plain := body(t, get(t, s, "GET", p))
		for _, tc := range []struct{ accept, enc string }{
			{"", ""}, {"gzip", "gzip"}, {"gzip, deflate, br", "br"}, {"identity", ""},
		} {
			resp := get(t, s, "GET", p, "Accept-Encoding: "+tc.accept)
			if got := resp.Header.Get("Content-Encoding"); got != tc.enc {
				t.Errorf("GET %s, Accept-Encoding %q: Content-Encoding %q, want %q", p, tc.accept, got, tc.enc)
			}
			if v := resp.Header.Get("Vary"); v != "Accept-Encoding" {
				t.Errorf("GET %s: Vary %q", p, v)
			}
			raw := body(t, resp)
			if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(len(raw)) {
				t.Errorf("GET %s (%s): Content-Length %s, body %d", p, tc.enc, cl, len(raw))
			}
			var r io.Reader = bytes.NewReader(raw)
			switch tc.enc {
			case "gzip":
				zr, err := gzip.NewReader(r)
				if err != nil {
					t.Fatal(err)
				}
				r = zr
			case "br":
				r = brotli.NewReader(r)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("GET %s (%s): %v", p, tc.enc, err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("GET %s (%s): decoded body differs from the identity body", p, tc.enc)
			}
			if tc.enc != "" && len(raw) >= len(plain) {
				t.Errorf("GET %s (%s): %d bytes, no smaller than %d", p, tc.enc, len(raw), len(plain))
			}
		}
	}
	// Models and PNGs are sent as they are.
	for _, p := range []string{"/models/whitebox.safetensors", "/icons/icon-192.png"} {
		resp := get(t, s, "GET", p, "Accept-Encoding: gzip, br")
		if enc := resp.Header.Get("Content-Encoding"); enc != "" {
			t.Errorf("GET %s: Content-Encoding %q, want none", p, enc)
		}
	}
}

func TestETag(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	first := get(t, s, "GET", "/app.js")
	etag := first.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(etag) {
		t.Fatalf("ETag %q", etag)
	}
	br := get(t, s, "GET", "/app.js", "Accept-Encoding: br").Header.Get("ETag")
	gz := get(t, s, "GET", "/app.js", "Accept-Encoding: gzip").Header.Get("ETag")
	if br == etag || gz == etag || br == gz {
		t.Errorf("ETags of the encodings are not distinct: %s %s %s", etag, br, gz)
	}
	for _, tc := range []struct {
		inm, accept string
		want        int
	}{
		{etag, "", 304},
		{"W/" + etag, "", 304},
		{`"other", ` + etag, "", 304},
		{"*", "", 304},
		{br, "br", 304},
		{gz, "gzip", 304},
		{etag, "br", 200}, // the client has the identity body, not this one
		{`"other"`, "", 200},
	} {
		resp := get(t, s, "GET", "/app.js", "If-None-Match: "+tc.inm, "Accept-Encoding: "+tc.accept)
		if resp.StatusCode != tc.want {
			t.Errorf("If-None-Match %s, Accept-Encoding %q: %d, want %d", tc.inm, tc.accept, resp.StatusCode, tc.want)
		}
		if resp.StatusCode == 304 {
			if b := body(t, resp); len(b) != 0 {
				t.Errorf("304 with a %d-byte body", len(b))
			}
			if resp.Header.Get("Cache-Control") == "" || resp.Header.Get("Vary") == "" {
				t.Errorf("304 lost Cache-Control or Vary: %v", resp.Header)
			}
		}
	}
}

func TestCacheControl(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	hashOfPath := func(p string) string { return s.assets[p].hash }
	for _, tc := range []struct{ target, want string }{
		{"/", "no-cache"},
		{"/sw.js", "no-cache"},
		{"/widget.js", "no-cache"},
		{"/models/index.json", "no-cache"},
		{"/manifest.webmanifest", "no-cache"},
		{"/app.js", "no-cache"},
		{"/app.js?v=0123456789abcdef", "no-cache"}, // a stale version
		{"/app.js?v=" + hashOfPath("/app.js"), "public, max-age=31536000, immutable"},
		{"/?v=" + hashOfPath("/"), "public, max-age=31536000, immutable"},
		{"/edgetoon.wasm?v=" + hashOfPath("/edgetoon.wasm"), "public, max-age=31536000, immutable"},
		{"/models/whitebox.safetensors?v=" + hashOfPath("/models/whitebox.safetensors"), "public, max-age=31536000, immutable"},
		{"/healthz", "no-store"},
		{"/nope", "no-store"},
	} {
		if got := get(t, s, "GET", tc.target).Header.Get("Cache-Control"); got != tc.want {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.target, got, tc.want)
		}
	}
}

func TestVersionedReferences(t *testing.T) {
	fsys := webFS()
	s, _ := newServer(t, fsys, "")
	for p, a := range s.assets {
		if bytes.Contains(a.body, []byte("?v=dev")) || bytes.Contains(a.body, []byte(versionToken)) {
			t.Errorf("%s still holds a placeholder", p)
		}
	}
	index := string(body(t, get(t, s, "GET", "/")))
	app := body(t, get(t, s, "GET", "/app.js"))
	if want := "/app.js?v=" + hashOf(app); !strings.Contains(index, want) {
		t.Errorf("the page does not reference %s:\n%s", want, index)
	}
	sw := string(body(t, get(t, s, "GET", "/sw.js")))
	for _, p := range []string{"/", "/app.js", "/models/student.safetensors"} {
		if want := fmt.Sprintf("%q", p+"?v="+s.assets[p].hash); !strings.Contains(sw, want) {
			t.Errorf("sw.js lacks %s", want)
		}
	}
	version := regexp.MustCompile(`edgetoon-([0-9a-f]{16})`).FindStringSubmatch(sw)
	if version == nil {
		t.Fatalf("sw.js has no versioned cache name:\n%.200s", sw)
	}

	// A change deep down (core.js, imported by app.js) changes the page's
	// and the service worker's versions.
	fsys["core.js"] = &fstest.MapFile{Data: append(bytes.Clone(fsys["core.js"].Data), "// changed"...)}
	s2, _ := newServer(t, fsys, "")
	for _, p := range []string{"/core.js", "/app.js", "/", "/sw.js"} {
		if s.assets[p].hash == s2.assets[p].hash {
			t.Errorf("%s kept its hash after core.js changed", p)
		}
	}
	sw2 := string(body(t, get(t, s2, "GET", "/sw.js")))
	if strings.Contains(sw2, version[0]) {
		t.Errorf("the service worker's cache name %s survived a change", version[0])
	}
	if s.assets["/style.css"].hash != s2.assets["/style.css"].hash {
		t.Error("style.css changed hash though it did not change")
	}
}

func TestBadReferences(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"unknown asset": {"index.html": `<script src="/nope.js?v=dev"></script>`},
		"cycle":         {"a.js": `import "/b.js?v=dev"`, "b.js": `import "/a.js?v=dev"`},
		"unknown type":  {"notes.txt": "hello"},
	} {
		fsys := fstest.MapFS{}
		for n, d := range files {
			fsys[n] = &fstest.MapFile{Data: []byte(d)}
		}
		if _, err := New(Config{Assets: fsys, Inspect: inspect, Log: t.Logf}); err == nil {
			t.Errorf("%s: New succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestRange(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	model := toyModel("whitebox")
	resp := get(t, s, "GET", "/models/whitebox.safetensors", "Range: bytes=4-13")
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("Range: %d", resp.StatusCode)
	}
	if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 4-13/%d", len(model)) {
		t.Errorf("Content-Range %q", cr)
	}
	if b := body(t, resp); !bytes.Equal(b, model[4:14]) {
		t.Errorf("range body %q", b)
	}
	if ar := get(t, s, "HEAD", "/models/whitebox.safetensors").Header.Get("Accept-Ranges"); ar != "bytes" {
		t.Errorf("Accept-Ranges %q", ar)
	}
	// A suffix range, and one past the end.
	if b := body(t, get(t, s, "GET", "/models/whitebox.safetensors", "Range: bytes=-5")); !bytes.Equal(b, model[len(model)-5:]) {
		t.Errorf("suffix range %q", b)
	}
	if c := get(t, s, "GET", "/models/whitebox.safetensors", fmt.Sprintf("Range: bytes=%d-", len(model)+10)).StatusCode; c != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d", c)
	}
	// If-Range with the current ETag gives the range; a stale one the whole.
	etag := get(t, s, "GET", "/models/whitebox.safetensors").Header.Get("ETag")
	if c := get(t, s, "GET", "/models/whitebox.safetensors", "Range: bytes=0-1", "If-Range: "+etag).StatusCode; c != 206 {
		t.Errorf("If-Range current: %d", c)
	}
	if c := get(t, s, "GET", "/models/whitebox.safetensors", "Range: bytes=0-1", `If-Range: "stale"`).StatusCode; c != 200 {
		t.Errorf("If-Range stale: %d", c)
	}
	// A range of a compressible file is a range of its identity body.
	wasm := body(t, get(t, s, "GET", "/edgetoon.wasm"))
	resp = get(t, s, "GET", "/edgetoon.wasm", "Range: bytes=0-7", "Accept-Encoding: br, gzip")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body(t, resp), wasm[:8]) {
		t.Errorf("range of the wasm: %d %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
}
