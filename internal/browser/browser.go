// Package browser starts the headless Chromium that the browser tests,
// benchmarks and profiler drive, with the flags this project relies on.
// Tests start it through package browsertest, which skips a test where
// Chromium is missing.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// Path finds the Chromium binary: $CHROMIUM, else chromium on PATH.
func Path() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: install it (apt-get install -y chromium) or set $CHROMIUM")
}

// Flags are the command-line switches every run uses: headless, no network
// chatter (this machine's network is closed), and WebGL2 on SwiftShader.
var Flags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("headless", true),
	chromedp.NoSandbox,
	chromedp.NoFirstRun,
	chromedp.NoDefaultBrowserCheck,
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("enable-unsafe-swiftshader", true),
	chromedp.Flag("use-angle", "swiftshader"),
	chromedp.Flag("ignore-gpu-blocklist", true),
	chromedp.Flag("disable-dev-shm-usage", true),
	chromedp.WindowSize(1280, 900),
}

// Start launches a fresh browser with a fresh profile (plus any extra
// options, such as a fake camera) and returns a tab context. Call cancel
// to close the browser.
func Start(ctx context.Context, extra ...chromedp.ExecAllocatorOption) (context.Context, context.CancelFunc, error) {
	path, err := Path()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "edgetoon-chromium-")
	if err != nil {
		return nil, nil, fmt.Errorf("browser profile: %w", err)
	}
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(dir)}, Flags...)
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	tctx, tcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(tctx); err != nil {
		tcancel()
		acancel()
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	return tctx, func() {
		tcancel()
		acancel()
		os.RemoveAll(dir)
	}, nil
}
