package web_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/latency"
	"github.com/edgetoon/edgetoon/server"
	"github.com/edgetoon/edgetoon/web"
)

// TestProfilePageReal runs the /profile page's whole flow with the real
// engine on the quick catalogue: Start then Abort leaves no table; Start
// again runs to the end; Download gives a valid table of every block;
// Send stores the table on the server under its hash, a second Send is
// told the server already has it, and a server without -latency-dir is
// said not to collect tables.
func TestProfilePageReal(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.New(server.Config{Assets: web.FS, LatencyDir: dir, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	missing := srv.Missing()
	if _, err := fs.Stat(web.FS, "dist/edgetoon-lab.wasm"); err != nil {
		missing = append(missing, "/edgetoon-lab.wasm") // the profiler's engine
	}
	if len(missing) > 0 {
		msg := "the engine is not built (missing " + strings.Join(missing, " ") + "): run make wasm lab-wasm"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// The same assets without -latency-dir, switched in for the last Send.
	plain, err := server.New(server.Config{Assets: web.FS, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var collect atomic.Bool
	collect.Store(true)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if collect.Load() {
			srv.ServeHTTP(w, r)
		} else {
			plain.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(ts.Close)

	s := openFor(t, realLimit)
	next := s.downloads(t)
	const (
		status   = `document.getElementById("status").textContent`
		disabled = `(id) => document.getElementById(id).disabled`
	)
	// buttonsJS says which buttons are enabled (+) or disabled (-).
	const buttonsJS = `() => ["start", "abort", "download", "send"].map(id => id + (document.getElementById(id).disabled ? "-" : "+")).join(" ")`
	buttons := func() string { return eval[string](t, s, "("+buttonsJS+")()") }
	s.do(t, desktop(), chromedp.Navigate(ts.URL+"/profile"))
	s.wait(t, "the page", `document.body.dataset.ready === "1" && !document.getElementById("start").disabled`)
	if got := buttons(); got != "start+ abort- download- send-" {
		t.Errorf("before a run: %s", got)
	}
	s.do(t, chromedp.SetValue(chromedp.CSS("#catalog"), "reduced"))

	// Abort once the first block is measured: a page-side timer clicks
	// Abort at its first turn after the progress bar moves (the test's
	// own polling can lag behind a busy page until the run is over).
	running := eval[string](t, s, `const iv = setInterval(() => {
		if (document.getElementById("progress").value > 0) { clearInterval(iv); document.getElementById("abort").click(); }
	}, 0);
	document.getElementById("start").click(); (`+buttonsJS+`)()`)
	if running != "start- abort+ download- send-" {
		t.Errorf("while running: %s", running)
	}
	s.waitFor(t, realLimit, "the abort", status+` !== ""`)
	if got := eval[string](t, s, status); got != "Aborted: no table." {
		t.Errorf("after Abort the page says %q", got)
	}
	if got := buttons(); got != "start+ abort- download- send-" {
		t.Errorf("after Abort: %s", got)
	}

	// The whole quick catalogue.
	s.do(t, chromedp.Click(chromedp.CSS("#start")))
	s.waitFor(t, realLimit, "the table", status+`.startsWith("Done") || `+status+`.startsWith("The profile failed")`)
	n := len(latency.ReducedCatalog())
	if got := eval[string](t, s, status); !strings.HasPrefix(got, "Done: "+thousands(n)+" blocks timed") {
		t.Fatalf("the page says %q", got)
	}
	if got := buttons(); got != "start+ abort- download+ send+" {
		t.Errorf("after the run: %s", got)
	}
	s.screenshot(t, "profile-done")
	s.do(t, chromedp.Click(chromedp.CSS("#download")))
	saved := next()
	table, err := latency.Parse(saved)
	if err != nil {
		t.Fatalf("the downloaded table: %v", err)
	}
	if len(table.Rows) != n || table.Device.Precision != latency.PrecisionFP32 {
		t.Errorf("downloaded %d rows at %s, want %d at fp32", len(table.Rows), table.Device.Precision, n)
	}
	for _, r := range table.Rows {
		// 3 rounds of at least 4 samples, at most 32 each (profile.js).
		if r.Reps < 12 || r.Reps > 96 {
			t.Errorf("%s: %d samples, want 3 rounds of 4..32", r.Block.Key(), r.Reps)
		}
	}

	s.do(t, chromedp.Click(chromedp.CSS("#send")))
	s.waitFor(t, realLimit, "the reply", status+`.startsWith("Sent") || `+status+`.includes("refused") || `+status+`.includes("reach")`)
	got := eval[string](t, s, status)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 || !strings.Contains(got, filepath.Base(files[0])) {
		t.Fatalf("the page says %q; the server stored %v", got, files)
	}
	stored, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if back, err := latency.Parse(stored); err != nil || len(back.Rows) != n || back.Rows[0].MedianMS != table.Rows[0].MedianMS {
		t.Errorf("the stored table is not the downloaded one: %v", err)
	}
	s.wait(t, "Send enabled again", `!(`+disabled+`)("send")`)
	s.do(t, chromedp.Click(chromedp.CSS("#send")))
	s.wait(t, "the second reply", status+`.startsWith("This server already has")`)
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 1 {
		t.Errorf("after a second Send the server holds %v", files)
	}
	collect.Store(false)
	s.wait(t, "Send enabled again", `!(`+disabled+`)("send")`)
	s.do(t, chromedp.Click(chromedp.CSS("#send")))
	s.wait(t, "the reply of a server that does not collect", status+`.startsWith("This server does not collect tables")`)
	// The browser logs the refused POST itself.
	if errs := s.errors("/api/latency"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
