package cpu

import (
	"fmt"
	"math"

	"github.com/edgetoon/edgetoon/model"
)

// This file is a second, deliberately naive engine: every op written
// straight from its definition, one output element at a time, summing
// in float64. The tests compare the real engine against it.

// naiveRun executes g on in and returns every value by name.
func naiveRun(g *model.Graph, in *model.Tensor) (map[string]*model.Tensor, error) {
	vals := map[string]*model.Tensor{g.Input: in}
	get := func(name string) *model.Tensor {
		if t := vals[name]; t != nil {
			return t
		}
		return g.Tensors[name]
	}
	for _, n := range g.Nodes {
		var ins []*model.Tensor
		for _, name := range n.Inputs {
			t := get(name)
			if t == nil {
				return nil, fmt.Errorf("naive: %q: no value %q", n.Name, name)
			}
			ins = append(ins, t)
		}
		var out *model.Tensor
		switch n.Op {
		case model.OpConv2D:
			out = naiveConv(n, ins)
		case model.OpAdd, model.OpSub, model.OpMul, model.OpDiv:
			out = naiveBinary(n.Op, ins[0], ins[1])
		case model.OpLeakyReLU, model.OpReLU, model.OpTanh, model.OpSigmoid:
			out = naiveMap(ins[0], func(v float64) float64 { return naiveAct(n.Op, n.Alpha, v) })
		case model.OpClip:
			out = naiveMap(ins[0], func(v float64) float64 {
				return math.Min(math.Max(v, float64(n.Min)), float64(n.Max))
			})
		case model.OpResize:
			out = naiveResize(n, ins[0])
		case model.OpInstanceNorm, model.OpLayerNorm:
			out = naiveNorm(n, ins)
		case model.OpConcat:
			out = naiveConcat(ins)
		case model.OpBoxMean:
			out = naiveBoxMean(ins[0], n.Radius)
		case model.OpPad:
			out = naivePad(n, ins[0])
		default:
			return nil, fmt.Errorf("naive: op %q", n.Op)
		}
		if n.Act != "" {
			out = naiveMap(out, func(v float64) float64 { return naiveAct(n.Act, n.Alpha, v) })
		}
		vals[n.Name] = out
	}
	return vals, nil
}

func naiveAct(name string, alpha float32, v float64) float64 {
	switch name {
	case "relu":
		return math.Max(v, 0)
	case "relu6":
		return math.Min(math.Max(v, 0), 6)
	case "leaky_relu":
		if v > 0 {
			return v
		}
		return float64(alpha) * v
	case "tanh":
		return math.Tanh(v)
	case "sigmoid":
		return 1 / (1 + math.Exp(-v))
	}
	return v
}

func naiveMap(x *model.Tensor, f func(float64) float64) *model.Tensor {
	out := model.NewTensor(x.Shape...)
	for i, v := range x.Data {
		out.Data[i] = float32(f(float64(v)))
	}
	return out
}

// at reads x[y][x][c] of an HWC tensor.
func at(t *model.Tensor, y, x, c int) float32 {
	return t.Data[(y*t.Shape[1]+x)*t.Shape[2]+c]
}

func set(t *model.Tensor, y, x, c int, v float32) {
	t.Data[(y*t.Shape[1]+x)*t.Shape[2]+c] = v
}

// naivePads resolves padding from the definition of SAME: the output
// is ceil(in/stride) and the padding needed for it is split with the
// extra pixel at the end.
func naivePads(n model.Node, h, w, kh, kw int) (top, left, oh, ow int) {
	switch n.Padding {
	case model.PadExplicit:
		top, left = n.Pads[0], n.Pads[1]
		oh = (h+n.Pads[0]+n.Pads[2]-((kh-1)*n.DilationY()+1))/n.StrideY() + 1
		ow = (w+n.Pads[1]+n.Pads[3]-((kw-1)*n.DilationX()+1))/n.StrideX() + 1
	case model.PadValid:
		oh = (h-((kh-1)*n.DilationY()+1))/n.StrideY() + 1
		ow = (w-((kw-1)*n.DilationX()+1))/n.StrideX() + 1
	case model.PadSame:
		oh = int(math.Ceil(float64(h) / float64(n.StrideY())))
		ow = int(math.Ceil(float64(w) / float64(n.StrideX())))
		needY := (oh-1)*n.StrideY() + (kh-1)*n.DilationY() + 1 - h
		needX := (ow-1)*n.StrideX() + (kw-1)*n.DilationX() + 1 - w
		top, left = max(needY, 0)/2, max(needX, 0)/2
	}
	return
}

// naiveConv is the textbook seven-loop convolution.
func naiveConv(n model.Node, ins []*model.Tensor) *model.Tensor {
	x, wt := ins[0], ins[1]
	h, w, c := x.Shape[0], x.Shape[1], x.Shape[2]
	o, kh, kw, ig := wt.Shape[0], wt.Shape[1], wt.Shape[2], wt.Shape[3]
	groups := c / ig
	og := o / groups
	top, left, oh, ow := naivePads(n, h, w, kh, kw)
	out := model.NewTensor(oh, ow, o)
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			for oc := 0; oc < o; oc++ {
				g := oc / og
				var s float64
				if len(ins) > 2 {
					s = float64(ins[2].Data[oc])
				}
				for ky := 0; ky < kh; ky++ {
					for kx := 0; kx < kw; kx++ {
						for i := 0; i < ig; i++ {
							iy := oy*n.StrideY() + ky*n.DilationY() - top
							ix := ox*n.StrideX() + kx*n.DilationX() - left
							if iy < 0 || ix < 0 || iy >= h || ix >= w {
								continue
							}
							wv := wt.Data[((oc*kh+ky)*kw+kx)*ig+i]
							s += float64(at(x, iy, ix, g*ig+i)) * float64(wv)
						}
					}
				}
				set(out, oy, ox, oc, float32(s))
			}
		}
	}
	return out
}

// naiveBinary broadcasts by reading each operand at the output index
// reduced modulo its own (right-aligned) dimensions.
func naiveBinary(op string, a, b *model.Tensor) *model.Tensor {
	shape, err := model.Broadcast(a.Shape, b.Shape)
	if err != nil {
		panic(err)
	}
	out := model.NewTensor(shape...)
	idx := func(t *model.Tensor, y, x, c int) float64 {
		pos := []int{y, x, c}[3-len(t.Shape):]
		off := 0
		for d, s := range t.Shape {
			off = off*s + pos[d]%s
		}
		return float64(t.Data[off])
	}
	for y := 0; y < shape[0]; y++ {
		for x := 0; x < shape[1]; x++ {
			for c := 0; c < shape[2]; c++ {
				u, v := idx(a, y, x, c), idx(b, y, x, c)
				var r float64
				switch op {
				case model.OpAdd:
					r = u + v
				case model.OpSub:
					r = u - v
				case model.OpMul:
					r = u * v
				case model.OpDiv:
					r = u / v
				}
				set(out, y, x, c, float32(r))
			}
		}
	}
	return out
}

// naiveResize maps each output pixel to a source coordinate in float64
// and interpolates between the clamped neighbours.
func naiveResize(n model.Node, x *model.Tensor) *model.Tensor {
	h, w, c := x.Shape[0], x.Shape[1], x.Shape[2]
	oh, ow := h*n.Scale[0], w*n.Scale[1]
	out := model.NewTensor(oh, ow, c)
	src := func(i, in, out int) float64 {
		switch {
		case n.AlignCorners:
			if out == 1 {
				return 0
			}
			return float64(i) * float64(in-1) / float64(out-1)
		case n.HalfPixel:
			return (float64(i)+0.5)*float64(in)/float64(out) - 0.5
		}
		return float64(i) * float64(in) / float64(out)
	}
	clamp := func(v, n int) int { return min(max(v, 0), n-1) }
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			fy, fx := src(oy, h, oh), src(ox, w, ow)
			for ch := 0; ch < c; ch++ {
				if n.Mode == "nearest" {
					var iy, ix int
					switch {
					case n.AlignCorners:
						iy, ix = int(math.Round(fy)), int(math.Round(fx))
					case n.HalfPixel:
						// Half-pixel nearest samples at (i+0.5)*in/out.
						iy, ix = int(math.Floor(fy+0.5)), int(math.Floor(fx+0.5))
					default:
						iy, ix = int(math.Floor(fy)), int(math.Floor(fx))
					}
					set(out, oy, ox, ch, at(x, clamp(iy, h), clamp(ix, w), ch))
					continue
				}
				y0, x0 := int(math.Floor(fy)), int(math.Floor(fx))
				ty, tx := fy-float64(y0), fx-float64(x0)
				p00 := float64(at(x, clamp(y0, h), clamp(x0, w), ch))
				p01 := float64(at(x, clamp(y0, h), clamp(x0+1, w), ch))
				p10 := float64(at(x, clamp(y0+1, h), clamp(x0, w), ch))
				p11 := float64(at(x, clamp(y0+1, h), clamp(x0+1, w), ch))
				top := p00 + (p01-p00)*tx
				bot := p10 + (p11-p10)*tx
				set(out, oy, ox, ch, float32(top+(bot-top)*ty))
			}
		}
	}
	return out
}

func naiveNorm(n model.Node, ins []*model.Tensor) *model.Tensor {
	x, gamma, beta := ins[0], ins[1], ins[2]
	h, w, c := x.Shape[0], x.Shape[1], x.Shape[2]
	out := model.NewTensor(x.Shape...)
	stats := func(chans []int) (mean, variance float64) {
		var cnt float64
		for y := 0; y < h; y++ {
			for xx := 0; xx < w; xx++ {
				for _, ch := range chans {
					mean += float64(at(x, y, xx, ch))
					cnt++
				}
			}
		}
		mean /= cnt
		for y := 0; y < h; y++ {
			for xx := 0; xx < w; xx++ {
				for _, ch := range chans {
					d := float64(at(x, y, xx, ch)) - mean
					variance += d * d
				}
			}
		}
		return mean, variance / cnt
	}
	all := make([]int, c)
	for i := range all {
		all[i] = i
	}
	for ch := 0; ch < c; ch++ {
		chans := []int{ch}
		if n.Op == model.OpLayerNorm {
			chans = all
		}
		mean, variance := stats(chans)
		for y := 0; y < h; y++ {
			for xx := 0; xx < w; xx++ {
				v := (float64(at(x, y, xx, ch)) - mean) / math.Sqrt(variance+float64(n.Eps))
				set(out, y, xx, ch, float32(v*float64(gamma.Data[ch])+float64(beta.Data[ch])))
			}
		}
	}
	return out
}

func naiveConcat(ins []*model.Tensor) *model.Tensor {
	h, w := ins[0].Shape[0], ins[0].Shape[1]
	var vals [][]float32 // per pixel
	for p := 0; p < h*w; p++ {
		var px []float32
		for _, t := range ins {
			c := t.Shape[2]
			px = append(px, t.Data[p*c:(p+1)*c]...)
		}
		vals = append(vals, px)
	}
	out := model.NewTensor(h, w, len(vals[0]))
	for p, px := range vals {
		copy(out.Data[p*len(px):], px)
	}
	return out
}

// naiveBoxMean visits the whole window and counts the taps that fall
// inside the image.
func naiveBoxMean(x *model.Tensor, r int) *model.Tensor {
	h, w, c := x.Shape[0], x.Shape[1], x.Shape[2]
	out := model.NewTensor(h, w, c)
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			for ch := 0; ch < c; ch++ {
				var s, cnt float64
				for dy := -r; dy <= r; dy++ {
					for dx := -r; dx <= r; dx++ {
						if y+dy < 0 || y+dy >= h || xx+dx < 0 || xx+dx >= w {
							continue
						}
						s += float64(at(x, y+dy, xx+dx, ch))
						cnt++
					}
				}
				set(out, y, xx, ch, float32(s/cnt))
			}
		}
	}
	return out
}

// naivePad reflects by bouncing the index off the edges until it lands
// inside.
func naivePad(n model.Node, x *model.Tensor) *model.Tensor {
	h, w, c := x.Shape[0], x.Shape[1], x.Shape[2]
	oh, ow := h+n.Pads[0]+n.Pads[2], w+n.Pads[1]+n.Pads[3]
	out := model.NewTensor(oh, ow, c)
	bounce := func(i, n int) int {
		for i < 0 || i >= n {
			if i < 0 {
				i = -i
			}
			if i >= n {
				i = 2*(n-1) - i
			}
		}
		return i
	}
	for y := 0; y < oh; y++ {
		for xx := 0; xx < ow; xx++ {
			iy, ix := y-n.Pads[0], xx-n.Pads[1]
			inside := iy >= 0 && iy < h && ix >= 0 && ix < w
			if !inside && n.Mode != "reflect" {
				continue
			}
			iy, ix = bounce(iy, h), bounce(ix, w)
			for ch := 0; ch < c; ch++ {
				set(out, y, xx, ch, at(x, iy, ix, ch))
			}
		}
	}
	return out
}
