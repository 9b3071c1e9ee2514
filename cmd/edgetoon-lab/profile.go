package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/internal/browser"
	"github.com/edgetoon/edgetoon/latency"
	"github.com/edgetoon/edgetoon/server"
	"github.com/edgetoon/edgetoon/web"
)

const profileUsage = `usage: edgetoon-lab profile [flags] -o table.json
       edgetoon-lab profile -model m.safetensors [-size 256] [-o profile.json]

Times the latency-table blocks (or, with -networks, whole networks of the
searchable family; or, with -model, a model's frame pass by pass, printed
as a table of where its time goes) in headless Chromium, through the same engine and page
(/profile) that a phone uses, served on 127.0.0.1 by this binary. Needs
the lab engine built into it: run 'make lab-wasm' before building
edgetoon-lab (or pass -web web to serve the source directory).

`

// modelPath is where profile serves -model's file to the page.
const modelPath = "/lab/model"

// labWasm is the engine with the profiler (go build -tags lab ./wasm), in
// the web directory; the server serves it at /edgetoon-lab.wasm.
const labWasm = "dist/edgetoon-lab.wasm"

// profileConfig is one profiler run.
type profileConfig struct {
	browser   string // "chromium" (found as internal/browser does) or a path
	blocks    string // "full", "reduced" or a JSON array of latency.Block
	networks  string // JSON array of latency.Arch; set: time networks instead
	model     []byte // a model file; set: time its passes instead
	rounds    int    // blocks: times over the list (networks repeat the list instead)
	size      int    // networks' input side
	precision string
	timer     string // "auto" or "fence"
	warmup    int
	reps      int
	minMS     int
	assets    fs.FS
	progress  io.Writer // progress lines; nil for none
}

func runProfile(args []string) error {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), profileUsage)
		fs.PrintDefaults()
	}
	cfg := profileConfig{progress: os.Stderr}
	fs.StringVar(&cfg.browser, "browser", "chromium", "`browser`: chromium (found on PATH or $CHROMIUM) or a Chromium binary's path")
	catalog := fs.String("catalog", "full", "block catalogue: full (1,098 blocks) or reduced (a handful, for CI)")
	blocksFile := fs.String("blocks", "", "time the blocks listed in this JSON `file` (an array of blocks, or a latency table) instead of -catalog")
	networks := fs.String("networks", "", "time whole networks: a JSON `file` holding an array of architectures ({c0,c1,c2,c3,r,mids,c6,c8}); writes their latencies instead of a table")
	modelFile := fs.String("model", "", "time this model `file`'s frame pass by pass (at -size): prints where the time goes, and writes the profile with -o")
	fs.IntVar(&cfg.size, "size", 256, "input side of -networks and -model")
	rounds := fs.Int("rounds", 1, "time the whole list this many times over, each block or network loaded afresh, so that a machine's drift and a load's luck spread over every entry (a block's row pools its rounds' samples; predict-latency -measured takes the median of a network's rounds)")
	fs.StringVar(&cfg.precision, "precision", "fp32", "storage precision: fp32 or fp16")
	fs.StringVar(&cfg.timer, "timer", "auto", "auto (the GPU timer query where the browser has it) or fence (wall clock to a fence)")
	fs.IntVar(&cfg.warmup, "warmup", 2, "untimed runs of each block before timing")
	fs.IntVar(&cfg.reps, "reps", 10, "timed repetitions of each block")
	fs.IntVar(&cfg.minMS, "min-ms", 0, "keep timing a block past -reps until its timed runs add up to this many `ms` (at most 8 x reps samples): more samples for fast, noisy blocks")
	webDir := fs.String("web", "", "serve this web `directory` (with dist/edgetoon.wasm) instead of the assets built into this binary")
	out := fs.String("o", "", "write the table (or the networks' latencies) to this `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *out == "" && *modelFile == "" {
		return errors.New("-o is required")
	}
	if cfg.minMS < 0 {
		return fmt.Errorf("-min-ms %d: want 0 or more", cfg.minMS)
	}
	if cfg.precision != latency.PrecisionFP32 && cfg.precision != latency.PrecisionFP16 {
		return fmt.Errorf("-precision %q: want fp32 or fp16", cfg.precision)
	}
	if *rounds < 1 || *rounds > 100 {
		return fmt.Errorf("-rounds %d: want 1..100", *rounds)
	}
	cfg.rounds = *rounds
	switch {
	case *modelFile != "":
		data, err := os.ReadFile(*modelFile)
		if err != nil {
			return err
		}
		cfg.model = data
	case *networks != "":
		data, err := os.ReadFile(*networks)
		if err != nil {
			return err
		}
		var archs []latency.Arch
		if err := json.Unmarshal(data, &archs); err != nil {
			return fmt.Errorf("%s: %w", *networks, err)
		}
		var list []latency.Arch
		for range *rounds {
			list = append(list, archs...)
		}
		data, _ = json.Marshal(list)
		cfg.networks = string(data)
	case *blocksFile != "":
		blocks, err := readBlocks(*blocksFile)
		if err != nil {
			return err
		}
		data, _ := json.Marshal(blocks)
		cfg.blocks = string(data)
	case *catalog == "full" || *catalog == "reduced":
		cfg.blocks = *catalog
	default:
		return fmt.Errorf("-catalog %q: want full or reduced", *catalog)
	}
	cfg.assets = web.FS
	if *webDir != "" {
		cfg.assets = os.DirFS(*webDir)
	}

	ctx, stop := signalContext()
	defer stop()
	result, err := profile(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.model != nil {
		p, err := latency.ReadModelProfile(strings.NewReader(result))
		if err != nil {
			return fmt.Errorf("the browser's profile: %w", err)
		}
		printProfile(os.Stdout, p)
		if *out == "" {
			return nil
		}
	} else if cfg.networks == "" {
		t, err := latency.Parse([]byte(result))
		if err != nil {
			return fmt.Errorf("the browser's table: %w", err)
		}
		fmt.Printf("%d blocks timed on %s (%s, %s timer)\n", len(t.Rows), orUnknown(t.Device.Renderer), t.Device.Precision, t.Device.Timer)
	}
	return writeFileAtomic(*out, []byte(result+"\n"))
}

// readBlocks reads a JSON array of blocks, or takes the blocks of a table.
func readBlocks(path string) ([]latency.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var blocks []latency.Block
	if err := json.Unmarshal(data, &blocks); err != nil {
		t, terr := latency.Parse(data)
		if terr != nil {
			return nil, fmt.Errorf("%s: neither an array of blocks (%v) nor a table (%v)", path, err, terr)
		}
		for _, r := range t.Rows {
			blocks = append(blocks, r.Block)
		}
	}
	return blocks, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed GPU"
	}
	return s
}

// profile serves cfg.assets with the real server on 127.0.0.1, opens its
// /profile page in headless Chromium and runs the engine's profiler there
// (edgetoon.profile or edgetoon.profileNetworks), printing progress. It
// returns the JSON the engine produced.
func profile(ctx context.Context, cfg profileConfig) (string, error) {
	srv, err := server.New(server.Config{Assets: cfg.assets, Log: func(string, ...any) {}})
	if err != nil {
		return "", err
	}
	var missing []string // the engine's files; the profiler needs no model
	for _, name := range []string{labWasm, "dist/wasm_exec.js"} {
		if _, err := fs.Stat(cfg.assets, name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("the lab engine is not built (%s missing): run `make lab-wasm`, then rebuild edgetoon-lab (or pass -web web)", strings.Join(missing, ", "))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	handler := http.Handler(srv)
	if cfg.model != nil {
		mux := http.NewServeMux()
		mux.Handle("/", srv)
		mux.HandleFunc("GET "+modelPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(cfg.model)
		})
		handler = mux
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	var extra []chromedp.ExecAllocatorOption
	if cfg.browser != "" && cfg.browser != "chromium" {
		p, err := exec.LookPath(cfg.browser)
		if err != nil {
			return "", fmt.Errorf("-browser: %w", err)
		}
		extra = append(extra, chromedp.ExecPath(p))
	}
	bctx, cancel, err := browser.Start(ctx, extra...)
	if err != nil {
		return "", err
	}
	defer cancel()

	url := "http://" + ln.Addr().String() + "/profile"
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		return "", fmt.Errorf("opening %s: %w", url, err)
	}
	for ready := false; !ready; {
		ready, err = chromedp.Run(bctx, chromedp.Evaluate[bool](`!!document.body && document.body.dataset.ready === "1"`))
		if err != nil {
			return "", fmt.Errorf("opening %s: %w", url, err)
		}
		if !ready {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	opts := map[string]any{"precision": cfg.precision, "warmup": cfg.warmup, "reps": cfg.reps, "minMs": cfg.minMS, "timer": cfg.timer}
	fn, fetch := "profile", ""
	switch {
	case cfg.model != nil:
		fn, fetch = "profileModel", modelPath
		opts["size"], opts["rounds"] = cfg.size, cfg.rounds
	case cfg.networks != "":
		fn = "profileNetworks"
		opts["archs"], opts["size"] = cfg.networks, cfg.size
	default:
		opts["blocks"], opts["rounds"] = cfg.blocks, cfg.rounds
	}
	optsJSON, err := json.Marshal(opts)
	if err != nil {
		return "", err
	}
	// The run goes on in the page; its state is polled, so that a run of
	// any length needs no long-lived protocol call.
	start := fmt.Sprintf(`(() => {
  const run = globalThis.__edgetoonRun = {done: 0, total: 0, key: "", result: null, error: null};
  const opts = %s;
  opts.onProgress = (done, total, key) => { run.done = done; run.total = total; run.key = key; };
  const fetched = %q ? fetch(%q).then((r) => r.arrayBuffer()).then((b) => { opts.model = new Uint8Array(b); }) : Promise.resolve();
  fetched
    .then(() => import("/core.js"))
    .then((m) => m.loadRuntime("/edgetoon-lab.wasm"))
    .then((api) => api[%q](opts))
    .then((r) => { run.result = r; }, (e) => { run.error = (e && e.code ? e.code + ": " : "") + ((e && e.message) || String(e)); });
})()`, optsJSON, fetch, fetch, fn)
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](start)); err != nil {
		return "", fmt.Errorf("starting the profiler: %w", err)
	}
	type state struct {
		Done, Total int
		Key         string
		Finished    bool
		Error       *string
	}
	began, last := time.Now(), time.Time{}
	for {
		st, err := chromedp.Run(bctx, chromedp.Evaluate[state](`(() => { const r = globalThis.__edgetoonRun;
  return {done: r.done, total: r.total, key: r.key, finished: r.result !== null, error: r.error}; })()`))
		if err != nil {
			return "", fmt.Errorf("following the profiler: %w", err)
		}
		if st.Error != nil {
			return "", fmt.Errorf("in the browser: %s", *st.Error)
		}
		if st.Finished {
			break
		}
		if cfg.progress != nil && st.Done > 0 && time.Since(last) > 10*time.Second {
			last = time.Now()
			el := time.Since(began)
			eta := time.Duration(float64(el) / float64(st.Done) * float64(st.Total-st.Done))
			fmt.Fprintf(cfg.progress, "%d/%d  %s elapsed, ~%s left  (%s)\n", st.Done, st.Total,
				el.Round(time.Second), eta.Round(time.Second), st.Key)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
	result, err := chromedp.Run(bctx, chromedp.Evaluate[string](`globalThis.__edgetoonRun.result`))
	if err != nil {
		return "", fmt.Errorf("reading the result: %w", err)
	}
	return result, nil
}

// writeFileAtomic writes data to a temporary file beside path, then
// renames it over path.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// signalContext is canceled by Ctrl-C or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
