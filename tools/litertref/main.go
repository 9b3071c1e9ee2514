// Command litertref regenerates the independent reference outputs in
// testdata/litert: it runs the pretrained TFLite generators through
// LiteRT.js (@litertjs/core, wasm/XNNPACK backend) in headless Chromium on
// the fixture photos and stores the inputs as PNG and the outputs as .npy.
// The Go importer and CPU engine are checked against these files, so CI
// never needs npm or the browser.
//
// It is run by hand from the repository root, after installing the pinned
// runtime once:
//
//	(cd tools/litertref && npm ci)
//	go run ./tools/litertref
//
// See testdata/litert/README.md (written by this command) for what it did.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	edgebrowser "github.com/edgetoon/edgetoon/internal/browser"
	"github.com/edgetoon/edgetoon/internal/npy"
)

// job is one model run at one size on some photos.
type job struct {
	File     string   // file name in the models directory
	Size     int      // square input size N
	Photos   []string // photo stems in testdata/
	Optional bool     // a failure is recorded, not fatal
	Extra    bool     // run only with -dr
	Note     string   // why this model is here, for the README
}

// jobs are chosen to keep the committed fixtures small (< 5 MB in all):
// each output is N*N*3 float32, so the 512x512 one alone is 3 MB and is
// made only on request (-dr).
var jobs = []job{
	{File: "whitebox_cartoon_fp16.tflite", Size: 224, Photos: []string{"obama", "astronaut"},
		Note: "White-box teacher, fp16 weights; 224 is the file's fixed input shape"},
	{File: "animeganv2_hayao_256_int8.tflite", Size: 256, Photos: []string{"obama", "astronaut"},
		Note: "AnimeGANv2 Hayao, int8; 256 is the file's fixed input shape"},
	{File: "whitebox_cartoon_dr.tflite", Size: 512, Photos: []string{"astronaut"}, Optional: true, Extra: true,
		Note: "White-box, int8 weights (dynamic range); 512 is its declared shape"},
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("litertref: ")
	var (
		modelsDir = flag.String("models", "../shared/models", "directory holding the pretrained .tflite files")
		photoDir  = flag.String("photos", "testdata", "directory holding the fixture photos (<name>.jpg)")
		outDir    = flag.String("out", "testdata/litert", "output directory for the fixtures")
		nodeDir   = flag.String("node", "tools/litertref/node_modules", "node_modules holding @litertjs/core (npm ci in tools/litertref)")
		threads   = flag.Int("threads", 2, "XNNPACK threads")
		only      = flag.String("only", "", "comma-separated model file stems to run (default: all)")
		timeout   = flag.Duration("timeout", 15*time.Minute, "overall time limit")
		verbose   = flag.Bool("v", false, "print the page's console output")
		dr        = flag.Bool("dr", false, "also run whitebox_cartoon_dr.tflite at 512 (adds 3.5 MB of fixtures)")
	)
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cfg := config{models: *modelsDir, photos: *photoDir, out: *outDir, node: *nodeDir,
		threads: *threads, verbose: *verbose, dr: *dr}
	if *only != "" {
		cfg.only = strings.Split(*only, ",")
	}
	if err := run(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}

type config struct {
	models, photos, out, node string
	threads                   int
	only                      []string
	verbose, dr               bool
}

// result is what one model run reports, for the README.
type result struct {
	Job      job
	Info     *tflInfo
	Runtime  runInfo
	Files    []string  // fixture files written
	Ms       []float64 // inference time per photo
	Err      error
	MaxAbs   float64 // largest |y| seen, a sanity check on the [-1,1] range
	NaNCount int
	Distinct int     // distinct output values (few means a quantized output)
	MinStep  float64 // smallest gap between distinct output values
}

// runInfo mirrors the JSON the page's run() returns.
type runInfo struct {
	Inputs             []tensorDetail `json:"inputs"`
	Outputs            []tensorDetail `json:"outputs"`
	IsFullyAccelerated bool           `json:"isFullyAccelerated"`
	Options            struct {
		Accelerator string `json:"accelerator"`
		CPUOptions  struct {
			NumThreads int `json:"numThreads"`
		} `json:"cpuOptions"`
	} `json:"options"`
	Ms           float64 `json:"ms"`
	OutputType   string  `json:"outputType"`
	OutputLength int     `json:"outputLength"`
}

type tensorDetail struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

type initInfo struct {
	Wasm                []string `json:"wasm"`
	HardwareConcurrency int      `json:"hardwareConcurrency"`
	UserAgent           string   `json:"userAgent"`
}

func run(ctx context.Context, cfg config) error {
	core := filepath.Join(cfg.node, "@litertjs", "core", "package.json")
	version, err := packageVersion(core)
	if err != nil {
		return fmt.Errorf("LiteRT.js not installed (run: cd tools/litertref && npm ci): %w", err)
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}

	srv, err := startServer(cfg.node, cfg.models)
	if err != nil {
		return err
	}
	defer srv.Close()

	// enable-automation makes Browser.getBrowserCommandLine answer, so the
	// README can list the exact switches the browser ran with.
	bctx, bcancel, err := edgebrowser.Start(ctx, chromedp.Flag("enable-automation", true))
	if err != nil {
		return err
	}
	defer bcancel()
	ver, err := chromedp.CallBrowser(bctx, browser.GetVersion, cdp.Empty{})
	if err != nil {
		return fmt.Errorf("browser version: %w", err)
	}
	var cmdline []string
	if cl, err := chromedp.CallBrowser(bctx, browser.GetBrowserCommandLine, cdp.Empty{}); err == nil {
		cmdline = cl.Arguments
	}

	console := &consoleLog{}
	console.watch(bctx)
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		return fmt.Errorf("open page: %w", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`window.litertrefReady === true`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		return fmt.Errorf("page did not load (see the browser console): %w", err)
	}
	raw, err := chromedp.Run(bctx, chromedp.Evaluate[string](`litertref.init()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return fmt.Errorf("load LiteRT.js: %w", err)
	}
	var ii initInfo
	if err := json.Unmarshal([]byte(raw), &ii); err != nil {
		return fmt.Errorf("decode init result: %w", err)
	}
	log.Printf("LiteRT.js %s in %s, wasm %v", version, ver.Product, ii.Wasm)

	var results []result
	for _, j := range jobs {
		stem := strings.TrimSuffix(j.File, ".tflite")
		// -only names models explicitly; otherwise the extra (large) job
		// runs only with -dr.
		if len(cfg.only) > 0 && !slices.Contains(cfg.only, stem) || len(cfg.only) == 0 && j.Extra && !cfg.dr {
			continue
		}
		r := runJob(bctx, cfg, srv, j)
		if r.Err != nil {
			if !j.Optional {
				return fmt.Errorf("%s: %w", j.File, r.Err)
			}
			log.Printf("%s (optional): %v", j.File, r.Err)
		}
		results = append(results, r)
	}
	env := environment{
		LiteRT: version, Browser: ver.Product, JS: ver.JsVersion, UserAgent: ii.UserAgent,
		CmdLine: cmdline, Wasm: ii.Wasm, Cores: ii.HardwareConcurrency, Threads: cfg.threads,
		Date: time.Now().UTC(), Console: console.all(),
	}
	if cfg.verbose {
		for _, l := range env.Console {
			log.Printf("console %s", l)
		}
	}
	if err := writeReadme(filepath.Join(cfg.out, "README.md"), cfg, env, results); err != nil {
		return err
	}
	log.Printf("wrote %s", filepath.Join(cfg.out, "README.md"))
	return nil
}

func runJob(ctx context.Context, cfg config, srv *server, j job) result {
	r := result{Job: j}
	stem := strings.TrimSuffix(j.File, ".tflite")
	b, err := os.ReadFile(filepath.Join(cfg.models, j.File))
	if err != nil {
		r.Err = fmt.Errorf("read model: %w", err)
		return r
	}
	if r.Info, err = readTFLInfo(b); err != nil {
		r.Err = fmt.Errorf("inspect %s: %w", j.File, err)
		return r
	}
	for _, photo := range j.Photos {
		img, err := loadInput(filepath.Join(cfg.photos, photo+".jpg"), j.Size)
		if err != nil {
			r.Err = err
			return r
		}
		pngName := filepath.Join(cfg.out, fmt.Sprintf("%s_%d.png", photo, j.Size))
		if err := writePNG(pngName, img); err != nil {
			r.Err = err
			return r
		}
		if !slices.Contains(r.Files, pngName) {
			r.Files = append(r.Files, pngName)
		}
		x := toFloat(img)
		out := srv.expect(photo, x)
		jobJSON, _ := json.Marshal(map[string]any{
			"model": j.File, "threads": cfg.threads, "shape": []int{1, j.Size, j.Size, 3},
			"input": "/input/" + photo, "output": "/output/" + photo,
		})
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			"litertref.run("+string(jobJSON)+")", chromedp.EvalAwaitPromise))
		if err != nil {
			r.Err = fmt.Errorf("run %s on %s: %w", j.File, photo, err)
			return r
		}
		var ri runInfo
		if err := json.Unmarshal([]byte(raw), &ri); err != nil {
			r.Err = fmt.Errorf("decode run result: %w", err)
			return r
		}
		y, err := out.Wait(ctx)
		if err != nil {
			r.Err = fmt.Errorf("output of %s on %s: %w", j.File, photo, err)
			return r
		}
		if len(ri.Outputs) != 1 || !slices.Equal(ri.Outputs[0].Shape, []int{1, j.Size, j.Size, 3}) {
			r.Err = fmt.Errorf("%s: unexpected outputs %+v (want one [1,%d,%d,3])", j.File, ri.Outputs, j.Size, j.Size)
			return r
		}
		if len(y) != j.Size*j.Size*3 {
			r.Err = fmt.Errorf("%s: got %d output values, want %d", j.File, len(y), j.Size*j.Size*3)
			return r
		}
		for _, v := range y {
			a := float64(v)
			if a != a {
				r.NaNCount++
				continue
			}
			r.MaxAbs = max(r.MaxAbs, max(a, -a))
		}
		distinct, step := valueStats(y)
		r.Distinct = max(r.Distinct, distinct)
		if r.MinStep == 0 || step < r.MinStep {
			r.MinStep = step
		}
		name := filepath.Join(cfg.out, fmt.Sprintf("%s_%s_%d.npy", stem, photo, j.Size))
		// The batch of one is dropped: fixtures are HWC.
		if err := npy.WriteFile(name, []int{j.Size, j.Size, 3}, y); err != nil {
			r.Err = err
			return r
		}
		r.Files = append(r.Files, name)
		r.Ms = append(r.Ms, ri.Ms)
		r.Runtime = ri
		log.Printf("%s on %s at %d: %.0f ms, max|y| %.4f, wrote %s", j.File, photo, j.Size, ri.Ms, r.MaxAbs, name)
	}
	return r
}

// toFloat maps 8-bit RGB to the generators' input range in HWC order:
// x = float32(p)/127.5 - 1, both steps in float32 arithmetic (the README
// states this so the engine's test can build bit-identical inputs).
func toFloat(img *image.RGBA) []float32 {
	b := img.Bounds()
	x := make([]float32, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[(y-b.Min.Y)*img.Stride:]
		for i := 0; i < b.Dx(); i++ {
			for c := 0; c < 3; c++ {
				x = append(x, float32(row[4*i+c])/127.5-1)
			}
		}
	}
	return x
}

// valueStats counts distinct values and the smallest gap between them: an
// int8-quantized output shows up as a few hundred values on a fixed grid.
func valueStats(y []float32) (distinct int, minStep float64) {
	v := slices.Clone(y)
	slices.Sort(v)
	v = slices.Compact(v)
	for i := 1; i < len(v); i++ {
		if d := float64(v[i] - v[i-1]); minStep == 0 || d < minStep {
			minStep = d
		}
	}
	return len(v), minStep
}

func packageVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var p struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if p.Version == "" {
		return "", errors.New(path + ": no version")
	}
	return p.Version, nil
}

func fileSHA256(name string) (string, int64, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", 0, err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), int64(len(b)), nil
}

func writePNG(name string, img image.Image) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	return nil
}
