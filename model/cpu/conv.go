package cpu

import (
	"fmt"

	"github.com/edgetoon/edgetoon/model"
)

// convGeom is a conv2d node resolved for one input size.
type convGeom struct {
	h, w, c        int // input
	oh, ow, o      int // output
	kh, kw, ig     int // kernel; ig input channels per group
	sy, sx, dy, dx int // stride, dilation
	top, left      int // padding before; the rest is implied by oh, ow
	groups         int
}

func (e *env) conv(n *model.Node, shape []int) (*model.Tensor, error) {
	x, err := e.input(n, 0)
	if err != nil {
		return nil, err
	}
	wt, err := e.input(n, 1)
	if err != nil {
		return nil, err
	}
	var bias []float32
	if len(n.Inputs) > 2 {
		b, err := e.input(n, 2)
		if err != nil {
			return nil, err
		}
		bias = b.Data
	}
	if len(x.Shape) != 3 || len(wt.Shape) != 4 {
		return nil, fmt.Errorf("input %v or weight %v has the wrong rank", x.Shape, wt.Shape)
	}
	g := convGeom{
		h: x.Shape[0], w: x.Shape[1], c: x.Shape[2],
		oh: shape[0], ow: shape[1], o: shape[2],
		kh: wt.Shape[1], kw: wt.Shape[2], ig: wt.Shape[3],
		sy: n.StrideY(), sx: n.StrideX(), dy: n.DilationY(), dx: n.DilationX(),
		groups: n.GroupCount(),
	}
	if g.o != wt.Shape[0] || g.ig*g.groups != g.c || len(bias) != 0 && len(bias) != g.o {
		return nil, fmt.Errorf("weight %v, bias of %d do not fit input %v", wt.Shape, len(bias), x.Shape)
	}
	g.top, g.left, _, _, err = model.ConvPads(n, g.h, g.w, g.kh, g.kw)
	if err != nil {
		return nil, err
	}
	out := model.NewTensor(g.oh, g.ow, g.o)
	if g.ig == 1 && g.groups == g.c && g.o == g.c {
		depthwise(&g, x.Data, wt.Data, bias, out.Data)
	} else {
		convGEMM(&g, x.Data, wt.Data, bias, out.Data)
	}
	return out, nil
}

// convGEMM computes each output row as a matrix product: the patches
// under the kernel (im2col) times the weights, which in the OHWI layout
// are already one contiguous row of kh*kw*ig values per output channel.
func convGEMM(g *convGeom, x, wt, bias, out []float32) {
	k := g.kh * g.kw * g.ig
	og := g.o / g.groups
	direct := g.kh == 1 && g.kw == 1 && g.sx == 1 && g.sy == 1 &&
		g.top == 0 && g.left == 0 && g.groups == 1 && g.oh == g.h && g.ow == g.w
	parallelRows(g.oh, g.ow*k*g.o, func(lo, hi int) {
		var patches []float32
		if !direct {
			patches = make([]float32, g.ow*k)
		}
		for oy := lo; oy < hi; oy++ {
			orow := out[oy*g.ow*g.o : (oy+1)*g.ow*g.o]
			if direct {
				// A 1x1 stride-1 conv's patches are the input pixels.
				gemm(x[oy*g.w*g.c:(oy+1)*g.w*g.c], g.ow, k, wt, g.o, bias, orow, g.o)
				continue
			}
			for gr := range g.groups {
				im2colRow(g, x, oy, gr, patches)
				var b []float32
				if bias != nil {
					b = bias[gr*og : (gr+1)*og]
				}
				gemm(patches, g.ow, k, wt[gr*og*k:(gr+1)*og*k], og, b, orow[gr*og:], g.o)
			}
		}
	})
}

// im2colRow fills p with the patches of output row oy for group gr: for
// each output pixel, kh*kw*ig values in the weights' (ky, kx, i) order,
// zero where the kernel reaches into the padding.
func im2colRow(g *convGeom, x []float32, oy, gr int, p []float32) {
	i := 0
	for ox := range g.ow {
		for ky := range g.kh {
			iy := oy*g.sy - g.top + ky*g.dy
			for kx := range g.kw {
				ix := ox*g.sx - g.left + kx*g.dx
				dst := p[i : i+g.ig]
				i += g.ig
				if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
					clear(dst)
					continue
				}
				off := (iy*g.w+ix)*g.c + gr*g.ig
				copy(dst, x[off:off+g.ig])
			}
		}
	}
}

// depthwise is the conv with one input channel per group and one output
// per input channel. Its weights [C,KH,KW,1] are transposed to
// [KH,KW,C] so the innermost loop runs over contiguous channels.
func depthwise(g *convGeom, x, wt, bias, out []float32) {
	c, taps := g.c, g.kh*g.kw
	wk := make([]float32, taps*c)
	for ch := range c {
		for t := range taps {
			wk[t*c+ch] = wt[ch*taps+t]
		}
	}
	parallelRows(g.oh, g.ow*taps*c, func(lo, hi int) {
		for oy := lo; oy < hi; oy++ {
			for ox := range g.ow {
				o := out[(oy*g.ow+ox)*c : (oy*g.ow+ox+1)*c]
				if bias != nil {
					copy(o, bias)
				}
				for ky := range g.kh {
					iy := oy*g.sy - g.top + ky*g.dy
					if iy < 0 || iy >= g.h {
						continue
					}
					for kx := range g.kw {
						ix := ox*g.sx - g.left + kx*g.dx
						if ix < 0 || ix >= g.w {
							continue
						}
						xs := x[(iy*g.w+ix)*c : (iy*g.w+ix+1)*c]
						ws := wk[(ky*g.kw+kx)*c : (ky*g.kw+kx+1)*c]
						for ch, v := range xs {
							o[ch] += v * ws[ch]
						}
					}
				}
			}
		}
	})
}
