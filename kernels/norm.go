package kernels

import (
	_ "embed"
	"fmt"

	"github.com/edgetoon/edgetoon/model"
)

//go:embed norm_partial.glsl
var normPartialSrc string

//go:embed norm_final.glsl
var normFinalSrc string

// normCommonSrc defines laneCount(l0), the number of valid channels per
// lane in the NL layers from l0 (a lane past the channel count holds
// padding), and split(v), the high half of v as a double-half: v rounded
// to the nearest fp16 value, which a half-float texture stores exactly, so
// that v - split(v), stored beside it, keeps what fp16 would lose (a mean
// of 2 stored in fp16 is off by up to 1e-3, and normalizing a channel
// whose spread is 0.1 makes that 1e-2). Beyond fp16's range v is its own
// high half and the low half 0 (only fp32 textures hold such values).
//
//go:embed norm_common.glsl
var normCommonSrc string

//go:embed norm_apply.glsl
var normApplySrc string

// instance_norm and layer_norm need statistics of the whole input before
// any output value, so each costs two small passes and no pass of its own:
//
//	stage 1 (partial): per tile of the input, per lane, the mean and the
//	  variance, into a texture of tiles x tiles texels;
//	stage 2 (final): the tiles merged into a 4 x 1 texture holding, per
//	  layer, the mean (twice: a double-half, see split), gamma/sqrt(var+eps)
//	  and beta;
//
// and the normalization itself, (x - mean) * scale + beta, is evaluated in
// the consumer's fetch like any inlined elementwise node (so the
// activation and reflect pad after it fuse into the next conv too), or
// stored by a pass of its own when several passes read it.

// Norm stages of a group.
const (
	stageNone = iota
	stagePartial
	stageFinal
)

// normTiles is the side of the grid of tiles stage 1 reduces to: about
// normTiles^2 fragments per statistics group share the reading of the
// input, and stage 2 merges normTiles^2 partials.
const normTiles = 16

// normValues names the textures of a norm's two stages.
func normValues(n *model.Node) (partial, final string) {
	return n.Name + "$partial", n.Name + "$stats"
}

// normGroups returns n's two statistics passes and records their
// shapes: the partials [tilesY, tilesX, 12*groups] (two mean layers and
// a variance layer) and the stats [1, 4, C].
func (b *builder) normGroups(n *model.Node) []*group {
	x := b.shapes[n.Inputs[0]]
	// Tiles of ceil(size/normTiles) pixels, as many as it takes: no tile
	// is empty.
	ty, tx := ceilDiv(x[0], ceilDiv(x[0], normTiles)), ceilDiv(x[1], ceilDiv(x[1], normTiles))
	groups := layers(x[2])
	if n.Op == model.OpLayerNorm {
		groups = 1
	}
	partial, final := normValues(n)
	b.shapes[partial] = []int{ty, tx, 12 * groups}
	b.shapes[final] = []int{1, 4, x[2]}
	return []*group{{root: n, stage: stagePartial}, {root: n, stage: stageFinal}}
}

// normCommon defines what both stages need: the input's fetch X, its size,
// the tiling, laneCount and split (norm_common.glsl).
func (b *builder) normCommon(g *gen, n *model.Node) error {
	fn, err := g.fetch(n.Inputs[0])
	if err != nil {
		return err
	}
	x := b.shapes[n.Inputs[0]]
	partial, _ := normValues(n)
	tiles := b.shapes[partial]
	nl := 1
	pool := "false"
	if n.Op == model.OpLayerNorm {
		nl, pool = layers(x[2]), "true"
	}
	g.define("X", fn)
	g.define("SIZE", g.ivec2(x[1], x[0]))
	g.define("TILES", g.ivec2(tiles[1], tiles[0]))
	g.define("TILE", g.ivec2(ceilDiv(x[1], normTiles), ceilDiv(x[0], normTiles)))
	g.define("CH", fmt.Sprint(x[2]))
	g.define("NL", fmt.Sprint(nl))
	g.define("POOL", pool)
	g.funcs.WriteString(normCommonSrc)
	return nil
}

// normPartial generates stage 1; it writes two mean layers and a
// variance layer per draw, so its program has 3 outputs.
func (b *builder) normPartial(g *gen, n *model.Node) (string, error) {
	if err := b.normCommon(g, n); err != nil {
		return "", err
	}
	return normPartialSrc, nil
}

// normFinal generates stage 2, with gamma and beta in the weight texture
// (texel (l, 0) and (l, 1) hold layer l's).
func (b *builder) normFinal(g *gen, n *model.Node) (string, error) {
	if err := b.normCommon(g, n); err != nil {
		return "", err
	}
	partial, _ := normValues(n)
	p, err := g.fetch(partial)
	if err != nil {
		return "", err
	}
	g.define("P", p)
	g.define("EPS", glslFloat(n.Eps))
	c := b.shapes[n.Inputs[0]][2]
	gamma, beta := b.g.Tensors[n.Inputs[1]], b.g.Tensors[n.Inputs[2]]
	if gamma == nil || beta == nil {
		return "", fmt.Errorf("gamma and beta must be constants")
	}
	l := layers(c)
	data := make([]float32, l*2*4)
	copy(data, gamma.Data[:c])
	copy(data[l*4:], beta.Data[:c])
	g.weights = true
	bl, err := b.weights.place(l, 2, data)
	if err != nil {
		return "", fmt.Errorf("weights: %w", err)
	}
	wx, wy := g.corner(bl, 0, 0)
	g.define("WX", wx)
	g.define("WY", wy)
	return normFinalSrc, nil
}

// normFetch is the body of the fetch of a normalized value: its input's
// fetch, shifted and scaled by the stats texture.
func (g *gen) normFetch(n *model.Node) (string, error) {
	x, err := g.fetch(n.Inputs[0])
	if err != nil {
		return "", err
	}
	_, final := normValues(n)
	s, err := g.fetch(final)
	if err != nil {
		return "", err
	}
	// x - hi is exact in fp32 (the two are close where it matters), so
	// the low half of the mean is not lost against x.
	return bodyOf(fill(normApplySrc, "X", x, "S", s)), nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
