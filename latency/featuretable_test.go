package latency

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var featureTablePath = filepath.Join("..", "train", "latency_features.json")

func committedPredictor(t *testing.T) *MLP {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "latency", "swiftshader_fp32_predictor.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ReadMLP(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The table train/ searches with is the one this package generates now:
// a change to the planner's fusion, to Decompose or to the features'
// closed form that is not regenerated fails here (and the Python side
// checks that it reproduces the table's features and predictions,
// train/test_latency.py).
func TestFeatureTableCommitted(t *testing.T) {
	tab, err := NewFeatureTable(committedPredictor(t))
	if err != nil {
		t.Fatal(err)
	}
	data, err := tab.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(featureTablePath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(featureTablePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, data) {
		t.Errorf("%s is stale: run go generate ./latency", featureTablePath)
	}
}

// evalTableBlock evaluates a table block for concrete widths, as the
// Python search does: slices of each role's width, or of its fixed
// channel count.
func evalTableBlock(tb TableBlock, widths map[string]int) []float64 {
	s := map[string]float64{}
	for role, name := range tb.Widths {
		s[role] = texels(widths[name])
	}
	for role, c := range tb.Fixed {
		s[role] = texels(c)
	}
	return tb.Terms.Eval(s)
}

// The table's symbolic network, given a member's widths, has the features
// of that member's own decomposition, block by block (a resblock whose
// depth is cut is absent from the member).
func TestFeatureTableNetworks(t *testing.T) {
	tab, err := NewFeatureTable(handMLP())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		a    Arch
		size int
	}{
		{Teacher, 256},
		{Arch{C0: 5, C1: 9, C2: 30, C3: 2, R: 13, Mids: []int{7, 1}, C6: 3, C8: 11}, 128},
		{Arch{C0: 4, C1: 8, C2: 12, C3: 16, R: 20, C6: 24, C8: 28}, 512},
		{Arch{C0: 4, C1: 8, C2: 12, C3: 16, R: 20, Mids: []int{8}, C6: 24, C8: 28, K0: 3, K8: 1, K9: 5}, 384},
	} {
		widths := map[string]int{"c0": c.a.C0, "c1": c.a.C1, "c2": c.a.C2, "c3": c.a.C3, "r": c.a.R, "c6": c.a.C6, "c8": c.a.C8}
		for i, m := range c.a.Mids {
			widths[fmt.Sprintf("mid%d", i)] = m
		}
		var got [][]float64
		for _, tb := range tab.Networks[fmt.Sprint(c.size)] {
			if tb.Depth >= len(c.a.Mids) {
				continue
			}
			got = append(got, evalTableBlock(kernelTableBlock(tb, c.a), widths))
		}
		g, err := c.a.Graph()
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := Decompose(g, c.size, c.size)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(blocks) {
			t.Fatalf("%s at %d: table has %d blocks, the decomposition %d", c.a, c.size, len(got), len(blocks))
		}
		for i, b := range blocks {
			want := Features(b)
			for j := range want {
				if got[i][j] != want[j] {
					t.Errorf("%s at %d, block %s: feature %s %v, want %v", c.a, c.size, b.Key(), FeatureNames[j], got[i][j], want[j])
				}
			}
		}
	}
}

// kernelTableBlock is tb with the terms of the kernel a chooses for it.
func kernelTableBlock(tb TableBlock, a Arch) TableBlock {
	if tb.Kernel != "" {
		tb.Terms = tb.Kernels[fmt.Sprint(a.Kernel(tb.Kernel))]
	}
	return tb
}

// Every kernel choice's terms in the table are those of the block
// decomposed from an Arch built with that kernel, at every table size,
// and each searched kernel names exactly one block.
func TestFeatureTableKernels(t *testing.T) {
	tab, err := NewFeatureTable(handMLP())
	if err != nil {
		t.Fatal(err)
	}
	base := Arch{C0: 12, C1: 8, C2: 20, C3: 16, R: 24, Mids: []int{16, 8}, C6: 20, C8: 28}
	widths := map[string]int{"c0": 12, "c1": 8, "c2": 20, "c3": 16, "r": 24, "mid0": 16, "mid1": 8, "c6": 20, "c8": 28}
	for _, size := range FeatureTableSizes {
		net := tab.Networks[fmt.Sprint(size)]
		named := map[string]int{}
		for _, tb := range net {
			if tb.Kernel != "" {
				named[tb.Kernel]++
			}
		}
		for _, kc := range KernelConvs {
			if named[kc.Name] != 1 {
				t.Errorf("at %d: %d blocks carry kernel %s, want 1", size, named[kc.Name], kc.Name)
			}
			for _, k := range kc.Choices {
				a := base.WithKernel(kc.Name, k)
				blocks, err := decomposeArch(a, size)
				if err != nil {
					t.Fatal(err)
				}
				var got [][]float64
				for _, tb := range net {
					if tb.Depth < len(a.Mids) {
						got = append(got, evalTableBlock(kernelTableBlock(tb, a), widths))
					}
				}
				if len(got) != len(blocks) {
					t.Fatalf("%s at %d: table has %d blocks, the decomposition %d", a, size, len(got), len(blocks))
				}
				for i, b := range blocks {
					if !slices.Equal(got[i], Features(b)) {
						t.Errorf("%s at %d, block %s: table features %v, want %v", a, size, b.Key(), got[i], Features(b))
					}
				}
			}
		}
	}
}
