package kernels

import (
	"fmt"

	"github.com/edgetoon/edgetoon/model"
)

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
	if n.Mode == "reflect" {
		return fmt.Sprintf("\tivec2 q = abs(p - %s);\n\tivec2 e = %s - 1;\n\treturn %s(e - abs(e - q), l);", shift, size, fn), nil
	}
	return fmt.Sprintf("\tivec2 q = p - %s;\n"+
		"\tif (any(lessThan(q, ivec2(0))) || any(greaterThanEqual(q, %s))) return vec4(0.0);\n"+
		"\treturn %s(q, l);", shift, size, fn), nil
}
