package main

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
)

//go:embed page.html
var page []byte

// server serves the page, the peer runtimes from node_modules, our engine
// from web/dist, and the per-run blobs (model files, input, TF.js graph),
// and receives output tensors. It listens on loopback only and sets
// COOP/COEP on every response: the threaded wasm builds of ORT, TF.js and
// LiteRT.js need SharedArrayBuffer, which only a cross-origin-isolated
// page gets.
type server struct {
	URL string
	srv *http.Server

	mu      sync.Mutex
	blobs   map[string][]byte
	outputs map[string]chan []float32
}

func startServer(nodeDir, distDir string, blobs map[string][]byte) (*server, error) {
	s := &server{blobs: blobs, outputs: map[string]chan []float32{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.Handle("GET /nm/", http.StripPrefix("/nm/", http.FileServer(http.Dir(nodeDir))))
	mux.Handle("GET /dist/", http.StripPrefix("/dist/", http.FileServer(http.Dir(distDir))))
	mux.HandleFunc("GET /data/{name}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b, ok := s.blobs[r.PathValue("name")]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	mux.HandleFunc("POST /output/{key}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ch, ok := s.outputs[r.PathValue("key")]
		s.mu.Unlock()
		if !ok {
			http.Error(w, "no output expected", http.StatusNotFound)
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<20))
		if err != nil || len(b)%4 != 0 {
			http.Error(w, fmt.Sprintf("bad body (%d bytes): %v", len(b), err), http.StatusBadRequest)
			return
		}
		select {
		case ch <- decodeF32(b):
		default:
			http.Error(w, "output already received", http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: isolate(mux)}
	go s.srv.Serve(ln)
	return s, nil
}

func isolate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		// no-store makes every fresh page's cold start fetch and compile
		// the runtime again instead of reusing an earlier backend's.
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (s *server) Close() { s.srv.Close() }

// expect returns the channel that receives the page's POST to /output/key.
func (s *server) expect(key string) chan []float32 {
	ch := make(chan []float32, 1)
	s.mu.Lock()
	s.outputs[key] = ch
	s.mu.Unlock()
	return ch
}

func wait(ctx context.Context, ch chan []float32) ([]float32, error) {
	select {
	case y := <-ch:
		return y, nil
	case <-ctx.Done():
		return nil, errors.New("page posted no output: " + ctx.Err().Error())
	}
}

func encodeF32(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func decodeF32(b []byte) []float32 {
	y := make([]float32, len(b)/4)
	for i := range y {
		y[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return y
}
