package kernels

import (
	_ "embed"
	"fmt"

	"github.com/edgetoon/edgetoon/model"
)

//go:embed resize_nearest.glsl
var resizeNearestSrc string

//go:embed resize_bilinear.glsl
var resizeBilinearSrc string

// resize generates the fetch of an upsampled value, normally inlined into
// the consuming conv so the large tensor is never stored.
//
// Source coordinates, per axis with scale s = out/in:
// align_corners: x*(in-1)/(out-1); half_pixel: (x+0.5)/s-0.5; else x/s.
// Bilinear clamps the two neighbours into the image (as TensorFlow does);
// nearest rounds (align_corners) or floors.
func (g *gen) resize(n *model.Node) (string, error) {
	fn, err := g.fetch(n.Inputs[0])
	if err != nil {
		return "", err
	}
	in, out := g.b.shapes[n.Inputs[0]], g.b.shapes[n.Name]
	ratio := func(a int) (scale, offset float32) {
		switch {
		case n.AlignCorners && out[a] > 1:
			return float32(in[a]-1) / float32(out[a]-1), 0
		case n.HalfPixel:
			s := float32(in[a]) / float32(out[a])
			return s, 0.5*s - 0.5
		}
		return float32(in[a]) / float32(out[a]), 0
	}
	sy, oy := ratio(0)
	sx, ox := ratio(1)
	k := g.vec([]float32{sx, sy, ox, oy}, 1)
	size := g.ivec2(in[1], in[0])
	if n.Mode == "nearest" {
		// TensorFlow rounds the source coordinate with align_corners
		// and floors it otherwise.
		half := "0.0"
		if n.AlignCorners {
			half = "0.5"
		}
		return bodyOf(fill(resizeNearestSrc, "K", fmt.Sprint(k), "HALF", half, "SIZE", size, "X", fn)), nil
	}
	return bodyOf(fill(resizeBilinearSrc, "K", fmt.Sprint(k), "SIZE", size, "X", fn)), nil
}
