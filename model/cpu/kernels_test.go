package cpu

import (
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

// Every op of the model has a CPU kernel, and the table holds no other.
func TestKernelsCoverOps(t *testing.T) {
	for _, op := range model.Ops {
		if kernels[op] == nil {
			t.Errorf("op %q has no CPU kernel", op)
		}
	}
	if len(kernels) != len(model.Ops) {
		t.Errorf("%d CPU kernels for %d ops: the table names an op model.Ops lacks", len(kernels), len(model.Ops))
	}
}
