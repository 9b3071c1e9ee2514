package onnx

import (
	"testing"

	"github.com/edgetoon/edgetoon/model"
)

// Every op of the model has an ONNX export, and the table holds no other.
func TestExportOpsCoverOps(t *testing.T) {
	for _, op := range model.Ops {
		if exportOps[op] == nil {
			t.Errorf("op %q has no ONNX export", op)
		}
	}
	if len(exportOps) != len(model.Ops) {
		t.Errorf("%d ONNX exports for %d ops: the table names an op model.Ops lacks", len(exportOps), len(model.Ops))
	}
}
