//go:build !js

package browsertest

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	ibrowser "github.com/edgetoon/edgetoon/internal/browser/browsertest"
	"github.com/edgetoon/edgetoon/model"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// wasmDir builds the engine once per test binary, with wasm_exec.js: the
// lab build (-tags lab), whose debugRun and debugMallocs the tests use.
func wasmDir(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "edgetoon-wasm-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-tags", "lab", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(buildDir, "edgetoon.wasm"), "github.com/edgetoon/edgetoon/wasm")
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the WASM engine: %v\n%s", err, out)
			return
		}
		src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
		if err != nil {
			buildErr = err
			return
		}
		buildErr = os.WriteFile(filepath.Join(buildDir, "wasm_exec.js"), src, 0o644)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// indexHTML loads the engine and the test helpers; window.ready resolves
// when globalThis.edgetoon exists.
const indexHTML = `<!doctype html><meta charset="utf-8"><title>edgetoon test</title>
<body><canvas id="out"></canvas>
<script src="wasm_exec.js"></script>
<script>
window.ready = (async () => {
  const go = new Go();
  const r = await WebAssembly.instantiateStreaming(fetch("edgetoon.wasm"), go.importObject);
  go.run(r.instance);
  while (!globalThis.edgetoon) await new Promise(r => setTimeout(r, 5));
})();
async function bytes(url) { return new Uint8Array(await (await fetch(url)).arrayBuffer()); }
// runRaw runs a model on a raw input through debugRun and posts the output.
async function runRaw(model, input, h, w, precision, out) {
  const y = await edgetoon.debugRun(await bytes(model), new Float32Array((await bytes(input)).buffer), h, w, precision);
  await fetch(out, {method: "POST", body: y});
  return y.passes;
}
// rgbaCanvas makes a canvas of w x h holding RGBA bytes from url.
async function rgbaCanvas(url, w, h) {
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  const ctx = c.getContext("2d");
  ctx.putImageData(new ImageData(new Uint8ClampedArray((await bytes(url)).buffer), w, h), 0, 0);
  return c;
}
// readCanvas copies a WebGL canvas's pixels (right after drawing) and posts them.
async function readCanvas(canvas, out) {
  const c = document.createElement("canvas");
  c.width = canvas.width; c.height = canvas.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(canvas, 0, 0);
  const px = ctx.getImageData(0, 0, c.width, c.height).data;
  await fetch(out, {method: "POST", body: px});
}
</script>`

// server serves the engine, the test page, and blobs by id: GET /blob/ID
// returns bytes put by the test, POST /put/ID stores what the page sends.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	blobs map[string][]byte
	n     int
}

func newServer(t testing.TB) *server {
	dir := wasmDir(t)
	s := &server{blobs: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	mux.HandleFunc("/index.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, indexHTML)
	})
	mux.HandleFunc("/blob/", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/blob/")
		s.mu.Lock()
		b, ok := s.blobs[id]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
	})
	mux.HandleFunc("/put/", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		s.mu.Lock()
		s.blobs[strings.TrimPrefix(r.URL.Path, "/put/")] = b
		s.mu.Unlock()
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// put stores b and returns its URL path.
func (s *server) put(b []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	id := fmt.Sprintf("b%d", s.n)
	s.blobs[id] = b
	return "/blob/" + id
}

// slot reserves an id for the page to post to; get reads it back.
func (s *server) slot() (post, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	id = fmt.Sprintf("r%d", s.n)
	return "/put/" + id, id
}

func (s *server) get(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blobs[id]
}

// page is a browser tab with the engine loaded.
type page struct {
	ctx context.Context
	srv *server
}

func newPage(t testing.TB) *page {
	t.Helper()
	srv := newServer(t)
	ctx := ibrowser.Start(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/index.html")); err != nil {
		t.Fatal(err)
	}
	if _, err := eval[chromedp.Void](ctx, "window.ready"); err != nil {
		t.Fatalf("loading the engine: %v", err)
	}
	return &page{ctx: ctx, srv: srv}
}

// eval evaluates a JS expression, awaiting a promise, with a timeout.
func eval[T any](ctx context.Context, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// runGPU runs g on the normalized input x through debugRun.
func (p *page) runGPU(g *model.Graph, x *model.Tensor, precision string) (*model.Tensor, int, error) {
	data, err := model.Encode(g, "F32")
	if err != nil {
		return nil, 0, err
	}
	mu, iu := p.srv.put(data), p.srv.put(f32bytes(x.Data))
	post, id := p.srv.slot()
	passes, err := eval[int](p.ctx, fmt.Sprintf("runRaw(%q, %q, %d, %d, %q, %q)", mu, iu, x.Shape[0], x.Shape[1], precision, post))
	if err != nil {
		return nil, 0, err
	}
	shapes, err := g.Shapes(x.Shape[0], x.Shape[1])
	if err != nil {
		return nil, 0, err
	}
	out := &model.Tensor{Shape: shapes[g.Output], Data: bytesF32(p.srv.get(id)), DType: "F32"}
	if len(out.Data) != model.NumElements(out.Shape) {
		return nil, 0, fmt.Errorf("GPU output has %d values, want %v", len(out.Data), out.Shape)
	}
	return out, passes, nil
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

func bytesF32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return v
}

// newRand returns fresh random numbers for a test and logs their seed
// (shown when it fails, or with -v); EDGETOON_SEED=<seed> replays it.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("EDGETOON_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("EDGETOON_SEED=%q: %v", s, err)
		}
	}
	t.Logf("random inputs from seed %d (EDGETOON_SEED=%d replays them)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// randomInput returns an [h,w,c] tensor uniform in [-1,1), never all zero.
func randomInput(rng *rand.Rand, h, w, c int) *model.Tensor {
	x := model.NewTensor(h, w, c)
	for i := range x.Data {
		x.Data[i] = 2*rng.Float32() - 1
	}
	return x
}

// maxRelErr is max |a-b| / max(|b|, 1) over all values: relative for large
// values, absolute near zero (where relative error means nothing).
func maxRelErr(a, b []float32) (float64, int) {
	worst, at := 0.0, -1
	for i := range b {
		d := math.Abs(float64(a[i]-b[i])) / math.Max(math.Abs(float64(b[i])), 1)
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
			if math.IsNaN(d) {
				return math.Inf(1), i
			}
		}
	}
	return worst, at
}

// psnr compares two images in [0,1] (values clipped), in dB.
func psnr(a, b []float32) float64 {
	var se float64
	for i := range a {
		d := clip01(a[i]) - clip01(b[i])
		se += d * d
	}
	return 10 * math.Log10(float64(len(a))/se)
}

func clip01(v float32) float64 { return math.Min(math.Max(float64(v), 0), 1) }
