// Package isolated serves pages to headless Chromium on loopback with the
// cross-origin isolation (COOP/COEP) that threaded WebAssembly runtimes
// need for SharedArrayBuffer, and moves float32 tensors to and from them
// as raw little-endian bytes (Exchange: blobs out, posted outputs in).
// The hand-run tools that drive other runtimes (tools/litertref, bench)
// share it.
package isolated

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/http"
)

// Serve starts h on a free loopback port and returns the server and its
// base URL. Every response is cross-origin isolated and not cached, so a
// fresh page fetches and compiles each runtime again (cold starts stay
// cold).
func Serve(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

// EncodeF32 is x as little-endian float32 bytes.
func EncodeF32(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// DecodeF32 reads little-endian float32 bytes; a trailing partial value
// is ignored (callers check len(b)%4).
func DecodeF32(b []byte) []float32 {
	y := make([]float32, len(b)/4)
	for i := range y {
		y[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return y
}
