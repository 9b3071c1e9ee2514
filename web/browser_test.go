package web_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io/fs"
	"iter"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/internal/browser/browsertest"
	"github.com/edgetoon/edgetoon/server"
	"github.com/edgetoon/edgetoon/web"
)

// shots is where the tests leave screenshots for people to look at.
const shots = "/tmp/edgetoon-shots"

// fakeFS is the real web directory with a stand-in engine
// (testdata/fake_wasm_exec.js and an empty WebAssembly module) and two
// stand-in models, so the page's glue can be tested before, and apart
// from, the GPU engine.
func fakeFS(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(web.FS, ".", func(name string, d fs.DirEntry, err error) error {
		// The stand-in models below replace the shipped ones, so the
		// picker's contents are the test's own.
		if err != nil || d.IsDir() || strings.HasPrefix(name, "dist/") || strings.HasPrefix(name, "models/") {
			return err
		}
		data, err := fs.ReadFile(web.FS, name)
		m[name] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fake, err := os.ReadFile("testdata/fake_wasm_exec.js")
	if err != nil {
		t.Fatal(err)
	}
	m["dist/wasm_exec.js"] = &fstest.MapFile{Data: fake}
	m["dist/edgetoon.wasm"] = &fstest.MapFile{Data: []byte("\x00asm\x01\x00\x00\x00")}
	m["models/student.safetensors"] = &fstest.MapFile{Data: bytes.Repeat([]byte("student "), 40000)} // the default
	m["dist/models/anime.safetensors"] = &fstest.MapFile{Data: bytes.Repeat([]byte("anime"), 20000)}
	return m
}

func fakeInspect(data []byte) (server.ModelInfo, error) {
	return server.ModelInfo{Title: "Fake " + string(data[:5]), License: "CC0", MACs256: 830e6, Params: 1e5, NominalSize: 256}, nil
}

// serve starts the edgetoon server on 127.0.0.1 for the test.
func serve(t *testing.T, fsys fs.FS, inspect func([]byte) (server.ModelInfo, error)) (*server.Server, string) {
	t.Helper()
	s, ts := startServer(t, fsys, inspect)
	return s, ts.URL
}

func startServer(t *testing.T, fsys fs.FS, inspect func([]byte) (server.ModelInfo, error)) (*server.Server, *httptest.Server) {
	t.Helper()
	s, err := server.New(server.Config{Assets: fsys, Inspect: inspect, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// session is a browser tab with its console and requests recorded.
type session struct {
	ctx      context.Context
	mu       sync.Mutex
	console  []chromedp.ConsoleMessage
	requests []*network.Request
}

func open(t *testing.T, flags ...chromedp.ExecAllocatorOption) *session {
	t.Helper()
	return openFor(t, 90*time.Second, flags...)
}

// openFor is open with a time limit for the whole session: the real
// engine on SwiftShader needs minutes where the stand-in needs seconds.
func openFor(t testing.TB, limit time.Duration, flags ...chromedp.ExecAllocatorOption) *session {
	t.Helper()
	bctx := browsertest.Start(t, flags...)
	ctx, cancel := context.WithTimeout(bctx, limit)
	t.Cleanup(cancel)
	s := &session{ctx: ctx}
	console := chromedp.Console(ctx)
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			s.mu.Lock()
			s.console = append(s.console, m)
			s.mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			s.mu.Lock()
			s.requests = append(s.requests, ev.Request)
			s.mu.Unlock()
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	// These tests are of the WebGL engine, which on SwiftShader the page
	// would not pick by itself: the engine setting forces it
	// (cpupath_real_test.go tests the choice).
	if _, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `try { localStorage.setItem("edgetoon-engine", "webgl"); } catch {}`}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *session) do(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(s.ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// wait polls a JavaScript expression until it is truthy.
func (s *session) wait(t *testing.T, what, expr string) {
	t.Helper()
	s.waitFor(t, 20*time.Second, what, expr)
}

// waitFor is wait with a time limit.
func (s *session) waitFor(t testing.TB, limit time.Duration, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(s.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(limit))); err != nil {
		t.Fatalf("waiting for %s (%s): %v\nconsole: %v", what, expr, err, s.messages())
	}
}

func eval[T any](t testing.TB, s *session, expr string) T {
	t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func (s *session) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.console {
		out = append(out, m.String())
	}
	return out
}

// errors lists the console errors and exceptions, except those that
// contain one of the allowed strings.
func (s *session) errors(allowed ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.console {
		if m.Type != chromedp.ConsoleError && !m.IsException() {
			continue
		}
		text := m.String() + " " + m.URL
		if !slices.ContainsFunc(allowed, func(a string) bool { return strings.Contains(text, a) }) {
			out = append(out, text)
		}
	}
	return out
}

// checkRequests asserts the page only fetched from origins with GET, and
// sent no request body: no picture leaves the device.
func (s *session) checkRequests(t *testing.T, origins ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		t.Error("no requests recorded")
	}
	for _, r := range s.requests {
		if strings.HasPrefix(r.URL, "data:") || strings.HasPrefix(r.URL, "blob:") {
			continue
		}
		if !slices.ContainsFunc(origins, func(o string) bool { return strings.HasPrefix(r.URL, o+"/") }) {
			t.Errorf("request to another origin: %s", r.URL)
		}
		if r.Method != "GET" || r.HasPostData {
			t.Errorf("%s %s with a body (%v)", r.Method, r.URL, r.HasPostData)
		}
	}
}

// screenshot saves the viewport as name.png in shots.
func (s *session) screenshot(t *testing.T, name string) {
	t.Helper()
	// Let the last frames and layout settle.
	s.do(t, chromedp.Sleep(300*time.Millisecond))
	buf, err := chromedp.Run(s.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(shots, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func desktop() chromedp.Action[chromedp.Void] { return chromedp.EmulateViewport(1280, 900) }
func phone() chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch)
}

// downloads sends the tab's downloads to a fresh directory and returns a
// function that waits for the next one and returns its bytes.
func (s *session) downloads(t *testing.T) func() []byte {
	t.Helper()
	dir := t.TempDir()
	progress := chromedp.BrowserEvents(s.ctx, browser.DownloadProgress)
	if _, err := chromedp.CallBrowser(s.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		t.Fatal(err)
	}
	// Pulled, not ranged over: leaving a range stops the iterator, and a
	// test may wait for several downloads.
	pull, stop := iter.Pull2(progress)
	t.Cleanup(stop)
	return func() []byte {
		t.Helper()
		for {
			ev, err, ok := pull()
			if !ok {
				t.Fatal("the browser's download events ended")
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				// Chromium may report a download complete a moment
				// before the file has its bytes.
				var data []byte
				var err error
				for try := 0; try < 20; try++ {
					if data, err = os.ReadFile(filepath.Join(dir, ev.GUID)); err != nil || len(data) > 0 {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					t.Fatal(err)
				}
				return data
			}
		}
	}
}

func decodePNG(t testing.TB, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the download is not a PNG: %v", err)
	}
	return img
}

const (
	noticeText = `document.getElementById("notice").hidden ? "" : document.getElementById("notice-text").textContent`
	dropNote   = `document.getElementById("drop-note").textContent`
	photoMode  = `document.getElementById("mode-photo").getAttribute("aria-pressed") === "true"`
	// The shutter comes on when the engine is ready.
	engineReady = `!document.getElementById("shutter").disabled`
)
