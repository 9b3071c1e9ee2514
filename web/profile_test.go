package web_test

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/latency"
	"github.com/edgetoon/edgetoon/web"
)

// TestProfileCatalogueSizes checks the block counts the /profile page
// shows against the catalogues the engine runs.
func TestProfileCatalogueSizes(t *testing.T) {
	page, err := fs.ReadFile(web.FS, "profile.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		value string
		n     int
	}{{"full", len(latency.FullCatalog())}, {"reduced", len(latency.ReducedCatalog())}} {
		want := fmt.Sprintf(`<option value="%s"`, c.value)
		i := strings.Index(string(page), want)
		if i < 0 {
			t.Fatalf("no %s option", c.value)
		}
		option := string(page[i:])
		option = option[:strings.Index(option, "</option>")]
		if count := fmt.Sprintf("(%s blocks)", thousands(c.n)); !strings.Contains(option, count) {
			t.Errorf("option %q: want it to say %s", option, count)
		}
	}
}

// thousands formats n with a comma every three digits, as the page does.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestProfilePageNeedsLab opens /profile on a server with and without the
// lab engine (dist/edgetoon-lab.wasm; the stand-in engine of fakeFS has no
// profiler either way): without it Start stays disabled and the page says
// how to build it, with it Start is offered.
func TestProfilePageNeedsLab(t *testing.T) {
	const (
		ready  = `document.body.dataset.ready === "1"`
		start  = `document.getElementById("start").disabled`
		status = `document.getElementById("status").textContent`
	)
	fsys := fakeFS(t)
	_, without := serve(t, fsys, fakeInspect)
	s := open(t)
	s.do(t, desktop(), chromedp.Navigate(without+"/profile"))
	s.wait(t, "the page", ready)
	if !eval[bool](t, s, start) {
		t.Error("Start is enabled on a server without the lab engine")
	}
	if got := eval[string](t, s, status); !strings.Contains(got, "make lab-wasm") {
		t.Errorf("without the lab engine the page says %q", got)
	}

	fsys["dist/edgetoon-lab.wasm"] = &fstest.MapFile{Data: []byte("\x00asm\x01\x00\x00\x00")}
	_, with := serve(t, fsys, fakeInspect)
	s.do(t, chromedp.Navigate(with+"/profile"))
	s.wait(t, "the page", ready)
	if eval[bool](t, s, start) {
		t.Errorf("Start is disabled on a server with the lab engine; the page says %q", eval[string](t, s, status))
	}
}
