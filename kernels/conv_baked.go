package kernels

import (
	"cmp"
	"fmt"
	"math"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// maxBaked is the most weights a conv takes into its program as
// constants, and maxBakedTerms the most products (a tap's matrix for one
// input and one output layer, times one pixel's column) its unrolled
// program spells. Unrolled programs are slow to compile where the driver
// compiles at the first draw (SwiftShader), and the convs past these
// bounds either did not gain (the teacher's 7x7 first and last layers)
// or fetch each weight for 8 pixels anyway: BenchmarkPlans in
// wasm/browsertest compares the plans, docs/performance.md the bounds.
const (
	maxBaked      = 4800
	maxBakedTerms = 256
)

// BakedMarker is a line in the source of every baked conv's program and
// of no other: the lab build's tests make such programs fail to compile,
// as a driver refusing their length would (wasm's edgetoonRejectBaked).
const BakedMarker = "// conv2d with its weights in the program"

// bakedPixels is the fragment width of the conv root if its weights go
// into its program as constants instead of the weight texture, else 0: a
// dense conv with few weights, all finite (a literal cannot spell the
// others), whose output layers all fit the render targets of one draw
// (the constants differ per layer, and every draw of a pass shares one
// program). Its width is the most pixels, up to ConvPixels, whose layers
// fit the draw and whose terms maxBakedTerms allows: with no weight
// fetch to share, a fragment's pixels share only input columns, and its
// layers every input texel.
func (b *builder) bakedPixels(n *model.Node) int {
	if b.opts.Unbaked || n == nil || n.Op != model.OpConv2D {
		return 0
	}
	x, out := b.shapes[n.Inputs[0]], b.shapes[n.Name]
	wt := b.g.Tensors[n.Inputs[1]]
	if depthwise(n, x[2], wt) {
		return 0 // conv's own kernel
	}
	outL := layers(out[2])
	if !bakes(len(wt.Data), wt.Shape[1], wt.Shape[2], layers(x[2]), outL, b.opts.MaxOutputs) {
		return 0
	}
	for _, name := range n.Inputs[1:] {
		for _, v := range b.g.Tensors[name].Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return 0
			}
		}
	}
	terms := wt.Shape[1] * wt.Shape[2] * layers(x[2]) * outL
	p, most := b.opts.ConvPixels, cmp.Or(b.opts.BakedPixelTerms, maxBakedTerms)
	for p > 1 && (p*outL > b.opts.MaxOutputs || p*terms > most) {
		p /= 2
	}
	return p
}

// Bakes says whether a dense conv with a kh x kw kernel from cin to cout
// channels, its weights finite, takes its weights into its program in a
// plan whose draws write up to maxOutputs render targets: the bounds of
// bakedPixels, which the latency predictor's features restate through
// this function.
func Bakes(kh, kw, cin, cout, maxOutputs int) bool {
	return bakes(kh*kw*cin*cout, kh, kw, layers(cin), layers(cout), maxOutputs)
}

// BakeBounds returns the bounds Bakes applies: the most weights, and the
// most products its unrolled program spells.
func BakeBounds() (weights, terms int) { return maxBaked, maxBakedTerms }

// bakes is the rule for a conv of that many weights, input layers inL
// and output layers outL.
func bakes(weights, kh, kw, inL, outL, maxOutputs int) bool {
	return weights <= maxBaked && outL <= maxOutputs && kh*kw*inL*outL <= maxBakedTerms
}

// bakedConv generates the main of a baked conv (conv.glsl, its taps
// unrolled) with outL output layers, all computed by each fragment:
// weight(oc, tap, ic) and bias(oc) are the dense weights, sh what one tap
// of one input layer multiplies.
func (g *gen) bakedConv(kh, kw, stride, dil, inL, outL int, sh tapShape, weight func(oc, t, ic int) float32, bias func(oc int) float32) string {
	biases := make([]string, outL)
	for k := range outL {
		biases[k] = fmt.Sprintf("vec4(%s, %s, %s, %s)", glslFloat(bias(4*k)), glslFloat(bias(4*k+1)), glslFloat(bias(4*k+2)), glslFloat(bias(4*k+3)))
	}
	// Indexed by the fragment's layer k, a literal once expanded.
	fmt.Fprintf(&g.funcs, "%s\nconst vec4 biases[%d] = vec4[](%s);\n", BakedMarker, outL, strings.Join(biases, ", "))
	g.define("BIAS(l, k)", "biases[k]")
	var sb strings.Builder
	for ky := range kh {
		fmt.Fprintf(&sb, "\tif (uint(b.y + %d * DY) < uint(INSIZE.y)) {\n\t\tint iy = b.y + %d * DY;\n", ky, ky)
		for s := range inL {
			fmt.Fprintf(&sb, "\t\t{\n\t\tint s = %d;\n", s)
			sb.WriteString(g.bakedRow(kw, stride, dil, outL, sh, func(k, kx, j, r int) float32 {
				t := ky*kw + kx
				if sh.out < 4 {
					return weight(j, t, 4*s+r)
				}
				return weight(4*k+r, t, 4*s+j)
			}))
			sb.WriteString("\t\t}\n")
		}
		sb.WriteString("\t}\n")
	}
	return fill(convSrc, "TAPS", bodyOf(sb.String()))
}

// bakedRow is convRow with each tap's weights a literal: w(k, kx, j, r)
// is entry r of column j of the matrix of output layer k at tap kx.
func (g *gen) bakedRow(kw, stride, dil, outL int, sh tapShape, w func(k, kx, j, r int) float32) string {
	rows, cols := 4, sh.in
	if sh.out < 4 {
		rows, cols = sh.in, sh.out
	}
	var sb strings.Builder
	sb.WriteString(columns(g.pixels, kw, stride, dil))
	for kx := range kw {
		for k := range outL {
			// Every matrix, zero or not: a program's structure is its
			// shapes' alone (the latency profiler times blocks with
			// weights of their own).
			vals := make([]string, 0, rows*cols)
			for j := range cols {
				for r := range rows {
					vals = append(vals, glslFloat(w(k, kx, j, r)))
				}
			}
			fmt.Fprintf(&sb, "\t\t{\n\t\t\tconst %s m = %s(%s);\n", sh.mat(), sh.mat(), strings.Join(vals, ", "))
			for i := range g.pixels {
				px := fill(convTapPixelSrc, "P", fmt.Sprint(i), "DST", sh.dst(), "PRODUCT", sh.product(i*stride+kx*dil))
				sb.WriteString(strings.NewReplacer("$k", fmt.Sprint(k), "m$k", "m").Replace(px))
			}
			sb.WriteString("\t\t}\n")
		}
	}
	return sb.String()
}
