package isolated

import (
	"io"
	"net/http"
	"slices"
	"testing"
)

func TestServe(t *testing.T) {
	srv, url, err := Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := resp.Header
	if h.Get("Cross-Origin-Opener-Policy") != "same-origin" || h.Get("Cross-Origin-Embedder-Policy") != "require-corp" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", h)
	}
}

func TestF32(t *testing.T) {
	x := []float32{0, 1, -2.5, 3e-8}
	b := EncodeF32(x)
	// 1.0 is 0x3f800000, stored little-endian.
	if len(b) != 16 || b[4] != 0 || b[6] != 0x80 || b[7] != 0x3f {
		t.Fatalf("bytes %x", b)
	}
	if y := DecodeF32(b); !slices.Equal(x, y) {
		t.Errorf("round trip %v", y)
	}
}
