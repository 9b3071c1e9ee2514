package web_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// BenchmarkColdStart opens the page in a fresh browser profile (nothing
// cached, no service worker) with the fake camera and reports:
//
//   - ms/first-frame: from navigation start to the first stylized camera
//     frame finished on the GPU, at ?size=64 (64x48 frames from the
//     camera's 320x240), so that SwiftShader's frame time does not drown
//     the loading (download, WASM compile, model decode, shader compile);
//   - page-B: the bytes the page's requests took on the wire until then
//     (CDP's encodedDataLength: headers plus compressed bodies);
//   - wire-B: every byte the server wrote once the service worker has
//     installed, its precache included.
//
// Each model on offer runs as a sub-benchmark (the default, the student,
// as "student"; the teacher, when built, as "whitebox" via ?model=), in
// turn, in one run.
//
// Run: go test -run '^$' -bench ColdStart ./web
func BenchmarkColdStart(b *testing.B) {
	rs := startReal(b)
	_, flags := fakeCamera(b, portraitClip(b, 2))
	for _, m := range rs.srv.Models() {
		b.Run(m.Name, func(b *testing.B) {
			query := "/?size=64"
			if !m.Default {
				query += "&model=" + m.Name
			}
			coldStart(b, rs, flags, query)
		})
	}
}

func coldStart(b *testing.B, rs *realServer, flags []chromedp.ExecAllocatorOption, query string) {
	var firstFrame, pageBytes, wireBytes float64
	for i := 0; i < b.N; i++ {
		rs.written.Store(0)
		s := openFor(b, realLimit, flags...)
		s.capture(b, 1)
		var mu sync.Mutex
		var bytes float64
		var sizes []string // "file: bytes encoding", for the log
		responses := map[network.RequestID]string{}
		go func() {
			for ev, err := range chromedp.Events(s.ctx, network.ResponseReceived) {
				if err != nil {
					return
				}
				name := ev.Response.URL[strings.LastIndex(ev.Response.URL, "/")+1:]
				name, _, _ = strings.Cut(name, "?")
				var enc string
				for k, v := range ev.Response.Headers {
					if strings.EqualFold(k, "Content-Encoding") {
						enc, _ = v.(string)
					}
				}
				if ev.Response.FromServiceWorker {
					enc = "from the service worker"
				}
				mu.Lock()
				responses[ev.RequestID] = name + " " + enc
				mu.Unlock()
			}
		}()
		go func() {
			for ev, err := range chromedp.Events(s.ctx, network.LoadingFinished) {
				if err != nil {
					return
				}
				mu.Lock()
				bytes += ev.EncodedDataLength
				sizes = append(sizes, fmt.Sprintf("%s %.0f", responses[ev.RequestID], ev.EncodedDataLength))
				mu.Unlock()
			}
		}()
		s.do(b, desktop(), chromedp.Navigate(rs.ts.URL+query))
		s.waitReal(b, "the first stylized frame", `globalThis.__frames.length >= 1`)
		fs := s.frames(b)
		mu.Lock()
		firstFrame += fs[0].Done
		pageBytes += bytes
		b.Logf("first frame %dx%d at %.0f ms (stylize called at %.0f ms); page bytes %.0f: %s", fs[0].W, fs[0].H, fs[0].Done, fs[0].Start, bytes, strings.Join(sizes, ", "))
		mu.Unlock()
		s.waitReal(b, "the service worker", `navigator.serviceWorker.controller !== null`)
		// Let the connections go idle.
		s.do(b, chromedp.Sleep(500*time.Millisecond))
		wireBytes += float64(rs.written.Load())
		b.Logf("server wrote %d bytes", rs.written.Load())
	}
	b.ReportMetric(firstFrame/float64(b.N), "ms/first-frame")
	b.ReportMetric(pageBytes/float64(b.N), "page-B")
	b.ReportMetric(wireBytes/float64(b.N), "wire-B")
}
