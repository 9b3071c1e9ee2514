package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

type environment struct {
	LiteRT, Browser, JS, UserAgent string
	CmdLine, Wasm                  []string
	Cores, Threads                 int
	Console                        []string // the page's console output
	Date                           time.Time
}

// writeReadme records how the fixtures were made, so that a later run, or
// a reader puzzled by a tolerance, can see exactly what produced them.
func writeReadme(name string, cfg config, env environment, results []result) error {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# LiteRT.js reference outputs\n\n")
	p("Written by `go run ./tools/litertref` (tools/litertref/main.go); do not edit by hand.\n")
	p("These are the independent reference for the TFLite importer and the Go CPU engine:\n")
	p("the same pretrained .tflite files run through Google's own runtime, LiteRT.js,\n")
	p("in headless Chromium. CI reads the files here and needs neither npm nor a browser.\n\n")

	p("## Regenerate\n\n```\n(cd tools/litertref && npm ci)   # @litertjs/core pinned by package-lock.json\n")
	p("go run ./tools/litertref        # from the repository root; flags: -models, -only, -threads, -v\n")
	p("go run ./tools/litertref -dr    # also whitebox_cartoon_dr at 512 (3.5 MB more; not committed by default)\n```\n\n")
	p("It needs ../shared/models (see MODELS.md there) and Chromium (internal/browser finds it).\n\n")

	p("## Environment of this run\n\n")
	p("- Date: %s\n", env.Date.Format("2006-01-02 15:04 UTC"))
	p("- LiteRT.js: @litertjs/core %s, `loadLiteRt(wasmDir, {threads: true})`; wasm loaded: %s\n", env.LiteRT, strings.Join(env.Wasm, ", "))
	p("- Accelerator: `wasm` (XNNPACK on WebAssembly), `cpuOptions.numThreads` %d; the page is cross-origin isolated (COOP/COEP) so the threaded build runs\n", env.Threads)
	p("- Browser: %s, V8 %s, %d logical cores seen by the page\n", env.Browser, env.JS, env.Cores)
	p("- User agent: `%s`\n", env.UserAgent)
	if len(env.CmdLine) > 0 {
		p("- Browser switches (from Browser.getBrowserCommandLine; internal/browser.Flags plus enable-automation and chromedp's defaults):\n  `%s`\n", strings.Join(env.CmdLine, " "))
	}
	p("- Go %s; golang.org/x/image %s\n\n", runtime.Version(), modVersion("golang.org/x/image"))

	p("Precision: LiteRT.js %s has no precision option for the wasm accelerator (only\n", env.LiteRT)
	p("`gpuOptions.precision` and `webNNOptions.precision`, for other accelerators), and\n")
	p("none was set. Float ops run in float32 on XNNPACK's WebAssembly kernels; the fp16\n")
	p("file's weights are turned into float32 constants by its DEQUANTIZE ops. Quantized\n")
	p("(int8) ops run as int8 kernels: see each model below.\n\n")

	p("## Input preprocessing (exact)\n\n")
	p("1. Decode `testdata/<photo>.jpg` with Go's image/jpeg.\n")
	p("2. Crop the largest centred square: side s = min(W, H), top-left ((W-s)/2, (H-s)/2), integer division.\n")
	p("3. Copy it into an 8-bit `image.RGBA` (`draw.Draw`, `draw.Src`).\n")
	p("4. Resize s x s to N x N with `golang.org/x/image/draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)`; alpha forced to 255.\n")
	p("5. That image is stored as `<photo>_<N>.png` (8-bit RGB, no gAMA/iCCP/sRGB chunks): **tests start from this PNG**, not from the JPEG.\n")
	p("6. x = float32(p)/127.5 - 1, computed in float32, in HWC order, batch 1: a `[1,N,N,3]` float32 tensor handed to LiteRT.js as a `Float32Array` fetched as raw little-endian bytes (no image decoding in the browser).\n\n")
	p("Output: the model's single output tensor `[1,N,N,3]` float32 (nominally [-1,1]), read back as raw\n")
	p("bytes and stored as `<model>_<photo>_<N>.npy` (NumPy v1.0, `<f4`, C order, shape `[N,N,3]`,\n")
	p("batch dropped). To view one: pixel = clamp((y+1)*127.5).\n\n")

	p("## Models\n\n")
	for _, r := range results {
		j := r.Job
		p("### %s at %dx%d\n\n", j.File, j.Size, j.Size)
		p("%s.\n\n", j.Note)
		if sum, _, err := fileSHA256(filepath.Join(cfg.models, j.File)); err == nil {
			p("- sha256 %s\n", sum)
		}
		if r.Info != nil {
			for _, t := range r.Info.Inputs {
				p("- file input: %s\n", t)
			}
			for _, t := range r.Info.Outputs {
				p("- file output: %s\n", t)
			}
			p("- non-constant (activation) tensors by type: %s\n", countsString(r.Info.Activations))
			if len(r.Info.QuantizedActivations) > 0 {
				p("- quantized activations, e.g.:\n")
				for _, t := range r.Info.QuantizedActivations {
					p("  - %s\n", t)
				}
			} else {
				p("- no quantized activations: every op computes in float\n")
			}
			p("- constant (weight) tensors by type: %s\n", countsString(r.Info.Constants))
			p("- ops: %s\n", countsString(r.Info.Ops))
			if len(r.Info.QuantizedActivations) == 0 && r.Info.Constants["INT8"] > 0 && r.Info.Ops["DEQUANTIZE"] == 0 {
				p("- int8 weights feed float ops directly (dynamic-range \"hybrid\" ops, no DEQUANTIZE):\n")
				p("  the runtime may quantize the activations to int8 on the fly (this LiteRT.js wasm\n")
				p("  build contains XNNPACK's qd8_f32_qc8w convolution kernels), so this reference need\n")
				p("  not be a float32 computation on dequantized weights; expect a looser tolerance.\n")
			}
		}
		if r.Err != nil {
			p("- **LiteRT.js failed**: `%v`\n\n", r.Err)
			continue
		}
		rt := r.Runtime
		for _, t := range rt.Inputs {
			p("- LiteRT.js input: %s %s %v\n", t.Name, t.DType, t.Shape)
		}
		for _, t := range rt.Outputs {
			p("- LiteRT.js output: %s %s %v (read back as %s)\n", t.Name, t.DType, t.Shape, rt.OutputType)
		}
		p("- compiled with accelerator %q, %d threads, isFullyAccelerated %v\n",
			rt.Options.Accelerator, rt.Options.CPUOptions.NumThreads, rt.IsFullyAccelerated)
		if !rt.IsFullyAccelerated {
			p("  (not every op was taken by the XNNPACK delegate; the rest ran on TFLite's built-in CPU kernels)\n")
		}
		ms := make([]string, len(r.Ms))
		for i, m := range r.Ms {
			ms[i] = fmt.Sprintf("%.0f", m)
		}
		p("- first-run time per photo (ms, includes warm-up): %s\n", strings.Join(ms, ", "))
		p("- max |y| over its outputs: %.6f; NaNs: %d; at most %d distinct values per output, smallest gap %.3g\n",
			r.MaxAbs, r.NaNCount, r.Distinct, r.MinStep)
		if len(r.Info.QuantizedActivations) > 0 {
			p("- quantized activations: LiteRT runs the QUANTIZE..DEQUANTIZE sections with int8 kernels\n")
			p("  (int8 activations, int32 accumulation, requantization after each op), so the output\n")
			p("  carries int8 rounding error accumulated through the network and, when the last op is\n")
			p("  quantized, lies on the grid of its output scale. A float32 engine on dequantized\n")
			p("  weights is not expected to match it to 2e-3; compare statistics (mean/percentile\n")
			p("  abs error) and state the tolerance reached.\n")
		}
		p("\n")
	}

	if len(env.Console) > 0 {
		p("## Page console (whole run; TFLite's log)\n\n```\n")
		for i, l := range env.Console {
			if i == 40 {
				p("... (%d more lines)\n", len(env.Console)-40)
				break
			}
			p("%s\n", l)
		}
		p("```\n\n")
	}

	p("## Files\n\n| file | bytes | sha256 | what |\n| --- | ---: | --- | --- |\n")
	total := int64(0)
	seen := map[string]bool{}
	for _, r := range results {
		for _, f := range r.Files {
			if seen[f] {
				continue
			}
			seen[f] = true
			sum, n, err := fileSHA256(f)
			if err != nil {
				return fmt.Errorf("fixture list: %w", err)
			}
			total += n
			what := fmt.Sprintf("input photo at %d, 8-bit RGB", r.Job.Size)
			if strings.HasSuffix(f, ".npy") {
				what = fmt.Sprintf("LiteRT.js output of %s, [%d,%d,3] float32", r.Job.File, r.Job.Size, r.Job.Size)
			}
			p("| %s | %d | %s | %s |\n", filepath.Base(f), n, sum[:16], what)
		}
	}
	p("\nTotal: %d bytes.\n", total)
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write README: %w", err)
	}
	return nil
}

func modVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			return m.Version
		}
	}
	return "unknown"
}
