package main

import (
	_ "embed"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

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

	*isolated.Exchange
}

func startServer(nodeDir, modelsDir string) (*server, error) {
	if _, err := os.Stat(filepath.Join(nodeDir, "@litertjs", "wasm-utils")); err != nil {
		return nil, fmt.Errorf("LiteRT.js dependencies missing (run: cd tools/litertref && npm ci): %w", err)
	}
	s := &server{Exchange: isolated.NewExchange(64 << 20)}
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
	mux.HandleFunc("GET /input/{name}", s.Blob)
	mux.HandleFunc("POST /output/{key}", s.Output)

	var err error
	if s.srv, s.URL, err = isolated.Serve(mux); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *server) Close() { s.srv.Close() }

// expect publishes x as /input/<id> and returns what receives the page's
// POST to /output/<id>.
func (s *server) expect(id string, x []float32) isolated.Pending {
	s.Put(id, isolated.EncodeF32(x))
	return s.Expect(id)
}
