package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMethods(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"} {
		for _, p := range []string{"/", "/app.js", "/models/whitebox.safetensors", "/upload", "/healthz"} {
			req := httptest.NewRequest(m, p, strings.NewReader("\xff\xd8\xff image data"))
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q", m, p, w.Code, w.Header().Get("Allow"))
			}
		}
	}
	head := get(t, s, "HEAD", "/app.js", "Accept-Encoding: br")
	if head.StatusCode != 200 || len(body(t, head)) != 0 || head.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, Content-Length %q", head.StatusCode, head.Header.Get("Content-Length"))
	}
}

// rawGet sends target as the request line verbatim, so that no client
// library cleans it first, and returns the status code.
func rawGet(t *testing.T, addr, target string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestNothingOutsideTheAssetSet(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	ts := httptest.NewServer(s)
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	if c := rawGet(t, addr, "/app.js"); c != 200 {
		t.Fatalf("control request: %d", c)
	}
	for _, target := range []string{
		"/../go.mod",
		"/../../../../etc/passwd",
		"/models/../app.js",
		"/models/../../go.mod",
		"/%2e%2e/go.mod",
		"/%2E%2E/%2E%2E/etc/passwd",
		"/%2e%2e%2fgo.mod",
		"/..%2fgo.mod",
		"/models/..%2f..%2fgo.mod",
		"/models%2fwhitebox.safetensors",
		"/models%2Fwhitebox.safetensors",
		"/%2fetc%2fpasswd",
		"/..%5cgo.mod",
		"/..\\go.mod",
		"//etc/passwd",
		"/etc/passwd",
		"/C:/Windows/win.ini",
		"/C:%5CWindows%5Cwin.ini",
		"http://evil.example/etc/passwd",
		"http://" + addr + "/../go.mod",
		"/index.html",
		"/dist/edgetoon.wasm",
		"/dist/.gitkeep",
		"/.gitkeep",
		"/embed.go",
		"/web/index.html",
		"/models/",
		"/models",
		"/icons/",
		"/models/broken.safetensors",
		"/app.js/",
		"/app.js%00",
		"/APP.JS",
		"/app.js;.css",
		"/%61pp.js", // an escaped plain letter: not a canonical asset path
	} {
		if c := rawGet(t, addr, target); c != http.StatusNotFound && c != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 404 (or 400)", target, c)
		}
	}
}
