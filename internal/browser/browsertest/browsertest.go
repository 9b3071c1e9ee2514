// Package browsertest starts headless Chromium for a test. It is apart
// from package browser so that the commands that drive a browser (the lab
// CLI, the benchmark) do not link package testing.
package browsertest

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/internal/browser"
)

// Start starts a browser for a test (browser.Start, with any extra
// options) and closes it when the test ends. Without Chromium the test is
// skipped, except under CI (CI set), where a missing browser is a failure:
// CI installs it, so its absence is a bug.
func Start(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := browser.Path(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel, err := browser.Start(context.Background(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return ctx
}
