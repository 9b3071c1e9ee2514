package kernels

import (
	"fmt"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// concat generates the fetch of a channel concatenation. When every input
// but the last fills whole layers, a layer comes from one input; otherwise
// each lane is gathered from its source channel.
func (g *gen) concat(n *model.Node) (string, error) {
	var fns []string
	var chans []int
	aligned := true
	for i, in := range n.Inputs {
		fn, err := g.fetch(in)
		if err != nil {
			return "", err
		}
		c := g.b.shapes[in][2]
		fns = append(fns, fn)
		chans = append(chans, c)
		if c%4 != 0 && i < len(n.Inputs)-1 {
			aligned = false
		}
	}
	var sb strings.Builder
	off := 0
	if aligned {
		for i, fn := range fns {
			end := off + layers(chans[i])
			fmt.Fprintf(&sb, "\tif (l < %d) return %s(p, l - %d);\n", end, fn, off)
			off = end
		}
		sb.WriteString("\treturn vec4(0.0);")
		return sb.String(), nil
	}
	sb.WriteString("\tvec4 r = vec4(0.0);\n\tfor (int j = 0; j < 4; j++) {\n\t\tint c = 4 * l + j;\n")
	for i, fn := range fns {
		fmt.Fprintf(&sb, "\t\tif (c >= %d && c < %d) { int d = c - %d; r[j] = %s(p, d / 4)[d %% 4]; }\n", off, off+chans[i], off, fn)
		off += chans[i]
	}
	sb.WriteString("\t}\n\treturn r;")
	return sb.String(), nil
}
