package kernels

import "fmt"

// packer places the weight blocks of all passes in one texture, left to
// right on shelves, so that the model needs a single upload and a single
// sampler.
type packer struct {
	width       int
	x, y, shelf int
	used        int // widest shelf
	blocks      []block
}

type block struct {
	x, y, w, h int
	data       []float32 // RGBA rows of w texels
}

// place reserves a w x h block for data and returns its corner.
func (p *packer) place(w, h int, data []float32) (int, int, error) {
	if w > p.width {
		return 0, 0, &SizeError{fmt.Sprintf("weight block %d texels wide exceeds MAX_TEXTURE_SIZE %d", w, p.width)}
	}
	if p.x+w > p.width {
		p.y += p.shelf
		p.x, p.shelf = 0, 0
	}
	x, y := p.x, p.y
	p.x += w
	p.shelf = max(p.shelf, h)
	p.used = max(p.used, p.x)
	p.blocks = append(p.blocks, block{x, y, w, h, data})
	return x, y, nil
}

// build lays the blocks out in one RGBA texture.
func (p *packer) build(maxSize int) (Weights, error) {
	w, h := max(p.used, 1), max(p.y+p.shelf, 1)
	if h > maxSize {
		return Weights{}, &SizeError{fmt.Sprintf("weights need a %dx%d texture, beyond MAX_TEXTURE_SIZE %d", w, h, maxSize)}
	}
	data := make([]float32, w*h*4)
	for _, bl := range p.blocks {
		for r := range bl.h {
			copy(data[((bl.y+r)*w+bl.x)*4:], bl.data[r*bl.w*4:(r+1)*bl.w*4])
		}
	}
	return Weights{W: w, H: h, Data: data}, nil
}
