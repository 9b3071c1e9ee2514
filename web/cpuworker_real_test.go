package web_test

import (
	"encoding/base64"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/internal/photo"
	"github.com/edgetoon/edgetoon/kernels/testgraph"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

// everyOp is a small graph with random weights that holds every op of
// model.Ops and every activation, conv attribute and resize mode the
// model format has: the CPU worker rebuilds a graph op by op
// (web/cpuworker.js), and this is its coverage.
func everyOp() *model.Graph {
	b := testgraph.New(rand.New(rand.NewPCG(7, 19)), 3)
	b.G.SizeMultiple = 4
	conv := func(x string, in, out, k int, n model.Node) string {
		lim := float32(math.Sqrt(3 / float64(k*k*in/max(n.Groups, 1))))
		n.Op = model.OpConv2D
		n.Inputs = []string{x, b.Const(-lim, lim, out, k, k, in/max(n.Groups, 1)), b.Const(-0.1, 0.1, out)}
		return b.Node(n)
	}
	x := b.Conv("input", 3, 8, 3, 1, 1, "leaky_relu")
	y := b.Conv(x, 8, 8, 3, 1, 1, "relu")
	y = b.Conv(y, 8, 8, 1, 1, 1, "relu6")
	y = b.Conv(y, 8, 8, 3, 1, 1, "tanh")
	y = b.Conv(y, 8, 8, 3, 1, 1, "sigmoid")
	y = b.Conv(y, 8, 8, 3, 1, 8, "") // depthwise
	// Dilated, explicit pads that keep the size (its window spans 5).
	y = conv(y, 8, 8, 3, model.Node{Dilation: [2]int{2, 2}, Padding: model.PadExplicit, Pads: [4]int{2, 1, 2, 3}})
	s := b.Conv(y, 8, 8, 3, 2, 1, "leaky_relu")
	up := b.Resize(s, 2, "bilinear") // half-pixel centres
	near := b.Resize(s, 2, "nearest")
	corners := b.Node(model.Node{Op: model.OpResize, Inputs: []string{s}, Mode: "bilinear", Scale: [2]int{2, 2}, AlignCorners: true})
	legacy := b.Node(model.Node{Op: model.OpResize, Inputs: []string{s}, Mode: "bilinear", Scale: [2]int{2, 2}})
	y = b.Node(model.Node{Op: model.OpAdd, Inputs: []string{up, near}, Act: "leaky_relu", Alpha: 0.1})
	y = b.Op(model.OpSub, y, corners)
	y = b.Op(model.OpAdd, y, legacy)
	y = b.Op(model.OpMul, y, b.Const(-1, 1, 8))
	y = b.Op(model.OpDiv, y, b.Const(1, 2, 8))
	// The norms' eps is 1e-12: their input must vary in every channel, or
	// they amplify rounding (clip keeps most of it).
	y = b.Node(model.Node{Op: model.OpClip, Inputs: []string{y}, Min: -0.4, Max: 0.4})
	y = b.Norm(model.OpInstanceNorm, y, 8)
	y = b.Norm(model.OpLayerNorm, y, 8)
	y = b.Op(model.OpLeakyReLU, y)
	y = b.Op(model.OpTanh, y)
	y = b.Op(model.OpSigmoid, b.Op(model.OpReLU, y))
	y = b.Op(model.OpConcat, y, x)
	y = b.Box(y, 2)
	y = b.Node(model.Node{Op: model.OpPad, Inputs: []string{y}, Pads: [4]int{1, 2, 1, 0}, Mode: "constant"})
	y = b.Node(model.Node{Op: model.OpPad, Inputs: []string{y}, Pads: [4]int{1, 1, 1, 1}, Mode: "reflect"})
	conv(y, 16, 3, 5, model.Node{Padding: model.PadValid})
	return b.G
}

// cpuModelJS opens the server's model of that name with the page's
// engine API, stylizes the RGBA picture given in base64 at its size and
// returns the network's output (HWC float32, base64).
const cpuModelJS = `(async (name, b64, w, h) => {
  const core = await import("/core.js");
  const url = (await core.listModels()).find((m) => m.name === name).url;
  const api = await core.loadRuntime();
  const canvas = document.createElement("canvas"), src = document.createElement("canvas");
  src.width = w; src.height = h;
  src.getContext("2d").putImageData(new ImageData(Uint8ClampedArray.from(atob(b64), (c) => c.charCodeAt(0)), w, h), 0, 0);
  const engine = await api.create({canvas, model: url});
  engine.stylize(src, w, h);
  await core.canvasPNG(canvas);
  const out = engine.output();
  const o = new Uint8Array(out.data.buffer);
  let s = "";
  for (let i = 0; i < o.length; i += 8192) s += String.fromCharCode(...o.subarray(i, i + 8192));
  return {info: engine.info(), width: out.width, height: out.height, channels: out.channels, output: btoa(s)};
})`

// TestCPUWorkerOpsReal: the CPU path's runtime (TensorFlow.js's wasm
// backend in cpuworker.js) runs a graph of every op, activation, conv
// attribute and resize mode, and its output agrees with the CPU
// reference engine's to 1e-4.
func TestCPUWorkerOpsReal(t *testing.T) {
	g := everyOp()
	have := map[string]bool{}
	for _, n := range g.Nodes {
		have[n.Op] = true
	}
	for _, op := range model.Ops {
		if !have[op] {
			t.Errorf("op %q is not in the test graph", op)
		}
	}
	data, err := model.Encode(g, "F32")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "everyop.safetensors"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	rs, s := startCPUPathModels(t, dir)
	s.script(t, `localStorage.setItem("edgetoon-engine", "cpu")`)
	s.do(t, chromedp.Navigate(rs.ts.URL+"/healthz"))
	const w, h = 40, 28
	img := imageOf(photo.Sample(fixture(t, "obama.jpg"), w, h)).(*image.NRGBA)
	f := await[cpuFrame](t, s, fmt.Sprintf("%s(%q, %q, %d, %d)", cpuModelJS, "everyop", base64.StdEncoding.EncodeToString(img.Pix), w, h))
	if f.Info["engine"] != "cpu" {
		t.Fatalf("engine %v, want cpu", f.Info["engine"])
	}
	want, err := cpu.Run(g, g.Norm.Apply(photo.Sample(img, w, h)))
	if err != nil {
		t.Fatal(err)
	}
	got := f.values(t)
	if f.Width != w || f.Height != h || f.Channels != 3 || len(got) != len(want.Data) {
		t.Fatalf("output %dx%dx%d (%d values), want %dx%dx3", f.Width, f.Height, f.Channels, len(got), w, h)
	}
	var worst, lo, hi float64
	lo, hi = math.Inf(1), math.Inf(-1)
	for i, r := range want.Data {
		worst = max(worst, math.Abs(float64(got[i]-r)))
		lo, hi = min(lo, float64(r)), max(hi, float64(r))
	}
	t.Logf("%s: max |TF.js - cpu.Run| = %.3g over %d values (the output spans %.3f..%.3f)", f.Info["runtime"], worst, len(got), lo, hi)
	if worst > 1e-4 || math.IsNaN(worst) {
		t.Errorf("max |TF.js - cpu.Run| = %g, want <= 1e-4", worst)
	}
	if hi-lo < 0.1 {
		t.Errorf("the reference output spans only %.3f..%.3f: the test graph says little", lo, hi)
	}
}
