//go:build js && wasm

package main

import (
	"syscall/js"
	"time"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/wasm/gl"
)

// WebGL2 enums of the warm-up.
const (
	colorBufferBit       = 0x4000 // COLOR_BUFFER_BIT
	syncCommandsComplete = 0x9117 // SYNC_GPU_COMMANDS_COMPLETE
	syncAlreadySignaled  = 0x911A // ALREADY_SIGNALED
	syncSatisfied        = 0x911C // CONDITION_SATISFIED
	syncWaitFailed       = 0x911D // WAIT_FAILED
)

// quickLayout is the conv layout of a new model's first frames: one pixel
// and one render target per fragment, every weight read from the weight
// texture, and the convs' strides, kernel heights and channel counts
// read from uniforms, so that the convs of one kernel width and one
// epilogue share a program. Its programs are fewer and far smaller than
// the default layout's (kernels.DefaultConvPixels pixels side by side,
// small convs unrolled with their weights as constants), and a driver
// that compiles a program's GPU code at its first draw (SwiftShader)
// compiles them in a fraction of the time, for frames that run slower:
// the first frame comes sooner, and the default layout takes over once
// its programs are ready (warmUp). "Cold start" in docs/performance.md
// has the measurements.
var quickLayout = kernels.Options{ConvPixels: 1, MaxOutputs: 1, Unbaked: true, ShapeUniforms: true}

// warmUpOff says whether the page turned the warm-up off
// (globalThis.edgetoonNoWarmup, set before the engine is created): the
// engine then starts as it did before it, with the default layout at the
// model's nominal size. BenchmarkColdStart in web/ compares the two in one
// run.
func warmUpOff() bool { return js.Global().Get("edgetoonNoWarmup").Truthy() }

// firstFrameWait is how long the default layout's compilation waits for
// the page's first frame.
const firstFrameWait = 3 * time.Second

// quickFor is the longest the quick layout serves frames: a page whose
// frames keep the GPU busy (a camera on a slow device, a benchmark)
// starves the background warm-up, and quick frames are slower than the
// default layout's.
const quickFor = 2 * time.Second

// quickMaxMACs is the most multiply-adds a frame may cost for the quick
// layout to draw it: its frames run several times slower than the default
// layout's, and past this bound a quick frame costs more than the default
// layout's compile saves (measured under SwiftShader: "Cold start" in
// docs/performance.md).
const quickMaxMACs = 2.5e9

// quickServes says whether the quick layout draws a frame of h x w of g.
func quickServes(g *model.Graph, h, w int) bool {
	macs, err := g.MACs(h, w)
	return err == nil && macs <= quickMaxMACs
}

// warmSize is the side of the plan a new model is set up and warmed
// with: small, so that its textures cost little, and a multiple of the
// model's size multiple m. The programs are the same at every size
// (kernels: sizes are uniforms), so it compiles all of them.
func warmSize(m int) int { return 4 * m }

// warmUp runs in the background, after setGraph has set up the current
// (small, quick-layout) plan:
//
//  1. it draws a frame of that plan, then the post stage in both its
//     forms (stabilized and not), from a black picture. A driver may
//     compile a program's GPU code only at its first draw, for the state
//     it draws with (SwiftShader does, on the browser's GPU thread):
//     drawn now, with the same kinds of textures and render targets as a
//     camera frame, that happens while the page does other things (the
//     camera starting) rather than in the first frame. It stops when the
//     page draws a frame: whatever it has not warmed compiles in that
//     frame, as without it. Nothing it draws is kept: the canvas is
//     cleared and the post stage starts afresh;
//  2. once the page's first frame is done (or after firstFrameWait), it
//     compiles the default layout's programs and draws each once on a
//     small plan of its own, then clears quick: the page's next frame
//     builds its plan in the default layout, its programs ready, and
//     carries on the stabilizer's history (setPlan). Both layouts compute
//     the same sums, in the same order but for the default layout's
//     Winograd convs (kernels/winograd.go): the picture changes by at
//     most one 8-bit step.
//
// Each pass is waited for (polled, between tasks) before the next is
// queued, so that the GPU thread also serves the page (the camera's
// video, the compositor, the page's frames) between programs.
func (e *engine) warmUp() {
	r, g := e.run, e.graph
	if r == nil || e.lost {
		return
	}
	c := e.gl
	h, w := r.plan.Opts.H, r.plan.Opts.W
	// The picture is uploaded as a frame's is (RGBA bytes): sampling a
	// texture without storage would draw with a stand-in.
	e.bindImage.Do()
	c.Call("texImage2D", gl.TEXTURE_2D, 0, gl.RGBA, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, js.Global().Get("Uint8Array").New(w*h*4))
	go func() {
		if e.drawPasses(r, func() bool { return e.run == r && !e.drawn && !e.lost }) {
			if p := r.post; p != nil {
				p.frame(true)
				p.frame(false)
				p.cur, p.shown, p.fresh = 0, 0, true
				c.Call("bindFramebuffer", gl.FRAMEBUFFER, js.Null())
				c.Call("clearColor", 0, 0, 0, 0)
				c.Call("clear", colorBufferBit)
				c.Call("flush")
			}
		}
		mark("warm-up-quick")
		if e.quick {
			e.warmDefault(g, r.plan.Opts.H)
		}
	}()
}

// warmDefault compiles the default layout's programs for g and draws each
// once on a size x size plan of its own, then clears quick. It gives up,
// quick left as it is, when the model or the context changes.
func (e *engine) warmDefault(g *model.Graph, size int) {
	c := e.gl
	live := func() bool { return e.graph == g && !e.lost && e.progs != nil && e.quick }
	// The page's first frame goes first, and is finished first: these
	// programs' compilation would compete with its. A page that draws
	// nothing for a while (no camera yet, no photo) waits no longer.
	for t := time.Duration(0); !e.stylized && t < firstFrameWait; t += 20 * time.Millisecond {
		if time.Sleep(20 * time.Millisecond); !live() {
			return
		}
	}
	if !e.waitGPU(live) {
		return
	}
	plan, err := e.build(size, size, false)
	if err != nil {
		e.quick = false // the page's next frame meets the error itself
		return
	}
	fresh := e.submit(plan)
	for _, p := range fresh {
		for !c.Ready(p.p, e.parallel) {
			if time.Sleep(4 * time.Millisecond); !live() {
				return
			}
		}
	}
	if err := e.finish(fresh, false); err != nil {
		e.quick = false // as above
		return
	}
	r, err := newRunner(e, plan, nil)
	if err != nil {
		e.quick = false
		return
	}
	defer r.free(c)
	if e.drawPasses(r, live) {
		e.quick = false
		mark("warm-up-done")
	}
}

// drawPasses draws r's passes one at a time, each waited for, and
// reports whether it drew them all, live holding throughout.
func (e *engine) drawPasses(r *runner, live func() bool) bool {
	c := e.gl
	for i, start := range r.starts {
		end := len(r.calls)
		if i+1 < len(r.starts) {
			end = r.starts[i+1]
		}
		for _, call := range r.calls[start:end] {
			call.Do()
		}
		// Leave the state as a frame does: the page's code may run
		// between these draws and read the canvas (readPixels).
		c.Call("bindFramebuffer", gl.FRAMEBUFFER, js.Null())
		c.Call("activeTexture", gl.TEXTURE0)
		if !e.waitGPU(live) {
			return false
		}
	}
	return true
}

// waitGPU waits until the GPU has run every command queued so far,
// polling a fence between tasks (WebGL forbids blocking on one), and
// reports whether live still holds then.
func (e *engine) waitGPU(live func() bool) bool {
	c := e.gl
	sync := c.Call("fenceSync", syncCommandsComplete, 0)
	c.Call("flush")
	defer func() {
		if !e.lost {
			c.Call("deleteSync", sync)
		}
	}()
	for live() {
		switch c.Call("clientWaitSync", sync, 0, 0).Int() {
		case syncAlreadySignaled, syncSatisfied:
			return live()
		case syncWaitFailed:
			return false
		}
		time.Sleep(4 * time.Millisecond)
	}
	return false
}
