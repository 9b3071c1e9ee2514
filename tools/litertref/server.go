package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/edgetoon/edgetoon/internal/isolated"
)

//go:embed page.html
var page []byte

// server serves the page, the LiteRT.js package, the model files, and the
// input tensors, and receives the output tensors. It listens on loopback
// only and sets COOP/COEP on every response, which cross-origin-isolates
// the page so LiteRT.js can use its threaded (SharedArrayBuffer) build.
type server struct {
	URL string
	srv *http.Server

	mu      sync.Mutex
	inputs  map[string][]byte
	outputs map[string]chan []float32
}

func startServer(nodeDir, modelsDir string) (*server, error) {
	if _, err := os.Stat(filepath.Join(nodeDir, "@litertjs", "wasm-utils")); err != nil {
		return nil, fmt.Errorf("LiteRT.js dependencies missing (run: cd tools/litertref && npm ci): %w", err)
	}
	s := &server{inputs: map[string][]byte{}, outputs: map[string]chan []float32{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.Handle("GET /nm/", http.StripPrefix("/nm/", http.FileServer(http.Dir(nodeDir))))
	mux.HandleFunc("GET /model/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		// Only plain .tflite names: the models directory is all it serves.
		if !strings.HasSuffix(name, ".tflite") || strings.ContainsAny(name, `/\`) {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, filepath.Join(modelsDir, name))
	})
	mux.HandleFunc("GET /input/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b, ok := s.inputs[r.PathValue("id")]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	mux.HandleFunc("POST /output/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ch, ok := s.outputs[r.PathValue("id")]
		s.mu.Unlock()
		if !ok {
			http.Error(w, "no output expected", http.StatusNotFound)
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
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

// pending is an output the page will post.
type pending chan []float32

// expect publishes x as /input/<id> and returns the channel that receives
// the page's POST to /output/<id>.
func (s *server) expect(id string, x []float32) pending {
	b := isolated.EncodeF32(x)
	ch := make(chan []float32, 1)
	s.mu.Lock()
	s.inputs[id] = b
	s.outputs[id] = ch
	s.mu.Unlock()
	return ch
}

func (p pending) wait(ctx context.Context) ([]float32, error) {
	select {
	case y := <-p:
		return y, nil
	case <-ctx.Done():
		return nil, errors.New("page posted no output: " + ctx.Err().Error())
	}
}
