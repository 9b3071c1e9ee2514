// Command bench runs the same network through our WebGL2 engine and the
// peer browser runtimes (ONNX Runtime Web, TensorFlow.js, LiteRT.js) in
// one headless Chromium, and reports per-frame latency after warm-up,
// cold start and agreement with the CPU reference (model/cpu).
//
// The peers are pinned in bench/package.json; install them once, build
// the engine, then run from the repository root:
//
//	(cd bench && npm ci)
//	make lab-wasm model
//	go run ./bench -model web/models/student.safetensors -size 128 -reps 3
//
// Every runtime gets the same weights: ours reads the model file, ORT the
// ONNX export of it (model/onnx), TF.js a graph rebuilt in JS from the
// same node list and float32 weights, and LiteRT.js (only with -tflite)
// the TFLite file the teacher was imported from, at its fixed input size.
//
// Method: in every round each backend is loaded afresh, alone in a fresh
// page (responses are no-store, so nothing is inherited): its cold start
// (script + wasm download and compile, weights, first frame) is timed,
// then it runs -warmup untimed and -reps timed frames, and its last
// output is compared with cpu.Run on the same normalized input. The
// order of the backends reverses every round (A B C, C B A, ...) so
// machine drift favours no one, and a backend's median pools the frames
// of all its loads: under SwiftShader one load of an engine can run much
// slower than the next (bench/README.md), so a single load is a lottery. Each frame ends at
// the runtime's own fence: a 1-pixel readPixels for ours, the output
// download for the peers (which also upload their input from a
// Float32Array, where ours uploads an RGBA canvas).
//
// This is a program, not a test: CI's go test ./... must not run it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	edgebrowser "github.com/edgetoon/edgetoon/internal/browser"
	"github.com/edgetoon/edgetoon/internal/isolated"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
	"github.com/edgetoon/edgetoon/model/onnx"
)

// backend is one runtime with one of its backends.
type backend struct {
	Key     string `json:"key"`
	Runtime string `json:"runtime"` // ours, ort, tfjs, litert (page.html's runtimes)
	Backend string `json:"backend"`
	GPU     bool   `json:"gpu"` // a GPU backend: SwiftShader emulates it on the CPU here
}

var backends = []backend{
	{"ours-fp32", "ours", "fp32", true},
	{"ours-fp16", "ours", "fp16", true},
	// Ours as it started before its quick first layout and background
	// warm-up (wasm/warmup.go): the default layout compiled at the first
	// frame. Its cold start against ours-fp32's is what the warm-up saves.
	{"ours-fp32-nowarmup", "ours", "fp32-nowarmup", true},
	{"ort-wasm", "ort", "wasm", false},
	{"ort-webgl", "ort", "webgl", true},
	{"ort-webgpu", "ort", "webgpu", true},
	{"tfjs-webgl", "tfjs", "webgl", true},
	{"tfjs-wasm", "tfjs", "wasm", false},
	{"tfjs-webgpu", "tfjs", "webgpu", true},
	{"litert-wasm", "litert", "wasm", false},
	{"litert-webgpu", "litert", "webgpu", true},
}

type config struct {
	model, tflite, photo, node, dist, out string
	size, rounds, reps, warmup, threads   int
	only                                  []string
	callTimeout                           time.Duration
	verbose                               bool
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	var cfg config
	flag.StringVar(&cfg.model, "model", "web/models/student.safetensors", "edgetoon model `file`")
	flag.StringVar(&cfg.tflite, "tflite", "", "TFLite `file` of the same network for LiteRT.js (e.g. ../shared/models/whitebox_cartoon_fp16.tflite with the teacher at -size 224); empty skips LiteRT.js")
	flag.StringVar(&cfg.photo, "photo", "testdata/obama.jpg", "input photo (centre square, resized)")
	flag.StringVar(&cfg.node, "node", "bench/node_modules", "node_modules holding the peers (cd bench && npm ci)")
	flag.StringVar(&cfg.dist, "dist", "web/dist", "directory holding edgetoon-lab.wasm and wasm_exec.js (make lab-wasm)")
	flag.StringVar(&cfg.out, "o", "bench/results/results.json", "result `file` (a PNG chart is written beside it)")
	flag.IntVar(&cfg.size, "size", 128, "square input size")
	flag.IntVar(&cfg.rounds, "rounds", 3, "fresh loads per backend (A/B rounds), each a cold start")
	flag.IntVar(&cfg.reps, "reps", 2, "timed frames per load")
	flag.IntVar(&cfg.warmup, "warmup", 1, "untimed frames per load after its first")
	flag.IntVar(&cfg.threads, "threads", 2, "threads for the wasm backends")
	only := flag.String("only", "", "comma-separated backend keys (default: all; litert-* need -tflite)")
	flag.DurationVar(&cfg.callTimeout, "call-timeout", 5*time.Minute, "limit on one page call (a cold start or a frame)")
	timeout := flag.Duration("timeout", 60*time.Minute, "overall limit")
	flag.BoolVar(&cfg.verbose, "v", false, "print the page's console output")
	plot := flag.String("plot", "", "only redraw the PNG chart of this result `file` (no browser)")
	flag.Parse()
	if *plot != "" {
		if err := replot(*plot); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *only != "" {
		cfg.only = strings.Split(*only, ",")
	}
	if cfg.rounds < 1 || cfg.reps < 1 || cfg.size < 1 || cfg.warmup < 0 {
		log.Fatal("want -rounds, -reps, -size >= 1 and -warmup >= 0")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}

// row is one backend's result.
type row struct {
	backend
	Label     string    `json:"label"`
	Err       string    `json:"error,omitempty"`
	ColdMs    []float64 `json:"cold_ms,omitempty"`
	CreateMs  []float64 `json:"create_ms,omitempty"` // load + compile, inside cold
	FramesMs  []float64 `json:"frames_ms,omitempty"` // timed frames of every load, in order
	LoadMs    []float64 `json:"load_ms,omitempty"`   // each load's median frame
	MedianMs  float64   `json:"median_ms,omitempty"`
	P90Ms     float64   `json:"p90_ms,omitempty"`
	MinMs     float64   `json:"min_ms,omitempty"`
	MaxMs     float64   `json:"max_ms,omitempty"`
	MaxAbs    float64   `json:"max_abs_diff"`  // vs cpu.Run; NaN counts as +Inf
	Agrees    bool      `json:"agrees"`        // MaxAbs <= 1e-2
	Ratio     float64   `json:"ratio_vs_ours"` // median / ours-fp32 median
	Info      any       `json:"info,omitempty"`
	LiveError string    `json:"timing_error,omitempty"`
}

// tolerance is issue 7's agreement bound in the [-1,1] output range.
const tolerance = 1e-2

type results struct {
	Date      time.Time `json:"date"`
	Model     string    `json:"model"`
	ModelName string    `json:"model_name"`
	GMACs     float64   `json:"gmacs"`
	Size      int       `json:"size"`
	Rounds    int       `json:"rounds"` // loads per backend
	Reps      int       `json:"reps"`   // timed frames per load
	Warmup    int       `json:"warmup"`
	Threads   int       `json:"threads"`
	Browser   string    `json:"browser"`
	UserAgent string    `json:"user_agent"`
	Renderer  string    `json:"webgl_renderer"`
	Cores     int       `json:"hardware_concurrency"`
	CmdLine   []string  `json:"browser_command_line"`
	Versions  any       `json:"versions"`
	Rows      []*row    `json:"rows"`
}

func run(ctx context.Context, cfg config) error {
	g, err := model.ReadFile(cfg.model)
	if err != nil {
		return err
	}
	modelBytes, err := os.ReadFile(cfg.model)
	if err != nil {
		return err
	}
	macs, err := g.MACs(cfg.size, cfg.size)
	if err != nil {
		return err
	}
	// The lab build: the engine as shipped, plus debugRun, through which
	// the bench reads our output back for the agreement check.
	for _, f := range []string{"edgetoon-lab.wasm", "wasm_exec.js"} {
		if _, err := os.Stat(filepath.Join(cfg.dist, f)); err != nil {
			return fmt.Errorf("our engine is not built (run: make lab-wasm): %w", err)
		}
	}
	versions, err := peerVersions(cfg.node)
	if err != nil {
		return fmt.Errorf("peers not installed (run: cd bench && npm ci): %w", err)
	}

	rgba, err := loadPhoto(cfg.photo, cfg.size)
	if err != nil {
		return err
	}
	x := normalize(g, rgba)
	t0 := time.Now()
	ref, err := cpu.Run(g, x)
	if err != nil {
		return fmt.Errorf("CPU reference: %w", err)
	}
	log.Printf("%s at %dx%d: %.2f GMACs, CPU reference in %v", g.Name, cfg.size, cfg.size, float64(macs)/1e9, time.Since(t0).Round(time.Millisecond))
	onnxBytes, err := onnx.Export(g, cfg.size, cfg.size)
	if err != nil {
		return fmt.Errorf("ONNX export: %w", err)
	}
	tfSpec, tfWeights, err := tfjsGraph(g)
	if err != nil {
		return err
	}
	blobs := map[string][]byte{
		"model.safetensors": modelBytes,
		"model.onnx":        onnxBytes,
		"input.f32":         isolated.EncodeF32(x.Data),
		"input.rgba":        rgba.Pix,
		"tfgraph.json":      tfSpec,
		"tfweights.bin":     tfWeights,
	}
	if cfg.tflite != "" {
		if blobs["model.tflite"], err = os.ReadFile(cfg.tflite); err != nil {
			return err
		}
	}

	srv, err := startServer(cfg.node, cfg.dist, blobs)
	if err != nil {
		return err
	}
	defer srv.Close()
	// enable-automation makes Browser.getBrowserCommandLine answer, so the
	// results record the exact switches; enable-unsafe-webgpu exposes
	// navigator.gpu (on SwiftShader here) for the WebGPU backends.
	bctx, bcancel, err := edgebrowser.Start(ctx,
		chromedp.Flag("enable-automation", true),
		chromedp.Flag("enable-unsafe-webgpu", true))
	if err != nil {
		return err
	}
	defer bcancel()
	if cfg.verbose {
		events := chromedp.Events(bctx, runtime.ConsoleAPICalled)
		go func() {
			for ev, err := range events {
				if err != nil {
					return
				}
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				log.Printf("console %s: %s", ev.Type, strings.Join(parts, " "))
			}
		}()
	}
	res := &results{Date: time.Now().UTC(), Model: cfg.model, ModelName: g.Name, GMACs: float64(macs) / 1e9,
		Size: cfg.size, Rounds: cfg.rounds, Reps: cfg.reps, Warmup: cfg.warmup, Threads: cfg.threads, Versions: versions}
	if v, err := chromedp.CallBrowser(bctx, browser.GetVersion, cdp.Empty{}); err == nil {
		res.Browser = v.Product
	}
	if cl, err := chromedp.CallBrowser(bctx, browser.GetBrowserCommandLine, cdp.Empty{}); err == nil {
		res.CmdLine = cl.Arguments
	}

	var rows []*row
	for _, b := range backends {
		if len(cfg.only) > 0 && !slices.Contains(cfg.only, b.Key) || b.Runtime == "litert" && cfg.tflite == "" {
			continue
		}
		rows = append(rows, &row{backend: b, Label: label(b)})
	}
	if len(rows) == 0 {
		return fmt.Errorf("no backends selected")
	}
	res.Rows = rows

	ss := &session{cfg: cfg, bctx: bctx, srv: srv, ref: ref.Data, res: res}
	// Every round loads every backend afresh, alone in its own page, in an
	// order that reverses each round: under SwiftShader one load of the
	// same engine can run much slower than the next, so a backend's frames
	// pool several loads, and no backend's load shares a page (or a GPU
	// process's queues) with another's.
	for i := range cfg.rounds {
		for _, r := range abOrder(rows, i) {
			if r.Err != "" || r.LiveError != "" {
				continue
			}
			if err := ss.load(ctx, r); err != nil {
				return err
			}
		}
		log.Printf("round %d/%d done", i+1, cfg.rounds)
	}
	summarize(rows)
	printTable(os.Stdout, res)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(cfg.out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	chart := chartPath(cfg.out)
	if err := writeChart(chart, res); err != nil {
		return err
	}
	log.Printf("wrote %s and %s", cfg.out, chart)
	return nil
}

// abOrder is rows forward in even rounds and reversed in odd ones.
func abOrder(rows []*row, round int) []*row {
	if round%2 == 0 {
		return rows
	}
	r := slices.Clone(rows)
	slices.Reverse(r)
	return r
}

// median is the middle of xs (the upper one of an even count), 0 if none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Sorted(slices.Values(xs))[len(xs)/2]
}

func msList(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, " ")
}

func label(b backend) string {
	name := map[string]string{"ours": "ours WebGL2", "ort": "ORT Web", "tfjs": "TF.js", "litert": "LiteRT.js"}[b.Runtime]
	return name + " " + b.Backend
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
