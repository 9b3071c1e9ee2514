//go:build js && wasm

package main

// The on-device latency profiler (issue 5):
//
//	edgetoon.profile({canvas?, blocks, precision?, warmup?, reps?, minMs?,
//	                  timer?, onProgress?(done, total, key), signal?}) -> Promise<string>
//	edgetoon.profileNetworks({canvas?, archs, size?, precision?, warmup?,
//	                  reps?, minMs?, onProgress?, signal?}) -> Promise<string>
//
// minMs (default 0) keeps timing a block past reps until its timed runs
// add up to minMs milliseconds (with the fence timer a sample may batch
// several runs), up to 8 * reps samples: a fast block's median
// is noisy (its p10-p90 spread under SwiftShader is 50-70 %), and more
// samples of it cost little.
//
// profile runs each block configuration (latency.Block, as a JSON string
// or an array of objects; or "full" or "reduced" for latency.FullCatalog
// or latency.ReducedCatalog) through this engine with synthetic weights and
// resolves to a latency table (JSON, schema latency.Schema). profileNetworks
// times whole networks of the searchable family (latency.Arch) the same
// way, so that predicted and measured latencies can be compared in the
// same browser; it resolves to a JSON array of networkResult.
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

// WebGL2 and EXT_disjoint_timer_query_webgl2 enums.
const (
	glTimeElapsed        = 0x88BF // TIME_ELAPSED_EXT
	glGPUDisjoint        = 0x8FBB // GPU_DISJOINT_EXT
	glQueryResult        = 0x8866
	glQueryAvailable     = 0x8867
	glSyncGPUCommands    = 0x9117 // SYNC_GPU_COMMANDS_COMPLETE
	glSyncFlush          = 0x0001 // SYNC_FLUSH_COMMANDS_BIT
	glAlreadySignaled    = 0x911A
	glConditionSatisfied = 0x911C
	glWaitFailed         = 0x911D
	glUnmaskedVendor     = 0x9245
)

// Profiling limits.
const (
	maxWarmup = 100
	maxReps   = 1000
	maxMinMS  = 600000
	// extraReps bounds the samples minMs adds: at most this many times reps.
	extraReps = 8
	// minSampleMS: with the fence timer, a block faster than this is run
	// several times back to back per timed sample (and the time divided),
	// so that the fixed cost of one fence round trip and the clock's
	// resolution (performance.now is coarsened to 0.1 ms without
	// cross-origin isolation) do not swamp it.
	minSampleMS = 4.0
	maxBatch    = 64
	// floorMS is the smallest latency reported: the table has no zeros.
	floorMS = 1e-3
)

// registerProfile adds the profiler's functions to the API object.
func registerProfile(api js.Value) {
	api.Set("profile", js.FuncOf(func(this js.Value, args []js.Value) any {
		return promise(func() (any, error) { return profileBlocks(arg(args, 0)) })
	}))
	api.Set("profileNetworks", js.FuncOf(func(this js.Value, args []js.Value) any {
		return promise(func() (any, error) { return profileNetworks(arg(args, 0)) })
	}))
}

// profileOptions are the options both functions share.
type profileOptions struct {
	canvas     js.Value
	precision  string
	warmup     int
	reps       int
	minMS      int
	onProgress js.Value
	signal     js.Value
	fence      bool // timer: "fence" forces the fence timer
}

func parseProfileOptions(v js.Value, fn string) (profileOptions, error) {
	var o profileOptions
	if v.Type() != js.TypeObject {
		return o, errorf(codeArgument, "edgetoon.%s: options must be an object", fn)
	}
	o.canvas = v.Get("canvas")
	switch o.canvas.Type() {
	case js.TypeUndefined, js.TypeNull:
		o.canvas = js.Global().Get("document").Call("createElement", "canvas")
	case js.TypeObject:
		if o.canvas.Get("getContext").Type() != js.TypeFunction {
			return o, errorf(codeArgument, "edgetoon.%s: options.canvas must be a canvas element", fn)
		}
	default:
		return o, errorf(codeArgument, "edgetoon.%s: options.canvas must be a canvas element", fn)
	}
	p := v.Get("precision")
	if p.Type() == js.TypeUndefined || p.Type() == js.TypeNull {
		o.precision = "fp32"
	} else {
		var err error
		if o.precision, err = parsePrecision(p); err != nil {
			return o, err
		}
	}
	var err error
	if o.warmup, err = intOption(v, "warmup", 2, 0, maxWarmup); err != nil {
		return o, errorf(codeArgument, "edgetoon.%s: %v", fn, err)
	}
	if o.reps, err = intOption(v, "reps", 10, 1, maxReps); err != nil {
		return o, errorf(codeArgument, "edgetoon.%s: %v", fn, err)
	}
	if o.minMS, err = intOption(v, "minMs", 0, 0, maxMinMS); err != nil {
		return o, errorf(codeArgument, "edgetoon.%s: %v", fn, err)
	}
	switch t := v.Get("timer"); {
	case t.Type() == js.TypeString && t.String() == "fence":
		o.fence = true
	case t.Type() == js.TypeUndefined || t.Type() == js.TypeNull || t.Type() == js.TypeString && t.String() == "auto":
	default:
		return o, errorf(codeArgument, "edgetoon.%s: options.timer: want \"auto\" or \"fence\"", fn)
	}
	o.onProgress = v.Get("onProgress")
	if t := o.onProgress.Type(); t != js.TypeFunction && t != js.TypeUndefined && t != js.TypeNull {
		return o, errorf(codeArgument, "edgetoon.%s: options.onProgress must be a function", fn)
	}
	o.signal = v.Get("signal")
	if t := o.signal.Type(); t != js.TypeObject && t != js.TypeUndefined && t != js.TypeNull {
		return o, errorf(codeArgument, "edgetoon.%s: options.signal must be an AbortSignal", fn)
	}
	return o, nil
}

// intOption reads an integer option in lo..hi, def when absent.
func intOption(v js.Value, name string, def, lo, hi int) (int, error) {
	x := v.Get(name)
	switch x.Type() {
	case js.TypeUndefined, js.TypeNull:
		return def, nil
	case js.TypeNumber:
		f := x.Float()
		if f == math.Trunc(f) && f >= float64(lo) && f <= float64(hi) {
			return int(f), nil
		}
	}
	return 0, fmt.Errorf("options.%s %v: want an integer in %d..%d", name, x, lo, hi)
}

// jsonOption returns option name as JSON: a string as it is, anything
// else through JSON.stringify.
func jsonOption(v js.Value, name string) ([]byte, error) {
	x := v.Get(name)
	switch x.Type() {
	case js.TypeString:
		return []byte(x.String()), nil
	case js.TypeObject:
		return []byte(js.Global().Get("JSON").Call("stringify", x).String()), nil
	}
	return nil, fmt.Errorf("options.%s: want a JSON string or an array", name)
}

func (o profileOptions) aborted() error {
	if o.signal.Type() == js.TypeObject && o.signal.Get("aborted").Truthy() {
		return errorf(codeAborted, "The profile run was aborted.")
	}
	return nil
}

func (o profileOptions) progress(done, total int, what string) {
	if o.onProgress.Type() == js.TypeFunction {
		o.onProgress.Invoke(done, total, what)
	}
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
	o.progress(0, len(blocks), "")
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
		t.Rows = append(t.Rows, latency.Row{Block: b, MedianMS: s.median, P10MS: s.p10, P90MS: s.p90, Reps: s.reps})
		o.progress(i+1, len(blocks), b.Key())
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
}

// measure plans g at h x w, fills its input with random values, runs it
// once whole (so every texture the timed passes read holds its value),
// then times the passes keep selects: warm-up runs first, then reps timed
// samples.
func (p *profiler) measure(g *model.Graph, h, w int, keep func(*kernels.Pass) bool) (stats, error) {
	e := p.e
	if err := p.load(g, h, w); err != nil {
		return stats{}, err
	}
	r := e.run
	x := make([]float32, h*w*g.InputChannels)
	for i := range x {
		x[i] = float32(2*p.rng.Float64() - 1)
	}
	r.writeInput(e.gl, x)
	r.frame()
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
		ms, err := p.time(run(batch), expect*float64(batch))
		if err != nil {
			return stats{}, err
		}
		samples = append(samples, math.Max(ms/float64(batch), floorMS))
		total += ms
	}
	slices.Sort(samples)
	return stats{
		median: percentile(samples, 50), p10: percentile(samples, 10), p90: percentile(samples, 90),
		reps: len(samples), passes: passes,
	}, nil
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
			fb, status := c.Framebuffer(r.textures[pass.Out], base, pr.Outputs)
			fbos = append(fbos, fb)
			if status != gl.FRAMEBUFFER_COMPLETE {
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

// time runs f once and returns how long the GPU took, in milliseconds.
// expect, if not 0, is about how long it should take: the fence timer
// sleeps through most of it before polling closely.
//
// With EXT_disjoint_timer_query_webgl2 the GPU itself measures the time
// between the query's begin and end; a result flagged disjoint (the GPU
// changed clocks or was preempted) is discarded and the run repeated.
//
// Otherwise the time is the wall clock from before the first draw call to
// the moment a fence inserted after the last one has signaled. WebGL
// calls return as soon as the commands are queued, long before the GPU
// has run them; a fence (fenceSync) signals only when every command
// before it has completed, so waiting for it forces the wall clock to
// cover the GPU work itself. WebGL forbids blocking on a fence
// (clientWaitSync's timeout must be 0) and updates a fence's status only
// between tasks of the event loop, so the wait polls clientWaitSync with a
// zero timeout, yielding to the event loop between polls.
func (p *profiler) time(f func(), expect float64) (float64, error) {
	c := p.e.gl
	if p.timer == latency.TimerQuery {
		for range 5 {
			c.Call("getParameter", glGPUDisjoint) // clears the flag
			q := c.Call("createQuery")
			c.Call("beginQuery", glTimeElapsed, q)
			f()
			c.Call("endQuery", glTimeElapsed)
			c.Call("flush")
			start := p.e.now.Invoke().Float()
			for !c.Call("getQueryParameter", q, glQueryAvailable).Bool() {
				if err := p.wait(start, expect); err != nil {
					c.Call("deleteQuery", q)
					return 0, err
				}
			}
			ns := c.Call("getQueryParameter", q, glQueryResult).Float()
			disjoint := c.Call("getParameter", glGPUDisjoint).Bool()
			c.Call("deleteQuery", q)
			if !disjoint {
				return ns / 1e6, nil
			}
		}
		return 0, fmt.Errorf("the GPU timer was disjoint 5 times in a row")
	}
	start := p.e.now.Invoke().Float()
	f()
	sync := c.Call("fenceSync", glSyncGPUCommands, 0)
	c.Call("flush")
	defer c.Call("deleteSync", sync)
	for {
		switch c.Call("clientWaitSync", sync, glSyncFlush, 0).Int() {
		case glAlreadySignaled, glConditionSatisfied:
			return p.e.now.Invoke().Float() - start, nil
		case glWaitFailed:
			return 0, fmt.Errorf("waiting for the GPU failed (clientWaitSync)")
		}
		if err := p.wait(start, expect); err != nil {
			return 0, err
		}
	}
}

// wait yields to the event loop once: by a timer while less than 3/4 of
// the expected time has passed (so that polling does not take the CPU a
// software GPU needs), else by a message, which returns at once.
func (p *profiler) wait(start, expect float64) error {
	if c := p.e.gl; c.Call("isContextLost").Bool() {
		return errorf(codeContextLost, "The WebGL context was lost.")
	}
	if err := p.o.aborted(); err != nil {
		return err
	}
	elapsed := p.e.now.Invoke().Float() - start
	if left := 0.75*expect - elapsed; left > 2 {
		time.Sleep(time.Duration(left * 0.5 * float64(time.Millisecond)))
		return nil
	}
	if expect == 0 && elapsed > 20 {
		// Unknown duration, long already: poll every few milliseconds.
		time.Sleep(time.Duration(math.Min(elapsed/8, 50) * float64(time.Millisecond)))
		return nil
	}
	p.yield.yield()
	return nil
}

// yielder returns to the event loop for one task, without the 4 ms
// minimum that nested timers get: it posts itself a message.
type yielder struct {
	port1, port2 js.Value
	fn           js.Func
	ch           chan struct{}
}

func newYielder() *yielder {
	mc := js.Global().Get("MessageChannel").New()
	y := &yielder{port1: mc.Get("port1"), port2: mc.Get("port2"), ch: make(chan struct{}, 1)}
	y.fn = js.FuncOf(func(this js.Value, args []js.Value) any {
		select {
		case y.ch <- struct{}{}:
		default:
		}
		return nil
	})
	y.port1.Set("onmessage", y.fn)
	return y
}

func (y *yielder) yield() {
	y.port2.Call("postMessage", nil)
	<-y.ch
}

func (y *yielder) close() {
	y.port1.Set("onmessage", js.Null())
	y.port1.Call("close")
	y.port2.Call("close")
	y.fn.Release()
}
