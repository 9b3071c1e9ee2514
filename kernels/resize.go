package kernels

import (
	"fmt"

	"github.com/edgetoon/edgetoon/model"
)

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
		return fmt.Sprintf("\tivec2 q = min(ivec2(floor(vec2(p) * u_v[%d].xy + u_v[%d].zw + %s)), %s - 1);\n\treturn %s(q, l);",
			k, k, half, size, fn), nil
	}
	return fmt.Sprintf(`	vec2 s = vec2(p) * u_v[%d].xy + u_v[%d].zw;
	vec2 f = floor(s);
	vec2 t = s - f;
	ivec2 lo = max(ivec2(f), 0);
	ivec2 hi = min(ivec2(f) + 1, %s - 1);
	vec4 a = %s(lo, l), b = %s(ivec2(hi.x, lo.y), l);
	vec4 c = %s(ivec2(lo.x, hi.y), l), d = %s(hi, l);
	vec4 top = a + (b - a) * t.x;
	vec4 bottom = c + (d - c) * t.x;
	return top + (bottom - top) * t.y;`, k, k, size, fn, fn, fn, fn), nil
}
