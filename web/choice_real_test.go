package web_test

// How the page picks its engine (cpupath.js choose): by the WebGL
// renderer's name, a timed probe, the remembered name, ?engine= and the
// setting.

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// gpuRenderers are unmasked renderer strings of real GPUs, as Chromium,
// Firefox and Safari report them; softRenderers, of software rasterizers.
var (
	gpuRenderers = []string{
		"ANGLE (NVIDIA, NVIDIA GeForce RTX 3080 (0x00002206) Direct3D11 vs_5_0 ps_5_0, D3D11)",
		"ANGLE (Intel, Intel(R) UHD Graphics 620 (0x00003EA0) Direct3D11 vs_5_0 ps_5_0, D3D11)",
		"ANGLE (AMD, AMD Radeon RX 6600 (radeonsi, navi23, LLVM 15.0.7, DRM 3.49, 6.1.0), OpenGL 4.6)",
		"ANGLE (Apple, ANGLE Metal Renderer: Apple M2, Unspecified Version)",
		"ANGLE (Qualcomm, Adreno (TM) 640, OpenGL ES 3.2)",
		"ANGLE (ARM, Mali-G78, OpenGL ES 3.2)",
		"Mali-G57 MC2",
		"Apple GPU",
		"Mesa Intel(R) Xe Graphics (TGL GT2)",
		"NVIDIA GeForce GTX 1650/PCIe/SSE2",
	}
	softRenderers = []string{
		"ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)",
		"Google SwiftShader",
		"llvmpipe (LLVM 15.0.6, 256 bits)",
		"ANGLE (Mesa, llvmpipe (LLVM 12.0.0, 256 bits), OpenGL 4.5)",
		"ANGLE (Microsoft, Microsoft Basic Render Driver Direct3D11 vs_5_0 ps_5_0, D3D11)",
		"Software Rasterizer",
	}
)

// fakeRendererJS makes WEBGL_debug_renderer_info report the renderer
// named in the document's URL fragment, in every WebGL2 context of the
// document: a real GPU, to this page.
const fakeRendererJS = `(() => {
  const get = WebGL2RenderingContext.prototype.getParameter;
  WebGL2RenderingContext.prototype.getParameter = function (p) {
    // UNMASKED_RENDERER_WEBGL
    return p === 0x9246 && location.hash ? decodeURIComponent(location.hash.slice(1)) : get.call(this, p);
  };
})()`

// loadedJS says what the document fetched itself (the service worker's
// precaching is not the page's choice) and whether the Go engine started
// (it installs globalThis.edgetoon). index.html preloads edgetoon.wasm
// either way, so its download says nothing.
const loadedJS = `({paths: performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname),
  goEngine: typeof globalThis.edgetoon === "object"})`

type loaded struct {
	Paths    []string
	GoEngine bool
}

// noRendererInfoJS takes WEBGL_debug_renderer_info away, as browsers
// that mask the renderer do.
const noRendererInfoJS = `(() => {
  const ext = WebGL2RenderingContext.prototype.getExtension;
  WebGL2RenderingContext.prototype.getExtension = function (name) {
    return name === "WEBGL_debug_renderer_info" ? null : ext.call(this, name);
  };
})()`

type choice struct {
	Engine   string
	Forced   bool
	Reason   string
	Detected struct {
		Renderer string
		Software bool
		How      string
		Probe    struct{ MS float64 }
	}
}

const chooseJS = `import("/cpupath.js").then((m) => m.choose())`

// TestEngineChoiceReal: on this machine's SwiftShader the page's auto
// choice is the CPU path, and the page itself runs it (it loads the CPU
// engine and does not start the Go engine); where the renderer is a real GPU's (a fake
// renderer string) it never picks it and runs WebGL; without the
// renderer's name the timed probe finds SwiftShader slow; ?engine= and
// the setting force either engine.
func TestEngineChoiceReal(t *testing.T) {
	rs, s := startCPUPath(t)
	health := rs.ts.URL + "/healthz"

	s.do(t, chromedp.Navigate(health))
	got := await[[]bool](t, s, fmt.Sprintf(`import("/cpupath.js").then((m) => %s.map(m.isSoftware))`, jsonStrings(append(gpuRenderers, softRenderers...))))
	for i, soft := range got {
		if want := i >= len(gpuRenderers); soft != want {
			t.Errorf("isSoftware(%q) = %v, want %v", append(gpuRenderers, softRenderers...)[i], soft, want)
		}
	}
	c := await[choice](t, s, chooseJS)
	t.Logf("SwiftShader: %+v", c)
	if c.Engine != "cpu" || c.Forced || c.Detected.How != "renderer" || !strings.Contains(c.Detected.Renderer, "SwiftShader") {
		t.Errorf("on SwiftShader, auto chose %+v, want cpu by the renderer's name", c)
	}
	for _, q := range []struct{ query, setting, want, reason string }{
		{"?engine=webgl", "", "webgl", "?engine"},
		{"?engine=cpu", "webgl", "cpu", "?engine"},
		{"?engine=auto", "webgl", "cpu", "renderer"},
		{"?engine=junk", "webgl", "webgl", "setting"},
	} {
		s.do(t, chromedp.Navigate(health+q.query))
		c := await[choice](t, s, fmt.Sprintf(`(localStorage.setItem("edgetoon-engine", %q), %s)`, q.setting, chooseJS))
		if c.Engine != q.want || c.Reason != q.reason {
			t.Errorf("%s with the setting %q: %s by %s, want %s by %s", q.query, q.setting, c.Engine, c.Reason, q.want, q.reason)
		}
	}
	s.do(t, chromedp.Navigate(health))
	await[any](t, s, `Promise.resolve(localStorage.removeItem("edgetoon-engine"))`)

	// The page, on SwiftShader, as a user opens it.
	s.do(t, chromedp.Navigate(rs.ts.URL+"/?mode=photo&size=64"))
	s.waitReal(t, "the engine", `document.getElementById("status").textContent.includes("ready")`)
	if eval[bool](t, s, `document.getElementById("out").getContext("webgl2") !== null`) {
		t.Error("on SwiftShader the page's canvas is WebGL's, want the CPU path's 2D canvas")
	}
	checkLoaded(t, "on SwiftShader", eval[loaded](t, s, loadedJS), true)
	// The page's setting: it shows auto; picking GPU remembers it (and
	// reloads the page: choose() above reads it then).
	if v := eval[string](t, s, `document.getElementById("engine").value`); v != "auto" {
		t.Errorf("the engine setting shows %q, want auto", v)
	}
	stored := eval[string](t, s, `(() => {
  const e = document.getElementById("engine");
  e.value = "webgl";
  e.dispatchEvent(new Event("change"));
  return localStorage.getItem("edgetoon-engine");
})()`)
	if stored != "webgl" {
		t.Errorf("picking GPU stored %q, want webgl", stored)
	}

	// A real GPU's name: never the CPU path, and the page runs WebGL.
	gpu, s2 := startCPUPath(t)
	s2.script(t, fakeRendererJS)
	for i, r := range gpuRenderers {
		s2.do(t, chromedp.Navigate(fmt.Sprintf("%s/healthz?r=%d#%s", gpu.ts.URL, i, url.PathEscape(r))))
		if c := await[choice](t, s2, chooseJS); c.Engine != "webgl" || c.Detected.Renderer != r {
			t.Errorf("with the renderer %q, auto chose %+v, want webgl", r, c)
		}
	}
	s2.do(t, chromedp.Navigate(gpu.ts.URL+"/?mode=photo&size=64#"+url.PathEscape(gpuRenderers[0])))
	s2.waitReal(t, "the engine", `document.getElementById("status").textContent.includes("ready")`)
	checkLoaded(t, "with a GPU's renderer", eval[loaded](t, s2, loadedJS), false)

	// No renderer name: the timed probe.
	probe, s3 := startCPUPath(t)
	s3.script(t, noRendererInfoJS)
	s3.do(t, chromedp.Navigate(probe.ts.URL+"/healthz"))
	c = await[choice](t, s3, chooseJS)
	t.Logf("probe on SwiftShader: %.1f ms (software above 20)", c.Detected.Probe.MS)
	if c.Engine != "cpu" || c.Detected.How != "probe" {
		t.Errorf("without the renderer's name, auto chose %+v, want cpu by the probe", c)
	}
}

// TestDetectionMemoryReal: the renderer's name a page read is remembered
// for the next pages of the same browser, which take it without opening
// a WebGL context (how "remembered"), a GPU's name too (then WebGL, here
// on SwiftShader); an entry of another browser (user agent), one a week
// old or from the future, a corrupt one and one without a name are not
// used but replaced; a timed probe's answer is not remembered.
func TestDetectionMemoryReal(t *testing.T) {
	rs := startReal(t)
	s := openFor(t, realLimit)
	s.script(t, `try { localStorage.removeItem("edgetoon-engine"); } catch {}
globalThis.__contexts = 0;
const getContext = HTMLCanvasElement.prototype.getContext;
HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
  if (type === "webgl2") globalThis.__contexts++;
  return getContext.call(this, type, ...rest);
};`)
	health := rs.ts.URL + "/healthz"
	// visit opens a new page, stores entry (JS, evaluated in the page
	// before; "" leaves the memory as it is) and returns its choice and how
	// many WebGL2 contexts it opened to make it.
	visit := func(entry string) (choice, int) {
		t.Helper()
		if entry != "" {
			eval[any](t, s, `localStorage.setItem("edgetoon-detected", typeof (`+entry+`) === "string" ? (`+entry+`) : JSON.stringify(`+entry+`)), 0`)
		}
		s.do(t, chromedp.Navigate(health))
		c := await[choice](t, s, chooseJS)
		return c, eval[int](t, s, `globalThis.__contexts`)
	}
	s.do(t, chromedp.Navigate(health))
	eval[any](t, s, `localStorage.removeItem("edgetoon-detected"), 0`)
	fresh := func(what string, c choice, n int) {
		t.Helper()
		if c.Engine != "cpu" || c.Detected.How != "renderer" || n != 1 {
			t.Errorf("%s: chose %+v with %d contexts, want cpu by the renderer's name, read afresh", what, c, n)
		}
		stored := eval[string](t, s, `localStorage.getItem("edgetoon-detected")`)
		if !strings.Contains(stored, "SwiftShader") || !strings.Contains(stored, eval[string](t, s, `navigator.userAgent`)) {
			t.Errorf("%s: remembered %s, want SwiftShader's name for this browser", what, stored)
		}
	}
	c, n := visit("")
	fresh("first visit", c, n)
	c, n = visit("")
	if c.Engine != "cpu" || c.Detected.How != "remembered" || !strings.Contains(c.Detected.Renderer, "SwiftShader") || n != 0 {
		t.Errorf("second visit: chose %+v with %d contexts, want cpu by the remembered SwiftShader, no context", c, n)
	}
	gpu := gpuRenderers[0]
	c, n = visit(fmt.Sprintf(`{ua: navigator.userAgent, at: Date.now() - 3600e3, renderer: %q}`, gpu))
	if c.Engine != "webgl" || c.Detected.How != "remembered" || c.Detected.Renderer != gpu || n != 0 {
		t.Errorf("a GPU remembered: chose %+v with %d contexts, want webgl by the remembered name, no context", c, n)
	}
	for _, e := range []struct{ what, entry string }{
		{"another browser's", fmt.Sprintf(`{ua: "Mozilla/4.0", at: Date.now(), renderer: %q}`, gpu)},
		{"a week old", fmt.Sprintf(`{ua: navigator.userAgent, at: Date.now() - 7 * 86400e3 - 1, renderer: %q}`, gpu)},
		{"from the future", fmt.Sprintf(`{ua: navigator.userAgent, at: Date.now() + 86400e3, renderer: %q}`, gpu)},
		{"without a name", `{ua: navigator.userAgent, at: Date.now(), renderer: ""}`},
		{"corrupt", `"{ua: "`},
	} {
		c, n := visit(e.entry)
		fresh(e.what+" entry", c, n)
	}
	eval[any](t, s, `localStorage.removeItem("edgetoon-detected"), 0`)
	s.script(t, noRendererInfoJS)
	if c, _ := visit(""); c.Detected.How != "probe" || eval[bool](t, s, `localStorage.getItem("edgetoon-detected") !== null`) {
		t.Errorf("without the renderer's name: chose %+v; want the probe, its answer not remembered", c)
	}
}

// checkLoaded checks what the page ran: the CPU engine and not the Go
// engine on the CPU path, the reverse on WebGL. (The CPU engine's
// runtime is fetched by its worker, whose requests the page's resource
// list does not show.)
func checkLoaded(t *testing.T, where string, l loaded, cpu bool) {
	t.Helper()
	if engine := slices.Contains(l.Paths, "/cpuengine.js"); engine != cpu || l.GoEngine == cpu {
		t.Errorf("%s the page loaded the CPU engine: %v; started the Go engine: %v (fetched: %v)", where, engine, l.GoEngine, l.Paths)
	}
}

func jsonStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ",") + "]"
}
