package kernels

import (
	_ "embed"
	"fmt"

	"github.com/edgetoon/edgetoon/model"
)

//go:embed boxmean.glsl
var boxMeanSrc string

// boxMean generates a box_mean pass. Its input is usually an inlined
// product (the guided filter's x*y), recomputed per tap: cheaper than a
// pass that stores it.
func (b *builder) boxMean(g *gen, n *model.Node) (string, error) {
	fn, err := g.fetch(n.Inputs[0])
	if err != nil {
		return "", err
	}
	x := b.shapes[n.Inputs[0]]
	g.define("X", fn)
	g.define("R", fmt.Sprint(n.Radius))
	g.define("SIZE", g.ivec2(x[1], x[0]))
	actMacro(g, n)
	return boxMeanSrc, nil
}
