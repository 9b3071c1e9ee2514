package kernels

import (
	"fmt"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// kernel is how the planner runs one op: whether it folds into its
// producer's pass, is recomputed in its reader's fetch, or needs a pass of
// its own, and the GLSL of each. An op has at least one of expr, fetch
// and pass.
type kernel struct {
	// expr applies an elementwise op to its operands' vec4 expressions.
	// Such an op folds into the epilogue of the pass writing one of its
	// inputs (absorb), or, like any op with a fetch, is inlined.
	expr func(n *model.Node, ops []string) string
	// fetch generates the body of the op's fetch function (vec4 f(ivec2
	// p, int l), see gen.fetch): the op is cheap enough to recompute in
	// its single reader, and a pass that must store it runs map.glsl.
	fetch func(g *gen, n *model.Node) (string, error)
	// pass generates the main of a pass of the op's own and counts its
	// multiply-adds.
	pass func(b *builder, g *gen, n *model.Node) (main string, macs int64, err error)
	// stats: the op needs statistics of its whole input first, two passes
	// of their own (norm.go).
	stats bool
	// resamples: the op reads its input at other pixels, several times
	// (a bilinear resize, four), so it is not inlined into a k x k conv
	// (tooDear).
	resamples bool
	// wide: a pass storing the op computes ConvPixels adjacent output
	// pixels per fragment (see the package comment).
	wide bool
}

// kernelTable is the GPU planner's op table: one entry per op of
// model.Ops (TestKernelTableCoversOps). It is filled by init because its
// generators reach back into it (an inlined node's fetch generates its
// inputs' fetches).
var kernelTable map[string]kernel

func init() {
	kernelTable = map[string]kernel{
		model.OpConv2D:       {pass: (*builder).conv, wide: true},
		model.OpBoxMean:      {pass: boxMeanPass},
		model.OpAdd:          binaryKernel("+"),
		model.OpSub:          binaryKernel("-"),
		model.OpMul:          binaryKernel("*"),
		model.OpDiv:          binaryKernel("/"),
		model.OpLeakyReLU:    unaryKernel(func(n *model.Node, x string) string { return activation("leaky_relu", n.Alpha, x) }),
		model.OpReLU:         unaryKernel(func(n *model.Node, x string) string { return activation("relu", 0, x) }),
		model.OpTanh:         unaryKernel(func(n *model.Node, x string) string { return activation("tanh", 0, x) }),
		model.OpSigmoid:      unaryKernel(func(n *model.Node, x string) string { return activation("sigmoid", 0, x) }),
		model.OpClip:         unaryKernel(clipExpr),
		model.OpResize:       {fetch: (*gen).resize, resamples: true, wide: true},
		model.OpPad:          {fetch: (*gen).pad, wide: true},
		model.OpConcat:       {fetch: (*gen).concat, wide: true},
		model.OpInstanceNorm: {fetch: (*gen).normFetch, stats: true, wide: true},
		model.OpLayerNorm:    {fetch: (*gen).normFetch, stats: true, wide: true},
	}
}

// binaryKernel is an elementwise op of two operands: (a op b).
func binaryKernel(op string) kernel {
	return kernel{
		expr:  func(n *model.Node, ops []string) string { return "(" + ops[0] + " " + op + " " + ops[1] + ")" },
		fetch: (*gen).elementwiseFetch,
		wide:  true,
	}
}

// unaryKernel is an elementwise op of one operand.
func unaryKernel(f func(n *model.Node, x string) string) kernel {
	return kernel{
		expr:  func(n *model.Node, ops []string) string { return f(n, ops[0]) },
		fetch: (*gen).elementwiseFetch,
		wide:  true,
	}
}

func clipExpr(n *model.Node, x string) string {
	return fmt.Sprintf("clamp(%s, %s, %s)", x, glslFloat(n.Min), glslFloat(n.Max))
}

// boxMeanPass runs box_mean in a pass of its own (boxmean.glsl).
func boxMeanPass(b *builder, g *gen, n *model.Node) (string, int64, error) {
	main, err := b.boxMean(g, n)
	return main, 0, err
}

// elementwiseFetch is the fetch body of an inlined elementwise node: its
// operands fetched (constants broadcast) and combined by its expr.
func (g *gen) elementwiseFetch(n *model.Node) (string, error) {
	var ops []string
	for _, in := range n.Inputs {
		op, err := g.operand(in, g.b.shapes[n.Name])
		if err != nil {
			return "", err
		}
		ops = append(ops, op)
	}
	return "\treturn " + elementwiseExpr(n, ops) + ";", nil
}

// elementwiseExpr applies n's op and its fused activation to operand
// expressions; n's op must have an expr.
func elementwiseExpr(n *model.Node, ops []string) string {
	return activation(n.Act, n.Alpha, kernelTable[n.Op].expr(n, ops))
}

// elementwise ops can be folded into their producer's epilogue.
func elementwise(op string) bool { return kernelTable[op].expr != nil }

// inlinable ops are cheap pure functions of a few input texels, so they
// can be recomputed inside the consumer's fetch instead of being stored.
// A norm is one once its statistics passes have run.
func inlinable(op string) bool { return kernelTable[op].fetch != nil }

// norm ops need their statistics passes (norm.go).
func norm(op string) bool { return kernelTable[op].stats }

// fill returns the GLSL of a kernel file with each placeholder $NAME (an
// upper-case name) replaced by its value; values come in name, value
// pairs. It leaves the lower-case markers $k, $i and $o, which expand
// repeats per output layer and pixel. A placeholder without a value is a
// bug in the kernel's Go side, so fill panics naming it.
func fill(src string, pairs ...string) string {
	vals := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		vals[pairs[i]] = pairs[i+1]
	}
	var sb strings.Builder
	for {
		i := strings.IndexByte(src, '$')
		if i < 0 {
			sb.WriteString(src)
			return sb.String()
		}
		j := i + 1
		for j < len(src) && (src[j] >= 'A' && src[j] <= 'Z' || src[j] == '_' || j > i+1 && src[j] >= '0' && src[j] <= '9') {
			j++
		}
		sb.WriteString(src[:i])
		if j == i+1 { // a lower-case marker: kept
			sb.WriteByte('$')
		} else if v, ok := vals[src[i+1:j]]; ok {
			sb.WriteString(v)
		} else {
			panic(fmt.Sprintf("kernels: no value for placeholder $%s", src[i+1:j]))
		}
		src = src[j:]
	}
}

// bodyOf returns a kernel file holding the body of a fetch function without
// its final newline (gen.function adds the closing brace).
func bodyOf(src string) string { return strings.TrimSuffix(src, "\n") }
