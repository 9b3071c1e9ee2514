package latency

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/model"
)

// blockPasses plans g at h x w as the profiler does (raw input, output
// kept in a texture) and returns the passes of the block's nodes, checking
// that they come after every prologue pass and mix no prologue node.
func blockPasses(t *testing.T, g *model.Graph, h, w int) (*kernels.Plan, []kernels.Pass) {
	t.Helper()
	p, err := kernels.Build(g, kernels.Options{H: h, W: w, Input: kernels.InputRaw})
	if err != nil {
		t.Fatalf("%s: %v", g.Name, err)
	}
	var out []kernels.Pass
	for i, pass := range p.Passes {
		in := InBlock(pass.Nodes[0])
		for _, n := range pass.Nodes {
			if InBlock(n) != in {
				t.Errorf("%s: pass %d mixes block and prologue nodes: %v", g.Name, i, pass.Nodes)
			}
		}
		if in {
			out = append(out, pass)
		} else if len(out) > 0 {
			t.Errorf("%s: prologue pass %d (%s) after a block pass", g.Name, i, pass.String())
		}
	}
	return p, out
}

// TestBlockGraphDecomposes checks every catalogue block: its graph
// decomposes into the block itself plus 1x1 prologue convs.
func TestBlockGraphDecomposes(t *testing.T) {
	blocks := append(FullCatalog(), ReducedCatalog()...)
	blocks = append(blocks,
		Block{Kind: KindConv, K: 5, Stride: 2, Cin: 5, Cout: 7, H: 9, W: 13, Act: "relu", Residual: true},
		Block{Kind: KindGuidedFilter, K: 9, Cin: 6, Cout: 6, H: 10, W: 20},
	)
	for _, b := range blocks {
		g, err := BlockGraph(b)
		if err != nil {
			t.Fatal(err)
		}
		h, w := b.GraphInput()
		got, err := Decompose(g, h, w)
		if err != nil {
			t.Fatalf("%s: %v", b.Key(), err)
		}
		found := 0
		for _, d := range got {
			switch {
			case d == b:
				found++
			case d.Kind == KindConv && d.K == 1 && d.Act == "":
			default:
				t.Errorf("%s: decomposes into %s too", b.Key(), d.Key())
			}
		}
		if found != 1 {
			t.Errorf("%s: found %d times in its graph's decomposition %v", b.Key(), found, got)
		}
	}
	if _, err := BlockGraph(Block{Kind: "conv", K: 2}); err == nil {
		t.Error("invalid block: no error")
	}
}

// TestBlockGraphPassesMatchNetwork is the profiler's premise: the passes
// a block graph times are the passes that block runs inside a real
// network (same programs but for their weights and inputs' column splits
// (structure), sizes, draws and MACs), for every block of the teacher and
// of two small students.
func TestBlockGraphPassesMatchNetwork(t *testing.T) {
	small := Arch{C0: 8, C1: 16, C2: 24, C3: 32, R: 48, Mids: []int{16, 96}, C6: 64, C8: 4}
	// Kernel choices whose passes are their own (a 1x1 conv8 recomputes
	// the upsample_add in its fetch: TestDecomposeInlinedUpsampleAdd).
	withKernels := Arch{C0: 12, C1: 8, C2: 16, C3: 8, R: 16, Mids: []int{8}, C6: 8, C8: 20, K0: 5, K8: 5, K9: 3}
	for _, a := range []Arch{Teacher, small, withKernels} {
		for _, half := range []bool{false, true} {
			g, err := a.Graph()
			if err != nil {
				t.Fatal(err)
			}
			const size = 128
			net, err := kernels.Build(g, kernels.Options{H: size, W: size, Input: kernels.InputRaw, Half: half})
			if err != nil {
				t.Fatal(err)
			}
			blocks, err := Decompose(g, size, size)
			if err != nil {
				t.Fatal(err)
			}
			next := 0
			for _, b := range blocks {
				bg, err := BlockGraph(b)
				if err != nil {
					t.Fatal(err)
				}
				h, w := b.GraphInput()
				bp, err := kernels.Build(bg, kernels.Options{H: h, W: w, Input: kernels.InputRaw, Half: half})
				if err != nil {
					t.Fatal(err)
				}
				_, passes := blockPasses(t, bg, h, w)
				if len(passes) == 0 {
					t.Fatalf("%s: no block passes", b.Key())
				}
				for i, p := range passes {
					if next >= len(net.Passes) {
						t.Fatalf("%v: network has fewer passes than its blocks", a)
					}
					q := net.Passes[next]
					next++
					what := fmt.Sprintf("%v half=%v: %s pass %d (network pass %s)", a, half, b.Key(), i, q.String())
					if structure(bp.Programs[p.Program].Source) != structure(net.Programs[q.Program].Source) {
						t.Errorf("%s: programs differ", what)
					}
					if p.W != q.W || p.H != q.H || len(p.Bases) != len(q.Bases) || p.MACs != q.MACs || len(p.Inputs) != len(q.Inputs) {
						t.Errorf("%s: viewport %dx%d, %d draws, %d MACs, %d inputs; network %dx%d, %d, %d, %d",
							what, p.W, p.H, len(p.Bases), p.MACs, len(p.Inputs), q.W, q.H, len(q.Bases), q.MACs, len(q.Inputs))
					}
				}
			}
			if next != len(net.Passes) {
				t.Errorf("%v: blocks run %d passes, the network %d", a, next, len(net.Passes))
			}
		}
	}
}

// bakedWeights matches the literals of a baked conv's weights and bias
// (kernels/conv_baked.go) in a program's source, and splitFetch the
// address of a texel of a stored value, which depends on the column split
// of the pass that stored it (kernels' package comment).
var (
	bakedWeights = regexp.MustCompile(`(const \w+ m = \w+\(|const vec4 biases\[\d+\] = vec4\[\]\()[^;]*;`)
	splitFetch   = regexp.MustCompile(`texelFetch\((t\d+), ivec3\((p, l|p\.x >> \d+, p\.y, l \* \d+ \+ \(p\.x & \d+\))\), 0\)`)
)

// structure is a program's source without its baked weights and its
// inputs' column splits: a block is profiled with random weights of its
// own, which cost what the network's do, on inputs stored by its
// prologue, whose split differs from the network's where the network's
// producer is a baked conv (a fetch's shift and mask).
func structure(src string) string {
	src = bakedWeights.ReplaceAllString(src, "${1}w);")
	return splitFetch.ReplaceAllString(src, "texelFetch($1, split)")
}

func TestArchValidate(t *testing.T) {
	for _, a := range []Arch{
		{C0: 0, C1: 1, C2: 1, C3: 1, R: 1, C6: 1, C8: 1},
		{C0: 1, C1: 1, C2: 1, C3: 1, R: 1, C6: 1, C8: MaxChannels + 1},
		{C0: 1, C1: 1, C2: 1, C3: 1, R: 1, C6: 1, C8: 1, Mids: []int{1, 1, 1, 1, 1}},
		{C0: 1, C1: 1, C2: 1, C3: 1, R: 1, C6: 1, C8: 1, Mids: []int{-1}},
		{C0: 1, C1: 1, C2: 1, C3: 1, R: 1, C6: 1, C8: 1, K0: 1},
		{C0: 1, C1: 1, C2: 1, C3: 1, R: 1, C6: 1, C8: 1, K8: 7},
		{C0: 1, C1: 1, C2: 1, C3: 1, R: 1, C6: 1, C8: 1, K9: 4},
		{C0: 1, C1: 1, C2: 1, C3: 1, R: 1, C6: 1, C8: 1, K9: -3},
	} {
		if _, err := a.Graph(); err == nil {
			t.Errorf("%v: no error", a)
		}
	}
	for _, c := range []struct {
		a    Arch
		want string
	}{
		{Teacher, "32.32.64.64.128/128,128,128,128.64.32"},
		{Teacher.WithKernel("k0", 7).WithKernel("k8", 3).WithKernel("k9", 7), "32.32.64.64.128/128,128,128,128.64.32"},
		{Arch{C0: 8, C1: 8, C2: 8, C3: 8, R: 8, C6: 8, C8: 4, K8: 1}, "8.8.8.8.8/.8.4/k7.1.7"},
		{Arch{C0: 8, C1: 8, C2: 8, C3: 8, R: 8, Mids: []int{4}, C6: 8, C8: 4, K0: 5, K9: 3}, "8.8.8.8.8/4.8.4/k5.3.3"},
	} {
		if got := c.a.String(); got != c.want {
			t.Errorf("%+v: String %q, want %q", c.a, got, c.want)
		}
	}
	// Each kernel side is the one in the graph; 0 is the teacher's.
	a := Arch{C0: 8, C1: 8, C2: 8, C3: 8, R: 8, C6: 8, C8: 4, K0: 3, K8: 5}
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	for conv, k := range map[string]int{"conv0": 3, "conv1": 3, "conv8": 5, "conv9": 7} {
		if s := g.Tensors[conv+"/w"].Shape; s[1] != k || s[2] != k {
			t.Errorf("%s: weights %v, want a %dx%d kernel", conv, s, k, k)
		}
	}
}
