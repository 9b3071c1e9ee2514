package tflite

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

// The oracles below compute each TFLite op literally, in NHWC with the
// batch of one dropped, straight from the file's layouts and real values,
// and are compared with the CPU engine running the imported graph.

type img struct {
	h, w, c int
	v       []float32
}

func (m img) at(y, x, c int) float32 { return m.v[(y*m.w+x)*m.c+c] }

func randImg(r *rand.Rand, h, w, c int) img {
	m := img{h, w, c, make([]float32, h*w*c)}
	for i := range m.v {
		m.v[i] = float32(r.Float64()*2 - 1)
	}
	return m
}

// tfPad is TensorFlow's SAME padding before the first pixel.
func tfPad(in, k, s int) (out, before int) {
	out = (in + s - 1) / s
	return out, max((out-1)*s+k-in, 0) / 2
}

func runGraph(t *testing.T, g *model.Graph, x img) img {
	t.Helper()
	out, err := cpu.Run(g, &model.Tensor{Shape: []int{x.h, x.w, x.c}, Data: x.v, DType: "F32"})
	if err != nil {
		t.Fatal(err)
	}
	return img{out.Shape[0], out.Shape[1], out.Shape[2], out.Data}
}

func compare(t *testing.T, got, want img, tol float64) {
	t.Helper()
	if got.h != want.h || got.w != want.w || got.c != want.c {
		t.Fatalf("shape %dx%dx%d, want %dx%dx%d", got.h, got.w, got.c, want.h, want.w, want.c)
	}
	for i := range want.v {
		if d := math.Abs(float64(got.v[i] - want.v[i])); d > tol {
			t.Fatalf("value %d: %g, want %g", i, got.v[i], want.v[i])
		}
	}
}

func mustImport(t *testing.T, m *sModel) *model.Graph {
	t.Helper()
	g, err := importData(m.bytes(), Options{Name: "synthetic"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// An int8 conv with per-channel weight scales and an int32 bias, between
// QUANTIZE and DEQUANTIZE of its activations, imports as a float conv.
func TestQuantizedConv(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const h, w, ci, co, k = 8, 12, 2, 3, 3
	wq := make([]byte, co*k*k*ci)
	for i := range wq {
		wq[i] = byte(int8(r.IntN(255) - 127))
	}
	wScale := []float32{0.5, 0.25, 0.125}
	bq := []int32{100, -50, 7}
	bScale := []float32{0.01, 0.02, 0.03}
	bb := make([]byte, 12)
	for i, v := range bq {
		bb[4*i], bb[4*i+1], bb[4*i+2], bb[4*i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	m := &sModel{}
	x := m.act("x", 1, h, w, ci)
	xq := m.add(sTensor{name: "xq", shape: []int32{1, h, w, ci}, typ: TypeInt8, scale: []float32{0.01}, zero: []int64{3}})
	wt := m.add(sTensor{name: "w", shape: []int32{co, k, k, ci}, typ: TypeInt8, data: wq, scale: wScale, zero: []int64{0, 0, 0}})
	bt := m.add(sTensor{name: "b", shape: []int32{co}, typ: TypeInt32, data: bb, scale: bScale, zero: []int64{0, 0, 0}})
	yq := m.add(sTensor{name: "yq", shape: []int32{1, h / 2, w / 2, co}, typ: TypeInt8, scale: []float32{0.1}, zero: []int64{0}})
	y := m.act("y", 1, h/2, w/2, co)
	m.op(opQuantize, []int32{x}, xq, 0, nil)
	m.op(opConv2D, []int32{xq, wt, bt}, yq, 1, convOpts(padSame, 2, actRelu))
	m.op(opDequantize, []int32{yq}, y, 0, nil)
	m.inputs, m.outputs = []int32{x}, []int32{y}
	g := mustImport(t, m)
	if len(g.Nodes) != 1 || g.Nodes[0].Act != "relu" || g.Output != "y" || g.Input != "x" {
		t.Fatalf("graph %+v", g.Nodes)
	}

	in := randImg(r, h, w, ci)
	oh, top := tfPad(h, k, 2)
	ow, left := tfPad(w, k, 2)
	want := img{oh, ow, co, make([]float32, oh*ow*co)}
	for oy := range oh {
		for ox := range ow {
			for o := range co {
				s := float64(bq[o]) * float64(bScale[o])
				for ky := range k {
					for kx := range k {
						iy, ix := oy*2-top+ky, ox*2-left+kx
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						for c := range ci {
							q := int8(wq[((o*k+ky)*k+kx)*ci+c])
							s += float64(in.at(iy, ix, c)) * float64(q) * float64(wScale[o])
						}
					}
				}
				want.v[(oy*ow+ox)*co+o] = float32(max(s, 0))
			}
		}
	}
	compare(t, runGraph(t, g, in), want, 1e-4)
}

// A depthwise conv with multiplier 2 after a REFLECT mirror pad: checks
// the [1,KH,KW,C*M] -> [C*M,KH,KW,1] transpose and the pad mapping.
func TestDepthwiseMirrorPad(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const h, w, c, mult, k = 8, 12, 2, 2, 3
	wv := make([]float32, k*k*c*mult)
	for i := range wv {
		wv[i] = float32(r.Float64()*2 - 1)
	}
	m := &sModel{}
	x := m.act("x", 1, h, w, c)
	pads := m.i32("pads", []int32{4, 2}, []int32{0, 0, 1, 2, 2, 1, 0, 0})
	xp := m.act("xp", 1, h+3, w+3, c)
	wt := m.f32("w", []int32{1, k, k, c * mult}, wv)
	y := m.act("y", 1, h+1, w+1, c*mult)
	m.op(opMirrorPad, []int32{x, pads}, xp, 77, noOpts)
	m.op(opDepthwiseConv2D, []int32{xp, wt, -1}, y, 2, dwOpts(padValid, mult))
	m.inputs, m.outputs = []int32{x}, []int32{y}
	g := mustImport(t, m)

	in := randImg(r, h, w, c)
	reflect := func(i, n int) int {
		if i < 0 {
			return -i
		}
		if i >= n {
			return 2*(n-1) - i
		}
		return i
	}
	oh, ow, oc := h+1, w+1, c*mult
	want := img{oh, ow, oc, make([]float32, oh*ow*oc)}
	for oy := range oh {
		for ox := range ow {
			for o := range oc {
				var s float32
				for ky := range k {
					for kx := range k {
						iy, ix := reflect(oy+ky-1, h), reflect(ox+kx-2, w)
						s += in.at(iy, ix, o/mult) * wv[(ky*k+kx)*oc+o]
					}
				}
				want.v[(oy*ow+ox)*oc+o] = s
			}
		}
	}
	compare(t, runGraph(t, g, in), want, 1e-5)
}

// boxModel is White-box's box mean: a depthwise conv with weights 1/9
// divided by the same conv of an all-ones image, folded from the file.
func boxModel(h, w, c int32, spoil bool) *sModel {
	m := &sModel{}
	x := m.act("x", 1, h, w, c)
	ninth := float32(1.0 / 9)
	ones := make([]float32, h*w)
	for i := range ones {
		ones[i] = 1
	}
	if spoil {
		ones[5] = 2
	}
	onesT := m.f32("ones", []int32{1, h, w, 1}, ones)
	k1 := m.f32("k1", []int32{1, 3, 3, 1}, []float32{ninth, ninth, ninth, ninth, ninth, ninth, ninth, ninth, ninth})
	kc := make([]float32, 9*c)
	for i := range kc {
		kc[i] = ninth
	}
	kcT := m.f32("kc", []int32{1, 3, 3, c}, kc)
	n := m.act("n", 1, h, w, 1)
	s := m.act("s", 1, h, w, c)
	y := m.act("y", 1, h, w, c)
	m.op(opDepthwiseConv2D, []int32{onesT, k1, -1}, n, 2, dwOpts(padSame, 1))
	m.op(opDepthwiseConv2D, []int32{x, kcT, -1}, s, 2, dwOpts(padSame, 1))
	m.op(opDiv, []int32{s, n}, y, 0, nil)
	m.inputs, m.outputs = []int32{x}, []int32{y}
	return m
}

func TestBoxMean(t *testing.T) {
	g := mustImport(t, boxModel(8, 12, 3, false))
	if len(g.Nodes) != 1 || g.Nodes[0].Op != model.OpBoxMean || g.Nodes[0].Radius != 1 || len(g.Tensors) != 0 {
		t.Fatalf("nodes %+v, %d tensors: want one box_mean", g.Nodes, len(g.Tensors))
	}
	// Independently: the mean over the window's taps inside the image.
	r := rand.New(rand.NewPCG(5, 6))
	in := randImg(r, 12, 20, 3)
	want := img{12, 20, 3, make([]float32, len(in.v))}
	for y := range in.h {
		for x := range in.w {
			for c := range in.c {
				var s, n float32
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						if yy, xx := y+dy, x+dx; yy >= 0 && yy < in.h && xx >= 0 && xx < in.w {
							s += in.at(yy, xx, c)
							n++
						}
					}
				}
				want.v[(y*in.w+x)*in.c+c] = s / n
			}
		}
	}
	compare(t, runGraph(t, g, in), want, 1e-5)

	_, err := importData(boxModel(8, 12, 3, true).bytes(), Options{})
	if err == nil || !strings.Contains(err.Error(), "not the box filter of ones") {
		t.Errorf("spoiled normalization map: err = %v", err)
	}
}

// normModel is TF's instance or layer norm expansion over the given axes.
func normModel(axes []int32) *sModel {
	const h, w, c = 8, 12, 4
	m := &sModel{}
	x := m.act("x", 1, h, w, c)
	ax := m.i32("axes", []int32{int32(len(axes))}, axes)
	ms := []int32{1, 1, 1, 1}
	if len(axes) == 2 {
		ms[3] = c
	}
	mean := m.act("mean", ms...)
	sq := m.act("sq", 1, h, w, c)
	variance := m.act("var", ms...)
	eps := m.f32("eps", nil, []float32{1e-3})
	ve := m.act("ve", ms...)
	rs := m.act("rs", ms...)
	gamma := m.f32("gamma", []int32{c}, []float32{1, 2, 0.5, -1})
	beta := m.f32("beta", []int32{c}, []float32{0, 0.1, -0.2, 0.3})
	s := m.act("s", 1, 1, 1, c)
	m1 := m.act("m1", 1, h, w, c)
	m2 := m.act("m2", 1, 1, 1, c)
	sub := m.act("sub", 1, 1, 1, c)
	y := m.act("y", 1, h, w, c)
	m.op(opMean, []int32{x, ax}, mean, 27, keepDims)
	m.op(opSquaredDifference, []int32{x, mean}, sq, 0, nil)
	m.op(opMean, []int32{sq, ax}, variance, 27, keepDims)
	m.op(opAdd, []int32{variance, eps}, ve, 0, nil)
	m.op(opRsqrt, []int32{ve}, rs, 0, nil)
	m.op(opMul, []int32{rs, gamma}, s, 0, nil)
	m.op(opMul, []int32{x, s}, m1, 0, nil)
	m.op(opMul, []int32{mean, s}, m2, 0, nil)
	m.op(opSub, []int32{beta, m2}, sub, 0, nil)
	m.op(opAdd, []int32{m1, sub}, y, 0, nil)
	m.inputs, m.outputs = []int32{x}, []int32{y}
	return m
}

func TestNormPatterns(t *testing.T) {
	gamma := []float64{1, 2, 0.5, -1}
	beta := []float64{0, 0.1, -0.2, 0.3}
	for _, tc := range []struct {
		axes []int32
		op   string
	}{{[]int32{1, 2}, model.OpInstanceNorm}, {[]int32{1, 2, 3}, model.OpLayerNorm}, {[]int32{-3, -2, -1}, model.OpLayerNorm}} {
		g := mustImport(t, normModel(tc.axes))
		if len(g.Nodes) != 1 || g.Nodes[0].Op != tc.op || math.Abs(float64(g.Nodes[0].Eps)-1e-3) > 1e-9 {
			t.Fatalf("axes %v: nodes %+v, want one %s", tc.axes, g.Nodes, tc.op)
		}
		in := randImg(rand.New(rand.NewPCG(7, 8)), 8, 12, 4)
		want := img{8, 12, 4, make([]float32, len(in.v))}
		for c := range 4 {
			// Statistics per channel (instance) or over all (layer).
			var sum, sq, n float64
			for i, v := range in.v {
				if tc.op == model.OpLayerNorm || i%4 == c {
					sum += float64(v)
					n++
				}
			}
			mean := sum / n
			for i, v := range in.v {
				if tc.op == model.OpLayerNorm || i%4 == c {
					sq += (float64(v) - mean) * (float64(v) - mean)
				}
			}
			inv := 1 / math.Sqrt(sq/n+1e-3)
			for i := c; i < len(in.v); i += 4 {
				want.v[i] = float32((float64(in.v[i])-mean)*inv*gamma[c] + beta[c])
			}
		}
		compare(t, runGraph(t, g, in), want, 1e-4)
	}
	_, err := importData(normModel([]int32{3}).bytes(), Options{})
	if err == nil || !strings.Contains(err.Error(), "axes") {
		t.Errorf("norm over channels only: err = %v", err)
	}
}
