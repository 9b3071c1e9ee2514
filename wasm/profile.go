//go:build js && wasm && lab

package main

// The on-device latency profiler (issue 5):
//
//	edgetoon.profile({canvas?, blocks, precision?, warmup?, reps?, minMs?,
//	                  rounds?, timer?, onProgress?(done, total, key), signal?}) -> Promise<string>
//	edgetoon.profileNetworks({canvas?, archs, size?, precision?, warmup?,
//	                  reps?, minMs?, onProgress?, signal?}) -> Promise<string>
//	edgetoon.profileModel({canvas?, model, size?, precision?, warmup?, reps?,
//	                  minMs?, rounds?, onProgress?, signal?}) -> Promise<string>
//
// minMs (default 0) keeps timing a block past reps until its timed runs
// add up to minMs milliseconds (with the fence timer a sample may batch
// several runs), up to 8 * reps samples: a fast block's median
// is noisy (its p10-p90 spread under SwiftShader is 20-40 %), and more
// samples of it cost little.
//
// rounds (default 1) times the whole list that many times over, each
// block loaded afresh each round, and pools a block's samples: under
// SwiftShader on a 2-core machine a block's median moved by 18 % (sd) from
// one load to the next, far more than its samples spread within a load,
// so one long load is a worse estimate than a few short ones.
//
// profile runs each block configuration (latency.Block, as a JSON string
// or an array of objects; or "full" or "reduced" for latency.FullCatalog
// or latency.ReducedCatalog) through this engine with synthetic weights and
// resolves to a latency table (JSON, schema latency.Schema). profileNetworks
// times whole networks of the searchable family (latency.Arch) the same
// way, so that predicted and measured latencies can be compared in the
// same browser; it resolves to a JSON array of networkResult.
// profileModel times a real model (its file's bytes in a Uint8Array)
// pass by pass, to show where a frame's time goes (profilemodel.go).
//
// timer "fence" uses the fence timer even where the GPU timer query
// exists (to compare the two); "auto" (the default) prefers the query.
// An AbortSignal in signal stops a run between timings; the promise then
// rejects with an Error whose code is "aborted".

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall/js"
	"time"
	"unicode/utf8"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/latency"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/wasm/gl"
)

const codeAborted = "aborted"

// registerProfile adds the profiler's functions to the API object.
func registerProfile(api js.Value) {
	api.Set("profile", js.FuncOf(func(this js.Value, args []js.Value) any {
		return promise(func() (any, error) { return profileBlocks(arg(args, 0)) })
	}))
	api.Set("profileNetworks", js.FuncOf(func(this js.Value, args []js.Value) any {
		return promise(func() (any, error) { return profileNetworks(arg(args, 0)) })
	}))
	api.Set("profileModel", js.FuncOf(func(this js.Value, args []js.Value) any {
		return promise(func() (any, error) { return profileModel(arg(args, 0)) })
	}))
}

// profileBlocks is edgetoon.profile.
func profileBlocks(v js.Value) (any, error) {
	o, err := parseProfileOptions(v, "profile")
	if err != nil {
		return nil, err
	}
	var blocks []latency.Block
	switch b := v.Get("blocks"); {
	case b.Type() == js.TypeString && b.String() == "full":
		blocks = latency.FullCatalog()
	case b.Type() == js.TypeString && b.String() == "reduced":
		blocks = latency.ReducedCatalog()
	default:
		data, err := jsonOption(v, "blocks")
		if err != nil {
			return nil, errorf(codeArgument, "edgetoon.profile: %v", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&blocks); err != nil {
			return nil, errorf(codeArgument, "edgetoon.profile: options.blocks: %v", err)
		}
	}
	if len(blocks) == 0 || len(blocks) > latency.MaxRows {
		return nil, errorf(codeArgument, "edgetoon.profile: %d blocks, want 1..%d", len(blocks), latency.MaxRows)
	}
	seen := map[latency.Block]bool{}
	for i, b := range blocks {
		if err := b.Validate(); err != nil {
			return nil, errorf(codeArgument, "edgetoon.profile: blocks[%d]: %v", i, err)
		}
		if seen[b] {
			return nil, errorf(codeArgument, "edgetoon.profile: blocks[%d]: %s is listed twice", i, b.Key())
		}
		seen[b] = true
	}

	p, err := newProfiler(o)
	if err != nil {
		return nil, err
	}
	defer p.close()
	t := &latency.Table{Schema: latency.Schema, Device: p.device()}
	total := o.rounds * len(blocks)
	o.progress(0, total, "")
	samples := make([][]float64, len(blocks))
	for r := range o.rounds {
		for i, b := range blocks {
			g, err := latency.BlockGraph(b)
			if err != nil {
				return nil, errorf(codeArgument, "edgetoon.profile: %v", err)
			}
			h, w := b.GraphInput()
			s, err := p.measure(g, h, w, func(pass *kernels.Pass) bool { return latency.InBlock(pass.Nodes[0]) })
			if err != nil {
				return nil, fmt.Errorf("profiling %s: %w", b.Key(), err)
			}
			samples[i] = append(samples[i], s.samples...)
			o.progress(r*len(blocks)+i+1, total, b.Key())
		}
	}
	for i, b := range blocks {
		s := summarize(samples[i])
		t.Rows = append(t.Rows, latency.Row{Block: b, MedianMS: s.median, P10MS: s.p10, P90MS: s.p90, Reps: s.reps})
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("profile: %w", err) // a bug: every field is ours
	}
	out, err := json.MarshalIndent(t, "", " ")
	if err != nil {
		return nil, err
	}
	return string(out), nil
}

// networkResult is one network's end-to-end latency: every pass of its
// plan, raw input to output texture, at Size x Size.
type networkResult struct {
	Arch     latency.Arch   `json:"arch"`
	Name     string         `json:"name"`
	Size     int            `json:"size"`
	Passes   int            `json:"passes"`
	MedianMS float64        `json:"median_ms"`
	P10MS    float64        `json:"p10_ms"`
	P90MS    float64        `json:"p90_ms"`
	Reps     int            `json:"reps"`
	Device   latency.Device `json:"device"`
}

// profileNetworks is edgetoon.profileNetworks.
func profileNetworks(v js.Value) (any, error) {
	o, err := parseProfileOptions(v, "profileNetworks")
	if err != nil {
		return nil, err
	}
	size, err := intOption(v, "size", 256, 4, latency.MaxSide)
	if err != nil || size%4 != 0 {
		return nil, errorf(codeArgument, "edgetoon.profileNetworks: options.size: want a multiple of 4 in 4..%d", latency.MaxSide)
	}
	data, err := jsonOption(v, "archs")
	if err != nil {
		return nil, errorf(codeArgument, "edgetoon.profileNetworks: %v", err)
	}
	var archs []latency.Arch
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&archs); err != nil || len(archs) == 0 || len(archs) > 100 {
		return nil, errorf(codeArgument, "edgetoon.profileNetworks: options.archs: want 1..100 architectures (%v)", err)
	}
	p, err := newProfiler(o)
	if err != nil {
		return nil, err
	}
	defer p.close()
	dev := p.device()
	var res []networkResult
	for i, a := range archs {
		g, err := a.Graph()
		if err != nil {
			return nil, errorf(codeArgument, "edgetoon.profileNetworks: archs[%d]: %v", i, err)
		}
		latency.RandomizeWeights(g, uint64(i+1))
		s, err := p.measure(g, size, size, func(*kernels.Pass) bool { return true })
		if err != nil {
			return nil, fmt.Errorf("profiling %v: %w", a, err)
		}
		res = append(res, networkResult{Arch: a, Name: a.String(), Size: size, Passes: s.passes,
			MedianMS: s.median, P10MS: s.p10, P90MS: s.p90, Reps: s.reps, Device: dev})
		o.progress(i+1, len(archs), a.String())
	}
	out, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return nil, err
	}
	return string(out), nil
}

// profiler times plans on one engine. Programs compiled for one graph are
// kept for the next (most blocks share their shaders).
type profiler struct {
	o      profileOptions
	e      *engine
	timer  string // latency.TimerQuery or latency.TimerFence
	setup  bool   // setupGL has run
	yield  *yielder
	rng    *rand.Rand
	vendor string
}

func newProfiler(o profileOptions) (*profiler, error) {
	e, err := newEngine(o.canvas, o.precision)
	if err != nil {
		return nil, err
	}
	e.input, e.toCanvas = kernels.InputRaw, false
	p := &profiler{o: o, e: e, timer: latency.TimerFence, yield: newYielder(), rng: rand.New(rand.NewPCG(5, 5))}
	if !o.fence && !e.gl.Extension("EXT_disjoint_timer_query_webgl2").IsNull() {
		p.timer = latency.TimerQuery
	}
	if !e.gl.Extension("WEBGL_debug_renderer_info").IsNull() {
		p.vendor = e.gl.Call("getParameter", glUnmaskedVendor).String()
	} else {
		e.renderer = "" // the masked RENDERER string says nothing about the GPU
	}
	return p, nil
}

func (p *profiler) close() {
	p.e.freeGL()
	p.yield.close()
}

// device describes where the run happens.
func (p *profiler) device() latency.Device {
	return latency.Device{
		UserAgent: cleanText(js.Global().Get("navigator").Get("userAgent").String()),
		Renderer:  cleanText(p.e.renderer),
		Vendor:    cleanText(p.vendor),
		Precision: p.e.precision(),
		Timer:     p.timer,
		Date:      time.Now().UTC().Format(time.RFC3339),
	}
}

// cleanText makes s fit a table's text fields: printable UTF-8, at most
// latency.MaxTextLen bytes.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	for len(s) > latency.MaxTextLen {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

// stats are the timings of one plan.
type stats struct {
	median, p10, p90 float64
	reps, passes     int
	samples          []float64 // sorted, in ms
}

// measure plans and runs g at h x w (start), then times the passes keep
// selects (timePasses).
func (p *profiler) measure(g *model.Graph, h, w int, keep func(*kernels.Pass) bool) (stats, error) {
	if err := p.start(g, h, w); err != nil {
		return stats{}, err
	}
	return p.timePasses(keep)
}

// start plans g at h x w, fills its input with random values and runs it
// once whole, so that every texture a timed pass reads holds its value.
func (p *profiler) start(g *model.Graph, h, w int) error {
	e := p.e
	if err := p.load(g, h, w); err != nil {
		return err
	}
	x := make([]float32, h*w*g.InputChannels)
	for i := range x {
		x[i] = float32(2*p.rng.Float64() - 1)
	}
	e.run.writeInput(e.gl, x)
	e.run.frame()
	return nil
}

// timePasses times the passes of the loaded plan that keep selects:
// warm-up runs first, then reps timed runs (more while minMS asks).
func (p *profiler) timePasses(keep func(*kernels.Pass) bool) (stats, error) {
	e, r := p.e, p.e.run
	calls, fbos, passes, err := p.timedCalls(r, keep)
	defer func() {
		for _, fb := range fbos {
			e.gl.Call("deleteFramebuffer", fb)
		}
	}()
	if err != nil {
		return stats{}, err
	}
	if passes == 0 {
		return stats{}, fmt.Errorf("no passes to time")
	}
	run := func(n int) func() {
		return func() {
			for range n {
				for _, c := range calls {
					c.Do()
				}
			}
		}
	}
	// The first run waits for the prologue too; it is not counted, but
	// bounds the time a run takes.
	expect, err := p.time(run(1), 0)
	if err != nil {
		return stats{}, err
	}
	batch := 1
	for range p.o.warmup {
		ms, err := p.time(run(1), expect)
		if err != nil {
			return stats{}, err
		}
		expect = min(expect, ms)
	}
	if p.timer == latency.TimerFence && expect < minSampleMS {
		batch = min(maxBatch, int(math.Ceil(minSampleMS/math.Max(expect, 0.05))))
	}
	samples := make([]float64, 0, p.o.reps)
	total := 0.0
	for len(samples) < p.o.reps || total < float64(p.o.minMS) && len(samples) < extraReps*p.o.reps {
		if err := p.o.aborted(); err != nil {
			return stats{}, err
		}
		if p.timer == latency.TimerQuery {
			got, err := p.timeQueries(run(1), p.queryChunk(expect, len(samples), total), expect)
			if err != nil {
				return stats{}, err
			}
			for _, ms := range got {
				samples = append(samples, math.Max(ms, floorMS))
				total += ms
			}
			continue
		}
		ms, err := p.time(run(batch), expect*float64(batch))
		if err != nil {
			return stats{}, err
		}
		samples = append(samples, math.Max(ms/float64(batch), floorMS))
		total += ms
	}
	s := summarize(samples)
	s.passes = passes
	return s, nil
}

// queryChunk is how many runs of about expect ms measure issues back to
// back with the timer query, given the samples it has and their total:
// enough to cover about queryChunkMS, no more than reps (then minMs, then
// the extraReps cap) still asks for.
func (p *profiler) queryChunk(expect float64, have int, total float64) int {
	per := math.Max(expect, 0.05)
	n := min(maxQueries, max(1, int(queryChunkMS/per)))
	if left := p.o.reps - have; left > 0 {
		return min(n, left)
	}
	short := max(1, int(math.Ceil((float64(p.o.minMS)-total)/per)))
	return min(n, extraReps*p.o.reps-have, short)
}

// summarize sorts samples and returns their statistics.
func summarize(samples []float64) stats {
	slices.Sort(samples)
	return stats{
		median: percentile(samples, 50), p10: percentile(samples, 10), p90: percentile(samples, 90),
		reps: len(samples), samples: samples,
	}
}

// percentile interpolates linearly between the closest ranks of sorted.
func percentile(sorted []float64, q float64) float64 {
	pos := q / 100 * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	return sorted[i]*(1-f) + sorted[i+1]*f
}

// load makes g the engine's graph with a plan of h x w. Programs stay
// compiled across graphs; the weights and textures are replaced.
func (p *profiler) load(g *model.Graph, h, w int) error {
	e := p.e
	if e.gl.Call("isContextLost").Bool() {
		return errorf(codeContextLost, "The WebGL context was lost.")
	}
	if e.run != nil {
		e.run.free(e.gl)
		e.run = nil
	}
	if e.weights.Truthy() {
		e.gl.Call("deleteTexture", e.weights)
		e.weights = js.Null()
	}
	e.weightsOK = false
	e.graph, e.modelName = g, g.Name
	if !p.setup {
		p.setup = true
		return e.setupGL(h, w, true)
	}
	return e.ensurePlan(h, w, true)
}

// timedCalls prepares the calls of the passes keep selects, as the runner
// prepares a frame's, on the runner's textures, with framebuffers of
// their own (returned for deletion).
func (p *profiler) timedCalls(r *runner, keep func(*kernels.Pass) bool) (calls []gl.Call, fbos []js.Value, passes int, err error) {
	e, c := p.e, p.e.gl
	prep := func(name string, args ...any) { calls = append(calls, c.Prepare(name, args...)) }
	plan := r.plan
	for i := range plan.Passes {
		pass := &plan.Passes[i]
		if !keep(pass) {
			continue
		}
		passes++
		pr := plan.Programs[pass.Program]
		e.prepareBindings(plan, pass, r.textures, prep)
		for _, base := range pass.Bases {
			if pass.Out == kernels.TexCanvas {
				return calls, fbos, passes, fmt.Errorf("pass %s renders to the canvas", pass)
			}
			fb := c.Framebuffer(r.textures[pass.Out], base, pr.Outputs)
			fbos = append(fbos, fb)
			if status := c.Status(fb); status != gl.FRAMEBUFFER_COMPLETE {
				return calls, fbos, passes, errorf(codeNoWebGL2, "This device cannot render to %s textures (framebuffer status 0x%x at %s).", e.precision(), status, pass)
			}
			prep("bindFramebuffer", gl.FRAMEBUFFER, fb)
			prep("uniform1i", e.progs[pr.Source].base, base)
			prep("drawArrays", gl.TRIANGLES, 0, 3)
		}
	}
	prep("bindFramebuffer", gl.FRAMEBUFFER, js.Null())
	prep("activeTexture", gl.TEXTURE0)
	return calls, fbos, passes, nil
}
