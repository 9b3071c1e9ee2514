package kernels

import (
	_ "embed"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

//go:embed header.glsl
var headerSrc string

// The fetch of a value stored in a texture (fetch_texel.glsl, or
// fetch_columns.glsl column-split) or of the source image
// (fetch_image.glsl).
var (
	//go:embed fetch_texel.glsl
	fetchTexelSrc string
	//go:embed fetch_columns.glsl
	fetchColumnsSrc string
	//go:embed fetch_image.glsl
	fetchImageSrc string
	// footprint.glsl: the picture's filtered sample (fetch_image.glsl and
	// the post stage's shaders).
	//go:embed footprint.glsl
	footprintSrc string
)

// VertexShader draws one triangle covering the viewport; every pass uses it.
//
//go:embed vertex.glsl
var VertexShader string

// gen accumulates one program: its fetch functions, its uniform slots and
// the values it samples. Slots are numbered in generation order, so two
// passes of the same structure get the same source and share a program.
type gen struct {
	b       *builder
	defines strings.Builder
	funcs   strings.Builder
	ints    []int32
	vecs    []float32
	leaves  []string // values sampled as t0, t1, ...
	image   bool     // samples the source image as timg
	// storesInput: the pass stores the graph input (InputImage without
	// Options.InlineInput), sampling the image for it.
	storesInput bool
	weights     bool // samples the weight texture as tw
	// bake: the pass's conv takes its weights as constants (conv_baked.go).
	bake   bool
	pixels int // output pixels per fragment
	memo   map[string]string
	// corners are the uniform slots holding weight blocks' corners,
	// filled in once the weights are packed (emit).
	corners []corner
}

// corner is a pair of uniform slots, slot and slot+1, holding block
// bl's corner moved by (dx, dy).
type corner struct {
	slot   int
	bl     *block
	dx, dy int
}

func newGen(b *builder) *gen { return &gen{b: b, memo: map[string]string{}} }

// int returns a uniform slot holding v.
func (g *gen) int(v int) string {
	g.ints = append(g.ints, int32(v))
	return fmt.Sprintf("u_i[%d]", len(g.ints)-1)
}

// corner returns uniform slots holding weight block bl's corner moved by
// (dx, dy), set once every block is placed (packer.pack).
func (g *gen) corner(bl *block, dx, dy int) (x, y string) {
	k := len(g.ints)
	g.corners = append(g.corners, corner{k, bl, dx, dy})
	g.ints = append(g.ints, 0, 0)
	return fmt.Sprintf("u_i[%d]", k), fmt.Sprintf("u_i[%d]", k+1)
}

// shape returns an expression for v, a number that shapes a loop or a
// store: a literal, or a uniform where the plan shares programs across
// shapes (Options.ShapeUniforms).
func (g *gen) shape(v int) string {
	if g.b.opts.ShapeUniforms {
		return g.int(v)
	}
	return fmt.Sprint(v)
}

// ivec2 returns an expression for the pair (x, y) held in uniforms.
func (g *gen) ivec2(x, y int) string {
	return fmt.Sprintf("ivec2(%s, %s)", g.int(x), g.int(y))
}

// vec returns the index of the first of n vec4 slots holding data.
func (g *gen) vec(data []float32, n int) int {
	k := len(g.vecs) / 4
	v := make([]float32, 4*n)
	copy(v, data)
	g.vecs = append(g.vecs, v...)
	return k
}

func (g *gen) define(name, value string) {
	fmt.Fprintf(&g.defines, "#define %s %s\n", name, value)
}

// fetch returns the name of a function vec4 f(ivec2 p, int l) giving layer l
// of value name at pixel p, which must lie inside the value's shape.
func (g *gen) fetch(name string) (string, error) {
	if fn, ok := g.memo[name]; ok {
		return fn, nil
	}
	b := g.b
	var body string
	switch {
	case name == b.g.Input && b.opts.Input == InputImage && (g.storesInput || !b.materialized(name)):
		// The graph input is the picture itself, resampled to the plan's
		// size by the sampler and normalized here: no pass of its own.
		g.image = true
		cw, ch := b.opts.ContentW, b.opts.ContentH
		inv := g.vec([]float32{1 / float32(cw), 1 / float32(ch), float32(cw - 1), float32(ch - 1)}, 1)
		k := g.vec(padAffine(b.g.Norm.Scale, b.g.InputChannels, 1), 1)
		g.vec(padAffine(b.g.Norm.Bias, b.g.InputChannels, 0), 1)
		body = bodyOf(fill(fetchImageSrc, "INV", fmt.Sprint(inv), "K", fmt.Sprint(k), "K1", fmt.Sprint(k+1),
			"C", fmt.Sprint(b.g.InputChannels)))
	case b.materialized(name):
		k := len(g.leaves)
		g.leaves = append(g.leaves, name)
		body = bodyOf(fill(fetchTexelSrc, "T", fmt.Sprint(k)))
		if n := b.pixels[name]; n > 1 {
			// Column-split (see the package comment); n is a power of 2.
			body = bodyOf(fill(fetchColumnsSrc, "T", fmt.Sprint(k), "SHIFT", fmt.Sprint(bits.Len(uint(n))-1),
				"N", fmt.Sprint(n), "MASK", fmt.Sprint(n-1)))
		}
	case b.inlined[name]:
		var err error
		if body, err = g.nodeBody(b.byName[name]); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("value %q is not available to the GPU plan", name)
	}
	return g.function(name, body), nil
}

// function adds a fetch function for value name with the given body.
func (g *gen) function(name, body string) string {
	fn := fmt.Sprintf("f%d", len(g.memo))
	fmt.Fprintf(&g.funcs, "vec4 %s(ivec2 p, int l) {\n%s\n}\n", fn, body)
	g.memo[name] = fn
	return fn
}

// materialized says whether value name is stored in a texture.
func (b *builder) materialized(name string) bool {
	return b.tails[name] != nil || (name == b.g.Input && b.opts.Input == InputRaw)
}

// padAffine returns the first c values of v (or fill where v is short)
// padded to 4 lanes.
func padAffine(v []float32, c int, fill float32) []float32 {
	out := []float32{fill, fill, fill, fill}
	for i := 0; i < c && i < 4; i++ {
		if i < len(v) {
			out[i] = v[i]
		}
	}
	return out
}

// nodeBody is the body of the fetch function of an inlinable node.
func (g *gen) nodeBody(n *model.Node) (string, error) {
	k := kernelTable[n.Op]
	if k.fetch == nil {
		return "", fmt.Errorf("node %q (%s): op cannot be inlined", n.Name, n.Op)
	}
	body, err := k.fetch(g, n)
	if err != nil {
		return "", fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
	}
	return body, nil
}

// operand returns a vec4 expression for input name of an elementwise node
// whose result has shape out, broadcasting constants and 1-channel maps.
func (g *gen) operand(name string, out []int) (string, error) {
	if t := g.b.g.Tensors[name]; t != nil {
		n := model.NumElements(t.Shape)
		switch {
		case n == 1:
			v := t.Data[0]
			return fmt.Sprintf("u_v[%d]", g.vec([]float32{v, v, v, v}, 1)), nil
		case n == out[2] && t.Shape[len(t.Shape)-1] == n:
			if l := layers(n); 4*(len(g.vecs)/4+l) > 4*g.b.opts.MaxUniformVecs-64 {
				return "", fmt.Errorf("constant %q: %d channels exceed the uniform budget", name, n)
			}
			return fmt.Sprintf("u_v[%d + l]", g.vec(t.Data, layers(n))), nil
		}
		return "", fmt.Errorf("constant %q: shape %v does not broadcast per channel to %v", name, t.Shape, out)
	}
	s := g.b.shapes[name]
	fn, err := g.fetch(name)
	if err != nil {
		return "", err
	}
	switch {
	case sameShape(s, out):
		return fn + "(p, l)", nil
	case s[0] == out[0] && s[1] == out[1] && s[2] == 1:
		return fn + "(p, 0).xxxx", nil
	}
	return "", fmt.Errorf("input %q: shape %v does not broadcast to %v on the GPU", name, s, out)
}

// activation wraps expression e in the named activation.
func activation(act string, alpha float32, e string) string {
	switch act {
	case "relu":
		return "max(" + e + ", 0.0)"
	case "relu6":
		return "clamp(" + e + ", 0.0, 6.0)"
	case "leaky_relu":
		// A select, not arithmetic, so x >= 0 passes through exactly.
		return fmt.Sprintf("leaky(%s, %s)", e, glslFloat(alpha))
	case "tanh":
		return "tanh(" + e + ")"
	case "sigmoid":
		return "(1.0 / (1.0 + exp(-" + e + ")))"
	}
	return e
}

// glslFloat writes f so that GLSL parses back the same float32.
func glslFloat(f float32) string {
	s := strconv.FormatFloat(float64(f), 'g', -1, 32)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

// expand repeats every line that holds a marker once per value of its
// markers: $k, the output layer of the fragment (outputs/pixels of them),
// $i, its output pixel (pixels of them), and $o, the render target of
// layer $k at pixel $i (pixels*$k + $i).
func expand(src string, outputs, pixels int) string {
	var sb strings.Builder
	for _, line := range strings.SplitAfter(src, "\n") {
		nk, ni := 1, 1
		if strings.Contains(line, "$k") {
			nk = outputs / pixels
		}
		if strings.Contains(line, "$i") {
			ni = pixels
		}
		if nk*ni == 1 && !strings.Contains(line, "$") {
			sb.WriteString(line)
			continue
		}
		for k := range nk {
			for i := range ni {
				r := strings.NewReplacer("$k", strconv.Itoa(k), "$i", strconv.Itoa(i), "$o", strconv.Itoa(pixels*k+i))
				sb.WriteString(r.Replace(line))
			}
		}
	}
	return sb.String()
}

// source assembles the program: header, declarations, defines, fetch
// functions, the epilogue and the op's main.
func (g *gen) source(outputs, pixels int, epi, put, main string) (src string, samplers []string) {
	var sb strings.Builder
	sb.WriteString(headerSrc)
	for k := range g.leaves {
		name := fmt.Sprintf("t%d", k)
		fmt.Fprintf(&sb, "uniform highp sampler2DArray %s;\n", name)
		samplers = append(samplers, name)
	}
	if g.image {
		sb.WriteString("uniform highp sampler2D timg;\n")
		sb.WriteString(footprintSrc)
		samplers = append(samplers, "timg")
	}
	if g.weights {
		sb.WriteString("uniform highp sampler2D tw;\n#define W(c) texelFetch(tw, c, 0)\n")
		samplers = append(samplers, "tw")
	}
	fmt.Fprintf(&sb, "uniform int u_i[%d];\nuniform vec4 u_v[%d];\n", max(len(g.ints), 1), max(len(g.vecs)/4, 1))
	for k := range outputs {
		fmt.Fprintf(&sb, "layout(location = %d) out vec4 o%d;\n", k, k)
	}
	sb.WriteString(g.defines.String())
	sb.WriteString(g.funcs.String())
	sb.WriteString(epi)
	sb.WriteString(put)
	sb.WriteString(expand(main, outputs, pixels))
	return sb.String(), samplers
}
