package model

import (
	"fmt"
	"sort"
)

// Validate checks a graph's spec and weights as a whole: the fields a user
// and an engine rely on, and the structure and shapes at the nominal size
// (see Shapes). Decode calls it; importers and trainers should too.
func (g *Graph) Validate() error {
	if g.Version < 1 || g.Version > FormatVersion {
		return fmt.Errorf("graph version %d not supported (this build reads 1..%d)", g.Version, FormatVersion)
	}
	if g.Input == "" || g.Output == "" {
		return fmt.Errorf("graph %q: input and output must be named", g.Name)
	}
	if g.InputChannels < 1 || g.InputChannels > 4 {
		return fmt.Errorf("graph %q: %d input channels, want 1..4", g.Name, g.InputChannels)
	}
	if g.SizeMultiple < 1 || g.SizeMultiple > 64 {
		return fmt.Errorf("graph %q: size multiple %d, want 1..64", g.Name, g.SizeMultiple)
	}
	if g.NominalSize < g.SizeMultiple || g.NominalSize%g.SizeMultiple != 0 {
		return fmt.Errorf("graph %q: nominal size %d is not a positive multiple of %d", g.Name, g.NominalSize, g.SizeMultiple)
	}
	if len(g.Nodes) == 0 || len(g.Nodes) > MaxNodes {
		return fmt.Errorf("graph %q: %d nodes, want 1..%d", g.Name, len(g.Nodes), MaxNodes)
	}
	if g.Tensors[g.Input] != nil {
		return fmt.Errorf("graph %q: input %q is also a tensor name", g.Name, g.Input)
	}
	if err := g.Norm.check("norm", g.InputChannels); err != nil {
		return fmt.Errorf("graph %q: %w", g.Name, err)
	}
	shapes, err := g.Shapes(g.NominalSize, g.NominalSize)
	if err != nil {
		return fmt.Errorf("graph %q at %dx%d: %w", g.Name, g.NominalSize, g.NominalSize, err)
	}
	if err := g.Denorm.check("denorm", shapes[g.Output][2]); err != nil {
		return fmt.Errorf("graph %q: %w", g.Name, err)
	}
	used := map[string]bool{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	// In name order, so that a broken graph gets the same error every run.
	names := make([]string, 0, len(g.Tensors))
	for name := range g.Tensors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !used[name] {
			return fmt.Errorf("graph %q: tensor %q is not used by any node", g.Name, name)
		}
		t := g.Tensors[name]
		if t == nil {
			return fmt.Errorf("graph %q: tensor %q is nil", g.Name, name)
		}
		if len(t.Data) != NumElements(t.Shape) {
			return fmt.Errorf("graph %q: tensor %q: %d values for shape %v", g.Name, name, len(t.Data), t.Shape)
		}
		for i, v := range t.Data {
			if bad(v) {
				return fmt.Errorf("graph %q: tensor %q: element %d is %v", g.Name, name, i, v)
			}
		}
	}
	return nil
}

func (a Affine) check(what string, channels int) error {
	if len(a.Scale) != channels || len(a.Bias) != channels {
		return fmt.Errorf("%s: %d scales and %d biases for %d channels", what, len(a.Scale), len(a.Bias), channels)
	}
	for i := range a.Scale {
		if bad(a.Scale[i]) || bad(a.Bias[i]) || a.Scale[i] == 0 {
			return fmt.Errorf("%s: channel %d: scale %g bias %g", what, i, a.Scale[i], a.Bias[i])
		}
	}
	return nil
}
