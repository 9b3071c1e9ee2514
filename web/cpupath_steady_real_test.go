package web_test

// The CPU path's temporal stabilizer (cpupath.js steady): the same gate
// as the WebGL engine's stabilize pass (kernels.GateLow and the others),
// measured on the same noisy still clip as TestStabilizeReal.

import (
	"encoding/base64"
	"fmt"
	"image"
	"image/draw"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/edgetoon/edgetoon/internal/photo"
	"github.com/edgetoon/edgetoon/kernels"
)

// TestCPUPathGateMatchesKernels pins cpuengine.js's copy of the gate to the
// kernels constants the WebGL engine uses.
func TestCPUPathGateMatchesKernels(t *testing.T) {
	src, err := os.ReadFile("cpuengine.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`gate = \{ low: ([0-9.]+), high: ([0-9.]+), floor: ([0-9.]+) \}`).FindSubmatch(src)
	if m == nil {
		t.Fatal("cpuengine.js: no `gate = { low: X, high: Y, floor: Z }`")
	}
	for i, want := range []float64{kernels.GateLow, kernels.GateHigh, kernels.GateFloor} {
		got, err := strconv.ParseFloat(string(m[i+1]), 64)
		if err != nil || got != want {
			t.Errorf("cpuengine.js gate value %d: %s, want %v", i, m[i+1], want)
		}
	}
}

// cpuClipJS runs the CPU path's engine at w x h on frames (base64 RGBA,
// sw x sh) one after another with the stabilizer on or off, and returns
// the canvas after each (base64 RGBA).
const cpuClipJS = `(async (frames, sw, sh, w, h, steady) => {
  const core = await import("/core.js");
  const [m] = await core.listModels();
  const api = await core.loadRuntime();
  const canvas = document.createElement("canvas"), src = document.createElement("canvas");
  src.width = sw; src.height = sh;
  const engine = await api.create({canvas, model: m.url});
  engine.setOptions({stabilize: steady});
  const out = [];
  for (const b64 of frames) {
    const px = Uint8ClampedArray.from(atob(b64), (c) => c.charCodeAt(0));
    src.getContext("2d").putImageData(new ImageData(px, sw, sh), 0, 0);
    const done = engine.framesDone();
    engine.stylize(src, w, h);
    while (engine.framesDone() === done) await new Promise((r) => setTimeout(r, 5));
    const d = canvas.getContext("2d").getImageData(0, 0, w, h).data;
    let s = "";
    for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode(...d.subarray(i, i + 8192));
    out.push(btoa(s));
  }
  return {info: engine.info(), out};
})`

// TestCPUPathStabilizeReal: on the noisy still clip, the CPU path's
// cartoon with the stabilizer on changes from frame to frame at most half
// as much as with it off, and at most 0.2x as much as the camera image;
// the first frame, with no history, is the cartoon as is. The engine
// shrinks the clip's 320x240 frames to 128x96 itself, as it does a
// camera's.
func TestCPUPathStabilizeReal(t *testing.T) {
	rs, s := startCPUPath(t)
	s.script(t, `localStorage.setItem("edgetoon-engine", "cpu")`)
	const w, h = 128, 96
	clip := noisyStillClip(sharedImage(t, "faces/webmorphcc0_60cm.jpg"), 10, 4.0/255, 1)
	var frames []string
	var ins [][]float32
	sw, sh := clip[0].Bounds().Dx(), clip[0].Bounds().Dy()
	for _, f := range clip {
		rgba := image.NewRGBA(image.Rect(0, 0, sw, sh))
		draw.Draw(rgba, rgba.Rect, f, f.Bounds().Min, draw.Src)
		frames = append(frames, base64.StdEncoding.EncodeToString(rgba.Pix))
		ins = append(ins, photo.Sample(f, w, h).Data) // what the engine reads
	}
	s.do(t, chromedp.Navigate(rs.ts.URL+"/healthz"))
	list := `["` + strings.Join(frames, `","`) + `"]`
	type run struct {
		Info map[string]any
		Out  []string
	}
	outs := map[bool][][]float32{}
	for _, steady := range []bool{false, true} {
		r := await[run](t, s, fmt.Sprintf("%s(%s, %d, %d, %d, %d, %v)", cpuClipJS, list, sw, sh, w, h, steady))
		if r.Info["engine"] != "cpu" || r.Info["stabilize"] != steady {
			t.Fatalf("engine %v, stabilize %v: want the CPU path with stabilize %v", r.Info["engine"], r.Info["stabilize"], steady)
		}
		for _, b := range r.Out {
			px, err := base64.StdEncoding.DecodeString(b)
			if err != nil || len(px) != 4*w*h {
				t.Fatalf("canvas: %d bytes, %v", len(px), err)
			}
			img := &image.RGBA{Pix: px, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
			outs[steady] = append(outs[steady], rgb(img))
		}
	}
	if d := maxAbs(outs[true][0], outs[false][0]); d > 1 {
		t.Errorf("first frame: stabilized differs from the cartoon by %.1f/255, want <= 1 (no history yet)", d)
	}
	flicker := func(out [][]float32, skip int) (f, c float64) {
		var so, si float64
		var n int
		for k := 1 + skip; k < len(out); k++ {
			for p := 0; p < len(out[k]); p += 3 {
				d := 0.0
				for ch := range 3 {
					d = max(d, math.Abs(float64(ins[k][p+ch]-ins[k-1][p+ch])))
				}
				if d >= stillThreshold {
					continue
				}
				for ch := range 3 {
					so += math.Abs(float64(out[k][p+ch] - out[k-1][p+ch]))
					si += math.Abs(float64(ins[k][p+ch] - ins[k-1][p+ch]))
				}
				n += 3
			}
		}
		return so / float64(n), si / float64(n)
	}
	fOff, cOff := flicker(outs[false], 0)
	fOn, cOn := flicker(outs[true], 3) // the history fills up over a few frames
	t.Logf("CPU path, noisy still clip %dx%d at 128x96: off: flicker %.5f (%.2fx the camera's change); on: %.5f (%.2fx); on/off %.2f",
		sw, sh, fOff, fOff/cOff, fOn, fOn/cOn, fOn/fOff)
	if fOn > 0.5*fOff || fOn > 0.2*cOn {
		t.Errorf("stabilized flicker %.5f: want <= 0.5x unstabilized (%.5f) and <= 0.2x the camera's change (%.5f)", fOn, fOff, cOn)
	}
	checkNoBodies(t, rs)
}
