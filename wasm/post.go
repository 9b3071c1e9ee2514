//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/wasm/gl"
)

// The temporal stabilization's gate (kernels.GateLow and the others).
const (
	gateLow   = kernels.GateLow
	gateHigh  = kernels.GateHigh
	gateFloor = kernels.GateFloor
)

// post is the page's last stage: the plan's canvas pass renders the
// cartoon into an 8-bit texture (net), then, when stabilizing, a pass
// blends it into the last frame's (ping-pong state textures), and a last
// pass renders mix(input, cartoon, strength) to the canvas. Its calls are
// prepared, like the plan's.
type post struct {
	net   js.Value // RGBA8, canvas size: what the canvas pass would have shown
	netFB js.Value
	// Two sets of state, read one, write the other: the stabilized
	// cartoon and the input it was made from, both RGBA16F.
	outs, ins, fbs [2]js.Value
	stab           [2][]gl.Call // writes set i, reads set 1-i
	present        [3][]gl.Call // from net, outs[0], outs[1]
	stabParams     js.Value     // Float32Array: u_p of the stabilize pass
	presentParams  js.Value     // Float32Array: u_p of the present pass
	cur            int          // the set the last stabilize pass wrote
	shown          int          // the present calls of the last frame
	fresh          bool         // no history: the next stabilize takes the cartoon whole
}

// postPrograms are the post stage's programs, compiled once per context.
type postPrograms struct {
	stab, present *program
}

// compilePost compiles the post stage's programs.
func (e *engine) compilePost() error {
	c := e.gl
	build := func(src, op string, samplers ...string) (*program, error) {
		fs := c.Shader(gl.FRAGMENT_SHADER, src)
		p := &program{p: c.Program(e.vs, fs), fs: fs, op: op}
		if ok, log := c.Linked(p.p, p.fs); !ok {
			c.Call("deleteProgram", p.p)
			c.Call("deleteShader", fs)
			if c.Call("isContextLost").Bool() {
				return nil, errorf(codeContextLost, "The WebGL context was lost while compiling.")
			}
			return nil, errorf(codeShader, "GPU shader for %s failed to compile: %s", op, log)
		}
		p.vecs = c.Uniform(p.p, "u_p")
		c.Call("useProgram", p.p)
		for unit, name := range samplers {
			c.Call("uniform1i", c.Uniform(p.p, name), unit)
		}
		return p, nil
	}
	stab, err := build(kernels.StabilizeShader, "stabilize", "u_image", "u_net", "u_prevIn", "u_prevOut")
	if err != nil {
		return err
	}
	present, err := build(kernels.PresentShader, "present", "u_image", "u_out")
	if err != nil {
		return err
	}
	e.postProgs = &postPrograms{stab: stab, present: present}
	return nil
}

// freePost deletes the post stage's programs.
func (e *engine) freePost() {
	if e.postProgs == nil {
		return
	}
	for _, p := range []*program{e.postProgs.stab, e.postProgs.present} {
		e.gl.Call("deleteProgram", p.p)
		e.gl.Call("deleteShader", p.fs)
	}
	e.postProgs = nil
}

// newPost allocates the post stage's textures for a w x h output and
// prepares its calls.
func newPost(e *engine, w, h int) (*post, error) {
	c := e.gl
	p := &post{fresh: true}
	texture := func(format int) js.Value {
		t := c.Texture2D(gl.NEAREST)
		c.Call("texStorage2D", gl.TEXTURE_2D, 1, format, w, h)
		return t
	}
	var status int
	p.net = texture(gl.RGBA8)
	if p.netFB, status = framebuffer2D(c, p.net); status != gl.FRAMEBUFFER_COMPLETE {
		p.free(c)
		return nil, errorf(codeNoWebGL2, "This device cannot render to an 8-bit texture (framebuffer status 0x%x).", status)
	}
	for i := range 2 {
		p.outs[i], p.ins[i] = texture(gl.RGBA16F), texture(gl.RGBA16F)
		if p.fbs[i], status = framebuffer2D(c, p.outs[i], p.ins[i]); status != gl.FRAMEBUFFER_COMPLETE {
			p.free(c)
			return nil, errorf(codeNoWebGL2, "This device cannot render to half-float textures (framebuffer status 0x%x).", status)
		}
	}
	p.stabParams = gl.Float32Array([]float32{gateLow, gateHigh, gateFloor, 1})
	p.presentParams = gl.Float32Array([]float32{e.strength, 0, 0, 0})
	progs := e.postProgs
	pass := func(prog *program, params js.Value, fb js.Value, inputs ...js.Value) []gl.Call {
		calls := []gl.Call{c.Prepare("useProgram", prog.p)}
		for unit, t := range inputs {
			calls = append(calls,
				c.Prepare("activeTexture", gl.TEXTURE0+unit),
				c.Prepare("bindTexture", gl.TEXTURE_2D, t))
		}
		return append(calls,
			c.Prepare("uniform4fv", prog.vecs, params),
			c.Prepare("bindFramebuffer", gl.FRAMEBUFFER, fb),
			c.Prepare("viewport", 0, 0, w, h),
			c.Prepare("drawArrays", gl.TRIANGLES, 0, 3),
			// Leave unit 0 active, the state the image upload expects.
			c.Prepare("activeTexture", gl.TEXTURE0))
	}
	for i := range 2 {
		p.stab[i] = pass(progs.stab, p.stabParams, p.fbs[i], e.image, p.net, p.ins[1-i], p.outs[1-i])
	}
	for i, src := range []js.Value{p.net, p.outs[0], p.outs[1]} {
		p.present[i] = pass(progs.present, p.presentParams, js.Null(), e.image, src)
	}
	return p, nil
}

// framebuffer2D creates a framebuffer drawing to 2D textures, one render
// target each, and returns its status.
func framebuffer2D(c *gl.Context, texs ...js.Value) (js.Value, int) {
	fb := c.Call("createFramebuffer")
	c.Call("bindFramebuffer", gl.FRAMEBUFFER, fb)
	bufs := make([]any, len(texs))
	for k, t := range texs {
		c.Call("framebufferTexture2D", gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0+k, gl.TEXTURE_2D, t, 0)
		bufs[k] = gl.COLOR_ATTACHMENT0 + k
	}
	c.Call("drawBuffers", js.ValueOf(bufs))
	status := c.Call("checkFramebufferStatus", gl.FRAMEBUFFER).Int()
	c.Call("bindFramebuffer", gl.FRAMEBUFFER, js.Null())
	return fb, status
}

// frame runs the post stage after the plan has rendered into net.
func (p *post) frame(stabilize bool) {
	if !stabilize {
		p.fresh = true
		p.shown = 0
		p.draw()
		return
	}
	next := 1 - p.cur
	if p.fresh {
		p.stabParams.SetIndex(3, 1)
	}
	for _, c := range p.stab[next] {
		c.Do()
	}
	if p.fresh {
		p.stabParams.SetIndex(3, 0)
		p.fresh = false
	}
	p.cur = next
	p.shown = 1 + next
	p.draw()
}

// draw renders the last frame's cartoon to the canvas at the current
// strength.
func (p *post) draw() {
	for _, c := range p.present[p.shown] {
		c.Do()
	}
}

func (p *post) free(c *gl.Context) {
	if c.Call("isContextLost").Bool() {
		return
	}
	for _, t := range []js.Value{p.net, p.outs[0], p.outs[1], p.ins[0], p.ins[1]} {
		if t.Truthy() {
			c.Call("deleteTexture", t)
		}
	}
	for _, f := range []js.Value{p.netFB, p.fbs[0], p.fbs[1]} {
		if f.Truthy() {
			c.Call("deleteFramebuffer", f)
		}
	}
}

// setOptions applies the page's live settings: opts.strength (0 the
// photo, 1 the cartoon) and opts.stabilize (blend still parts into the
// last frame). Either may be absent.
func (e *engine) setOptions(opts js.Value) error {
	if opts.Type() != js.TypeObject {
		return errorf(codeArgument, "setOptions: want an object")
	}
	if s := opts.Get("strength"); !s.IsUndefined() {
		if s.Type() != js.TypeNumber || !(s.Float() >= 0 && s.Float() <= 1) {
			return errorf(codeArgument, "setOptions: strength %v: want a number from 0 to 1", s)
		}
		e.strength = float32(s.Float())
		if e.run != nil && e.run.post != nil {
			e.run.post.presentParams.SetIndex(0, e.strength)
		}
	}
	if s := opts.Get("stabilize"); !s.IsUndefined() {
		if s.Type() != js.TypeBoolean {
			return errorf(codeArgument, "setOptions: stabilize %v: want true or false", s)
		}
		e.stabilize = s.Bool()
	}
	return nil
}

// redraw renders the last frame again, at the current strength, without
// running the network (a photo's strength slider).
func (e *engine) redraw() {
	if e.lost || e.run == nil || e.run.post == nil || !e.drawn {
		return
	}
	e.run.post.draw()
}

// liveMethods adds the live settings to the Engine object:
//
//	setOptions({strength, stabilize}): see engine.setOptions; returns an
//	    Error for a bad value, like stylize
//	redraw(): the last frame again at the current strength
//	gpuFrameMs(): the GPU's time for a recent frame (0 when unknown: no
//	    GPU timer, or no result yet)
//	framesInFlight(): frames stylized that the GPU has not finished
//	framesDone(): frames the GPU has finished so far
func (e *engine) liveMethods(method func(string, func([]js.Value) any)) {
	method("setOptions", func(args []js.Value) any {
		if err := e.setOptions(arg(args, 0)); err != nil {
			return jsError(err)
		}
		return nil
	})
	method("redraw", func(args []js.Value) any {
		e.redraw()
		return nil
	})
	method("gpuFrameMs", func(args []js.Value) any {
		if e.timer == nil {
			return 0
		}
		return e.timer.ms
	})
	method("framesInFlight", func(args []js.Value) any {
		if e.timer == nil || e.lost {
			return 0
		}
		return e.timer.poll()
	})
	method("framesDone", func(args []js.Value) any {
		if e.timer == nil {
			return 0
		}
		return e.timer.done
	})
}
