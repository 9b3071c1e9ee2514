package kernels

import "fmt"

// allocate assigns every stored value a texture. A value's texture returns
// to the pool after the last pass that samples it, so the frame needs only
// as many textures as values alive at once. A pass's output never shares a
// texture with its inputs (WebGL forbids such feedback loops): the output
// is taken before the inputs are released.
func (b *builder) allocate(leaves [][]string) error {
	plan := b.plan
	last := map[string]int{}
	for i, names := range leaves {
		for _, n := range names {
			last[n] = i
		}
	}
	var free []int // indices into plan.Textures
	where := map[string]int{}
	take := func(name string) (int, error) {
		s := b.shapes[name]
		w, h, l := Storage(s, max(b.pixels[name], 1))
		if l > b.opts.MaxLayers {
			return 0, &SizeError{fmt.Sprintf("value %q: %d channels need %d texture layers, device allows %d", name, s[2], l, b.opts.MaxLayers)}
		}
		if w > b.opts.MaxTextureSize || h > b.opts.MaxTextureSize {
			return 0, &SizeError{fmt.Sprintf("value %q: %dx%d exceeds MAX_TEXTURE_SIZE %d", name, w, h, b.opts.MaxTextureSize)}
		}
		// Best fit: the smallest free texture that holds the value.
		best, bestSize := -1, 0
		for i, t := range free {
			tex := plan.Textures[t]
			if tex.W >= w && tex.H >= h && tex.Layers >= l {
				if size := tex.W * tex.H * tex.Layers; best < 0 || size < bestSize {
					best, bestSize = i, size
				}
			}
		}
		if best >= 0 {
			t := free[best]
			free = append(free[:best], free[best+1:]...)
			where[name] = t
			return t, nil
		}
		// Else grow the free texture that needs the least extra memory, if
		// that costs less than a new one.
		grow, growth := -1, w*h*l
		for i, t := range free {
			tex := plan.Textures[t]
			if extra := max(tex.W, w)*max(tex.H, h)*max(tex.Layers, l) - tex.W*tex.H*tex.Layers; extra < growth {
				grow, growth = i, extra
			}
		}
		if grow >= 0 {
			t := free[grow]
			free = append(free[:grow], free[grow+1:]...)
			tex := &plan.Textures[t]
			tex.W, tex.H, tex.Layers = max(tex.W, w), max(tex.H, h), max(tex.Layers, l)
			where[name] = t
			return t, nil
		}
		plan.Textures = append(plan.Textures, Texture{W: w, H: h, Layers: l})
		where[name] = len(plan.Textures) - 1
		return len(plan.Textures) - 1, nil
	}
	if b.opts.Input == InputRaw {
		t, err := take(b.g.Input)
		if err != nil {
			return err
		}
		plan.Input = t
	}
	for i := range plan.Passes {
		pass := &plan.Passes[i]
		if pass.Out != TexCanvas || !b.opts.ToCanvas || i != len(plan.Passes)-1 {
			t, err := take(b.groups[i].tail())
			if err != nil {
				return err
			}
			pass.Out = t
		}
		for _, n := range leaves[i] {
			switch n {
			case "$image":
				pass.Inputs = append(pass.Inputs, TexImage)
			case "$weights":
				pass.Inputs = append(pass.Inputs, TexWeights)
			default:
				pass.Inputs = append(pass.Inputs, where[n])
			}
		}
		for _, n := range leaves[i] {
			if t, ok := where[n]; ok && last[n] == i && n != b.g.Output {
				free = append(free, t)
				delete(where, n)
			}
		}
	}
	if !b.opts.ToCanvas {
		out := b.groups[len(b.groups)-1].tail()
		t, ok := where[out]
		if !ok || out != b.g.Output {
			return fmt.Errorf("output %q is not stored by the last pass", b.g.Output)
		}
		plan.Output = t
	}
	s := b.shapes[b.g.Output]
	plan.OutShape = [3]int{s[0], s[1], s[2]}
	return nil
}
