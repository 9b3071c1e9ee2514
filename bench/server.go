package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/edgetoon/edgetoon/internal/isolated"
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
		case ch <- isolated.DecodeF32(b):
		default:
			http.Error(w, "output already received", http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	var err error
	if s.srv, s.URL, err = isolated.Serve(mux); err != nil {
		return nil, err
	}
	return s, nil
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
