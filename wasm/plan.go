//go:build js && wasm

package main

import (
	"errors"
	"slices"
	"time"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/wasm/gl"
)

// ensurePlan makes the current plan one for h x w in the current layout,
// building (and compiling any new programs) only when the size or the
// layout (quick) changed.
func (e *engine) ensurePlan(h, w int, async bool) error {
	if e.run != nil && e.run.plan.Opts.ContentH == h && e.run.plan.Opts.ContentW == w && e.run.quick == e.quick {
		return nil
	}
	mark("plan-start")
	defer mark("plan-ready")
	quick := e.quick
	plan, err := e.build(h, w, quick)
	if err != nil {
		return err
	}
	if plan, err = e.finishPlan(plan, e.submit(plan), quick, async); err != nil {
		return err
	}
	return e.setPlan(plan, quick)
}

// finishPlan waits for plan's programs fresh (from submit) and returns
// the plan whose programs compiled: plan itself, or, where a driver
// refused its baked convs, the same plan built again unbaked (unbake).
func (e *engine) finishPlan(plan *kernels.Plan, fresh []*program, quick, async bool) (*kernels.Plan, error) {
	err := e.finish(fresh, async)
	if err == nil || !e.unbake(err) {
		return plan, err
	}
	if plan, err = e.build(plan.Opts.ContentH, plan.Opts.ContentW, quick); err != nil {
		return nil, err
	}
	return plan, e.finish(e.submit(plan), async)
}

// unbake says whether a plan that failed with err is worth building again
// with every conv's weights in the weight texture, and makes the engine's
// plans so from now on: a driver may refuse the unrolled programs of the
// baked convs (their length, their constants) where it compiles the
// texture-reading ones that every plan used before them.
func (e *engine) unbake(err error) bool {
	var ce *codedError
	if e.limits.Unbaked || e.lost || !errors.As(err, &ce) || ce.Code != codeShader {
		return false
	}
	e.limits.Unbaked = true
	return true
}

// labSource rewrites a program's source before it is compiled: nil in
// the shipped engine; the lab build's tests use it to make a driver
// refuse the baked convs' programs (profiledebug.go).
var labSource func(string) string

// build plans the current model for a picture of h x w on this device, in
// the quick layout or the default one. A side that is not a multiple of
// the model's is padded to the next (kernels.Options.ContentW), as the
// CLI pads a photo (internal/photo.ToTensor).
func (e *engine) build(h, w int, quick bool) (*kernels.Plan, error) {
	opts := e.limits
	opts.H, opts.W = e.padded(h, w)
	opts.ContentH, opts.ContentW = h, w
	opts.Half, opts.Input, opts.ToCanvas = e.half, e.input, e.toCanvas
	if quick {
		opts.ConvPixels, opts.MaxOutputs, opts.Unbaked = quickLayout.ConvPixels, quickLayout.MaxOutputs, quickLayout.Unbaked
		opts.ShapeUniforms = quickLayout.ShapeUniforms && !e.quickLiterals
	}
	plan, err := kernels.Build(e.graph, opts)
	if err != nil {
		var se *kernels.SizeError
		if errors.As(err, &se) {
			return nil, errorf(codeTextureSize, "The picture is too large for this device: %v.", err)
		}
		return nil, errorf(codeModelInvalid, "model %s at %dx%d: %v", e.modelName, w, h, err)
	}
	return plan, nil
}

// setPlan makes plan (built quick or not), its programs compiled, the
// current one: the weights are uploaded (once per model) and its GL
// objects allocated. A plan of the same canvas size as the last (the
// quick layout giving way to the default one) takes over the last one's
// post stage, so that the stabilizer's history carries on.
func (e *engine) setPlan(plan *kernels.Plan, quick bool) error {
	if !e.weightsOK {
		e.uploadWeights(plan)
	}
	var keep *post
	if old := e.run; old != nil && old.plan.OutShape == plan.OutShape && old.plan.Opts.ContentW == plan.Opts.ContentW && old.plan.Opts.ContentH == plan.Opts.ContentH {
		keep = old.post
	}
	r, err := newRunner(e, plan, keep)
	if err != nil {
		return err
	}
	r.quick = quick
	if e.run != nil {
		if keep != nil {
			e.run.post = nil // r's now
		}
		e.run.free(e.gl)
	}
	e.run = r
	e.drawn = false
	return nil
}

// padded is the plan size for a picture of h x w: each side rounded up to
// the model's multiple.
func (e *engine) padded(h, w int) (ph, pw int) {
	m := e.sizeMultiple()
	return (h + m - 1) / m * m, (w + m - 1) / m * m
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

// submit starts compiling and linking the plan's programs not compiled
// yet and returns them, with those submitted before but not finished (a
// background warm-up that gave way to a frame); finish waits for them.
// Every shader is submitted before any status is read, so that drivers
// can compile them in parallel.
func (e *engine) submit(plan *kernels.Plan) []*program {
	c := e.gl
	var fresh []*program
	for _, pr := range plan.Programs {
		if p, ok := e.progs[pr.Source]; ok {
			if !p.ready && !slices.Contains(fresh, p) {
				fresh = append(fresh, p)
			}
			continue
		}
		src := pr.Source
		if labSource != nil {
			src = labSource(src)
		}
		fs := c.Shader(gl.FRAGMENT_SHADER, src)
		p := &program{p: c.Program(e.vs, fs), fs: fs, op: pr.Op, samplers: pr.Samplers}
		e.progs[pr.Source] = p
		fresh = append(fresh, p)
	}
	return fresh
}

// finish waits for programs submitted by submit: with
// KHR_parallel_shader_compile and async, polled without blocking; then
// checked, a failure naming the op; then their uniforms are looked up.
func (e *engine) finish(fresh []*program, async bool) error {
	c := e.gl
	if async && e.parallel {
		for _, p := range fresh {
			for !c.Ready(p.p, true) {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	for _, p := range fresh {
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
		for unit, name := range p.samplers {
			c.Call("uniform1i", c.Uniform(p.p, name), unit)
		}
		p.ready = true
	}
	return nil
}
