package kernels

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

//go:embed conv.glsl
var convSrc string

//go:embed depthwise.glsl
var depthwiseSrc string

// The pieces of conv.glsl's taps read from the weight texture: the loops
// over rows and input layers, and a row unrolled (convRow).
var (
	//go:embed conv_rows.glsl
	convRowsSrc string
	//go:embed conv_column.glsl
	convColumnSrc string
	//go:embed conv_tap.glsl
	convTapSrc string
	//go:embed conv_tap_pixel.glsl
	convTapPixelSrc string
)

// conv generates a conv2d pass: the input (with whatever was inlined into
// it) is read through the fetch function X, the weights from tw.
func (b *builder) conv(g *gen, n *model.Node) (string, int64, error) {
	x, out := b.shapes[n.Inputs[0]], b.shapes[n.Name]
	wt := b.g.Tensors[n.Inputs[1]]
	o, kh, kw, ig := wt.Shape[0], wt.Shape[1], wt.Shape[2], wt.Shape[3]
	var bias []float32
	if len(n.Inputs) == 3 {
		bias = b.g.Tensors[n.Inputs[2]].Data
	}
	top, left, _, _, err := model.ConvPads(n, x[0], x[1], kh, kw)
	if err != nil {
		return "", 0, err
	}
	fn, err := g.fetch(n.Inputs[0])
	if err != nil {
		return "", 0, err
	}
	g.define("X", fn)
	g.define("STRIDE", fmt.Sprintf("ivec2(%s, %s)", g.shape(n.StrideX()), g.shape(n.StrideY())))
	g.define("DY", g.shape(n.DilationY()))
	g.define("DX", fmt.Sprint(n.DilationX()))
	g.define("KH", g.shape(kh))
	g.define("KW", fmt.Sprint(kw))
	g.define("PAD", g.ivec2(left, top))
	g.define("INSIZE", g.ivec2(x[1], x[0]))
	actMacro(g, n)
	macs := int64(out[0]) * int64(out[1]) * int64(o) * int64(kh*kw*ig)

	taps := kh * kw
	if depthwise(n, x[2], wt) {
		// Depthwise: texel (l, tap) holds the 4 channels of layer l.
		l := layers(o)
		data := make([]float32, l*(taps+1)*4)
		for c := range o {
			for t := range taps {
				data[(t*l+c/4)*4+c%4] = wt.Data[c*taps+t]
			}
			if bias != nil {
				data[(taps*l+c/4)*4+c%4] = bias[c]
			}
		}
		g.weights = true
		bl, err := b.weights.place(l, taps+1, data)
		if err != nil {
			return "", 0, fmt.Errorf("weights: %w", err)
		}
		wx, wy := g.corner(bl, 0, 0)
		g.define("WX", wx)
		g.define("WY", wy)
		return depthwiseSrc, macs, nil
	}

	// Dense; grouped convs are expanded to block-diagonal dense weights.
	inL, outL := layers(x[2]), layers(o)
	weight, biasOf := denseTaps(n, x[2], wt, bias)
	g.define("INL", g.shape(inL))
	sh := tapShape{in: 4, out: 4}
	if inL == 1 {
		sh.in = x[2]
	}
	if outL == 1 {
		sh.out = o
	}
	bl, _, err := b.denseWeights(n)
	if err != nil {
		return "", 0, err
	}
	if g.bake {
		return g.bakedConv(kh, kw, n.StrideX(), n.DilationX(), inL, outL, sh, weight, biasOf), macs, nil
	}
	// Weights: one mat4 per (tap, input layer, output layer), as 4 texels
	// along a row of tw; the bias is the row after the taps.
	g.weights = true
	wx, wy := g.corner(bl, 0, 0)
	g.define("WX", wx)
	g.define("WY", wy)
	g.define("BIAS(l, k)", "W(ivec2(WX + (l) * 4, WY + KH * KW * INL))")
	rows := fill(convRowsSrc, "ROW", bodyOf(convRow(g.pixels, kw, n.StrideX(), n.DilationX(), sh)))
	return fill(convSrc, "TAPS", bodyOf(rows)), macs, nil
}

// denseTaps returns the weight of dense (or grouped, expanded to
// block-diagonal) conv n from input channel ic to output channel oc at
// tap t, zero past the channels, and the bias of oc.
func denseTaps(n *model.Node, c int, wt *model.Tensor, bias []float32) (weight func(oc, t, ic int) float32, biasOf func(oc int) float32) {
	o, taps, ig := wt.Shape[0], wt.Shape[1]*wt.Shape[2], wt.Shape[3]
	og := o / n.GroupCount()
	weight = func(oc, t, ic int) float32 {
		if oc >= o || ic >= c || ic/ig != oc/og {
			return 0
		}
		return wt.Data[(oc*taps+t)*ig+ic%ig]
	}
	biasOf = func(oc int) float32 {
		if bias == nil || oc >= o {
			return 0
		}
		return bias[oc]
	}
	return weight, biasOf
}

// denseWeights places dense conv n's weights in the weight texture and
// returns their block: in row tap*inL+s, texel 4*ol+j holds
// output channels 4ol..4ol+3 of input channel 4s+j, i.e. column j of the
// matrix for (ol, s); or, for an output of fewer than 4 channels
// (tapShape), texel j holds input channels 4s..4s+3 of output channel j.
// The bias row holds output channels 4ol..4ol+3 in texel 4*ol. A conv of
// Winograd's shape (winogradShape) gets its transformed weights placed
// after them, in block wino. Placed even when baked or run direct: every
// plan of a model, whatever its layout (the engine's first frames), lays
// out and uploads the weights alike.
func (b *builder) denseWeights(n *model.Node) (direct, wino *block, err error) {
	x := b.shapes[n.Inputs[0]]
	wt := b.g.Tensors[n.Inputs[1]]
	o, taps := wt.Shape[0], wt.Shape[1]*wt.Shape[2]
	var bias []float32
	if len(n.Inputs) == 3 {
		bias = b.g.Tensors[n.Inputs[2]].Data
	}
	weight, biasOf := denseTaps(n, x[2], wt, bias)
	inL, outL := layers(x[2]), layers(o)
	w := outL * 4
	data := make([]float32, w*(taps*inL+1)*4)
	for oc := range o {
		for t := range taps {
			for ic := range x[2] {
				i := ((t*inL+ic/4)*w+(oc/4)*4+ic%4)*4 + oc%4
				if outL == 1 && o < 4 {
					i = ((t*inL+ic/4)*w+oc)*4 + ic%4
				}
				data[i] = weight(oc, t, ic)
			}
		}
		data[((taps*inL)*w+(oc/4)*4)*4+oc%4] = biasOf(oc)
	}
	if direct, err = b.weights.place(w, taps*inL+1, data); err != nil {
		return nil, nil, fmt.Errorf("weights: %w", err)
	}
	if b.winogradShape(n) {
		ww, wh, wdata := b.winogradWeights(n)
		if wino, err = b.weights.place(ww, wh, wdata); err != nil {
			return nil, nil, fmt.Errorf("weights: %w", err)
		}
	}
	return direct, wino, nil
}

// depthwise says whether conv n, on an input of c channels with weights
// wt, is depthwise: one group per channel, one output per group.
func depthwise(n *model.Node, c int, wt *model.Tensor) bool {
	return n.GroupCount() == c && wt.Shape[0] == c && wt.Shape[3] == 1
}

// convRow generates the loop body for one input row and input layer s:
// the fragment's pixels and the row's taps share input texels, so each
// distinct column is fetched once into its own variable (u<d> at column
// b.x + d), and the taps, unrolled, name them. Under SwiftShader this
// beat a loop over the taps fetching per tap and pixel, and a GLSL array
// indexed by the tap (instead of named variables) lost to that loop:
// BenchmarkConvPixels in wasm/browsertest times the layouts, and
// docs/performance.md keeps the comparison.
func convRow(pixels, kw, stride, dil int, sh tapShape) string {
	var sb strings.Builder
	sb.WriteString(columns(pixels, kw, stride, dil))
	for kx := range kw {
		var px strings.Builder
		for i := range pixels {
			px.WriteString(fill(convTapPixelSrc, "P", fmt.Sprint(i), "DST", sh.dst(), "PRODUCT", sh.product(i*stride+kx*dil)))
		}
		sb.WriteString(fill(convTapSrc, "KX", fmt.Sprint(kx), "MAT", sh.mat(), "COLS", sh.cols(), "PIXELS", bodyOf(px.String())))
	}
	return sb.String()
}

// columns fetches each input column that the taps of a row read for the
// fragment's pixels once, into u<d> for column b.x + d.
func columns(pixels, kw, stride, dil int) string {
	var sb strings.Builder
	used := map[int]bool{}
	for i := range pixels {
		for kx := range kw {
			used[i*stride+kx*dil] = true
		}
	}
	for d := range (pixels-1)*stride + (kw-1)*dil + 1 {
		if used[d] {
			sb.WriteString(fill(convColumnSrc, "D", fmt.Sprint(d)))
		}
	}
	return sb.String()
}

// tapShape is what one tap of one input layer multiplies: in input
// channels (fewer than 4 only when the whole input is one layer) by out
// output channels (fewer than 4 only when the whole output is). A model's
// RGB input and output are 3 channels held in 4 lanes: a full 4x4 matrix
// would fetch a texel of zeros and multiply by it, a quarter of the work
// of the layers next to the image. An output of fewer than 4 channels
// takes its weights transposed, one texel per output channel, so that
// its taps fetch out texels, not 4.
type tapShape struct{ in, out int }

const lanes = "xyzw"

// mat is the GLSL type of a tap's weights: a matrix of in rows and out
// columns for a transposed tap (out < 4), else of out (4) rows and in
// columns; a vector or a float where one side is 1.
func (sh tapShape) mat() string {
	rows, cols := 4, sh.in
	if sh.out < 4 {
		rows, cols = sh.in, sh.out
	}
	switch {
	case rows == 1 && cols == 1:
		return "float"
	case rows == 1:
		return fmt.Sprintf("vec%d", cols)
	case cols == 1:
		return fmt.Sprintf("vec%d", rows)
	case rows == cols:
		return fmt.Sprintf("mat%d", rows)
	}
	return fmt.Sprintf("mat%dx%d", cols, rows)
}

// cols lists the texels (or their lanes) that make the tap's weights.
func (sh tapShape) cols() string {
	n, sw := sh.in, ""
	if sh.out < 4 {
		n = sh.out
		if sh.in < 4 {
			sw = "." + lanes[:sh.in]
		}
	}
	parts := make([]string, n)
	for j := range n {
		parts[j] = fmt.Sprintf("W(w$k + ivec2(%d, 0))%s", j, sw)
	}
	return strings.Join(parts, ", ")
}

// product is the tap's contribution from input column u<d>.
func (sh tapShape) product(d int) string {
	u := fmt.Sprintf("u%d", d)
	if sh.in < 4 {
		u += "." + lanes[:sh.in]
	}
	switch {
	case sh.out == 4:
		return "m$k * " + u
	case sh.out == 1 && sh.in > 1:
		return fmt.Sprintf("dot(%s, m$k)", u)
	}
	return u + " * m$k"
}

// dst is the lanes of the accumulator the tap adds to.
func (sh tapShape) dst() string {
	if sh.out == 4 {
		return ""
	}
	return "." + lanes[:sh.out]
}
