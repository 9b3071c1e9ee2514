package web_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestWidgetsReal: a page of another origin embeds two photo widgets,
// which both run the real engine (one WebGL context each) and match the
// CPU reference.
func TestWidgetsReal(t *testing.T) {
	rs := startReal(t)
	edge := rs.ts.URL
	// Small sizes: two engines compile and run on SwiftShader.
	host := thirdPartyPage(t, fmt.Sprintf(`<script>window.globalsBefore = Object.keys(window);</script>
<script type="module" src="%s/widget.js"></script>
<h1>My blog</h1>
<edge-toon id="a" mode="photo" src="/portrait.jpg" size="64"></edge-toon>
<edge-toon id="b" mode="photo" src="/portrait.jpg" size="96"></edge-toon>`, edge))

	s := openFor(t, realLimit)
	s.capture(t, 2)
	s.do(t, desktop(), chromedp.Navigate(host.URL))
	s.waitReal(t, "both cartoons", `globalThis.__frames.length >= 2`)
	fs := s.frames(t)
	slices.SortFunc(fs, func(a, b frame) int { return a.W - b.W })
	if fs[0].Owner != "a" || fs[1].Owner != "b" || fs[0].Engine == fs[1].Engine {
		t.Errorf("frames from widgets %q (engine %d) and %q (engine %d), want a and b, each its own engine", fs[0].Owner, fs[0].Engine, fs[1].Owner, fs[1].Engine)
	}
	for i, long := range []int{64, 96} {
		f := fs[i]
		if max(f.W, f.H) != long {
			t.Errorf("widget %s stylized at %dx%d, want %d on the long side", f.Owner, f.W, f.H, long)
		}
		checkFrame(t, "widget "+f.Owner, f.src, f)
	}
	added := eval[[]string](t, s, `Object.keys(window).filter((k) => !globalsBefore.includes(k) && k !== "globalsBefore")`)
	// Go's wasm_exec.js defines Go and fs (core.js removes process and
	// path after Go's start); the engine, edgetoon; this test, __frames.
	for _, g := range added {
		if !slices.Contains([]string{"Go", "fs", "edgetoon", "__frames", "__maxFrames"}, g) {
			t.Errorf("the widget leaked the global %q", g)
		}
	}
	s.screenshot(t, "widgets-third-party-real")
	if errs := s.errors(host.URL + "/favicon.ico"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, edge, host.URL)
	rs.checkNoUploads(t)
}

// TestWidgetAutoDetailReal: a camera widget without a size attribute
// picks its detail as the page's automatic detail does. SwiftShader holds
// 24 fps at no level, so the widget's rate holder, fed by the engine's
// frame queries, must step down to the smallest (128 px: 128x96).
func TestWidgetAutoDetailReal(t *testing.T) {
	rs := startReal(t)
	host := thirdPartyPage(t, fmt.Sprintf(`<script type="module" src="%s/widget.js"></script>
<edge-toon id="c" mode="camera" autostart></edge-toon>`, rs.ts.URL))
	_, flags := fakeCamera(t, portraitClip(t, 1))
	s := openFor(t, realLimit, flags...)
	s.do(t, desktop(), chromedp.Navigate(host.URL))
	out := `document.getElementById("c").shadowRoot.querySelector(".out")`
	// The readout appears with the first frame; the holder lets two
	// frames pass and then counts a window of at least three.
	s.waitReal(t, "a first cartoon", `document.getElementById("c").shadowRoot.querySelector(".fps").textContent !== ""`)
	if w := eval[int](t, s, out+`.width`); w != 256 {
		t.Errorf("the widget's camera started at %d px wide, want 256", w)
	}
	s.waitReal(t, "the automatic detail at 128 px", out+`.width === 128 && `+out+`.height === 96`)
	if errs := s.errors(host.URL + "/favicon.ico"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, rs.ts.URL, host.URL)
	rs.checkNoUploads(t)
}
