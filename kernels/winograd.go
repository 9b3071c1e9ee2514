package kernels

import (
	"fmt"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// Winograd convolution (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", CVPR 2016): a 3x3 conv computes each
// m x m tile of its output as Y = A^T [U ⊙ V] A, where V = B^T d B
// transforms the tile's (m+2) x (m+2) input window d and U = G g G^T the
// 3x3 kernel g, ⊙ multiplying component by component and summing over
// the input channels. Each of the (m+2)² components is then a 1x1 conv
// of its own weights, and a tile costs (m+2)² products per input and
// output channel against the direct conv's 9 m².
//
// On the GPU that is three passes (winograd_*.glsl): the input
// transform stores V (component k in layer k, a texel per tile in a
// grid of slots (winogradTiles), the input layers' grids stacked along
// y: one draw per row of components covers them all), the products
// store M = U ⊙ V summed over the input (each output layer's components
// side by side along x, a grid apart, column-split as a conv's output),
// and the output transform reads M and writes the conv's value as the
// direct conv does, with its bias, activation and epilogue. The products
// fetch fewer texels per direct-equivalent product than the direct conv
// (8 tiles share each weight texel), which is what the direct conv
// spends its time on (BenchmarkWinograd in wasm/browsertest;
// docs/performance.md).

// winogradM is the output tile's side: F(4x4, 3x3); winogradN the input
// window's and the transforms' side, winogradN² components.
const (
	winogradM = 4
	winogradN = winogradM + 2
)

// winogradMinChannels is the fewest input and output channels a conv
// needs to run as Winograd: its transforms cost per channel, its
// products per pair of channels, and its two passes more a fixed cost
// that thinner convs do not pay back (BenchmarkPlans; the bound's
// measurements are in docs/performance.md). It is the conv's own rule,
// not its place in the network, so that a block profiled alone
// (latency/) runs as it does in a network.
const winogradMinChannels = 64

// The transforms of F(4x4, 3x3) (Lavin and Gray, section 4.2).
var (
	winogradBT = [][]float64{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	}
	winogradG = [][]float64{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	}
	winogradAT = [][]float64{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	}
)

// Stages of a Winograd conv's groups (group.wstage).
const (
	winoNone = iota
	winoIn   // the input transform, writing V
	winoMul  // the products, writing M
	winoOut  // the output transform, writing the conv's value
)

// winogradShape says whether conv n has the shape Winograd computes: a
// dense 3x3 conv, stride and dilation 1, of at least winogradMinChannels
// in and out. Its transformed weights are placed in the weight texture
// whether or not a plan runs it so (every plan of a model lays the
// weights out alike).
func (b *builder) winogradShape(n *model.Node) bool {
	if n == nil || n.Op != model.OpConv2D || n.GroupCount() != 1 {
		return false
	}
	wt := b.g.Tensors[n.Inputs[1]] // [O, KH, KW, I]
	return n.StrideX() == 1 && n.StrideY() == 1 && n.DilationX() == 1 && n.DilationY() == 1 &&
		WinogradShape(wt.Shape[1], wt.Shape[2], wt.Shape[3], wt.Shape[0])
}

// WinogradShape says whether a dense conv, strides and dilations 1, with
// a kh x kw kernel from cin to cout channels has the shape that fp32
// plans run as Winograd where the device allows (winograd): the rule the
// latency predictor's features restate.
func WinogradShape(kh, kw, cin, cout int) bool {
	return kh == 3 && kw == 3 && cin >= winogradMinChannels && cout >= winogradMinChannels
}

// WinogradMinChannels returns the fewest channels, in and out, that
// WinogradShape takes (for train/latency_mlp.py, which restates the rule).
func WinogradMinChannels() int { return winogradMinChannels }

// winograd says whether this plan runs conv n as Winograd: its shape,
// a plan that spells its shapes (the quick layout compiles few programs),
// not Options.Direct, not baked, fragments of whole tiles, and textures
// and render targets the device has. Not in fp16: the transforms scale
// values by up to 100 and cancel them again, and V and M stored in half
// floats left errors of 6-8 % (TestKernels' Winograd cases, against 0.3 %
// direct).
func (b *builder) winograd(n *model.Node) bool {
	if b.opts.Direct || b.opts.Half || b.opts.ShapeUniforms || !b.winogradShape(n) || b.bakedPixels(n) > 0 ||
		b.opts.ConvPixels%winogradM != 0 || b.opts.ConvPixels*layers(b.shapes[n.Name][2]) > b.opts.MaxLayers {
		return false
	}
	const c = winogradN * winogradN
	cols, rows, _ := b.winogradTiles(n)
	return b.opts.MaxOutputs >= winogradN && c <= b.opts.MaxLayers && b.winogradFits(n, cols, rows)
}

// winogradFits says whether V and M fit the device's textures with conv
// n's tiles in a grid of cols x rows slots: M's components side by side,
// column-split as a conv's output, and V's input layers stacked.
func (b *builder) winogradFits(n *model.Node, cols, rows int) bool {
	const c = winogradN * winogradN
	return c*cols <= b.opts.MaxTextureSize*b.opts.ConvPixels &&
		rows*layers(b.shapes[n.Inputs[0]][2]) <= b.opts.MaxTextureSize
}

// winogradTiles returns how conv n's tiles are laid out in V and M: a
// grid of slots cols wide (a whole number of fragments, so that a
// fragment of the products stays within one component) and rows tall,
// and across, the tiles a row of the output holds (those covering every
// column a conv's column-split store writes). Tile (x, y) takes slot
// y*across + x, counted along the grid's rows: a row of tiles that is
// not a whole number of fragments wide does not leave part of every
// fragment row unused (56 columns are 14 tiles, which a grid of the
// image's shape would round up to 16 slots a row). Of the widths within
// the device's limits the one with the fewest slots: the image's own
// where no other has fewer, else the widest.
func (b *builder) winogradTiles(n *model.Node) (cols, rows, across int) {
	out := b.shapes[n.Name]
	p := b.opts.ConvPixels
	across = ceilDiv(ceilDiv(out[1], p)*p, winogradM)
	tiles := across * ceilDiv(out[0], winogradM)
	// The image's own width first, then fewer slots, the widest first.
	cols = ceilDiv(across, p) * p
	rows = ceilDiv(tiles, cols)
	found := b.winogradFits(n, cols, rows)
	for w := 2 * cols; w >= p; w -= p {
		if r := ceilDiv(tiles, w); b.winogradFits(n, w, r) && (!found || w*r < cols*rows) {
			cols, rows, found = w, r, true
		}
	}
	return cols, rows, across
}

// winogradGroups returns the three groups of conv n run as Winograd,
// registering the shapes of the values V and M; the last writes n.
func (b *builder) winogradGroups(n *model.Node) []*group {
	const c = winogradN * winogradN
	x, out := b.shapes[n.Inputs[0]], b.shapes[n.Name]
	cols, rows, _ := b.winogradTiles(n)
	gin := &group{root: n, wstage: winoIn}
	gmul := &group{root: n, wstage: winoMul}
	b.shapes[gin.tail()] = []int{rows * layers(x[2]), cols, 4 * c}
	b.shapes[gmul.tail()] = []int{rows, c * cols, out[2]}
	return []*group{gin, gmul, {root: n, wstage: winoOut}}
}

// Memo keeps a graph's Winograd-transformed weights between the plans
// built for it (one per size and layout), where the transform is most
// of a plan's cost. A Memo serves one graph.
type Memo struct{ wino map[*model.Tensor][]float32 }

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{wino: map[*model.Tensor][]float32{}} }

// winogradWeights returns conv n's transformed weights as a block of the
// weight texture: component (i, j)'s 4x4 matrices for input layer s in
// row i*inL + s, texel j*cw + 4*ol + jj column jj of output layer ol's
// (cw = 4*outL, the width of a direct conv's block). A grid of 6 x 6
// components, not a column of 36, keeps the block about as tall as the
// direct conv's, so that the shelves of the weight texture do not
// leave a tall block's height unused beside short ones.
func (b *builder) winogradWeights(n *model.Node) (w, h int, data []float32) {
	wt := b.g.Tensors[n.Inputs[1]]
	o, in := wt.Shape[0], wt.Shape[3]
	inL, outL := layers(in), layers(o)
	cw := outL * 4
	w, h = winogradN*cw, winogradN*inL
	if m := b.opts.Memo; m != nil {
		if data, ok := m.wino[wt]; ok {
			return w, h, data
		}
		defer func() { m.wino[wt] = data }()
	}
	data = make([]float32, w*h*4)
	for oc := range o {
		for ic := range in {
			// U = (G g) G^T, G g first: 6x3, then 6x6.
			var gg [winogradN][3]float64
			for i := range winogradN {
				for kx := range 3 {
					for ky := range 3 {
						gg[i][kx] += winogradG[i][ky] * float64(wt.Data[((oc*3+ky)*3+kx)*in+ic])
					}
				}
			}
			for i := range winogradN {
				for j := range winogradN {
					u := gg[i][0]*winogradG[j][0] + gg[i][1]*winogradG[j][1] + gg[i][2]*winogradG[j][2]
					data[((i*inL+ic/4)*w+j*cw+(oc/4)*4+ic%4)*4+oc%4] = float32(u)
				}
			}
		}
	}
	return w, h, data
}

// constArray spells a GLSL const float array of the matrix's rows.
func constArray(name string, rows [][]float64) string {
	var vals []string
	for _, r := range rows {
		for _, v := range r {
			vals = append(vals, glslFloat(float32(v)))
		}
	}
	return fmt.Sprintf("const float %s[%d] = float[](%s);\n", name, len(vals), strings.Join(vals, ", "))
}

// combination spells sum_j coef[j] * fmt.Sprintf(term, j), skipping zeros.
func combination(coef []float64, term string) string {
	var parts []string
	for j, v := range coef {
		switch {
		case v == 0:
		case v == 1:
			parts = append(parts, fmt.Sprintf(term, j))
		case v == -1:
			parts = append(parts, "-"+fmt.Sprintf(term, j))
		default:
			parts = append(parts, glslFloat(float32(v))+" * "+fmt.Sprintf(term, j))
		}
	}
	if len(parts) == 0 {
		return "vec4(0.0)"
	}
	return strings.ReplaceAll(strings.Join(parts, " + "), "+ -", "- ")
}

// winogradPass generates the main of one of a Winograd conv's passes and
// counts its multiply-adds as the direct conv's, on the last.
func (b *builder) winogradPass(g *gen, gr *group, outputs int) (string, int64, error) {
	switch gr.wstage {
	case winoIn:
		main, err := b.winogradIn(g, gr.root)
		return main, 0, err
	case winoMul:
		main, err := b.winogradMul(g, gr.root)
		return main, 0, err
	}
	main, err := b.winogradOut(g, gr.root, outputs)
	x, out := b.shapes[gr.root.Inputs[0]], b.shapes[gr.root.Name]
	return main, int64(out[0]) * int64(out[1]) * int64(out[2]) * 9 * int64(x[2]), err
}
