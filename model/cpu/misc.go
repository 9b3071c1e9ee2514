package cpu

import (
	"github.com/edgetoon/edgetoon/model"
)

// concat joins its inputs along channels.
func (e *env) concat(n *model.Node, shape []int) (*model.Tensor, error) {
	out := model.NewTensor(shape...)
	pixels, oc := shape[0]*shape[1], shape[2]
	at := 0
	for i := range n.Inputs {
		x, err := e.input(n, i)
		if err != nil {
			return nil, err
		}
		c := x.Shape[2]
		for p := range pixels {
			copy(out.Data[p*oc+at:p*oc+at+c], x.Data[p*c:(p+1)*c])
		}
		at += c
	}
	return out, nil
}

// boxMean averages each channel over the (2r+1)^2 window around each
// pixel, counting only the taps inside the image. It is White-box's
// guided-filter box filter (a 3x3 depthwise conv of ones divided by the
// filter of an all-ones image) without a normalization map baked for
// one image size. The window is separable: rows first, then columns.
func (e *env) boxMean(n *model.Node) (*model.Tensor, error) {
	x, err := e.input(n, 0)
	if err != nil {
		return nil, err
	}
	h, w, c := x.Shape[0], x.Shape[1], x.Shape[2]
	r := n.Radius
	rows := model.NewTensor(h, w, c)
	parallelRows(h, w*c*(2*r+1), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			for ox := range w {
				o := rows.Data[(y*w+ox)*c : (y*w+ox+1)*c]
				for ix := max(ox-r, 0); ix <= min(ox+r, w-1); ix++ {
					for ch, v := range x.Data[(y*w+ix)*c : (y*w+ix+1)*c] {
						o[ch] += v
					}
				}
			}
		}
	})
	out := model.NewTensor(h, w, c)
	parallelRows(h, w*c*(2*r+1), func(lo, hi int) {
		for oy := lo; oy < hi; oy++ {
			y0, y1 := max(oy-r, 0), min(oy+r, h-1)
			for iy := y0; iy <= y1; iy++ {
				o := out.Data[oy*w*c : (oy+1)*w*c]
				for i, v := range rows.Data[iy*w*c : (iy+1)*w*c] {
					o[i] += v
				}
			}
			for ox := range w {
				taps := float32((y1 - y0 + 1) * (min(ox+r, w-1) - max(ox-r, 0) + 1))
				for ch := range c {
					out.Data[(oy*w+ox)*c+ch] /= taps
				}
			}
		}
	})
	return out, nil
}

// pad adds Pads (top, left, bottom, right) pixels of zeros ("constant")
// or of the mirror image without the edge pixel ("reflect", as in
// TensorFlow's MirrorPad REFLECT).
func (e *env) pad(n *model.Node, shape []int) (*model.Tensor, error) {
	x, err := e.input(n, 0)
	if err != nil {
		return nil, err
	}
	h, w, c := x.Shape[0], x.Shape[1], x.Shape[2]
	top, left := n.Pads[0], n.Pads[1]
	oh, ow := shape[0], shape[1]
	out := model.NewTensor(oh, ow, c)
	for oy := range oh {
		iy, iny := reflect(oy-top, h)
		for ox := range ow {
			ix, inx := reflect(ox-left, w)
			if n.Mode != "reflect" && !(iny && inx) {
				continue
			}
			copy(out.Data[(oy*ow+ox)*c:(oy*ow+ox+1)*c], x.Data[(iy*w+ix)*c:(iy*w+ix+1)*c])
		}
	}
	return out, nil
}

// reflect maps i to its mirror in [0,n) about the edge pixels and says
// whether i was inside already. Shapes guarantees pads smaller than n,
// so one reflection suffices.
func reflect(i, n int) (int, bool) {
	switch {
	case i < 0:
		return -i, false
	case i >= n:
		return 2*(n-1) - i, false
	}
	return i, true
}
