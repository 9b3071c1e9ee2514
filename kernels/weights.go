package kernels

import "fmt"

// packer places the weight blocks of all passes in one texture, on
// shelves, so that the model needs a single upload and a single sampler.
// A block goes on the first shelf at least as tall with room left
// (first fit), else on a new shelf as tall as itself: a short block
// fills the room beside a tall one instead of making its shelf's
// height stand empty across the texture.
type packer struct {
	width   int
	shelves []shelf
	height  int // rows taken by shelves
	used    int // widest shelf
	blocks  []*block
}

type shelf struct{ y, h, x int }

type block struct {
	x, y, w, h int
	data       []float32 // RGBA rows of w texels
}

// place reserves a w x h block for data; pack sets its corner once
// every block is placed (passes read corners from uniforms, gen.corner).
func (p *packer) place(w, h int, data []float32) (*block, error) {
	if w > p.width {
		return nil, &SizeError{fmt.Sprintf("weight block %d texels wide exceeds MAX_TEXTURE_SIZE %d", w, p.width)}
	}
	bl := &block{w: w, h: h, data: data}
	p.blocks = append(p.blocks, bl)
	return bl, nil
}

// shelve puts block bl on the first shelf at least as tall with room
// left, else on a new shelf as tall as itself.
func (p *packer) shelve(bl *block) {
	i := 0
	for ; i < len(p.shelves); i++ {
		if s := p.shelves[i]; s.h >= bl.h && s.x+bl.w <= p.width {
			break
		}
	}
	if i == len(p.shelves) {
		p.shelves = append(p.shelves, shelf{y: p.height, h: bl.h})
		p.height += bl.h
	}
	s := &p.shelves[i]
	bl.x, bl.y = s.x, s.y
	s.x += bl.w
	p.used = max(p.used, s.x)
}

// pack sets every block's corner, choosing the shelf width, from the
// widest block's up to the packer's, that lays the blocks out in the
// fewest texels within maxSize rows: the texture is a rectangle, so
// shelves as wide as the device allows leave every shorter shelf's row
// empty to the right. It depends only on the blocks' sizes in order,
// which every plan of a model places alike.
func (p *packer) pack(maxSize int) {
	widest := 1
	for _, bl := range p.blocks {
		widest = max(widest, bl.w)
	}
	best, least := p.width, -1
	try := func(w int) {
		q := packer{width: w}
		for _, bl := range p.blocks {
			q.shelve(&block{w: bl.w, h: bl.h})
		}
		if area := q.used * q.height; q.height <= maxSize && (least < 0 || area < least) {
			best, least = w, area
		}
	}
	for w := widest; w < p.width; w += 16 {
		try(w)
	}
	try(p.width)
	p.width, p.shelves, p.height, p.used = best, nil, 0, 0
	for _, bl := range p.blocks {
		p.shelve(bl)
	}
}

// build lays the blocks out in one RGBA texture.
func (p *packer) build(maxSize int) (Weights, error) {
	w, h := max(p.used, 1), max(p.height, 1)
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
