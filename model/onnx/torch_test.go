package onnx

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/edgetoon/edgetoon/model/cpu"
)

// TestImportTorch imports files written by torch.onnx.export (opsets
// 11, 13, 17, fixed and symbolic sizes) and compares the CPU engine's
// output with PyTorch's own.
func TestImportTorch(t *testing.T) {
	needPython(t, "onnx", "torch")
	dir := t.TempDir()
	cmd := exec.Command(python, "testdata/torch_export.py", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("torch_export.py: %v\n%s", err, out)
	}
	in := nchwToHWC(readF32(t, filepath.Join(dir, "in.f32")), 64, 64, 3)
	want := nchwToHWC(readF32(t, filepath.Join(dir, "out.f32")), 64, 64, 3)
	for _, name := range []string{"net_11", "net_13", "net_17", "net_13_dyn"} {
		t.Run(name, func(t *testing.T) {
			g, err := ImportFile(filepath.Join(dir, name+".onnx"), Options{License: "MIT"})
			if err != nil {
				t.Fatal(err)
			}
			ops := map[string]int{}
			for _, n := range g.Nodes {
				ops[n.Op+"+"+n.Act]++
			}
			t.Logf("%d nodes: %v", len(g.Nodes), ops)
			if ops["layer_norm+"] != 1 || ops["conv2d+leaky_relu"] != 1 || ops["conv2d+relu6"] != 1 {
				t.Errorf("patterns or fusions not found: %v", ops)
			}
			got, err := cpu.Run(g, in)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(t, got, want); d > 1e-5 {
				t.Errorf("max abs difference from PyTorch %g > 1e-5", d)
			}
			if g.License != "MIT" || g.NominalSize != map[bool]int{true: 256, false: 64}[name == "net_13_dyn"] {
				t.Errorf("license %q nominal size %d", g.License, g.NominalSize)
			}
		})
	}
	_ = os.Remove
}
