package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRangeSuffixZero: a suffix range of length zero selects nothing
// (RFC 9110, 14.1.1): alone it is unsatisfiable, 416 with the length; in
// a set, the other ranges are served as if it were not there.
func TestRangeSuffixZero(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	model := toyModel("whitebox")
	size := fmt.Sprint(len(model))
	for _, rng := range []string{"bytes=-0", "bytes=-000", "bytes= -0", "bytes=-0,-0"} {
		resp := get(t, s, "GET", "/models/whitebox.safetensors", "Range: "+rng)
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != "bytes */"+size {
			t.Errorf("%s: %d, Content-Range %q; want 416, bytes */%s", rng, resp.StatusCode, resp.Header.Get("Content-Range"), size)
		}
	}
	resp := get(t, s, "GET", "/models/whitebox.safetensors", "Range: bytes=2-5,-0")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 2-5/"+size || string(body(t, resp)) != string(model[2:6]) {
		t.Errorf("bytes=2-5,-0: %d, Content-Range %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	// With a stale If-Range the range is void: the whole body, 200.
	if c := get(t, s, "GET", "/models/whitebox.safetensors", "Range: bytes=-0", `If-Range: "stale"`).StatusCode; c != http.StatusOK {
		t.Errorf("bytes=-0 with a stale If-Range: %d", c)
	}
	// Other suffixes are untouched.
	if resp := get(t, s, "GET", "/models/whitebox.safetensors", "Range: bytes=-10"); resp.StatusCode != 206 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%s", len(model)-10, len(model)-1, size) {
		t.Errorf("bytes=-10: %d, Content-Range %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	// An empty asset: any range is answered with the (empty) whole.
	fsys := webFS()
	fsys["empty.css"] = fsys["style.css"]
	fsys["empty.css"].Data = nil
	s, _ = newServer(t, fsys, "")
	for _, rng := range []string{"bytes=-5", "bytes=0-", "bytes=-0"} {
		resp := get(t, s, "GET", "/empty.css", "Range: "+rng)
		if cr := resp.Header.Get("Content-Range"); resp.StatusCode != http.StatusOK || cr != "" {
			t.Errorf("empty asset, %s: %d, Content-Range %q", rng, resp.StatusCode, cr)
		}
	}
}

func TestHSTS(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	for _, c := range []struct {
		target, host string
		want         bool
	}{
		{"https://192.168.1.5:8443/", "", true},
		{"https://toon.example/app.js", "", true},
		{"http://192.168.1.5:8080/", "", false},
		{"https://localhost:8443/", "", false},
		{"https://127.0.0.1:8443/healthz", "", true},
	} {
		got := get(t, s, "GET", c.target).Header.Get("Strict-Transport-Security")
		if (got != "") != c.want || (c.want && !strings.HasPrefix(got, "max-age=")) {
			t.Errorf("%s: Strict-Transport-Security %q", c.target, got)
		}
	}
}
