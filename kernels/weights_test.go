package kernels

import "testing"

// The packer lays blocks of mixed sizes out without overlap inside its
// texture, in no more texels than shelves as wide as the device allows,
// and keeps each block's data where its corner says.
func TestPacker(t *testing.T) {
	rng := newRand()
	for round := range 20 {
		p := packer{width: 512}
		full := packer{width: 512}
		for range 1 + rng.IntN(40) {
			w, h := 1+rng.IntN(200), 1+rng.IntN(300)
			data := make([]float32, w*h*4)
			for i := range data {
				data[i] = rng.Float32()
			}
			if _, err := p.place(w, h, data); err != nil {
				t.Fatal(err)
			}
			full.shelve(&block{w: w, h: h})
		}
		p.pack(4096)
		wt, err := p.build(4096)
		if err != nil {
			t.Fatal(err)
		}
		if wt.W*wt.H > full.used*full.height {
			t.Errorf("round %d: %dx%d texels, more than the %dx%d of full-width shelves", round, wt.W, wt.H, full.used, full.height)
		}
		for i, a := range p.blocks {
			if a.x < 0 || a.y < 0 || a.x+a.w > wt.W || a.y+a.h > wt.H {
				t.Fatalf("round %d: block %d at (%d, %d) %dx%d outside %dx%d", round, i, a.x, a.y, a.w, a.h, wt.W, wt.H)
			}
			for _, b := range p.blocks[i+1:] {
				if a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h {
					t.Fatalf("round %d: blocks at (%d, %d) and (%d, %d) overlap", round, a.x, a.y, b.x, b.y)
				}
			}
			for r := range a.h {
				for c := range a.w * 4 {
					if got, want := wt.Data[((a.y+r)*wt.W+a.x)*4+c], a.data[r*a.w*4+c]; got != want {
						t.Fatalf("round %d: block %d's texel (%d, %d) reads %g, want %g", round, i, c/4, r, got, want)
					}
				}
			}
		}
	}
}
