package kernels

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

//go:embed map.glsl
var mapSrc string

// emit generates every group's pass, then allocates textures and packs
// the weights, filling in the passes' uniforms that hold their corners.
func (b *builder) emit() error {
	b.progs = map[string]int{}
	b.pixels = map[string]int{}
	b.winoBias = map[string]*block{}
	b.weights = packer{width: min(b.opts.MaxTextureSize, 4096)}
	var corners [][]corner
	var leaves [][]string
	for i, gr := range b.groups {
		canvas := b.opts.ToCanvas && i == len(b.groups)-1
		pass, names, cs, err := b.emitGroup(gr, canvas)
		if err != nil {
			return err
		}
		b.plan.Passes = append(b.plan.Passes, *pass)
		leaves = append(leaves, names)
		corners = append(corners, cs)
	}
	b.weights.pack(b.opts.MaxTextureSize)
	for i, cs := range corners {
		for _, c := range cs {
			b.plan.Passes[i].Ints[c.slot] = int32(c.bl.x + c.dx)
			b.plan.Passes[i].Ints[c.slot+1] = int32(c.bl.y + c.dy)
		}
	}
	w, err := b.weights.build(b.opts.MaxTextureSize)
	if err != nil {
		return err
	}
	b.plan.Weights = w
	return b.allocate(leaves)
}

// emitGroup generates the pass of one group and returns the values it
// samples, in sampler order, and its weight corners' uniform slots.
func (b *builder) emitGroup(gr *group, canvas bool) (*Pass, []string, []corner, error) {
	g := newGen(b)
	g.storesInput = gr.input
	tail := gr.tail()
	if gr.root == nil && gr.guided == nil {
		tail = gr.copyOf
	}
	out := b.shapes[tail]
	outL := layers(out[2])
	// A conv or elementwise pass stored in a texture computes several
	// pixels per fragment; the others (norm statistics, box means, the
	// canvas) one.
	pixels := 1
	baked := b.bakedPixels(gr.root)
	if !canvas && gr.stage == stageNone && gr.guided == nil && gr.root != nil && kernelTable[gr.root.Op].wide && gr.wstage != winoIn {
		pixels = b.opts.ConvPixels
		if baked > 0 {
			pixels = baked
		}
		// Fewer pixels where P layers per channel layer exceed the
		// device's layers.
		for pixels > 1 && pixels*outL > b.opts.MaxLayers {
			pixels /= 2
		}
	}
	b.pixels[tail] = pixels
	g.pixels = pixels
	outputs := 1
	switch {
	case gr.wstage == winoIn:
		outputs = winogradN // a row of components
	case !canvas:
		outputs = pixels * min(b.opts.MaxOutputs/pixels, outL)
	}
	// A baked conv's constants are those of its layers: one draw for all.
	g.bake = baked > 0 && outputs == pixels*outL
	pass := &Pass{Nodes: gr.names(), Value: tail, W: ceilDiv(out[1], pixels), H: out[0], Out: TexCanvas, Pixels: pixels}
	if canvas {
		// The canvas shows the picture's corner only (Options.ContentW),
		// flipped within it.
		pass.W, pass.H = b.opts.ContentW, b.opts.ContentH
	}
	// OUTPOS is the fragment's first output pixel, LAYER0 its first
	// output layer.
	switch {
	case canvas:
		g.define("OUTPOS", fmt.Sprintf("ivec2(int(gl_FragCoord.x), %s - 1 - int(gl_FragCoord.y))", g.int(pass.H)))
	case pixels > 1:
		g.define("OUTPOS", fmt.Sprintf("ivec2(int(gl_FragCoord.x) * %d, int(gl_FragCoord.y))", pixels))
	default:
		g.define("OUTPOS", "ivec2(gl_FragCoord.xy)")
	}
	g.define("LAYER0", fmt.Sprintf("(u_base / %d)", pixels))
	var main string
	var err error
	op := "copy"
	switch {
	case gr.guided != nil:
		op = "guided filter"
		main, err = b.guidedPass(g, gr)
	case gr.stage == stagePartial:
		op = gr.root.Op + " statistics"
		main, err = b.normPartial(g, gr.root)
		outputs = 3
	case gr.stage == stageFinal:
		op = gr.root.Op + " statistics"
		main, err = b.normFinal(g, gr.root)
	case gr.root == nil:
		main, err = b.mapMain(g, gr.copyOf, nil)
	case gr.wstage != winoNone:
		op = "conv2d (Winograd)"
		main, pass.MACs, err = b.winogradPass(g, gr, outputs)
	case kernelTable[gr.root.Op].pass != nil:
		op = gr.root.Op
		main, pass.MACs, err = kernelTable[op].pass(b, g, gr.root)
	case kernelTable[gr.root.Op].fetch != nil:
		op = gr.root.Op
		main, err = b.mapMain(g, gr.root.Name, gr.root)
	default:
		op = gr.root.Op
		err = fmt.Errorf("op not supported by the GPU engine")
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("node %q (%s): %w", pass.Nodes[0], op, err)
	}
	epi, err := b.epilogue(g, gr, canvas)
	if err != nil {
		return nil, nil, nil, err
	}
	src, samplers := g.source(outputs, pixels, epi, b.put(g, out[2], canvas), main)
	if len(g.vecs)/4 > b.opts.MaxUniformVecs-16 {
		return nil, nil, nil, fmt.Errorf("node %q (%s): needs %d uniform vectors, device has %d", pass.Nodes[0], op, len(g.vecs)/4, b.opts.MaxUniformVecs)
	}
	idx, ok := b.progs[src]
	if !ok {
		idx = len(b.plan.Programs)
		b.progs[src] = idx
		b.plan.Programs = append(b.plan.Programs, Program{
			Source: src, Op: fmt.Sprintf("%s (node %q)", op, pass.Nodes[0]),
			Samplers: samplers, Outputs: outputs,
		})
	}
	pass.Program = idx
	pass.Ints, pass.Vecs = g.ints, g.vecs
	pass.Bases = drawBases(pixels*outL, outputs)
	names := append([]string(nil), g.leaves...)
	if g.image {
		names = append(names, "$image")
	}
	if g.weights {
		names = append(names, "$weights")
	}
	return pass, names, g.corners, nil
}

// mapMain is the main of a pass storing an inlinable value: the root node
// (or, for a copy, the value itself) becomes the fetch function X.
func (b *builder) mapMain(g *gen, name string, root *model.Node) (string, error) {
	var fn string
	var err error
	if root == nil {
		fn, err = g.fetch(name)
	} else {
		var body string
		if body, err = g.nodeBody(root); err == nil {
			fn = g.function(name, body)
		}
	}
	if err != nil {
		return "", err
	}
	g.define("X", fn)
	return mapSrc, nil
}

// epilogue generates vec4 epi(vec4 v, ivec2 p, int l): the elementwise nodes
// folded into the pass, then the output denormalization on the canvas.
func (b *builder) epilogue(g *gen, gr *group, canvas bool) (string, error) {
	var sb strings.Builder
	sb.WriteString("vec4 epi(vec4 v, ivec2 p, int l) {\n")
	prev := ""
	if gr.root != nil {
		prev = gr.root.Name
	}
	for _, n := range gr.chain {
		var ops []string
		for _, in := range n.Inputs {
			if in == prev {
				ops = append(ops, "v")
				continue
			}
			op, err := g.operand(in, b.shapes[n.Name])
			if err != nil {
				return "", fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
			}
			ops = append(ops, op)
		}
		fmt.Fprintf(&sb, "\tv = %s;\n", elementwiseExpr(n, ops))
		prev = n.Name
	}
	if canvas {
		c := b.shapes[b.g.Output][2]
		k := g.vec(padAffine(b.g.Denorm.Scale, c, 1), 1)
		g.vec(padAffine(b.g.Denorm.Bias, c, 0), 1)
		fmt.Fprintf(&sb, "\tv = v * u_v[%d] + u_v[%d]; // denormalize\n", k, k+1)
	}
	sb.WriteString("\treturn v;\n}\n")
	return sb.String(), nil
}

// put generates vec4 put(vec4 v, int l), the value stored for layer l:
// lanes past the channel count are zeroed (a select, so even a NaN from
// padding lanes cannot leak into a later conv); the canvas gets opaque
// RGB.
func (b *builder) put(g *gen, c int, canvas bool) string {
	if canvas {
		swizzle := map[int]string{1: "vec4(v.xxx, 1.0)", 2: "vec4(v.xy, 0.0, 1.0)", 3: "vec4(v.xyz, 1.0)", 4: "v"}[c]
		return "vec4 put(vec4 v, int l) { return " + swizzle + "; }\n"
	}
	return fmt.Sprintf("vec4 put(vec4 v, int l) { return mix(vec4(0.0), v, lessThan(ivec4(l * 4) + ivec4(0, 1, 2, 3), ivec4(%s))); }\n", g.shape(c))
}

// actMacro defines ACT(v) as node n's own activation.
func actMacro(g *gen, n *model.Node) {
	g.define("ACT(v)", activation(n.Act, n.Alpha, "(v)"))
}

// drawBases returns the first layer of each draw of a pass writing outL
// texture layers, outputs at a time. The last draw is shifted back to end
// at the last layer (recomputing a few layers) so that every draw of the
// pass can share one program. A column-split pass's outL and outputs are
// multiples of its pixels, so every base is too.
func drawBases(outL, outputs int) []int {
	var bases []int
	for base := 0; base < outL; base += outputs {
		bases = append(bases, min(base, outL-outputs))
	}
	return bases
}
