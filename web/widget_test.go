package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// thirdPartyPage serves a page of another origin (another port on
// 127.0.0.1) whose body is html, with a portrait at /portrait.jpg; it is
// closed when the test ends.
func thirdPartyPage(t testing.TB, html string) *httptest.Server {
	t.Helper()
	portrait, err := os.ReadFile("../testdata/biden.jpg")
	if err != nil {
		t.Fatal(err)
	}
	cutout := cutoutPNG(t)
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/portrait.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(portrait)
		case "/cutout.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(cutout)
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, "<!doctype html><title>A third-party page</title>\n%s", html)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(host.Close)
	return host
}

// TestWidgets embeds two widgets in a page of another origin.
func TestWidgets(t *testing.T) {
	_, edge := serve(t, fakeFS(t), fakeInspect)
	host := thirdPartyPage(t, fmt.Sprintf(`<script>window.globalsBefore = Object.keys(window);</script>
<script type="module" src="%s/widget.js"></script>
<h1>My blog</h1>
<edge-toon id="a" mode="photo" src="/portrait.jpg"></edge-toon>
<edge-toon id="b" mode="photo" src="/portrait.jpg" size="256"></edge-toon>
<edge-toon id="c" mode="camera"></edge-toon>`, edge))

	s := open(t)
	// Each fake frame takes 150 ms of the page's time, as a busy GPU
	// would; stylize's own time (lastFrameMs) stays 0.5 ms.
	if _, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: "globalThis.fakeFrameDelayMs = 150"}); err != nil {
		t.Fatal(err)
	}
	s.do(t, desktop(), chromedp.Navigate(host.URL))
	out := func(id string) string {
		return fmt.Sprintf(`document.getElementById(%q).shadowRoot.querySelector(".out")`, id)
	}
	s.wait(t, "both cartoons", out("a")+`.width > 0 && `+out("b")+`.width > 0 && globalThis.fakeEngines === 2`)
	if w := eval[[]int](t, s, `[`+out("a")+`.width, `+out("a")+`.height, `+out("b")+`.width]`); max(w[0], w[1]) != 512 || w[2] > 256 {
		t.Errorf("widget sizes %v", w)
	}
	// The photo's readout is the frame's real time.
	s.wait(t, "the readouts", out("a")+`.width > 0 && document.getElementById("a").shadowRoot.querySelector(".fps").textContent !== ""`)
	if ms := eval[float64](t, s, `parseFloat(document.getElementById("a").shadowRoot.querySelector(".fps").textContent)`); ms < 150 {
		t.Errorf("widget readout %.0f ms for a 150 ms frame", ms)
	}
	added := eval[[]string](t, s, `Object.keys(window).filter((k) => !globalsBefore.includes(k) && k !== "globalsBefore")`)
	for _, g := range added {
		if g != "Go" && g != "edgetoon" && g != "fakeEngines" {
			t.Errorf("the widget leaked the global %q", g)
		}
	}
	// strength="0" shows the photo itself (the fake engine draws its
	// inverted copy over the picture at the strength).
	s.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById("b").setAttribute("strength", "0")`))
	px := eval[[]int](t, s, `(() => {
		const r = document.getElementById("b").shadowRoot, o = r.querySelector(".out"), b = r.querySelector(".before");
		const at = (c) => [...c.getContext("2d").getImageData(c.width >> 1, c.height >> 1, 1, 1).data];
		return [...at(o), ...at(b)];
	})()`)
	if d := abs(px[0]-px[4]) + abs(px[1]-px[5]) + abs(px[2]-px[6]); d > 12 {
		t.Errorf("strength 0: widget shows %v where the photo has %v", px[:3], px[4:7])
	}
	// The idle camera widget made no engine; removing one frees its engine.
	s.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById("a").remove()`))
	s.wait(t, "the engine's disposal", `globalThis.fakeEngines === 1`)
	s.screenshot(t, "widgets-third-party")
	if errs := s.errors(host.URL + "/favicon.ico"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, edge, host.URL)
}

// TestWidgetSizeAttr: a size attribute that is not a detail level the
// page offers (32 to 1024 px) is the default (a photo's 512 px; the
// camera's automatic detail), not a 1-pixel photo; one that is is kept,
// the camera's at most 512 px, not its frame's full size (biden.jpg is
// 225x512; the fake camera sends 640x480).
func TestWidgetSizeAttr(t *testing.T) {
	_, edge := serve(t, fakeFS(t), fakeInspect)
	host := thirdPartyPage(t, fmt.Sprintf(`<script type="module" src="%s/widget.js"></script>
<edge-toon id="neg" mode="photo" src="/portrait.jpg" size="-5"></edge-toon>
<edge-toon id="nan" mode="photo" src="/portrait.jpg" size="abc"></edge-toon>
<edge-toon id="ok" mode="photo" src="/portrait.jpg" size="128"></edge-toon>
<edge-toon id="cam" mode="camera" size="1024" autostart></edge-toon>`, edge))
	s := open(t, chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true))
	s.do(t, desktop(), chromedp.Navigate(host.URL))
	out := func(id string) string {
		return fmt.Sprintf(`document.getElementById(%q).shadowRoot.querySelector(".out")`, id)
	}
	fps := func(id string) string {
		return fmt.Sprintf(`document.getElementById(%q).shadowRoot.querySelector(".fps").textContent !== ""`, id)
	}
	s.wait(t, "the cartoons", fps("neg")+" && "+fps("nan")+" && "+fps("ok")+" && "+fps("cam"))
	for _, c := range []struct {
		id   string
		w, h int
	}{{"neg", 225, 512}, {"nan", 225, 512}, {"ok", 56, 128}, {"cam", 512, 384}} {
		if d := eval[[]int](t, s, `[`+out(c.id)+`.width, `+out(c.id)+`.height]`); d[0] != c.w || d[1] != c.h {
			t.Errorf("widget %s: cartoon %dx%d, want %dx%d", c.id, d[0], d[1], c.w, c.h)
		}
	}
}

// TestWidgetCutout: the widget's PNG of a cut-out photo keeps its
// transparency, as the page's does.
func TestWidgetCutout(t *testing.T) {
	_, edge := serve(t, fakeFS(t), fakeInspect)
	host := thirdPartyPage(t, fmt.Sprintf(`<script type="module" src="%s/widget.js"></script>
<edge-toon id="w" mode="photo" src="/cutout.png"></edge-toon>`, edge))
	s := open(t)
	next := s.downloads(t)
	s.do(t, desktop(), chromedp.Navigate(host.URL))
	const root = `document.getElementById("w").shadowRoot`
	s.wait(t, "the cartoon", `!!customElements.get("edge-toon") && `+root+`.querySelector(".fps").textContent !== "" && !`+root+`.querySelector(".save").disabled`)
	s.do(t, chromedp.Evaluate[chromedp.Void](root+`.querySelector(".save").click()`))
	checkCutout(t, "the widget's", decodePNG(t, next()), false)
	// On its stage the cut layer covers the photo's transparent part.
	cut := eval[[]int](t, s, `(() => {
		const c = `+root+`.querySelector(".cut"), g = c.getContext("2d");
		return [getComputedStyle(c).display === "none" ? 0 : 1, g.getImageData(2, 2, 1, 1).data[3], g.getImageData(60, 40, 1, 1).data[3]];
	})()`)
	if cut[0] != 1 || cut[1] != 255 || cut[2] != 0 {
		t.Errorf("the widget's cut layer: shown %d, alpha %d outside the square (want 255) and %d inside (want 0)", cut[0], cut[1], cut[2])
	}
}

// TestEmbedDemo looks at the widget demo page.
func TestEmbedDemo(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	s := open(t)
	s.do(t, desktop(), chromedp.Navigate(url+"/embed-demo.html"))
	s.wait(t, "two widgets", `document.querySelectorAll("edge-toon").length === 2 && !!customElements.get("edge-toon")`)
	s.screenshot(t, "desktop-embed-demo")
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
