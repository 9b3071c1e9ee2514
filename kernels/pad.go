package kernels

import (
	_ "embed"

	"github.com/edgetoon/edgetoon/model"
)

//go:embed pad_reflect.glsl
var padReflectSrc string

//go:embed pad_constant.glsl
var padConstantSrc string

// pad generates the fetch of a padded value: a coordinate shift, zero
// outside (constant) or mirrored without repeating the edge (reflect).
func (g *gen) pad(n *model.Node) (string, error) {
	fn, err := g.fetch(n.Inputs[0])
	if err != nil {
		return "", err
	}
	in := g.b.shapes[n.Inputs[0]]
	shift := g.ivec2(n.Pads[1], n.Pads[0])
	size := g.ivec2(in[1], in[0])
	src := padConstantSrc
	if n.Mode == "reflect" {
		src = padReflectSrc
	}
	return bodyOf(fill(src, "SHIFT", shift, "SIZE", size, "X", fn)), nil
}
