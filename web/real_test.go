package web_test

// End-to-end tests with the real engine: web.FS as shipped (the page,
// dist/edgetoon.wasm, dist/wasm_exec.js and the White-box model), in
// headless Chromium on SwiftShader, each stylized frame compared with the
// CPU reference engine (model/cpu) run on the same input.
//
// SwiftShader emulates the GPU on the CPU: a 256x256 White-box frame
// takes 10-25 s there, so these tests ask the page for small detail
// levels (?size=) and as few frames as they need.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/image/draw"

	"github.com/edgetoon/edgetoon/internal/photo"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
	"github.com/edgetoon/edgetoon/server"
	"github.com/edgetoon/edgetoon/web"
)

// realLimit bounds a real-engine browser session: engine start (shader
// compilation) plus a few small frames on a shared, loaded CPU.
const realLimit = 6 * time.Minute

// realServer serves the shipped asset set, recording every request that
// reaches it and counting the bytes it writes. Without a built engine and
// model the test is skipped (run make wasm), except under CI, which
// builds them first.
type realServer struct {
	srv     *server.Server
	ts      *httptest.Server
	mu      sync.Mutex
	reqs    []seenRequest
	written atomic.Int64 // bytes written to all connections: the wire
}

// seenRequest is a request as the server saw it.
type seenRequest struct {
	method, uri string
	body        int64 // bytes of request body read
}

func startReal(t testing.TB) *realServer {
	t.Helper()
	return startRealModels(t, "")
}

// startRealModels is startReal that also offers the models of dir.
func startRealModels(t testing.TB, dir string) *realServer {
	t.Helper()
	srv, err := server.New(server.Config{Assets: web.FS, ModelDir: dir, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if missing := srv.Missing(); len(missing) > 0 || len(srv.Models()) == 0 {
		msg := fmt.Sprintf("the engine is not built (missing %v, %d models): run make wasm", missing, len(srv.Models()))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	r := &realServer{srv: srv}
	r.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n, _ := io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, seenRequest{req.Method, req.RequestURI, n})
		r.mu.Unlock()
		srv.ServeHTTP(w, req)
	}))
	r.ts.Listener = countingListener{r.ts.Listener, &r.written}
	r.ts.Start()
	t.Cleanup(r.ts.Close)
	return r
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return countingConn{c, l.n}, err
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// pageParams are the page's URL parameters (app.js).
var pageParams = map[string]bool{"mode": true, "size": true, "model": true, "precision": true}

// hexVersion is what the server puts in ?v=: a content hash.
var hexVersion = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// checkNoUploads asserts that every request that reached the server,
// the service worker's included, was a GET or HEAD without a body for a
// path of the asset set, with at most a content-hash ?v=: no request can
// carry picture data.
func (r *realServer) checkNoUploads(t testing.TB) {
	t.Helper()
	paths := r.srv.Paths()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Error("the server saw no requests")
	}
	for _, q := range r.reqs {
		u, err := url.ParseRequestURI(q.uri)
		if err != nil {
			t.Errorf("%s %q: %v", q.method, q.uri, err)
			continue
		}
		if q.method != http.MethodGet && q.method != http.MethodHead {
			t.Errorf("%s %s: only GET and HEAD expected", q.method, q.uri)
		}
		if q.body != 0 {
			t.Errorf("%s %s carried a %d-byte body", q.method, q.uri, q.body)
		}
		if !slices.Contains(paths, u.Path) {
			t.Errorf("%s %s: not a path of the asset set", q.method, q.uri)
		}
		for k, v := range u.Query() {
			ok := len(v) == 1 && (k == "v" && hexVersion.MatchString(v[0]) ||
				// The tests open the page with its own parameters.
				u.Path == "/" && pageParams[k] && len(v[0]) <= 16)
			if !ok {
				t.Errorf("%s %s: unexpected query %s=%v", q.method, q.uri, k, v)
			}
		}
	}
}

// defaultModel is the model the page starts with (the server's default):
// the committed student.
var defaultModel = sync.OnceValues(func() (*model.Graph, error) {
	data, err := fs.ReadFile(web.FS, "models/student.safetensors")
	if err != nil {
		return nil, err
	}
	return model.Decode(data)
})

// captureJS, run in every document before its scripts, wraps the engine
// API as the Go program installs it (globalThis.edgetoon), so that right
// after each stylize call, in the same task (the WebGL canvas may be
// cleared once shown), it records the stylized canvas and the source the
// engine was given, both as PNG, in globalThis.__frames (at most
// __maxFrames). A video's current frame can change while a task runs (it
// comes from the compositor), so the source is read before and after the
// call: only when both agree is it surely what the engine read. The page
// itself is unchanged.
var captureJS = onEngine(`
  const frames = globalThis.__frames = [];
  let engines = 0;
  const png = (c) => c.toDataURL("image/png");
  const snapshot = (src) => {
    const c = document.createElement("canvas");
    c.width = src.videoWidth || src.width;
    c.height = src.videoHeight || src.height;
    c.getContext("2d").drawImage(src, 0, 0);
    return png(c);
  };`, `(engine, opts) => {
    const id = engines++;
    const owner = opts.canvas.getRootNode().host?.id || "page";
    const stylize = engine.stylize;
    engine.stylize = (src, w, h) => {
      const keep = frames.length < globalThis.__maxFrames;
      const start = performance.now();
      const before = keep && snapshot(src);
      const snap = performance.now() - start;
      const r = stylize(src, w, h);
      if (keep) {
        // Reading the canvas waits for the GPU: done is when the
        // frame was finished, less the time the snapshot took.
        const out = png(opts.canvas), done = performance.now() - snap;
        frames.push({engine: id, owner, w, h, start, done, out, src: snapshot(src), before});
      }
      return r;
    };
    return engine;
  }`)

// onEngine is a script, run before the page's scripts, that hands every
// engine the page creates through the API as the Go program installs it
// (globalThis.edgetoon) to wrap, a JS function (engine, opts) that may
// replace the engine's methods and returns it. setup runs first, in the
// same scope as wrap.
func onEngine(setup, wrap string) string {
	return `(() => {` + setup + `
  const wrap = ` + wrap + `;
  let api;
  Object.defineProperty(globalThis, "edgetoon", {
    configurable: true,
    get: () => api,
    set(v) {
      api = v;
      const create = v.create;
      v.create = async (opts) => wrap(await create(opts), opts);
    },
  });
})();`
}

// waitReal is waitFor with the real engine's time limit. On the product
// page, a notice (the engine or the model failed) ends the wait at once.
func (s *session) waitReal(t testing.TB, what, expr string) {
	t.Helper()
	const notice = `(() => { const n = document.getElementById("notice"); return n && !n.hidden ? n.textContent : ""; })()`
	s.waitFor(t, realLimit, what, notice+` || (`+expr+`)`)
	if text := eval[string](t, s, notice); text != "" {
		t.Fatalf("waiting for %s, the page says: %s\nconsole: %v", what, text, s.messages())
	}
}

// capture installs captureJS, keeping n frames, in the session's
// documents to come.
func (s *session) capture(t testing.TB, n int) {
	t.Helper()
	src := fmt.Sprintf("globalThis.__maxFrames = %d;\n%s", n, captureJS)
	if _, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		t.Fatal(err)
	}
}

// frame is one stylize call as captureJS recorded it.
type frame struct {
	Engine int
	Owner  string
	W, H   int
	// Start and Done are when the page called stylize and when the
	// frame was finished, in ms since navigation started.
	Start, Done float64
	Out, Src    string // PNG data URLs
	Before      string // Src as read before the call
	out, src    image.Image
	// exact says src is surely what the engine read: the source did not
	// change during the call.
	exact bool
}

// frames returns the frames recorded so far, decoded.
func (s *session) frames(t testing.TB) []frame {
	t.Helper()
	raw := eval[string](t, s, `JSON.stringify(globalThis.__frames)`)
	var fs []frame
	if err := json.Unmarshal([]byte(raw), &fs); err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		fs[i].out = dataPNG(t, fs[i].Out)
		fs[i].src = dataPNG(t, fs[i].Src)
		fs[i].exact = fs[i].Before == fs[i].Src
		if b := fs[i].out.Bounds(); b.Dx() != fs[i].W || b.Dy() != fs[i].H {
			t.Errorf("frame %d: canvas %v, stylized at %dx%d", i, b, fs[i].W, fs[i].H)
		}
	}
	return fs
}

func dataPNG(t testing.TB, s string) image.Image {
	t.Helper()
	b64, ok := strings.CutPrefix(s, "data:image/png;base64,")
	if !ok {
		t.Fatalf("not a PNG data URL: %.40q", s)
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return decodePNG(t, data)
}

// reference stylizes img at w x h with the CPU engine, its input sampled
// as the shader samples it, and returns the picture as RGB in [0,1].
func reference(t testing.TB, img image.Image, w, h int) []float32 {
	t.Helper()
	g, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	return runCPU(t, g, img, w, h)
}

// runCPU runs g on the CPU engine on img sampled at w x h as the shader
// samples it, padded to the model's multiple as the engines pad it, and
// returns the picture's part as RGB in [0,1].
func runCPU(t testing.TB, g *model.Graph, img image.Image, w, h int) []float32 {
	t.Helper()
	m := max(g.SizeMultiple, 1)
	x := photo.Pad(photo.Sample(img, w, h), (w+m-1)/m*m, (h+m-1)/m*m)
	y, err := cpu.Run(g, g.Norm.Apply(x))
	if err != nil {
		t.Fatal(err)
	}
	y = photo.Crop(y, w, h)
	out := make([]float32, len(y.Data))
	for i, v := range y.Data {
		out[i] = float32(math.Min(math.Max(float64(v*g.Denorm.Scale[i%3]+g.Denorm.Bias[i%3]), 0), 1))
	}
	return out
}

// rgb returns img's pixels as RGB in [0,1], HWC.
func rgb(img image.Image) []float32 {
	b := img.Bounds()
	out := make([]float32, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out = append(out, float32(r)/65535, float32(g)/65535, float32(bl)/65535)
		}
	}
	return out
}

// psnr is the peak signal-to-noise ratio of a against b, in dB, for
// pixels in [0,1].
func psnr(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	var se float64
	for i := range a {
		d := float64(a[i] - b[i])
		se += d * d
	}
	return 10 * math.Log10(float64(len(a))/max(se, 1e-12))
}

// stddev is the standard deviation of the pixels' values: a blank
// (one-colour) picture has none.
func stddev(px []float32) float64 {
	var s, s2 float64
	for _, v := range px {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	n := float64(len(px))
	return math.Sqrt(max(s2/n-(s/n)*(s/n), 0))
}

// Bounds for comparing the page's pictures with the CPU reference.
const (
	// The engine's own test of the same model (wasm/browsertest,
	// TestScreenshot) demands 40 dB between canvas and CPU on one input.
	// The page's path adds only the LINEAR sampler's fixed-point weights
	// (sub-texel precision of 8 bits: an error under 1/256 of the step
	// between neighbours) and the canvas's 8-bit output (alone, uniform
	// rounding caps PSNR at 58.9 dB): measured, 58.9-59.0 dB in every
	// test. 40 dB is the engine's bound; the cartoon of a neighbouring
	// camera frame (panned by 1%) scores under 17.
	minPSNR = 40
	// A stylized picture is not its input: the cartoon flattens regions and
	// darkens edges. Measured against the input: 19.5-20.5 dB; an
	// identity or pass-through engine would score above 40.
	maxInputPSNR = 30
	// Not blank: the standard deviation of a portrait's cartoon is
	// 0.2-0.3 here; a cleared or one-colour canvas has 0.
	minStddev = 0.05
)

// checkFrame checks a recorded frame: not blank, not its input, and the
// CPU reference run on src, the picture the engine was given.
func checkFrame(t testing.TB, name string, src image.Image, f frame) {
	t.Helper()
	got := rgb(f.out)
	want := reference(t, src, f.W, f.H)
	input := rgb(imageOf(photo.Sample(src, f.W, f.H)))
	db, in, sd := psnr(got, want), psnr(got, input), stddev(got)
	t.Logf("%s: %dx%d from %v: PSNR %.1f dB against the CPU reference, %.1f dB against the input; stddev %.3f",
		name, f.W, f.H, src.Bounds().Size(), db, in, sd)
	if sd < minStddev {
		t.Errorf("%s: the stylized canvas is blank (stddev %.3f)", name, sd)
	}
	if in > maxInputPSNR {
		t.Errorf("%s: the stylized canvas is the input (PSNR %.1f dB)", name, in)
	}
	if db < minPSNR {
		t.Errorf("%s: PSNR %.1f dB against the CPU reference, want >= %d", name, db, minPSNR)
	}
}

// imageOf turns an RGB [0,1] HWC tensor into an image (8 bits).
func imageOf(x *model.Tensor) image.Image {
	h, w := x.Shape[0], x.Shape[1]
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	q := func(v float32) uint8 { return uint8(math.Round(math.Min(math.Max(float64(v), 0), 1) * 255)) }
	for i := range w * h {
		img.SetNRGBA(i%w, i/w, color.NRGBA{q(x.Data[3*i]), q(x.Data[3*i+1]), q(x.Data[3*i+2]), 255})
	}
	return img
}

// fixture decodes testdata/name.
func fixture(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// fixturePath is the absolute path of testdata/name, for uploads.
func fixturePath(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// portraitClip makes the fake camera's frames: n 320x240 views of the
// Obama portrait, each panned a little further, so that successive
// stylized frames show the camera is live.
func portraitClip(t testing.TB, n int) []image.Image {
	t.Helper()
	src := fixture(t, "obama.jpg")
	b := src.Bounds()
	// The largest 4:3 window, less room to pan.
	cw := min(b.Dx()-4*n, b.Dy()*4/3)
	ch := cw * 3 / 4
	var frames []image.Image
	for i := range n {
		dst := image.NewRGBA(image.Rect(0, 0, 320, 240))
		r := image.Rect(0, 0, cw, ch).Add(b.Min).Add(image.Pt((b.Dx()-cw)/2-2*n+4*i, (b.Dy()-ch)/2))
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, r, draw.Src, nil)
		frames = append(frames, dst)
	}
	return frames
}
