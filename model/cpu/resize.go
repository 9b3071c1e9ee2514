package cpu

import (
	"math"

	"github.com/edgetoon/edgetoon/model"
)

// resize follows TensorFlow Lite's reference kernels (ResizeBilinear and
// ResizeNearestNeighbor) step by step in float32, so that imported
// TFLite graphs give the same values, including at the borders.
func (e *env) resize(n *model.Node, shape []int) (*model.Tensor, error) {
	x, err := e.input(n, 0)
	if err != nil {
		return nil, err
	}
	h, w, c := x.Shape[0], x.Shape[1], x.Shape[2]
	oh, ow := shape[0], shape[1]
	out := model.NewTensor(oh, ow, c)
	if n.Mode == "nearest" {
		xs := make([]int, ow)
		for ox := range xs {
			xs[ox] = nearest(ox, w, ow, n.AlignCorners, n.HalfPixel)
		}
		parallelRows(oh, ow*c, func(lo, hi int) {
			for oy := lo; oy < hi; oy++ {
				iy := nearest(oy, h, oh, n.AlignCorners, n.HalfPixel)
				for ox, ix := range xs {
					copy(out.Data[(oy*ow+ox)*c:(oy*ow+ox+1)*c], x.Data[(iy*w+ix)*c:(iy*w+ix+1)*c])
				}
			}
		})
		return out, nil
	}
	sy := resizeScale(h, oh, n.AlignCorners)
	sx := resizeScale(w, ow, n.AlignCorners)
	parallelRows(oh, 4*ow*c, func(lo, hi int) {
		for oy := lo; oy < hi; oy++ {
			fy, y0, y1 := interp(oy, sy, n.HalfPixel, h)
			dy := fy - float32(y0)
			for ox := range ow {
				fx, x0, x1 := interp(ox, sx, n.HalfPixel, w)
				dx := fx - float32(x0)
				o := out.Data[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
				v00 := x.Data[(y0*w+x0)*c : (y0*w+x0+1)*c]
				v10 := x.Data[(y1*w+x0)*c : (y1*w+x0+1)*c]
				v01 := x.Data[(y0*w+x1)*c : (y0*w+x1+1)*c]
				v11 := x.Data[(y1*w+x1)*c : (y1*w+x1+1)*c]
				for ch := range o {
					// The same products, in the same order, as TFLite;
					// the conversions forbid fusing them into FMAs.
					o[ch] = float32(float32(v00[ch]*(1-dy))*(1-dx)) +
						float32(float32(v10[ch]*dy)*(1-dx)) +
						float32(float32(v01[ch]*(1-dy))*dx) +
						float32(float32(v11[ch]*dy)*dx)
				}
			}
		}
	})
	return out, nil
}

// resizeScale is the input step per output pixel.
func resizeScale(in, out int, alignCorners bool) float32 {
	if alignCorners && out > 1 {
		return float32(in-1) / float32(out-1)
	}
	return float32(in) / float32(out)
}

// interp returns the source coordinate of output index i and the two
// input indices around it, clamped to the image.
func interp(i int, scale float32, halfPixel bool, size int) (f float32, lo, hi int) {
	if halfPixel {
		f = float32((float32(i)+0.5)*scale) - 0.5
	} else {
		f = float32(i) * scale
	}
	lo = max(int(math.Floor(float64(f))), 0)
	hi = min(int(math.Ceil(float64(f))), size-1)
	return f, lo, hi
}

// nearest is TFLite's GetNearestNeighbor: align_corners rounds (halves
// away from zero), otherwise the coordinate is floored.
func nearest(i, in, out int, alignCorners, halfPixel bool) int {
	scale := resizeScale(in, out, alignCorners)
	var offset float32
	if halfPixel {
		offset = 0.5
	}
	f := float64((float32(i) + offset) * scale)
	var v int
	if alignCorners {
		v = int(math.Round(f))
	} else {
		v = int(math.Floor(f))
	}
	v = min(v, in-1)
	if halfPixel {
		v = max(v, 0)
	}
	return v
}
