package model

import (
	"slices"
	"testing"
)

func TestAffineApply(t *testing.T) {
	x := NewTensor(1, 2, 3)
	copy(x.Data, []float32{0, 0.5, 1, 1, 0, 0.25})
	a := Affine{Scale: []float32{2, 4, -1}, Bias: []float32{-1, 0, 1}}
	y := a.Apply(x)
	want := []float32{-1, 2, 0, 1, 0, 0.75}
	if !slices.Equal(y.Data, want) || !slices.Equal(y.Shape, x.Shape) {
		t.Errorf("Apply: %v %v, want %v", y.Shape, y.Data, want)
	}
	if x.Data[1] != 0.5 {
		t.Error("Apply changed its input")
	}
}
