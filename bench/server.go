package main

import (
	_ "embed"
	"net/http"

	"github.com/edgetoon/edgetoon/internal/isolated"
	"github.com/edgetoon/edgetoon/web"
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
	*isolated.Exchange
}

func startServer(nodeDir, distDir string, blobs map[string][]byte) (*server, error) {
	s := &server{Exchange: isolated.NewExchange(256 << 20)}
	for name, b := range blobs {
		s.Put(name, b)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.Handle("GET /nm/", http.StripPrefix("/nm/", http.FileServer(http.Dir(nodeDir))))
	mux.Handle("GET /dist/", http.StripPrefix("/dist/", http.FileServer(http.Dir(distDir))))
	// The page's own TF.js graph builder: the TF.js peer runs our graph
	// exactly as the product's CPU path does.
	mux.Handle("GET /tfgraph.js", http.FileServerFS(web.FS))
	mux.HandleFunc("GET /data/{name}", s.Blob)
	mux.HandleFunc("POST /output/{key}", s.Output)
	var err error
	if s.srv, s.URL, err = isolated.Serve(mux); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *server) Close() { s.srv.Close() }
