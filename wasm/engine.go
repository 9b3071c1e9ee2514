//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"syscall/js"
	"time"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/wasm/gl"
)

// engine runs one model on one canvas's WebGL2 context.
type engine struct {
	canvas js.Value
	gl     *gl.Context
	// Device facts, read once per context.
	parallel bool // KHR_parallel_shader_compile
	half     bool // fp16 storage
	limits   kernels.Options
	renderer string
	request  string // precision asked for

	graph     *model.Graph
	modelName string
	input     kernels.InputKind
	toCanvas  bool

	// GL objects, rebuilt after a context loss.
	vs        js.Value
	progs     map[string]*program
	weights   js.Value
	weightsOK bool
	image     js.Value
	run       *runner
	compileMs float64
	postProgs *postPrograms // the page's last passes (toCanvas only)
	timer     *frameTimer   // nil without a GPU timer

	// Live settings (setOptions): the cartoon's weight over the input,
	// and whether still parts are blended into the last frame.
	strength  float32
	stabilize bool
	drawn     bool // a frame was drawn since the last plan change

	lost       bool
	canvasW    int
	canvasH    int
	lastMs     float64
	now        js.Value // performance.now, bound
	upload     gl.Call  // texImage2D(source) into image; args[5] set per frame
	bindImage  gl.Call
	onState    func(string)
	disposeFns []js.Func
}

// program is a linked program and its uniform locations.
type program struct {
	p, fs            js.Value
	op               string
	ints, vecs, base js.Value
}

// newEngine opens a WebGL2 context on canvas and picks the precision.
func newEngine(canvas js.Value, precision string) (*engine, error) {
	attrs := map[string]any{
		"alpha": false, "antialias": false, "depth": false, "stencil": false,
		"premultipliedAlpha": false, "preserveDrawingBuffer": false,
		"powerPreference": "high-performance",
	}
	ctx := canvas.Call("getContext", "webgl2", attrs)
	if ctx.IsNull() || ctx.IsUndefined() {
		return nil, errorf(codeNoWebGL2, "This browser or device does not support WebGL2.")
	}
	e := &engine{canvas: canvas, gl: gl.New(ctx), request: precision, toCanvas: true, strength: 1}
	perf := js.Global().Get("performance")
	e.now = perf.Get("now").Call("bind", perf)
	if err := e.probe(); err != nil {
		return nil, err
	}
	return e, nil
}

// probe reads the device's limits and extensions and decides fp32/fp16.
func (e *engine) probe() error {
	c := e.gl
	fp32 := !c.Extension("EXT_color_buffer_float").IsNull()
	fp16 := fp32 || !c.Extension("EXT_color_buffer_half_float").IsNull()
	e.parallel = !c.Extension("KHR_parallel_shader_compile").IsNull()
	switch {
	case e.request == "fp32" && !fp32:
		return errorf(codeNoWebGL2, "This device cannot render to 32-bit float textures (EXT_color_buffer_float); try fp16.")
	case !fp16:
		return errorf(codeNoWebGL2, "This device cannot render to float textures (EXT_color_buffer_float / EXT_color_buffer_half_float).")
	}
	e.half = e.request == "fp16" || (e.request == "auto" && !fp32)
	e.limits = kernels.Options{
		MaxTextureSize: c.Int(gl.MAX_TEXTURE_SIZE),
		MaxLayers:      c.Int(gl.MAX_ARRAY_TEXTURE_LAYERS),
		// 8 render targets let a conv fragment compute 8 pixels, each
		// weight fetch serving all of them (BenchmarkConvPixels in
		// wasm/browsertest compares the layouts; docs/performance.md).
		MaxOutputs:     min(c.Int(gl.MAX_DRAW_BUFFERS), 8),
		MaxUniformVecs: c.Int(gl.MAX_FRAGMENT_UNIFORM_VECTORS),
	}
	// Benchmarks may pin the pixels per conv fragment and the render
	// targets per draw (up to the device's MAX_DRAW_BUFFERS) to compare
	// layouts.
	if v := js.Global().Get("edgetoonConvPixels"); v.Type() == js.TypeNumber {
		e.limits.ConvPixels = v.Int()
	}
	if v := js.Global().Get("edgetoonMaxOutputs"); v.Type() == js.TypeNumber {
		e.limits.MaxOutputs = min(c.Int(gl.MAX_DRAW_BUFFERS), v.Int())
	}
	e.renderer = c.Call("getParameter", gl.RENDERER).String()
	if !c.Extension("WEBGL_debug_renderer_info").IsNull() {
		e.renderer = c.Call("getParameter", gl.UNMASKED_RENDERER_WEBGL).String()
	}
	return nil
}

// precision names the storage precision in use.
func (e *engine) precision() string {
	if e.half {
		return "fp16"
	}
	return "fp32"
}

// setGraph replaces the model and sets up its GL objects, building the
// plan at the model's nominal size so every program compiles now.
func (e *engine) setGraph(g *model.Graph, name string, async bool) error {
	e.freeGL()
	e.graph, e.modelName = g, name
	size := g.NominalSize
	if m := max(g.SizeMultiple, 1); size%m != 0 || size <= 0 {
		size = max(m, 8*m)
	}
	return e.setupGL(size, size, async)
}

// setupGL creates every GL object for the current model and a plan of
// h x w. async lets shader compilation proceed in parallel (the caller is
// a goroutine that may sleep).
func (e *engine) setupGL(h, w int, async bool) error {
	c := e.gl
	c.Call("disable", gl.BLEND)
	c.Call("disable", gl.DITHER)
	c.Call("disable", gl.DEPTH_TEST)
	c.Call("pixelStorei", gl.UNPACK_FLIP_Y_WEBGL, 0)
	c.Call("pixelStorei", gl.UNPACK_PREMULTIPLY_ALPHA, 0)
	c.Call("pixelStorei", gl.UNPACK_COLORSPACE_CONVERSION, gl.NONE)
	c.Call("pixelStorei", gl.UNPACK_ALIGNMENT, 1)
	e.progs = map[string]*program{}
	e.vs = c.Shader(gl.VERTEX_SHADER, kernels.VertexShader)
	e.image = c.Texture2D(gl.LINEAR)
	e.bindImage = c.Prepare("bindTexture", gl.TEXTURE_2D, e.image)
	e.upload = c.Prepare("texImage2D", gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, js.Null())
	e.weightsOK = false
	start := e.now.Invoke().Float()
	if e.toCanvas {
		if err := e.compilePost(); err != nil {
			return err
		}
		e.timer = newFrameTimer(c)
	}
	if err := e.ensurePlan(h, w, async); err != nil {
		return err
	}
	e.compileMs = e.now.Invoke().Float() - start
	return nil
}

// freeGL deletes the GL objects (nothing to do after a context loss).
func (e *engine) freeGL() {
	if e.run != nil {
		e.run.free(e.gl)
		e.run = nil
	}
	if e.lost || e.gl == nil {
		e.postProgs, e.timer = nil, nil
		return
	}
	c := e.gl
	e.freePost()
	if e.timer != nil {
		e.timer.free(c)
		e.timer = nil
	}
	for _, p := range e.progs {
		c.Call("deleteProgram", p.p)
		c.Call("deleteShader", p.fs)
	}
	e.progs = nil
	for _, v := range []js.Value{e.weights, e.image} {
		if v.Truthy() {
			c.Call("deleteTexture", v)
		}
	}

	if e.vs.Truthy() {
		c.Call("deleteShader", e.vs)
	}
	e.weights, e.image, e.vs = js.Null(), js.Null(), js.Null()
}

// ensurePlan makes the current plan one for h x w, building (and
// compiling any new programs) only when the size changed.
func (e *engine) ensurePlan(h, w int, async bool) error {
	if e.run != nil && e.run.plan.Opts.H == h && e.run.plan.Opts.W == w {
		return nil
	}
	opts := e.limits
	opts.H, opts.W, opts.Half, opts.Input, opts.ToCanvas = h, w, e.half, e.input, e.toCanvas
	plan, err := kernels.Build(e.graph, opts)
	if err != nil {
		var se *kernels.SizeError
		if errors.As(err, &se) {
			return errorf(codeTextureSize, "The picture is too large for this device: %v.", err)
		}
		return errorf(codeModelInvalid, "model %s at %dx%d: %v", e.modelName, w, h, err)
	}
	if err := e.compile(plan, async); err != nil {
		return err
	}
	if !e.weightsOK {
		e.uploadWeights(plan)
	}
	r, err := newRunner(e, plan)
	if err != nil {
		return err
	}
	if e.run != nil {
		e.run.free(e.gl)
	}
	e.run = r
	e.drawn = false
	return nil
}

func (e *engine) textureFormat() int {
	if e.half {
		return gl.RGBA16F
	}
	return gl.RGBA32F
}

// uploadWeights puts the weights in one float texture, once per model
// (every plan of a model lays them out the same).
func (e *engine) uploadWeights(plan *kernels.Plan) {
	c := e.gl
	w := plan.Weights
	e.weights = c.Texture2D(gl.NEAREST)
	c.Call("texImage2D", gl.TEXTURE_2D, 0, e.textureFormat(), w.W, w.H, 0, gl.RGBA, gl.FLOAT, gl.Float32Array(w.Data))
	e.weightsOK = true
}

// compile compiles the plan's programs not compiled yet: all shaders are
// submitted first, then (with KHR_parallel_shader_compile) polled without
// blocking, then checked; a failure names the op.
func (e *engine) compile(plan *kernels.Plan, async bool) error {
	c := e.gl
	var fresh []*program
	var srcs []kernels.Program
	for _, pr := range plan.Programs {
		if _, ok := e.progs[pr.Source]; ok {
			continue
		}
		fs := c.Shader(gl.FRAGMENT_SHADER, pr.Source)
		p := &program{p: c.Program(e.vs, fs), fs: fs, op: pr.Op}
		e.progs[pr.Source] = p
		fresh = append(fresh, p)
		srcs = append(srcs, pr)
	}
	if async && e.parallel {
		for _, p := range fresh {
			for !c.Ready(p.p, true) {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	for i, p := range fresh {
		if ok, log := c.Linked(p.p, p.fs); !ok {
			if c.Call("isContextLost").Bool() {
				return errorf(codeContextLost, "The WebGL context was lost while compiling.")
			}
			return errorf(codeShader, "GPU shader for %s failed to compile: %s", p.op, log)
		}
		p.ints = c.Uniform(p.p, "u_i")
		p.vecs = c.Uniform(p.p, "u_v")
		p.base = c.Uniform(p.p, "u_base")
		c.Call("useProgram", p.p)
		for unit, name := range srcs[i].Samplers {
			c.Call("uniform1i", c.Uniform(p.p, name), unit)
		}
	}
	return nil
}

// stylize renders source through the net onto the canvas at w x h.
func (e *engine) stylize(source js.Value, w, h int) error {
	if e.lost {
		return nil // the page was told through onstatechange
	}
	if e.graph == nil {
		return errorf(codeModelLoad, "no model loaded")
	}
	if err := checkSize(w, h, e.graph.SizeMultiple); err != nil {
		return err
	}
	if err := e.ensurePlan(h, w, false); err != nil {
		return err
	}
	if e.canvasW != w || e.canvasH != h {
		e.canvas.Set("width", w)
		e.canvas.Set("height", h)
		e.canvasW, e.canvasH = w, h
	}
	start := e.now.Invoke().Float()
	timed := e.timer != nil && e.timer.start()
	e.bindImage.Do()
	e.upload.SetArg(5, source)
	e.upload.Do()
	e.run.frame()
	if p := e.run.post; p != nil {
		p.frame(e.stabilize)
	}
	if timed {
		e.timer.stop()
	}
	e.drawn = true
	e.lastMs = e.now.Invoke().Float() - start
	return nil
}

// info describes the engine for the page.
func (e *engine) info() map[string]any {
	m := map[string]any{
		"precision": e.precision(), "renderer": e.renderer, "compileMs": e.compileMs,
		"gpuTimer": e.timer != nil && e.timer.timer, "strength": e.strength, "stabilize": e.stabilize,
	}
	if g := e.graph; g != nil {
		m["model"] = e.modelName
		m["sizeMultiple"] = max(g.SizeMultiple, 1)
		m["nominalSize"] = g.NominalSize
	}
	if r := e.run; r != nil {
		m["passes"] = len(r.plan.Passes)
		m["width"] = r.plan.Opts.W
		m["height"] = r.plan.Opts.H
		m["macs"] = float64(r.plan.MACs())
	}
	return m
}

// contextLost stops rendering; the GL objects are gone with the context.
func (e *engine) contextLost() {
	e.lost = true
	e.run = nil
	e.progs = nil
	e.postProgs, e.timer, e.drawn = nil, nil, false
	e.weightsOK = false
	if e.onState != nil {
		e.onState("lost")
	}
}

// contextRestored rebuilds every GL object at the last size.
func (e *engine) contextRestored() error {
	h, w := e.graph.NominalSize, e.graph.NominalSize
	if e.canvasW > 0 {
		h, w = e.canvasH, e.canvasW
	}
	if err := e.probe(); err != nil {
		return err
	}
	e.lost = false
	if err := e.setupGL(h, w, true); err != nil {
		return fmt.Errorf("rebuilding after context loss: %w", err)
	}
	if e.onState != nil {
		e.onState("restored")
	}
	return nil
}
