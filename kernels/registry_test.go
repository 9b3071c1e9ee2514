package kernels

import (
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

// Every op of the model has a GPU kernel that can run it (a pass of its
// own or a fetch), and the table holds no other op.
func TestKernelTableCoversOps(t *testing.T) {
	for _, op := range model.Ops {
		k, ok := kernelTable[op]
		switch {
		case !ok:
			t.Errorf("op %q has no GPU kernel", op)
		case k.pass == nil && k.fetch == nil:
			t.Errorf("op %q: kernel has neither a pass nor a fetch", op)
		case k.expr != nil && k.fetch == nil:
			t.Errorf("op %q: elementwise kernel without a fetch cannot be inlined", op)
		}
	}
	if len(kernelTable) != len(model.Ops) {
		t.Errorf("%d GPU kernels for %d ops: the table names an op model.Ops lacks", len(kernelTable), len(model.Ops))
	}
}
