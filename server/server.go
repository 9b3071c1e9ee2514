// Package server serves edgetoon: the product page, its service worker and
// manifest, the embeddable widget, the WebAssembly engine and the models.
//
// Every response body is prepared once at startup and held in memory,
// with its brotli and gzip variants. The server answers only for the
// paths of that asset set (plus /healthz), only to GET and HEAD, and
// accepts no request bodies: images never leave the user's device. The one
// exception, off unless Config.LatencyDir is set, is POST /api/latency,
// which collects latency tables from the profiler page (latency.go) within
// a rate limit per client network, a disk quota and a Host check.
//
// Harden puts a Server behind an http.Server and a listener that bound
// what slow and hostile clients can hold: connections per client network
// and in all, and write deadlines that follow the bytes (limits.go).
//
// Caching: text assets refer to each other as "/file?v=dev"; at startup
// the server replaces "dev" with the hash of the referenced file. A
// request whose v matches the current hash is cached for a year as
// immutable; every other response is "no-cache", revalidated by ETag.
package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config says what to serve.
type Config struct {
	// Assets is the web directory (package web's FS): the page's files at
	// the root, build outputs under dist/.
	Assets fs.FS
	// ModelDir, if set, holds more *.safetensors models to offer.
	ModelDir string
	// DefaultModel names the model the page starts with ("student": the
	// project's own compact generator, committed in web/models).
	DefaultModel string
	// Inspect validates a model file and describes it; nil means
	// InspectModel.
	Inspect func(data []byte) (ModelInfo, error)
	// Log receives startup notes (skipped models). Nil means log.Printf.
	Log func(format string, args ...any)
	// LatencyDir, if set, enables POST /api/latency (latency.go), which
	// stores latency tables there. Without it the server accepts no
	// request bodies at all.
	LatencyDir string
	// LatencyQuota bounds the bytes of tables kept in LatencyDir (each
	// file charged in whole 4 KiB blocks); past it the oldest tables are
	// removed. Zero means DefaultLatencyQuota.
	LatencyQuota int64
	// LatencyHosts are host names, besides localhost and the addresses
	// the server is reached at, under which POST /api/latency is
	// accepted: the name of a reverse proxy in front of it, say.
	LatencyHosts []string
}

// Server is an http.Handler for the asset set.
type Server struct {
	cfg     Config
	assets  map[string]*asset
	models  []ModelEntry
	missing []string // URL paths of absent build outputs
	latency *latencyStore
}

// New reads, links and compresses the asset set.
func New(cfg Config) (*Server, error) {
	if cfg.Assets == nil {
		return nil, errors.New("server: Config needs Assets")
	}
	if cfg.Inspect == nil {
		cfg.Inspect = InspectModel
	}
	if cfg.DefaultModel == "" {
		cfg.DefaultModel = "student"
	}
	if cfg.LatencyQuota == 0 {
		cfg.LatencyQuota = DefaultLatencyQuota
	}
	s := &Server{cfg: cfg}
	assets, models, err := readAssets(cfg.Assets)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{wasmPath, wasmExecPath} {
		if assets[p].missing != "" {
			s.missing = append(s.missing, p)
		}
	}
	if err := s.addModels(assets, models); err != nil {
		return nil, err
	}
	if err := link(assets); err != nil {
		return nil, fmt.Errorf("link assets: %w", err)
	}
	if err := compress(assets); err != nil {
		return nil, err
	}
	s.assets = assets
	if cfg.LatencyDir != "" {
		if s.latency, err = newLatencyStore(cfg.LatencyDir, cfg.LatencyQuota, cfg.LatencyHosts, s.logf); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	return s, nil
}

// Missing lists the build outputs that are absent, as URL paths. The page
// does not work until they are built.
func (s *Server) Missing() []string { return slices.Clone(s.missing) }

// Models lists the models on offer, the default first.
func (s *Server) Models() []ModelEntry { return slices.Clone(s.models) }

// Paths lists every URL path the server answers for, sorted.
func (s *Server) Paths() []string {
	paths := []string{"/healthz"}
	for p := range s.assets {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// ContentSecurityPolicy allows only this origin's files; WebAssembly
// compilation needs 'wasm-unsafe-eval' (and nothing broader). Photos are
// shown through blob: URLs. No inline script or style is allowed.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; " +
	"style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; " +
	"worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// workerPolicy is the Content-Security-Policy of the CPU path's worker
// (web/cpuworker.js), the one script that needs more than the page: the
// runtime it loads (TensorFlow.js's wasm backend) starts the workers of
// its thread pool from blob: URLs that import blob: scripts (Emscripten's
// pthreads). A worker's policy is that of its own script's response, and
// the pool inherits it, so the page keeps the policy above.
const workerPolicy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' blob:; " +
	"connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'"

// workerPath is the worker that workerPolicy applies to.
const workerPath = "/cpuworker.js"

// hsts keeps browsers on HTTPS once they reached the server over it with
// a certificate they trust (they ignore it otherwise, and for IP
// addresses). It is not sent for localhost: it would apply to every port
// of localhost, other projects' development servers included.
const hsts = "max-age=31536000"

const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.URL.Path == workerPath && r.URL.RawPath == "" {
		h.Set("Content-Security-Policy", workerPolicy)
	} else {
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// With COOP, this makes the page cross-origin isolated, which the CPU
	// path's threads (SharedArrayBuffer) need; every asset sends CORP.
	h.Set("Cross-Origin-Embedder-Policy", "require-corp")
	if r.TLS != nil && !isLocalhost(r.Host) {
		h.Set("Strict-Transport-Security", hsts)
	}

	if s.latency != nil && r.URL.Path == latencyPath && r.URL.RawPath == "" {
		s.latency.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	// A path that arrived with escapes that decode to something else
	// (%2F, %2e%2e) names no asset: the set has only plain paths.
	if r.URL.RawPath != "" {
		plain(w, http.StatusNotFound, "not found")
		return
	}
	if r.URL.Path == "/healthz" {
		s.health(w)
		return
	}
	a := s.assets[r.URL.Path]
	if a == nil {
		plain(w, http.StatusNotFound, "not found")
		return
	}
	if a.cors {
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	} else {
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
	}
	if a.missing != "" {
		plain(w, http.StatusServiceUnavailable, a.missing)
		return
	}
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", cacheImmutable)
	} else {
		h.Set("Cache-Control", cacheRevalidate)
	}
	body, etag := a.body, `"`+a.hash+`"`
	if a.br != nil || a.gz != nil {
		h.Set("Vary", "Accept-Encoding")
		// A byte range is served from the identity encoding, where it
		// means what the client expects.
		if r.Header.Get("Range") == "" {
			switch negotiate(r.Header.Get("Accept-Encoding"), a.br != nil, a.gz != nil) {
			case "br":
				body, etag = a.br, `"`+a.hash+`-br"`
				h.Set("Content-Encoding", "br")
			case "gzip":
				body, etag = a.gz, `"`+a.hash+`-gz"`
				h.Set("Content-Encoding", "gzip")
			}
		}
	}
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", etag)
	if h.Get("Content-Encoding") != "" {
		// ServeContent leaves the length out for encoded bodies, as it
		// cannot know it; here it is known.
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if !fixRange(r, len(body), etag) {
		h.Set("Content-Range", "bytes */"+strconv.Itoa(len(body)))
		plain(w, http.StatusRequestedRangeNotSatisfiable, "range not satisfiable")
		return
	}
	// ServeContent answers If-None-Match (304), Range and HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func (s *Server) health(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	status, code := "ok", http.StatusOK
	if len(s.missing) > 0 {
		status, code = "not built: missing "+strings.Join(s.missing, ", "), http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		Models int    `json:"models"`
	}{status, len(s.models)})
}

func plain(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// negotiate picks "br", "gzip" or "" (identity) for an Accept-Encoding
// header: the available coding with the highest q-value, preferring br,
// then gzip, on ties. A coding not listed takes the q of "*", if given.
func negotiate(accept string, haveBr, haveGz bool) string {
	q := map[string]float64{}
	for _, part := range strings.Split(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		v := 1.0
		for _, p := range strings.Split(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err != nil {
					f = 0
				}
				v = f
			}
		}
		q[name] = v
	}
	qOf := func(name string) float64 {
		if v, ok := q[name]; ok {
			return v
		}
		if v, ok := q["*"]; ok {
			return v
		}
		return 0
	}
	best, bestQ := "", 0.0
	if haveBr && qOf("br") > bestQ {
		best, bestQ = "br", qOf("br")
	}
	if haveGz && qOf("gzip") > bestQ {
		best, bestQ = "gzip", qOf("gzip")
	}
	// Identity is acceptable unless refused; it wins only with a higher q.
	if id, ok := q["identity"]; ok && id > bestQ {
		return ""
	}
	return best
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		s.cfg.Log(format, args...)
		return
	}
	log.Printf(format, args...)
}
