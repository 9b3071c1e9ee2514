package latency

import (
	"fmt"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// Node name prefixes of a [BlockGraph]: the block's own nodes, and the
// prologue that computes its input tensors.
const (
	BlockPrefix    = "blk/"
	ProloguePrefix = "pre/"
)

// BlockGraphInput is the number of channels of a [BlockGraph]'s input,
// except for the blocks that read it directly (see BlockGraph).
const BlockGraphInput = 4

// BlockGraph returns a network that computes b's input tensors in a
// prologue and then runs b exactly as our planner runs it inside a
// network of the family, with random weights (seed fixed, so the graph
// is the same each time). Its input ("in", [BlockGraphInput] channels)
// has the size [Block.GraphInput] gives and [BlockGraphInput] channels, or
// Cin for a block that reads it directly: a conv from 3 channels (in the
// family, the first conv, which reads the network's input) and the guided
// filter (whose guide is the network's input).
//
// The prologue's nodes are named ProloguePrefix+..., the block's
// BlockPrefix+...; a profiler times only the passes whose first node is
// the block's, after one full run has filled the prologue's outputs.
// Every prologue node is a 1x1 conv (a "conv k1" block to [Decompose]).
// The block reads the prologue's tensors the way it reads its inputs in
// the family: the skip tensor of an upsample is also read by another node
// (there it feeds the encoder's next conv), so the planner stores it
// rather than folding the add into the pass that produces it.
func BlockGraph(b Block) (*model.Graph, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("block graph: %w", err)
	}
	h, w := b.GraphInput()
	// A block that reads the network's input in the family (the first
	// conv, the only one from 3 channels, and the guided filter's guide)
	// reads the graph input, which the planner stores unlike a conv's
	// output; the others read prologue outputs.
	direct := b.Kind == KindConv && b.Cin == 3 || b.Kind == KindGuidedFilter
	inCh := BlockGraphInput
	if direct {
		inCh = b.Cin
	}
	g := newBuilder("block "+b.Key(), "in", inCh, max(h, w), 1)
	if h == w {
		g.g.NominalSize = h
	}
	const in = "in"
	pre := func(name, x string, stride, cin, cout int) string {
		return g.conv(ProloguePrefix+name, x, 1, stride, cin, cout, "")
	}
	blk := func(name string) string { return BlockPrefix + name }
	switch b.Kind {
	case KindConv:
		// The residual is computed first, as in a network, where it is
		// an earlier value.
		var x, r string
		if b.Residual {
			r = pre("residual", in, b.Stride, inCh, b.Cout)
		}
		if direct {
			x = in
		} else {
			x = pre("x", in, 1, BlockGraphInput, b.Cin)
		}
		out := g.conv(blk("conv"), x, b.K, b.Stride, b.Cin, b.Cout, b.Act)
		if b.Residual {
			g.op(blk("add"), model.OpAdd, out, r)
		}
	case KindResBlock:
		x := pre("x", in, 1, BlockGraphInput, b.Cin)
		y := g.conv(blk("conv1"), x, b.K, 1, b.Cin, b.Mid, b.Act)
		y = g.conv(blk("conv2"), y, b.K, 1, b.Mid, b.Cin, "")
		g.op(blk("add"), model.OpAdd, y, x)
	case KindUpsampleAdd:
		skip := pre("skip", in, 1, BlockGraphInput, b.Cin)
		low := pre("low", skip, 2, b.Cin, b.Cin)
		g.op(blk("add"), model.OpAdd, g.resize(blk("resize"), low), skip)
	case KindGuidedFilter:
		x := in
		y := pre("y", x, 1, b.Cin, b.Cin)
		g.guidedFilter(BlockPrefix, x, y, (b.K-1)/2)
	default: // Validate rejects other kinds
		return nil, fmt.Errorf("block graph: kind %q", b.Kind)
	}
	RandomizeWeights(g.g, 1)
	if _, err := g.g.Shapes(h, w); err != nil {
		return nil, fmt.Errorf("block graph of %s: %w", b.Key(), err) // a bug here
	}
	return g.g, nil
}

// GraphInput is the input size of b's [BlockGraph]: the size of the
// tensor the block reads, which for an upsample_add is the 2H x 2W skip
// tensor.
func (b Block) GraphInput() (h, w int) { return b.RunH(), b.RunW() }

// InBlock reports whether node name belongs to the block of a
// [BlockGraph] rather than to its prologue.
func InBlock(name string) bool { return strings.HasPrefix(name, BlockPrefix) }
