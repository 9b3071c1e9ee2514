package web_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/server"
)

// rateSimJS drives live.js's RateHolder on a simulated clock: the GPU
// takes msPerKpx for every 1,000 pixels of a frame, the camera gives 30
// frames a second, and a frame finishes at the slower of the two paces.
// Each phase is [duration ms, msPerKpx]; timer says whether the GPU
// timer reports the frame's time. It returns the size changes as
// [time, size] and the phases' start times. Simulated time makes the
// controller's timing testable exactly, whatever the machine's load.
const rateSimJS = `(async (phases, timer) => {
  const live = await import("/live.js");
  const h = new live.RateHolder(24, live.liveSizes, 256);
  let now = 0;
  const log = [[0, h.size]], starts = [];
  for (const [ms, k] of phases) {
    starts.push(now);
    for (const end = now + ms; now < end;) {
      const cost = (k * h.size * (h.size * 3 / 4)) / 1000;
      now += Math.max(1000 / 30, cost);
      if (h.frame(timer ? cost : 0, now) !== log[log.length - 1][1]) log.push([now, h.size]);
    }
  }
  return { log, starts };
})`

type rateSim struct {
	Log    [][2]float64
	Starts []float64
}

// sizeAt is the size in use at time at.
func (r rateSim) sizeAt(at float64) int {
	size := 0
	for _, e := range r.Log {
		if e[0] <= at {
			size = int(e[1])
		}
	}
	return size
}

// changes counts the size changes in [from, to).
func (r rateSim) changes(from, to float64) int {
	n := 0
	for _, e := range r.Log[1:] {
		if e[0] >= from && e[0] < to {
			n++
		}
	}
	return n
}

// TestRateHolder runs the camera's automatic detail (live.RateHolder) on
// a simulated engine that is fast, then slowed to 2 ms per 1,000 pixels
// (160x120: 38 ms a frame, holds 24 fps; 192x144: 55 ms, does not),
// then fast again.
func TestRateHolder(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	s := open(t, chromedp.Flag("deny-permission-prompts", true))
	s.do(t, desktop(), chromedp.Navigate(url+"/?mode=photo"))
	s.wait(t, "the page", `!!document.getElementById("size")`)
	sim := func(timer bool) rateSim {
		r, err := chromedp.Run(s.ctx, chromedp.Evaluate[rateSim](rateSimJS+`([[15000, 0], [60000, 2], [15000, 0]], `+map[bool]string{true: "true", false: "false"}[timer]+`)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, timer := range []bool{true, false} {
		r := sim(timer)
		slow, fast, end := r.Starts[1], r.Starts[2], r.Starts[2]+15000
		t.Logf("GPU timer %v: sizes %v", timer, r.Log)
		if s := r.sizeAt(slow); s != 512 {
			t.Errorf("timer %v: fast engine at %d px after 15 s, want 512", timer, s)
		}
		first := slow
		for _, e := range r.Log {
			if e[0] > slow {
				first = e[0]
				break
			}
		}
		t.Logf("GPU timer %v: first step down %.0f ms after the slowdown; %d changes in the slow phase's last 30 s", timer, first-slow, r.changes(fast-30000, fast))
		if first-slow > 2000 || first == slow {
			t.Errorf("timer %v: first step down %.0f ms after the slowdown, want within 2 s", timer, first-slow)
		}
		if s := r.sizeAt(fast); s != 160 {
			t.Errorf("timer %v: %d px at the end of the slow phase, want 160 (the largest that holds 24 fps)", timer, s)
		}
		// With a GPU timer the holder predicts that the next level would
		// not hold; without, it tries it again after 10 s, 20 s, 40 s...
		maxChanges := 0
		if !timer {
			maxChanges = 2
		}
		if n := r.changes(fast-30000, fast); n > maxChanges {
			t.Errorf("timer %v: %d size changes in the last 30 s at a constant speed, want <= %d", timer, n, maxChanges)
		}
		if s := r.sizeAt(end); s != 512 {
			t.Errorf("timer %v: %d px 15 s after the engine is fast again, want 512", timer, s)
		}
	}

	// The page: the camera starts on the automatic detail; a picked
	// detail pins it.
	s2 := open(t, chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true))
	s2.do(t, desktop(), chromedp.Navigate(url))
	s2.wait(t, "the automatic detail", `document.getElementById("readout").textContent.endsWith(" auto")`)
	if v := eval[string](t, s2, `document.getElementById("size").value`); v != "auto" {
		t.Errorf("detail %q, want auto", v)
	}
	s2.do(t, chromedp.SetValue(chromedp.CSS("#size"), "384"), chromedp.Evaluate[chromedp.Void](`document.getElementById("size").dispatchEvent(new Event("change")); globalThis.fakeMsPerKpx = 2`))
	s2.wait(t, "the pinned detail", `document.getElementById("out").width === 384 && !document.getElementById("readout").textContent.endsWith(" auto")`)
	time.Sleep(3 * time.Second)
	if w := eval[int](t, s2, `document.getElementById("out").width`); w != 384 {
		t.Errorf("pinned at 384 on a slow engine, the canvas is %d wide", w)
	}
	if errs := s2.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// serveCosts is serve with fakeInspect's models costing costs[first 5
// bytes of the file] MACs at 256x256.
func serveCosts(t *testing.T, fsys fs.FS, costs map[string]int64) string {
	t.Helper()
	_, url := serve(t, fsys, func(data []byte) (server.ModelInfo, error) {
		info, err := fakeInspect(data)
		info.MACs256 = costs[string(data[:5])]
		return info, err
	})
	return url
}

// TestModelFallBack: on the camera's automatic detail, a model too slow
// to hold the rate at the smallest detail gives way to the costliest
// lighter one (live.lighterModel), and the page says so.
func TestModelFallBack(t *testing.T) {
	url := serveCosts(t, fakeFS(t), map[string]int64{"stude": 800e6, "anime": 8e9})
	s := open(t, chromedp.Flag("deny-permission-prompts", true))
	s.do(t, desktop(), chromedp.Navigate(url+"/?mode=photo"))
	s.wait(t, "the page", `!!document.getElementById("size")`)
	const pick = `import("/live.js").then((live) => {
	  const ms = [{name: "a", macs256: 8e9}, {name: "b", macs256: 8e8}, {name: "c", macs256: 3e8}, {name: "d"}];
	  const name = (m) => m ? m.name : null;
	  return [name(live.lighterModel(ms, ms[0])), name(live.lighterModel(ms, ms[1])), name(live.lighterModel(ms, ms[2])),
	    name(live.lighterModel(ms, ms[3]))];
	})`
	got, err := chromedp.Run(s.ctx, chromedp.Evaluate[[]any](pick, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"b", "c", nil, nil}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lighterModel: %v, want %v", got, want)
	}

	s2 := open(t, chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true))
	s2.do(t, desktop(), chromedp.Navigate(url+"/?model=anime"))
	s2.wait(t, "the automatic detail", `document.getElementById("readout").textContent.endsWith(" auto")`)
	if m := eval[string](t, s2, `document.getElementById("model").value`); m != "anime" {
		t.Fatalf("model %q at the start, want anime", m)
	}
	// 50 ms per 1,000 pixels: 128x96 takes 0.6 s, far from 24 fps.
	eval[any](t, s2, `globalThis.fakeMsPerKpx = 50`)
	s2.wait(t, "the fall-back to the lighter model", `document.getElementById("model").value === "student"`)
	if st := eval[string](t, s2, `document.getElementById("status").textContent`); !strings.Contains(st, "to hold 24 fps") {
		t.Errorf("status %q, want it to say why the style changed", st)
	}
	if errs := s2.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// TestRateHolderRestart: the page stops feeding the rate holder while it
// records (the size is held), then restarts its window. Frames at 26 fps
// hold 256 px (over 90 % of 24, under the 115 % that steps up); after a
// 10 s pause and restart they must still hold it, where the window
// spanning the pause would read a rate of about 3 fps.
func TestRateHolderRestart(t *testing.T) {
	_, url := serve(t, fakeFS(t), fakeInspect)
	s := open(t, chromedp.Flag("deny-permission-prompts", true))
	s.do(t, desktop(), chromedp.Navigate(url+"/?mode=photo"))
	s.wait(t, "the page", `!!document.getElementById("size")`)
	sizes, err := chromedp.Run(s.ctx, chromedp.Evaluate[[]int](`(async () => {
  const live = await import("/live.js");
  const run = (restart) => {
    const h = new live.RateHolder(24, live.liveSizes, 256);
    let now = 0;
    const frames = (n) => { for (let i = 0; i < n; i++) { now += 1000 / 26; h.frame(0, now); } };
    frames(52);
    now += 10000;
    if (restart) h.restart();
    frames(52);
    return h.size;
  };
  return [run(true), run(false)];
})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the pause: %d px with restart, %d without", sizes[0], sizes[1])
	if sizes[0] != 256 {
		t.Errorf("after a pause and restart, frames at 26 fps moved the detail to %d px, want 256", sizes[0])
	}
}

// TestModelStepUp: on the camera's automatic detail, a device that holds
// the rate at the largest detail with room to spare steps up to the
// costliest heavier model of the same style that the GPU timer says it
// can hold (live.heavierModel), keeping the detail, and says so; never to
// another style, nor back to a model it had to fall back from.
func TestModelStepUp(t *testing.T) {
	fsys := fakeFS(t)
	fsys["models/large.safetensors"] = &fstest.MapFile{Data: bytes.Repeat([]byte("large"), 30000)}
	url := serveCosts(t, fsys, map[string]int64{"stude": 800e6, "large": 1700e6, "anime": 8e9})
	s := open(t, chromedp.Flag("deny-permission-prompts", true))
	s.do(t, desktop(), chromedp.Navigate(url+"/?mode=photo"))
	s.wait(t, "the page", `!!document.getElementById("size")`)
	const pick = `import("/live.js").then((live) => {
	  const b = "builtin";
	  const ms = [{name: "s", macs256: 8e8, family: b}, {name: "l", macs256: 1.7e9, family: b},
	    {name: "t", macs256: 8e9, family: b}, {name: "x", macs256: 1e9, family: "x"}];
	  const name = (m) => m ? m.name : null;
	  // A holder fed 30 frames a second at its largest detail, the GPU
	  // timer saying 10 ms a frame: its room is 0.85 * (1000/24) / 10.
	  const h = new live.RateHolder(24, live.liveSizes, 512);
	  for (let i = 0, now = 0; i < 60; i++) h.frame(10, now += 1000 / 30);
	  const room = Math.round(h.room * 1000);
	  const refused = new Set();
	  const up = live.nextModel(h, ms, ms[0], refused);
	  const none = live.nextModel(h, ms, ms[0], refused); // the signal was used
	  h.starved = true;
	  const down = live.nextModel(h, ms, ms[1], refused);
	  h.room = 20;
	  const again = live.nextModel(h, ms, ms[0], refused);
	  return [name(live.heavierModel(ms, ms[0], 3)), name(live.heavierModel(ms, ms[0], 20)),
	    name(live.heavierModel(ms, ms[0], 20, new Set(["t"]))), name(live.heavierModel(ms, ms[0], 1.5)),
	    name(live.heavierModel(ms, ms[3], 100)), name(live.lighterModel(ms, ms[3])), name(live.lighterModel(ms, ms[2])),
	    room, name(up.model), up.size, none, name(down.model), down.size, [...refused].join(), name(again.model)];
	})`
	got, err := chromedp.Run(s.ctx, chromedp.Evaluate[[]any](pick, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	// Up from s with room 3.54: l at the same detail; then starved on l:
	// down to s at 256, l refused; room 20 from s: t, skipping l.
	if want := []any{"l", "t", "l", nil, nil, nil, "l", 3542.0, "l", 512.0, nil, "s", 256.0, "l", "t"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("heavierModel, lighterModel, room, nextModel: %v, want %v", got, want)
	}

	// The page follows the holder's room (a holder that always reports
	// room for 3.6x: this machine's frame rate is not the test's
	// subject): to the large model (2.1x the student), not the 10x one.
	s2 := open(t, chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true))
	s2.do(t, desktop(), chromedp.Navigate(url))
	s2.wait(t, "the automatic detail", `document.getElementById("readout").textContent.endsWith(" auto")`)
	// The page's own module instance: the URL it imported (versioned).
	eval[any](t, s2, `import(performance.getEntriesByType("resource").find((e) => e.name.includes("/live.js")).name).then((live) => {
	  const frame = live.RateHolder.prototype.frame;
	  live.RateHolder.prototype.frame = function (...args) { const size = frame.apply(this, args); this.starved = false; this.room = 3.6; return size; };
	})`)
	s2.wait(t, "the step up to the heavier model", `document.getElementById("model").value === "large"`)
	if st := eval[string](t, s2, `document.getElementById("status").textContent`); !strings.Contains(st, "has room for it") {
		t.Errorf("status %q, want it to say why the style changed", st)
	}
	time.Sleep(3 * time.Second)
	if m := eval[string](t, s2, `document.getElementById("model").value`); m != "large" {
		t.Errorf("model %q 3 s after the step up, want it to stay on large (anime needs 4.7x its cost)", m)
	}
	if errs := s2.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
