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

// Every op of the model comes back from its ONNX export as itself: the
// synthetic graph, which TestRoundTripSynthetic exports, imports and runs
// against the original on the CPU engine (comparing the ops of both),
// holds every op of model.Ops, so an op missing from the exporter's or the
// importer's table fails there.
func TestImportRoundTripsEveryOp(t *testing.T) {
	have := map[string]bool{}
	for _, n := range synthetic().Nodes {
		have[n.Op] = true
	}
	for _, op := range model.Ops {
		if !have[op] {
			t.Errorf("op %q: not in the synthetic round-trip graph", op)
		}
	}
}
