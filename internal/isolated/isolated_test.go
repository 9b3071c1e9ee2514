package isolated

import (
	"bytes"
	"context"
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

func TestExchange(t *testing.T) {
	ex := NewExchange(16)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /in/{name}", ex.Blob)
	mux.HandleFunc("POST /out/{key}", ex.Output)
	srv, url, err := Serve(mux)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ex.Put("x", []byte("abc"))
	get := func(path string) (int, string) {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/in/x"); code != 200 || body != "abc" {
		t.Errorf("GET /in/x: %d %q", code, body)
	}
	if code, _ := get("/in/y"); code != http.StatusNotFound {
		t.Errorf("GET /in/y: %d, want 404", code)
	}
	post := func(key string, b []byte) int {
		resp, err := http.Post(url+"/out/"+key, "application/octet-stream", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("k", EncodeF32([]float32{1})); code != http.StatusNotFound {
		t.Errorf("unexpected output: %d, want 404", code)
	}
	p := ex.Expect("k")
	for _, bad := range [][]byte{{1, 2, 3}, make([]byte, 20)} { // partial float, over the 16-byte cap
		if code := post("k", bad); code != http.StatusBadRequest {
			t.Errorf("body of %d bytes: %d, want 400", len(bad), code)
		}
	}
	want := []float32{1.5, -2}
	if code := post("k", EncodeF32(want)); code != http.StatusNoContent {
		t.Errorf("output: %d, want 204", code)
	}
	if code := post("k", EncodeF32(want)); code != http.StatusConflict {
		t.Errorf("second output: %d, want 409", code)
	}
	got, err := p.Wait(context.Background())
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Wait: %v, %v", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ex.Expect("never").Wait(ctx); err == nil {
		t.Error("Wait on a canceled context: no error")
	}
}
