package web_test

// The CPU path (cpupath.js): the page's engine where WebGL is software.
// These tests run it as shipped (the default model file on TensorFlow.js's
// wasm backend from web/dist/tfjs, make tfjs) in headless Chromium, whose
// WebGL here is SwiftShader.

import (
	"encoding/base64"
	"fmt"
	"image"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/internal/isolated"
	"github.com/edgetoon/edgetoon/internal/photo"
	"github.com/edgetoon/edgetoon/model/cpu"
	"github.com/edgetoon/edgetoon/server"
	"github.com/edgetoon/edgetoon/web"
)

// startCPUPath is startReal that also needs the CPU path's runtime, and
// a browser session that starts with no engine setting (openFor forces
// WebGL for the other tests).
func startCPUPath(t testing.TB, flags ...chromedp.ExecAllocatorOption) (*realServer, *session) {
	t.Helper()
	return startCPUPathModels(t, "", flags...)
}

// startCPUPathModels is startCPUPath that also offers the models of dir.
func startCPUPathModels(t testing.TB, dir string, flags ...chromedp.ExecAllocatorOption) (*realServer, *session) {
	t.Helper()
	rs := startRealModels(t, dir)
	resp, err := http.Get(rs.ts.URL + "/tfjs/tf-core.min.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("the CPU path's runtime is not built (HTTP %d): run make tfjs", resp.StatusCode)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := openFor(t, realLimit, flags...)
	// Every page detects afresh (TestDetectionMemoryReal tests the memory).
	s.script(t, `try { localStorage.removeItem("edgetoon-engine"); localStorage.removeItem("edgetoon-detected"); } catch {}`)
	return rs, s
}

// script runs src in every document of the session to come, after the
// scripts added before it.
func (s *session) script(t testing.TB, src string) {
	t.Helper()
	if _, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		t.Fatal(err)
	}
}

// await evaluates an expression whose value is a Promise.
func await[T any](t testing.TB, s *session, expr string) T {
	t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v\nconsole: %v", expr, err, s.messages())
	}
	return v
}

// cpuFrameJS opens the default model with the page's engine API
// (core.js), as the page does, on a detached canvas, stylizes the
// sw x sh RGBA picture given in base64 at w x h and returns what the
// engine says about itself and the network's output (HWC float32,
// base64).
const cpuFrameJS = `(async (b64, sw, sh, w, h) => {
  const core = await import("/core.js");
  const [m] = await core.listModels();
  const api = await core.loadRuntime();
  const canvas = document.createElement("canvas"), src = document.createElement("canvas");
  src.width = sw; src.height = sh;
  const px = Uint8ClampedArray.from(atob(b64), (c) => c.charCodeAt(0));
  src.getContext("2d").putImageData(new ImageData(px, sw, sh), 0, 0);
  const engine = await api.create({canvas, model: m.url});
  engine.stylize(src, w, h);
  const png = await core.canvasPNG(canvas);
  const out = engine.output();
  const bytes = new Uint8Array(out.data.buffer);
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  const drawn = canvas.getContext("2d").getImageData(0, 0, out.width, out.height).data;
  return {info: engine.info(), isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency, png: png.size,
    width: out.width, height: out.height, channels: out.channels, output: btoa(s),
    canvas: [canvas.width, canvas.height], corner: Array.from(drawn.subarray(0, 4)),
    last: Array.from(drawn.subarray(drawn.length - 4))};
})`

type cpuFrame struct {
	Info     map[string]any
	Isolated bool
	Cores    int
	PNG      int
	Width    int
	Height   int
	Channels int
	Output   string
	Canvas   []int
	Corner   []int // the canvas's top-left pixel, RGBA
	Last     []int // and its bottom-right
}

// values decodes the frame's network output.
func (f cpuFrame) values(t testing.TB) []float32 {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(f.Output)
	if err != nil {
		t.Fatal(err)
	}
	return isolated.DecodeF32(raw)
}

// TestCPUPathReal: the page's CPU engine, forced by the engine setting,
// stylizes a portrait; the network's output agrees with the CPU
// reference engine run on the same pixels to 1e-4, and the canvas shows
// it denormalized. Sources larger than the frame (a camera's) are
// resampled over each pixel's footprint as the WebGL engine does, so the
// reference is photo.Sample of the source (as for TestShrunkInput in
// wasm/browsertest); the browser's bilinear drawImage before it was up to
// 0.42 off in the output (which spans about 2.2). A size that is not a
// multiple of the model's is padded (photo.Pad) and cropped back, as the
// WebGL engine does (TestPaddedInput in wasm/browsertest).
func TestCPUPathReal(t *testing.T) {
	rs, s := startCPUPath(t)
	s.script(t, `localStorage.setItem("edgetoon-engine", "cpu")`)
	s.do(t, chromedp.Navigate(rs.ts.URL+"/healthz"))
	g, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	portrait := fixture(t, "obama.jpg")
	m := g.SizeMultiple
	for _, src := range [][4]int{{128, 96, 128, 96}, {320, 240, 128, 96}, {400, 300, 128, 96}, {96, 72, 128, 96}, {320, 240, 125, 94}} {
		sw, sh, w, h := src[0], src[1], src[2], src[3]
		pw, ph := (w+m-1)/m*m, (h+m-1)/m*m
		img := imageOf(photo.Sample(portrait, sw, sh)).(*image.NRGBA)
		f := await[cpuFrame](t, s, fmt.Sprintf("%s(%q, %d, %d, %d, %d)", cpuFrameJS, base64.StdEncoding.EncodeToString(img.Pix), sw, sh, w, h))
		if sw == w {
			t.Logf("engine: %v; cross-origin isolated: %v", f.Info, f.Isolated)
			if f.Info["engine"] != "cpu" || f.Info["choice"] != "setting" {
				t.Errorf("engine %v chosen by %v, want cpu by the setting", f.Info["engine"], f.Info["choice"])
			}
			if want := float64(max(1, min(f.Cores/2, 4))); !f.Isolated || f.Info["threads"] != want {
				t.Errorf("cross-origin isolated %v, %v threads on %d cores: want isolation and %v threads", f.Isolated, f.Info["threads"], f.Cores, want)
			}
			if f.PNG == 0 {
				t.Error("no PNG from the CPU canvas")
			}
		}
		y, err := cpu.Run(g, g.Norm.Apply(photo.Pad(photo.Sample(img, w, h), pw, ph)))
		if err != nil {
			t.Fatal(err)
		}
		want := photo.Crop(y, w, h)
		got := f.values(t)
		if f.Width != w || f.Height != h || f.Channels != 3 || len(got) != 3*w*h || !slices.Equal(f.Canvas, []int{w, h}) {
			t.Fatalf("%dx%d source at %dx%d: output %dx%dx%d (%d values), canvas %v, want %dx%dx3", sw, sh, w, h, f.Width, f.Height, f.Channels, len(got), f.Canvas, w, h)
		}
		var worst, lo, hi float64
		lo, hi = math.Inf(1), math.Inf(-1)
		for i := range w * h {
			for c := range 3 {
				v, r := float64(got[3*i+c]), float64(want.Data[3*i+c])
				worst = max(worst, math.Abs(v-r))
				lo, hi = min(lo, r), max(hi, r)
			}
		}
		t.Logf("%dx%d source at %dx%d: max |TF.js - cpu.Run| = %.3g over %d values (the network's output spans %.3f..%.3f)", sw, sh, w, h, worst, len(got), lo, hi)
		if worst > 1e-4 || math.IsNaN(worst) {
			t.Errorf("%dx%d source: max |TF.js - cpu.Run| = %g, want <= 1e-4", sw, sh, worst)
		}
		if hi-lo < 0.5 {
			t.Errorf("%dx%d source: the reference output spans only %.3f..%.3f: not a picture", sw, sh, lo, hi)
		}
		// The canvas: its first and last pixels, denormalized by hand.
		for c := range 3 {
			for _, px := range []struct {
				at  string
				got int
				i   int
			}{{"(0,0)", f.Corner[c], c}, {"bottom-right", f.Last[c], 3*(w*h-1) + c}} {
				p := float64(want.Data[px.i]*g.Denorm.Scale[c]+g.Denorm.Bias[c]) * 255
				if d := math.Abs(float64(px.got) - math.Min(math.Max(p, 0), 255)); d > 1 {
					t.Errorf("%dx%d source at %dx%d: canvas pixel %s channel %d is %d, want %.1f", sw, sh, w, h, px.at, c, px.got, p)
				}
			}
		}
	}
	checkNoBodies(t, rs)
}

// TestCPUPathThreadsReal: on a device of 4 cores (this machine's 2 shown
// to the page as 4) the engine runs 2 threads, TensorFlow.js's build
// with threads (its pool's workers start from blobs, which the page's
// Content-Security-Policy must allow), and its output still agrees with
// the CPU reference engine.
func TestCPUPathThreadsReal(t *testing.T) {
	rs, s := startCPUPath(t)
	s.script(t, `localStorage.setItem("edgetoon-engine", "cpu");
	  Object.defineProperty(Navigator.prototype, "hardwareConcurrency", {get: () => 4});`)
	s.do(t, chromedp.Navigate(rs.ts.URL+"/healthz"))
	g, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 64, 48
	img := imageOf(photo.Sample(fixture(t, "obama.jpg"), w, h)).(*image.NRGBA)
	f := await[cpuFrame](t, s, fmt.Sprintf("%s(%q, %d, %d, %d, %d)", cpuFrameJS, base64.StdEncoding.EncodeToString(img.Pix), w, h, w, h))
	if f.Info["threads"] != 2.0 || f.Cores != 4 {
		t.Fatalf("%v threads on %d cores, want 2 on 4", f.Info["threads"], f.Cores)
	}
	y, err := cpu.Run(g, g.Norm.Apply(photo.Sample(img, w, h)))
	if err != nil {
		t.Fatal(err)
	}
	got := f.values(t)
	if len(got) != len(y.Data) {
		t.Fatalf("%d output values, want %d", len(got), len(y.Data))
	}
	var worst float64
	for i, r := range y.Data {
		worst = max(worst, math.Abs(float64(got[i]-r)))
	}
	t.Logf("2 threads: max |TF.js - cpu.Run| = %.3g", worst)
	if worst > 1e-4 || math.IsNaN(worst) {
		t.Errorf("2 threads: max |TF.js - cpu.Run| = %g, want <= 1e-4", worst)
	}
	if errs := s.errors(rs.ts.URL + "/favicon.ico"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// without hides the files under dir from fsys: a server of the page
// built without them.
type without struct {
	fs.FS
	dir string
}

func (w without) hidden(name string) bool {
	return name == w.dir || strings.HasPrefix(name, w.dir+"/")
}

func (w without) Open(name string) (fs.File, error) {
	if w.hidden(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return w.FS.Open(name)
}

func (w without) ReadDir(name string) ([]fs.DirEntry, error) {
	es, err := fs.ReadDir(w.FS, name)
	return slices.DeleteFunc(es, func(e fs.DirEntry) bool { return w.hidden(path.Join(name, e.Name())) }), err
}

// TestCPUPathFallbackReal: where the CPU path's runtime cannot load (a
// server built without make tfjs: its files answer 503), the page on
// auto warns and runs the WebGL engine, and with the CPU engine forced
// it says what failed; neither hangs.
func TestCPUPathFallbackReal(t *testing.T) {
	srv, err := server.New(server.Config{Assets: without{web.FS, "dist/tfjs"}, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	s := openFor(t, realLimit)
	s.script(t, `try { localStorage.removeItem("edgetoon-engine"); localStorage.removeItem("edgetoon-detected"); } catch {}`)
	const ready = `document.getElementById("status").textContent.includes("ready")`
	s.do(t, chromedp.Navigate(ts.URL+"/?mode=photo&size=64"))
	s.waitReal(t, "the WebGL engine", ready)
	if !eval[bool](t, s, `document.getElementById("out").getContext("webgl2") !== null`) {
		t.Error("without the CPU runtime the page's canvas is not WebGL's")
	}
	if msgs := strings.Join(s.messages(), "\n"); !strings.Contains(msgs, "the CPU path failed") {
		t.Errorf("no warning that the CPU path failed: %s", msgs)
	}
	s.do(t, chromedp.Navigate(ts.URL+"/?mode=photo&size=64&engine=cpu"))
	s.waitFor(t, realLimit, "the notice", `!document.getElementById("notice").hidden`)
	if text := eval[string](t, s, `document.getElementById("notice-text").textContent`); !strings.Contains(text, "runtime could not be loaded") {
		t.Errorf("with the CPU engine forced, the notice says %q", text)
	}
}

// checkNoBodies asserts that no request to the server carried a body or
// was other than a GET or HEAD: the CPU path keeps the picture on the
// device too. (The pages here are /healthz documents, for which the
// browser asks for a favicon, so checkNoUploads does not apply.)
func checkNoBodies(t *testing.T, rs *realServer) {
	t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, q := range rs.reqs {
		if q.body != 0 || q.method != http.MethodGet && q.method != http.MethodHead {
			t.Errorf("%s %s with a %d-byte body", q.method, q.uri, q.body)
		}
	}
}

// BenchmarkCPUPath times the page's CPU engine (cpupath.js through
// core.js, as the page holds it) on the default model at 256x256, after 3
// untimed frames: each frame from stylize (reading the source) to its
// picture on the canvas (normalizing, the network, denormalizing,
// drawing), without the PNG encoding that follows each here.
// go test -run '^$' -bench CPUPath -benchtime 20x ./web
func BenchmarkCPUPath(b *testing.B) {
	rs, s := startCPUPath(b)
	s.script(b, `localStorage.setItem("edgetoon-engine", "cpu")`)
	s.do(b, chromedp.Navigate(rs.ts.URL+"/healthz"))
	const size = 256
	js := fmt.Sprintf(`(async (n, size) => {
  const core = await import("/core.js");
  const [m] = await core.listModels();
  const api = await core.loadRuntime();
  const canvas = document.createElement("canvas"), src = document.createElement("canvas");
  src.width = src.height = size;
  const g = src.getContext("2d");
  g.fillStyle = "#c08060"; g.fillRect(0, 0, size, size);
  g.fillStyle = "#203040"; g.beginPath(); g.arc(size / 2, size / 2, size / 3, 0, 7); g.fill();
  const engine = await api.create({canvas, model: m.url});
  const ms = [];
  // The page's responsiveness: the longest wait of a 5 ms timer while
  // the frames run (the runtime in a worker leaves the page's thread free).
  let last = performance.now(), stall = 0, timing = false;
  const timer = setInterval(() => { const now = performance.now(); if (timing) stall = Math.max(stall, now - last); last = now; }, 5);
  for (let i = 0; i < n + 3; i++) {
    if (i === 3) { timing = true; last = performance.now(); }
    const t0 = performance.now();
    engine.stylize(src, size, size); // reads the source
    const read = performance.now() - t0;
    await core.canvasPNG(canvas); // waits for the frame
    if (i >= 3) ms.push(read + engine.lastFrameMs());
  }
  clearInterval(timer);
  return {ms, stall, info: engine.info()};
})(%d, %d)`, b.N, size)
	b.ResetTimer()
	r := await[struct {
		MS    []float64
		Stall float64
		Info  map[string]any
	}](b, s, js)
	b.StopTimer()
	sort.Float64s(r.MS)
	med := r.MS[len(r.MS)/2]
	b.ReportMetric(med, "ms/frame")
	b.ReportMetric(r.MS[0], "min-ms/frame")
	b.ReportMetric(r.Stall, "max-stall-ms")
	b.Logf("student %dx%d on the CPU path (%v threads): median %.1f ms/frame, min %.1f, max %.1f over %d frames; the page's thread stalled at most %.0f ms",
		size, size, r.Info["threads"], med, r.MS[0], r.MS[len(r.MS)-1], len(r.MS), r.Stall)
}
