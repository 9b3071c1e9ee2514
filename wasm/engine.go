//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

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
	pinned   bool   // a benchmark pinned the plan's layout (edgetoonConvPixels, edgetoonMaxOutputs, edgetoonSplitGuided, edgetoonInlineInput, edgetoonUnbaked, edgetoonDirect, edgetoonBakedPixelTerms)
	warmOff  bool   // the page turned the warm-up off (edgetoonNoWarmup); read once, at open
	warm     bool   // this model's first frames in the quick layout, warmed in the background (warmup.go; setGraph)
	// quickLiterals: a benchmark turned the quick layout's shape
	// uniforms off (edgetoonQuickLiterals; BenchmarkColdStart in web/).
	quickLiterals bool

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

	// quick: plans use quickLayout until the default layout's programs
	// have compiled and drawn once (warmup.go), or until quickFor has
	// passed since the first quick frame (quickSince, performance.now).
	quick      bool
	quickSince float64

	// Live settings (setOptions): the cartoon's weight over the input,
	// and whether still parts are blended into the last frame.
	strength  float32
	stabilize bool
	drawn     bool // a frame was drawn since the last plan change
	stylized  bool // a frame was drawn since the model was set

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
	samplers         []string // bound to units 0.. once linked
	ints, vecs, base js.Value
	ready            bool // finish has checked it and looked up its uniforms
}

// newEngine opens a WebGL2 context on canvas and picks the precision.
func newEngine(canvas js.Value, precision string) (*engine, error) {
	attrs := map[string]any{
		"alpha": false, "antialias": false, "depth": false, "stencil": false,
		"premultipliedAlpha": false, "preserveDrawingBuffer": false,
		"powerPreference": "high-performance",
	}
	mark("context-start")
	ctx := canvas.Call("getContext", "webgl2", attrs)
	if ctx.IsNull() || ctx.IsUndefined() {
		return nil, errorf(codeNoWebGL2, "This browser or device does not support WebGL2.")
	}
	e := &engine{canvas: canvas, gl: gl.New(ctx), request: precision, toCanvas: true, strength: 1, warmOff: warmUpOff()}
	perf := js.Global().Get("performance")
	e.now = perf.Get("now").Call("bind", perf)
	if err := e.probe(); err != nil {
		return nil, err
	}
	mark("context-ready")
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
		e.pinned = true
	}
	if v := js.Global().Get("edgetoonMaxOutputs"); v.Type() == js.TypeNumber {
		e.limits.MaxOutputs = min(c.Int(gl.MAX_DRAW_BUFFERS), v.Int())
		e.pinned = true
	}
	// And the guided filter's six passes of old (kernels.Options.SplitGuided).
	if js.Global().Get("edgetoonSplitGuided").Truthy() {
		e.limits.SplitGuided = true
		e.pinned = true
	}
	if js.Global().Get("edgetoonInlineInput").Truthy() {
		e.limits.InlineInput = true
		e.pinned = true
	}
	// And every conv's weights in the weight texture (kernels.Options.Unbaked).
	if js.Global().Get("edgetoonUnbaked").Truthy() {
		e.limits.Unbaked = true
		e.pinned = true
	}
	// And every conv run directly, none as Winograd (kernels.Options.Direct).
	if js.Global().Get("edgetoonDirect").Truthy() {
		e.limits.Direct = true
		e.pinned = true
	}
	// And the pixels of a baked conv's fragment (kernels.Options.BakedPixelTerms).
	if v := js.Global().Get("edgetoonBakedPixelTerms"); v.Type() == js.TypeNumber {
		e.limits.BakedPixelTerms = v.Int()
		e.pinned = true
	}
	e.quickLiterals = js.Global().Get("edgetoonQuickLiterals").Truthy()
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

// setGraph replaces the model and sets up its GL objects, building a
// plan so that every program compiles now: a small one in the quick
// layout, warmed and followed by the default layout in the background
// (warmUp); with the warm-up off, or for a model whose frames at its
// nominal size are too heavy for the quick layout to pay (quickServes),
// one at the model's nominal size in the default layout.
func (e *engine) setGraph(g *model.Graph, name string, async bool) error {
	mark("model-decoded")
	e.freeGL()
	e.graph, e.modelName = g, name
	e.limits.Memo = kernels.NewMemo() // this model's plans share their weight transforms
	m := max(g.SizeMultiple, 1)
	size := g.NominalSize
	if size%m != 0 || size <= 0 {
		size = max(m, 8*m)
	}
	e.warm = !e.warmOff && quickServes(g, size, size)
	if e.warm {
		size = warmSize(m)
	}
	e.quick = e.warm && !e.pinned
	e.stylized, e.quickSince = false, 0
	if err := e.setupGL(size, size, async); err != nil {
		return err
	}
	if e.warm {
		e.warmUp()
	}
	return nil
}

// setupGL creates every GL object for the current model and a plan of
// h x w. async lets shader compilation proceed in parallel (the caller is
// a goroutine that may sleep). The plan's shaders are submitted before
// the post stage's, whose link is awaited at once, so that the driver
// compiles them all while the post stage waits (unless the page turned
// the warm-up off: e.warm false).
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
	var plan *kernels.Plan
	var fresh []*program
	if e.warm {
		var err error
		if plan, err = e.build(h, w, e.quick); err != nil {
			return err
		}
		fresh = e.submit(plan)
	}
	if e.toCanvas {
		if err := e.compilePost(); err != nil {
			return err
		}
		e.timer = newFrameTimer(c)
	}
	if e.warm {
		plan, err := e.finishPlan(plan, fresh, e.quick, async)
		if err != nil {
			return err
		}
		if err := e.setPlan(plan, e.quick); err != nil {
			return err
		}
	} else if err := e.ensurePlan(h, w, async); err != nil {
		return err
	}
	e.compileMs = e.now.Invoke().Float() - start
	mark("programs-linked")
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

// stylize renders source through the net onto the canvas at w x h.
func (e *engine) stylize(source js.Value, w, h int) error {
	if e.lost {
		return nil // the page was told through onstatechange
	}
	if e.graph == nil {
		return errorf(codeModelLoad, "no model loaded")
	}
	now := e.now.Invoke().Float()
	ph, pw := e.padded(h, w)
	if e.quick && (e.quickSince > 0 && now-e.quickSince > quickFor.Seconds()*1000 || !quickServes(e.graph, ph, pw)) {
		// The background warm-up has not finished (frames that keep the
		// GPU busy starve it), or the frame is too large for the quick
		// layout to pay. The default layout compiles in this frame, as
		// it did before the quick layout.
		e.quick = false
	}
	if err := e.ensurePlan(h, w, false); err != nil {
		return err
	}
	if e.quick && e.quickSince == 0 {
		e.quickSince = now
	}
	if e.canvasW != w || e.canvasH != h {
		e.canvas.Set("width", w)
		e.canvas.Set("height", h)
		e.canvasW, e.canvasH = w, h
	}
	start := e.now.Invoke().Float()
	if err := e.uploadSource(source); err != nil {
		return err
	}
	timed := e.timer != nil && e.timer.start()
	e.run.frame()
	if p := e.run.post; p != nil {
		p.frame(e.stabilize)
	}
	if timed {
		e.timer.stop()
	}
	e.drawn, e.stylized = true, true
	e.lastMs = e.now.Invoke().Float() - start
	return nil
}

// uploadSource puts the picture in the image texture. WebGL throws for a
// source it cannot read (not an image, a canvas or a video; a picture of
// another origin without CORS), and syscall/js turns that into a panic,
// which would end the Go program and the page's engine with it: it is
// an argument error instead.
func (e *engine) uploadSource(source js.Value) (err error) {
	defer func() {
		if r := recover(); r != nil {
			je, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = errorf(codeArgument, "stylize: the picture could not be read: %s", je.Get("message").String())
		}
	}()
	e.bindImage.Do()
	e.upload.SetArg(5, source)
	e.upload.Do()
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
		m["sizeMultiple"] = e.sizeMultiple()
		m["nominalSize"] = g.NominalSize
	}
	if r := e.run; r != nil {
		m["passes"] = len(r.plan.Passes)
		m["width"] = r.plan.Opts.ContentW
		m["height"] = r.plan.Opts.ContentH
		m["macs"] = float64(r.plan.MACs())
		m["quickLayout"] = r.quick
	}
	return m
}

// sizeMultiple is the multiple of the model loaded now (1 before one is)
// that the engine pads a picture's sides to (build).
func (e *engine) sizeMultiple() int {
	if e.graph == nil {
		return 1
	}
	return max(e.graph.SizeMultiple, 1)
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
	e.quick = false
	if err := e.setupGL(h, w, true); err != nil {
		return fmt.Errorf("rebuilding after context loss: %w", err)
	}
	if e.onState != nil {
		e.onState("restored")
	}
	return nil
}
