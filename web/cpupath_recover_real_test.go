package web_test

import (
	"encoding/base64"
	"fmt"
	"image"
	"math"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/internal/photo"
	"github.com/edgetoon/edgetoon/model/cpu"
)

// recoverJS stylizes a w x h RGBA picture (base64) with the CPU engine,
// then fails its worker as the browser reports a crashed one (an error
// event on the Worker: a wasm abort, the browser ending it), stylizes the
// same picture again and returns both outputs, the states the engine
// reported, the workers started before and after, and the page's words.
const recoverJS = `(async (b64, w, h) => {
  const core = await import("/core.js");
  const [m] = await core.listModels();
  const api = await core.loadRuntime();
  const canvas = document.createElement("canvas"), src = document.createElement("canvas");
  src.width = w; src.height = h;
  const px = Uint8ClampedArray.from(atob(b64), (c) => c.charCodeAt(0));
  src.getContext("2d").putImageData(new ImageData(px, w, h), 0, 0);
  const engine = await api.create({canvas, model: m.url});
  const states = [];
  engine.onstatechange = (s) => states.push(s);
  const frame = async () => {
    engine.stylize(src, w, h);
    await core.canvasPNG(canvas);
    return Array.from(engine.output().data);
  };
  const before = await frame();
  const workers = globalThis.testWorkers.length;
  globalThis.testWorkers[0].dispatchEvent(new ErrorEvent("error", {message: "a test's crash"}));
  const after = await frame();
  return {before, after, states, workers, workersAfter: globalThis.testWorkers.length,
    done: engine.framesDone(), lost: core.lostMessage(engine)};
})`

type recovery struct {
	Before, After         []float64
	States                []string
	Workers, WorkersAfter int
	Done                  int
	Lost                  string
}

// TestCPUPathRecoversReal: when the CPU path's worker dies, the engine
// says "lost", starts a new worker with the model, says "restored", and
// runs the frame it was asked for: the same output as before the crash,
// which agrees with the CPU reference engine.
func TestCPUPathRecoversReal(t *testing.T) {
	rs, s := startCPUPath(t)
	s.script(t, `localStorage.setItem("edgetoon-engine", "cpu");
	  globalThis.testWorkers = [];
	  globalThis.Worker = class extends Worker {
	    constructor(...args) { super(...args); globalThis.testWorkers.push(this); }
	  };`)
	s.do(t, chromedp.Navigate(rs.ts.URL+"/healthz"))
	g, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 32, 32
	img := imageOf(photo.Sample(fixture(t, "obama.jpg"), w, h)).(*image.NRGBA)
	r := await[recovery](t, s, fmt.Sprintf("%s(%q, %d, %d)", recoverJS, base64.StdEncoding.EncodeToString(img.Pix), w, h))
	t.Logf("states %v, workers %d then %d, frames done %d, the page says %q", r.States, r.Workers, r.WorkersAfter, r.Done, r.Lost)
	if strings.Join(r.States, ",") != "lost,restored" {
		t.Errorf("states %v, want lost then restored", r.States)
	}
	if r.Workers != 1 || r.WorkersAfter != 2 {
		t.Errorf("workers %d before the crash and %d after, want 1 and 2", r.Workers, r.WorkersAfter)
	}
	if r.Done != 2 {
		t.Errorf("%d frames done, want 2 (the one before the crash and the one after)", r.Done)
	}
	if !strings.Contains(r.Lost, "engine stopped") {
		t.Errorf("the page says %q when the CPU engine is lost", r.Lost)
	}
	y, err := cpu.Run(g, g.Norm.Apply(photo.Sample(img, w, h)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Before) != len(y.Data) || len(r.After) != len(y.Data) {
		t.Fatalf("outputs of %d and %d values, want %d", len(r.Before), len(r.After), len(y.Data))
	}
	var worst, moved float64
	for i, v := range y.Data {
		worst = max(worst, math.Abs(r.After[i]-float64(v)))
		moved = max(moved, math.Abs(r.After[i]-r.Before[i]))
	}
	t.Logf("after the restart: max |TF.js - cpu.Run| = %.3g, max change from the frame before = %.3g", worst, moved)
	if worst > 1e-4 || math.IsNaN(worst) || moved > 1e-6 {
		t.Errorf("after the restart: max |TF.js - cpu.Run| = %g (want <= 1e-4), change from before %g (want <= 1e-6)", worst, moved)
	}
}
