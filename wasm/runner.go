//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/wasm/gl"
)

// runner holds the GL objects of one plan and the prepared calls of one
// frame, so that a frame is a replay: no planning, no lookups, no Go
// allocation.
type runner struct {
	plan     *kernels.Plan
	textures []js.Value
	fbos     []js.Value
	calls    []gl.Call
	// starts are the indices in calls where each pass's calls begin
	// (warmUp runs them a pass at a time).
	starts []int
	// post renders the canvas from the plan's output (nil when the plan
	// does not end on the canvas).
	post *post
	// quick says the plan has the quick layout (warmup.go).
	quick bool
}

// newRunner allocates the plan's textures and framebuffers and prepares
// its calls. keep, if not nil, is a post stage of the plan's canvas size
// to render through instead of a new one.
func newRunner(e *engine, plan *kernels.Plan, keep *post) (*runner, error) {
	c := e.gl
	r := &runner{plan: plan}
	if plan.Opts.ToCanvas && e.postProgs != nil {
		r.post = keep
		if keep == nil {
			p, err := newPost(e, plan.Opts.ContentW, plan.Opts.ContentH)
			if err != nil {
				return nil, err
			}
			r.post = p
		}
	}
	for _, t := range plan.Textures {
		r.textures = append(r.textures, c.Texture2DArray(e.textureFormat(), t.W, t.H, t.Layers))
	}
	prep := func(name string, args ...any) { r.calls = append(r.calls, c.Prepare(name, args...)) }
	// Framebuffers of one attachment count, over textures of one format,
	// are complete or not alike: one status check (a wait for the GPU
	// process) per count, not per draw.
	checked := map[int]bool{}
	for i := range plan.Passes {
		pass := &plan.Passes[i]
		pr := plan.Programs[pass.Program]
		r.starts = append(r.starts, len(r.calls))
		e.prepareBindings(plan, pass, r.textures, prep)
		for _, base := range pass.Bases {
			fb := js.Null()
			if pass.Out == kernels.TexCanvas && r.post != nil {
				fb = r.post.netFB
			}
			if pass.Out != kernels.TexCanvas {
				fb = c.Framebuffer(r.textures[pass.Out], base, pr.Outputs)
				r.fbos = append(r.fbos, fb)
				if !checked[pr.Outputs] {
					checked[pr.Outputs] = true
					if status := c.Status(fb); status != gl.FRAMEBUFFER_COMPLETE {
						if keep != nil {
							r.post = nil // the caller's still
						}
						r.free(c)
						return nil, errorf(codeNoWebGL2, "This device cannot render to %s textures (framebuffer status 0x%x at %s).", e.precision(), status, pass)
					}
				}
			}
			prep("bindFramebuffer", gl.FRAMEBUFFER, fb)
			prep("uniform1i", e.progs[pr.Source].base, base)
			prep("drawArrays", gl.TRIANGLES, 0, 3)
		}
	}
	// Leave unit 0 active, the state the image upload expects.
	prep("activeTexture", gl.TEXTURE0)
	return r, nil
}

// frame replays the passes.
func (r *runner) frame() {
	for _, c := range r.calls {
		c.Do()
	}
}

func (r *runner) free(c *gl.Context) {
	if c.Call("isContextLost").Bool() {
		return
	}
	for _, t := range r.textures {
		c.Call("deleteTexture", t)
	}
	for _, f := range r.fbos {
		c.Call("deleteFramebuffer", f)
	}
	if r.post != nil {
		r.post.free(c)
		r.post = nil
	}
	r.textures, r.fbos, r.calls = nil, nil, nil
}

// readOutput reads the plan's output texture back as HWC float32 (tests
// only: it stalls the pipeline).
func (r *runner) readOutput(c *gl.Context) []float32 {
	p := r.plan
	h, w, ch := p.OutShape[0], p.OutShape[1], p.OutShape[2]
	// The last pass wrote the output, n pixels per texel column (see
	// kernels.Storage).
	n := p.Passes[len(p.Passes)-1].Pixels
	tw, _, tl := kernels.Storage(p.OutShape[:], n)
	out := make([]float32, h*w*ch)
	buf := js.Global().Get("Float32Array").New(tw * h * 4)
	for t := range tl {
		l, dx := t/n, t%n
		fb := c.Framebuffer(r.textures[p.Output], t, 1)
		c.Call("bindFramebuffer", gl.FRAMEBUFFER, fb)
		c.Call("readPixels", 0, 0, tw, h, gl.RGBA, gl.FLOAT, buf)
		c.Call("bindFramebuffer", gl.FRAMEBUFFER, js.Null())
		c.Call("deleteFramebuffer", fb)
		px := gl.Float32s(buf)
		for y := range h {
			for x := dx; x < w; x += n {
				i, j := y*w+x, y*tw+x/n
				for k := range min(4, ch-4*l) {
					out[i*ch+4*l+k] = px[j*4+k]
				}
			}
		}
	}
	return out
}

// writeInput uploads a raw normalized HWC input into the plan's input
// texture (tests only).
func (r *runner) writeInput(c *gl.Context, x []float32) {
	p := r.plan
	h, w := p.Opts.H, p.Opts.W
	ch := len(x) / (h * w)
	l := (ch + 3) / 4
	data := make([]float32, l*h*w*4)
	for i := range h * w {
		for k := range ch {
			data[((k/4)*h*w+i)*4+k%4] = x[i*ch+k]
		}
	}
	c.Call("bindTexture", gl.TEXTURE_2D_ARRAY, r.textures[p.Input])
	c.Call("texSubImage3D", gl.TEXTURE_2D_ARRAY, 0, 0, 0, 0, w, h, l, gl.RGBA, gl.FLOAT, gl.Float32Array(data))
}

func gl32(v js.Value) []float32 { return gl.Float32s(v) }

func float32Array(v []float32) js.Value { return gl.Float32Array(v) }

// prepareBindings prepares the calls that set a pass up: its program,
// input textures, uniforms and viewport; the caller adds framebuffers and
// draws. The frame loop and the profiler both replay them.
func (e *engine) prepareBindings(plan *kernels.Plan, pass *kernels.Pass, textures []js.Value, prep func(string, ...any)) {
	prog := e.progs[plan.Programs[pass.Program].Source]
	prep("useProgram", prog.p)
	for unit, in := range pass.Inputs {
		prep("activeTexture", gl.TEXTURE0+unit)
		switch in {
		case kernels.TexImage:
			prep("bindTexture", gl.TEXTURE_2D, e.image)
		case kernels.TexWeights:
			prep("bindTexture", gl.TEXTURE_2D, e.weights)
		default:
			prep("bindTexture", gl.TEXTURE_2D_ARRAY, textures[in])
		}
	}
	if len(pass.Ints) > 0 {
		prep("uniform1iv", prog.ints, gl.Int32Array(pass.Ints))
	}
	if len(pass.Vecs) > 0 {
		prep("uniform4fv", prog.vecs, gl.Float32Array(pass.Vecs))
	}
	prep("viewport", 0, 0, pass.W, pass.H)
}
