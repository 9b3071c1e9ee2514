package kernels

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

//go:embed concat_layer.glsl
var concatLayerSrc string

//go:embed concat_lanes.glsl
var concatLanesSrc string

//go:embed concat_lane.glsl
var concatLaneSrc string

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
			sb.WriteString(fill(concatLayerSrc, "END", fmt.Sprint(end), "X", fn, "OFF", fmt.Sprint(off)))
			off = end
		}
		sb.WriteString("\treturn vec4(0.0);")
		return sb.String(), nil
	}
	for i, fn := range fns {
		sb.WriteString(fill(concatLaneSrc, "LO", fmt.Sprint(off), "HI", fmt.Sprint(off+chans[i]), "X", fn))
		off += chans[i]
	}
	return bodyOf(fill(concatLanesSrc, "LANES", bodyOf(sb.String()))), nil
}
