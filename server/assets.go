package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

// An asset is one response body the server can send, prepared at startup.
type asset struct {
	path  string // URL path, e.g. "/app.js"
	ctype string
	body  []byte
	br    []byte // brotli variant; nil when not worth sending
	gz    []byte // gzip variant; nil when not worth sending
	hash  string // of body; the ?v= value that makes a URL immutable
	cors  bool   // sent to other origins: the widget's files
	// missing, when set, is why a build output is absent; the server
	// answers 503 with it instead of a body.
	missing string
}

// Build outputs the page cannot work without. They are registered even
// when absent, so that references to them resolve and requests for them
// get a 503 that says what to do.
const (
	wasmPath     = "/edgetoon.wasm"
	wasmExecPath = "/wasm_exec.js"
	indexPath    = "/models/index.json"
	profilePath  = "/profile"
	tfjsPath     = "/tfjs/" // TensorFlow.js and its wasm backend: web/cpuworker.js loads them on software WebGL
	notBuilt     = "not built: run `make` (or `make wasm model`) and restart `edgetoon serve`"
)

// tfjsFiles are the files of TensorFlow.js that make tfjs copies into
// dist/tfjs: its core, its wasm backend and the backend's three builds.
var tfjsFiles = []string{"tf-core.min.js", "tf-backend-wasm.min.js",
	"tfjs-backend-wasm-threaded-simd.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm.wasm"}

var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".wasm":        "application/wasm",
	".png":         "image/png",
	".svg":         "image/svg+xml",
	".safetensors": "application/octet-stream",
}

// corsPaths are the widget's files: a third-party page loads them, so they
// carry Access-Control-Allow-Origin. Models are added as they load.
var corsPaths = map[string]bool{
	"/widget.js":     true,
	"/core.js":       true,
	"/live.js":       true,
	"/cpupath.js":    true,
	"/cutout.js":     true,
	"/cpuengine.js":  true,
	"/cpuruntime.js": true,
	"/cpuworker.js":  true,
	"/tfgraph.js":    true,
	"/resample.js":   true,
	wasmPath:         true,
	wasmExecPath:     true,
	indexPath:        true,
}

// urlPath maps a file of the web directory to the URL it is served at.
// The build outputs under dist/ are served from the root; the page is "/".
// ok is false for files that are not served.
func urlPath(name string) (p string, ok bool) {
	base := path.Base(name)
	if strings.HasPrefix(base, ".") {
		return "", false
	}
	switch {
	case name == "index.html":
		return "/", true
	case name == "profile.html": // the latency profiler
		return profilePath, true
	case name == "dist/edgetoon.wasm", name == "dist/wasm_exec.js",
		name == "dist/edgetoon-lab.wasm": // the profiler's engine (make lab-wasm), for /profile only
		return "/" + base, true
	case path.Dir(name) == "dist/tfjs": // TensorFlow.js for the CPU path (make tfjs; web/cpuworker.js)
		return tfjsPath + base, true
	case strings.HasPrefix(name, "dist/models/") && path.Ext(name) == ".safetensors" && path.Dir(name) == "dist/models":
		return "/models/" + base, true
	case strings.HasPrefix(name, "dist/"):
		return "", false
	case path.Dir(name) == "models" && path.Ext(name) == ".safetensors": // our own trained models
		return "/models/" + base, true
	case strings.HasPrefix(name, "models/"):
		return "", false
	}
	return "/" + name, true
}

// readAssets reads every served file of fsys. Models are returned apart:
// they are validated before they join the asset set.
func readAssets(fsys fs.FS) (assets map[string]*asset, models map[string][]byte, err error) {
	assets = make(map[string]*asset)
	models = make(map[string][]byte)
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		p, ok := urlPath(name)
		if !ok {
			return nil
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if strings.HasPrefix(p, "/models/") {
			models[strings.TrimSuffix(path.Base(p), ".safetensors")] = data
			return nil
		}
		ext := path.Ext(name)
		ctype, ok := contentTypes[ext]
		if !ok {
			return fmt.Errorf("%s: no content type for %q files", name, ext)
		}
		assets[p] = &asset{path: p, ctype: ctype, body: data, cors: corsPaths[p] || strings.HasPrefix(p, tfjsPath)}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read assets: %w", err)
	}
	// web/cpupath.js refers to these: without them its CPU path says it
	// is not built, and the page keeps to WebGL.
	for _, name := range tfjsFiles {
		if p := tfjsPath + name; assets[p] == nil {
			a := missingAsset(p)
			a.cors, a.missing = true, strings.TrimPrefix(p, "/")+" is not built: run `make tfjs` and restart `edgetoon serve`"
			assets[p] = a
		}
	}
	for _, p := range []string{wasmPath, wasmExecPath} {
		if assets[p] == nil {
			assets[p] = missingAsset(p)
		}
	}
	return assets, models, nil
}

func missingAsset(p string) *asset {
	return &asset{path: p, ctype: contentTypes[path.Ext(p)], cors: corsPaths[p],
		hash: "missing", missing: strings.TrimPrefix(p, "/") + " is " + notBuilt}
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// versionedRef matches a reference such as "/app.js?v=dev" in a text
// asset. The server replaces "dev" with the referenced asset's hash, so
// the source files work unchanged while every shipped URL names exactly
// one content version and can be cached forever.
var versionedRef = regexp.MustCompile(`(/[A-Za-z0-9_./-]*)\?v=dev\b`)

// versionToken in a text asset becomes that asset's own hash: the service
// worker names its cache with it.
const versionToken = "__VERSION__"

func isText(p string) bool {
	switch path.Ext(p) {
	case ".html", ".js", ".css", ".json", ".webmanifest", ".svg":
		return p != wasmExecPath
	}
	return p == "/" || p == profilePath
}

// link rewrites the versioned references of every text asset and hashes
// every asset. A file is hashed after the files it references, so a change
// anywhere changes the hash of everything that leads to it (the page, the
// service worker), which is what makes the service worker update.
func link(assets map[string]*asset) error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int)
	var visit func(p string, from string) error
	visit = func(p, from string) error {
		a := assets[p]
		if a == nil {
			return fmt.Errorf("%s references %s?v=dev, which is not an asset", from, p)
		}
		switch state[p] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("%s and %s reference each other: their versions would depend on each other", from, p)
		}
		state[p] = visiting
		if a.missing == "" && isText(p) {
			var err error
			body := versionedRef.ReplaceAllFunc(a.body, func(m []byte) []byte {
				ref := string(versionedRef.FindSubmatch(m)[1])
				if err == nil {
					err = visit(ref, p)
				}
				if err != nil {
					return m
				}
				return []byte(ref + "?v=" + assets[ref].hash)
			})
			if err != nil {
				return err
			}
			a.body = bytes.ReplaceAll(body, []byte(versionToken), []byte(hashOf(body)))
		}
		if a.hash == "" {
			a.hash = hashOf(a.body)
		}
		state[p] = done
		return nil
	}
	for p := range assets {
		if err := visit(p, p); err != nil {
			return err
		}
	}
	return nil
}

// compress prepares the brotli and gzip variants of every asset that
// gains from them, in parallel. Models are left alone: float weights
// barely shrink, and an uncompressed model keeps Content-Length equal to
// the bytes a download-progress bar counts, and byte ranges meaningful.
func compress(assets map[string]*asset) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, 4)
	for _, a := range assets {
		if a.missing != "" || path.Ext(a.path) == ".safetensors" || path.Ext(a.path) == ".png" {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			br, gz, err := compressed(a.body)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("compress %s: %w", a.path, err))
				return
			}
			a.br, a.gz = br, gz
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// compressed returns the variants, each nil unless it saves a tenth.
// Brotli's best quality is slow on large files: above 256 KiB (the
// engine, the CPU path's runtime) quality 9 keeps the server's start
// quick for a few more bytes on the wire (docs/lab.md compares the
// sizes for the engine; docs/cpupath.md for the runtime).
func compressed(body []byte) (br, gz []byte, err error) {
	var b bytes.Buffer
	level := brotli.BestCompression
	if len(body) > 1<<18 {
		level = 9
	}
	bw := brotli.NewWriterLevel(&b, level)
	if _, err := bw.Write(body); err != nil {
		return nil, nil, err
	}
	if err := bw.Close(); err != nil {
		return nil, nil, err
	}
	if b.Len()*10 < len(body)*9 {
		br = bytes.Clone(b.Bytes())
	}
	b.Reset()
	gw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if _, err := gw.Write(body); err != nil {
		return nil, nil, err
	}
	if err := gw.Close(); err != nil {
		return nil, nil, err
	}
	if b.Len()*10 < len(body)*9 {
		gz = bytes.Clone(b.Bytes())
	}
	return br, gz, nil
}
