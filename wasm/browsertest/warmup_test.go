//go:build !js

package browsertest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/kernels/testgraph"
	"github.com/edgetoon/edgetoon/model"
)

// quickJS stylizes one picture right after create (the quick layout),
// then again once the engine's background warm-up has switched it to the
// default layout (wasm/warmup.go), posting both canvases.
const quickJS = `
async function quickThenDefault(model, px, w, h, out1, out2) {
  const canvas = document.getElementById("out");
  const eng = await edgetoon.create({canvas, model, precision: "fp32"});
  const src = await rgbaCanvas(px, w, h);
  eng.stylize(src, w, h);
  const first = eng.info().quickLayout;
  await readCanvas(canvas, out1);
  const t0 = performance.now();
  while (!performance.getEntriesByName("edgetoon:warm-up-done").length) {
    if (performance.now() - t0 > 180000) throw new Error("the warm-up did not finish");
    await new Promise((r) => setTimeout(r, 20));
  }
  eng.stylize(src, w, h);
  const second = eng.info().quickLayout;
  await readCanvas(canvas, out2);
  eng.dispose();
  return JSON.stringify([first, second]);
}`

// TestQuickLayout checks that a new engine's first frame runs the quick
// layout and a later one, after the warm-up, the default layout, both
// agreeing with the CPU engine, and with each other to one 8-bit step.
func TestQuickLayout(t *testing.T) {
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, engineJS+quickJS); err != nil {
		t.Fatal(err)
	}
	const w, h = 64, 48
	data, rgba, wantPx := canvasCase(t, w, h)
	post1, id1 := p.srv.slot()
	post2, id2 := p.srv.slot()
	res, err := eval[string](p.ctx, fmt.Sprintf("quickThenDefault(%q, %q, %d, %d, %q, %q)", p.srv.put(data), p.srv.put(rgba), w, h, post1, post2))
	if err != nil {
		t.Fatal(err)
	}
	var quick []bool
	if err := json.Unmarshal([]byte(res), &quick); err != nil {
		t.Fatal(err)
	}
	if len(quick) != 2 || !quick[0] || quick[1] {
		t.Errorf("quick layout in the first frame, then after the warm-up: %v, want [true false]", quick)
	}
	frames := [][]byte{p.srv.get(id1), p.srv.get(id2)}
	for i, got := range frames {
		if len(got) != w*h*4 {
			t.Fatalf("frame %d: canvas has %d bytes, want %d", i, len(got), w*h*4)
		}
		worst := canvasDiff(got, wantPx)
		t.Logf("frame %d: max difference from the CPU %.2f/255", i, worst)
		if worst > 1.5 {
			t.Errorf("frame %d: canvas differs from the CPU by %.2f/255", i, worst)
		}
	}
	// The default layout runs wide 3x3 convs as Winograd (kernels/
	// winograd.go), whose float sums round differently: a byte may fall
	// on the other side of a rounding step, never further.
	for j := range frames[0] {
		if d := int(frames[0][j]) - int(frames[1][j]); d > 1 || d < -1 {
			t.Errorf("the quick and the default layout's canvases differ by more than one step at byte %d: %d against %d", j, frames[0][j], frames[1][j])
			break
		}
	}
}

// firstLayoutJS stylizes one picture right after create and says whether
// the quick layout drew it.
const firstLayoutJS = `
async function firstLayout(model, px, w, h) {
  const canvas = document.getElementById("out");
  const eng = await edgetoon.create({canvas, model, precision: "fp32"});
  const err = eng.stylize(await rgbaCanvas(px, w, h), w, h);
  const quick = eng.info().quickLayout;
  eng.dispose();
  if (err) throw err;
  return quick;
}`

// TestQuickLayoutSmallFramesOnly checks that the quick layout draws a new
// engine's first frame only where the frame is cheap: White-box (nominal
// size 64) at 64x48 (0.4 GMACs) in the quick layout, at 256x256 (8.2
// GMACs) in the default one, whose compile costs less than a quick frame
// that large (wasm/warmup.go, quickMaxMACs); and that a model too heavy
// at its nominal size (White-box at 256) starts in the default layout
// even for a small frame, as with the warm-up off.
func TestQuickLayoutSmallFramesOnly(t *testing.T) {
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, engineJS+firstLayoutJS); err != nil {
		t.Fatal(err)
	}
	g := testgraph.Whitebox(newRand(t))
	for _, c := range []struct {
		nominal, w, h int
		quick         bool
	}{{64, 64, 48, true}, {64, 256, 256, false}, {256, 64, 48, false}} {
		g.NominalSize = c.nominal
		data, err := model.Encode(g, "F16")
		if err != nil {
			t.Fatal(err)
		}
		macs, err := g.MACs(c.h, c.w)
		if err != nil {
			t.Fatal(err)
		}
		quick, err := eval[bool](p.ctx, fmt.Sprintf("firstLayout(%q, %q, %d, %d)", p.srv.put(data), p.srv.put(make([]byte, c.w*c.h*4)), c.w, c.h))
		if err != nil {
			t.Fatal(err)
		}
		if quick != c.quick {
			t.Errorf("nominal size %d, %dx%d (%.2f GMACs): first frame in the quick layout %v, want %v", c.nominal, c.w, c.h, float64(macs)/1e9, quick, c.quick)
		}
	}
}
