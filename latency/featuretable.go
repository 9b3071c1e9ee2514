package latency

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// FeatureTableFormat names the JSON [FeatureTable] writes.
const FeatureTableFormat = "edgetoon-latency-features/3"

// FeatureTableSizes are the input sizes the table holds the family at:
// the page's detail sizes and the search's smaller one.
var FeatureTableSizes = []int{128, 256, 384, 512}

// familyWidths names the widths of an [Arch] in the table, in order.
var familyWidths = []string{"c0", "c1", "c2", "c3", "r", "mid0", "mid1", "mid2", "mid3", "c6", "c8"}

// widthArch returns the family member whose widths are the distinct
// sentinels 5, 6, ... (none is 3, the image's channels), so that a
// block's channel count tells which width it is.
func widthArch() (Arch, map[int]string) {
	v := make([]int, len(familyWidths))
	names := map[int]string{}
	for i, name := range familyWidths {
		v[i] = 5 + i
		names[v[i]] = name
	}
	return Arch{C0: v[0], C1: v[1], C2: v[2], C3: v[3], R: v[4], Mids: v[5:9], C6: v[9], C8: v[10]}, names
}

// TableBlock is one block of the family's network in a feature table: its
// geometry, the width (a family width name) or fixed channel count of
// each role, and its features as [Terms] of those widths. The geometry
// and Terms are at the teacher's kernels; a block whose conv has a
// searched kernel names it (Kernel) and carries its terms at each choice.
type TableBlock struct {
	Key      string            `json:"key"` // with the sentinel widths
	Kind     string            `json:"kind"`
	K        int               `json:"k,omitempty"`
	Stride   int               `json:"stride,omitempty"`
	H        int               `json:"h"`
	W        int               `json:"w"`
	Act      string            `json:"act,omitempty"`
	Residual bool              `json:"residual,omitempty"`
	Widths   map[string]string `json:"widths"`          // role -> family width
	Fixed    map[string]int    `json:"fixed,omitempty"` // role -> channels
	// Depth is the residual block (0..3) whose depth gate scales the
	// block, or -1.
	Depth int   `json:"depth"`
	Terms Terms `json:"terms"`
	// Kernel is the [KernelConv.Name] whose side is this block's kernel,
	// or empty; Kernels then holds the block's terms at each of its
	// choices, keyed by the side ("1", "3", ...).
	Kernel  string           `json:"kernel,omitempty"`
	Kernels map[string]Terms `json:"kernels,omitempty"`
}

// FeatureTable is what train/latency_mlp.py reads instead of restating
// the planner's fusion rules and the features' closed form: the blocks
// [Decompose] finds in the family's network at each of
// [FeatureTableSizes], as [TableBlock]s (with the terms of the searched
// kernels' blocks at each choice, from the network built with that
// kernel: [kernelTerms]), plus checks computed here that
// the Python side must reproduce (train/test_latency.py): features and
// predictions of m for some members of the family and some odd blocks.
type FeatureTable struct {
	Format   string                  `json:"format"`
	Features []string                `json:"features"`
	Widths   []string                `json:"widths"`
	Networks map[string][]TableBlock `json:"networks"` // by size
	// Predictor is the hash of the table m was fitted on.
	Predictor string       `json:"predictor"`
	Archs     []ArchCheck  `json:"arch_checks"`
	Blocks    []BlockCheck `json:"block_checks"`
}

// ArchCheck is a family member's blocks' features and its predicted
// latency in ms at one size.
type ArchCheck struct {
	Arch     Arch        `json:"arch"`
	Size     int         `json:"size"`
	Features [][]float64 `json:"features"`
	MS       float64     `json:"ms"`
}

// BlockCheck is one block's terms, features and predicted latency in ms.
type BlockCheck struct {
	Block    Block     `json:"block"`
	Terms    Terms     `json:"terms"`
	Features []float64 `json:"features"`
	MS       float64   `json:"ms"`
}

// NewFeatureTable builds the table, with checks predicted by m.
func NewFeatureTable(m *MLP) (*FeatureTable, error) {
	t := &FeatureTable{Format: FeatureTableFormat, Features: FeatureNames, Widths: familyWidths,
		Networks: map[string][]TableBlock{}, Predictor: m.Table}
	a, names := widthArch()
	for _, size := range FeatureTableSizes {
		blocks, err := decomposeArch(a, size)
		if err != nil {
			return nil, fmt.Errorf("feature table: %w", err)
		}
		var out []TableBlock
		for _, b := range blocks {
			tb, err := tableBlock(b, names)
			if err != nil {
				return nil, fmt.Errorf("feature table at %d: %w", size, err)
			}
			out = append(out, tb)
		}
		if err := kernelTerms(out, blocks, a, size); err != nil {
			return nil, fmt.Errorf("feature table: %w", err)
		}
		t.Networks[fmt.Sprint(size)] = out
	}
	for _, c := range []struct {
		a    Arch
		size int
	}{
		{Teacher, 256},
		{Arch{C0: 16, C1: 8, C2: 16, C3: 28, R: 16, Mids: []int{16, 16, 16, 16}, C6: 20, C8: 20}, 384},
		{Arch{C0: 5, C1: 9, C2: 30, C3: 2, R: 13, Mids: []int{7, 1}, C6: 3, C8: 11}, 128},
		{Arch{C0: 12, C1: 8, C2: 20, C3: 16, R: 24, Mids: []int{16, 8, 12}, C6: 20, C8: 8, K0: 5, K8: 1, K9: 3}, 256},
		{Arch{C0: 24, C1: 16, C2: 16, C3: 32, R: 16, Mids: []int{4}, C6: 8, C8: 28, K0: 3, K8: 5, K9: 5}, 128},
	} {
		blocks, err := decomposeArch(c.a, c.size)
		if err != nil {
			return nil, fmt.Errorf("feature table: %w", err)
		}
		ac := ArchCheck{Arch: c.a, Size: c.size}
		for _, b := range blocks {
			ac.Features = append(ac.Features, Features(b))
			ac.MS += m.Predict(b)
		}
		t.Archs = append(t.Archs, ac)
	}
	for _, b := range append(ReducedCatalog(),
		Block{Kind: KindConv, K: 5, Stride: 2, Cin: 3, Cout: 40, H: 37, W: 51, Act: "tanh", Residual: true},
		Block{Kind: KindResBlock, K: 3, Stride: 1, Cin: 100, Cout: 100, Mid: 7, H: 48, W: 16},
		Block{Kind: KindConv, K: 1, Stride: 1, Cin: 1024, Cout: 1, H: 4096, W: 1},
		Block{Kind: KindGuidedFilter, K: 129, Cin: 1, Cout: 1, H: 3, W: 5},
	) {
		t.Blocks = append(t.Blocks, BlockCheck{Block: b, Terms: FeatureTerms(b), Features: Features(b), MS: m.Predict(b)})
	}
	return t, nil
}

// decomposeArch is the blocks of a's network at size x size.
func decomposeArch(a Arch, size int) ([]Block, error) {
	g, err := a.Graph()
	if err != nil {
		return nil, err
	}
	blocks, err := Decompose(g, size, size)
	if err != nil {
		return nil, fmt.Errorf("%s at %d: %w", a, size, err)
	}
	return blocks, nil
}

// kernelTerms fills in the Kernel and Kernels of table blocks out, those
// of a's network at size (blocks), from a's network decomposed at each
// choice of each searched kernel: a choice must change exactly one
// block, and only in its kernel side, for the table to mix its terms.
func kernelTerms(out []TableBlock, blocks []Block, a Arch, size int) error {
	for _, kc := range KernelConvs {
		at := -1
		terms := map[string]Terms{}
		for _, k := range kc.Choices {
			bk, err := decomposeArch(a.WithKernel(kc.Name, k), size)
			if err != nil {
				return err
			}
			if len(bk) != len(blocks) {
				return fmt.Errorf("%s %d at %d: %d blocks, %d at the teacher's kernel", kc.Name, k, size, len(bk), len(blocks))
			}
			changed := false
			for i := range bk {
				want := blocks[i]
				if bk[i] == want {
					continue
				}
				want.K = k
				if bk[i] != want || (at >= 0 && at != i) {
					return fmt.Errorf("%s %d at %d: block %s changes to %s, not just its kernel of one conv", kc.Name, k, size, blocks[i].Key(), bk[i].Key())
				}
				at, changed = i, true
			}
			if changed {
				terms[fmt.Sprint(k)] = FeatureTerms(bk[at])
			}
		}
		if at < 0 || len(terms) != len(kc.Choices)-1 {
			return fmt.Errorf("%s at %d: no block has the searched kernel", kc.Name, size)
		}
		terms[fmt.Sprint(kc.Teacher)] = out[at].Terms
		out[at].Kernel, out[at].Kernels = kc.Name, terms
	}
	return nil
}

// tableBlock describes b of the sentinel-width network (widthArch).
func tableBlock(b Block, names map[int]string) (TableBlock, error) {
	tb := TableBlock{Key: b.Key(), Kind: b.Kind, K: b.K, Stride: b.Stride, H: b.H, W: b.W, Act: b.Act,
		Residual: b.Residual, Widths: map[string]string{}, Depth: -1, Terms: FeatureTerms(b)}
	roles := map[string]int{RoleCin: b.Cin, RoleCout: b.Cout}
	if b.Mid > 0 {
		roles[RoleMid] = b.Mid
	}
	for role, c := range roles {
		name, ok := names[c]
		switch {
		case ok:
			tb.Widths[role] = name
		case c == 3:
			if tb.Fixed == nil {
				tb.Fixed = map[string]int{}
			}
			tb.Fixed[role] = c
		default:
			return TableBlock{}, fmt.Errorf("block %s: %s %d is no width of the family", b.Key(), role, c)
		}
	}
	if b.Kind == KindResBlock {
		tb.Depth = slices.Index(familyWidths, tb.Widths[RoleMid]) - slices.Index(familyWidths, "mid0")
	}
	return tb, nil
}

// Encode returns the table as indented JSON with a final newline.
func (t *FeatureTable) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the keys hold "->"
	enc.SetIndent("", " ")
	if err := enc.Encode(t); err != nil {
		return nil, fmt.Errorf("feature table: %w", err)
	}
	return buf.Bytes(), nil
}
