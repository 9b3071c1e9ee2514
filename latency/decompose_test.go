package latency

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/model"
)

// teacherBlocks is the White-box generator at 256x256, written out by hand
// from `edgetoon inspect` of the imported model.
var teacherBlocks = []Block{
	{Kind: KindConv, K: 7, Stride: 1, Cin: 3, Cout: 32, H: 256, W: 256, Act: leaky},
	{Kind: KindConv, K: 3, Stride: 2, Cin: 32, Cout: 32, H: 256, W: 256, Act: leaky},
	{Kind: KindConv, K: 3, Stride: 1, Cin: 32, Cout: 64, H: 128, W: 128, Act: leaky},
	{Kind: KindConv, K: 3, Stride: 2, Cin: 64, Cout: 64, H: 128, W: 128, Act: leaky},
	{Kind: KindConv, K: 3, Stride: 1, Cin: 64, Cout: 128, H: 64, W: 64, Act: leaky},
	{Kind: KindResBlock, K: 3, Stride: 1, Cin: 128, Cout: 128, Mid: 128, H: 64, W: 64, Act: leaky},
	{Kind: KindResBlock, K: 3, Stride: 1, Cin: 128, Cout: 128, Mid: 128, H: 64, W: 64, Act: leaky},
	{Kind: KindResBlock, K: 3, Stride: 1, Cin: 128, Cout: 128, Mid: 128, H: 64, W: 64, Act: leaky},
	{Kind: KindResBlock, K: 3, Stride: 1, Cin: 128, Cout: 128, Mid: 128, H: 64, W: 64, Act: leaky},
	{Kind: KindConv, K: 3, Stride: 1, Cin: 128, Cout: 64, H: 64, W: 64, Act: leaky},
	{Kind: KindUpsampleAdd, Cin: 64, Cout: 64, H: 64, W: 64},
	{Kind: KindConv, K: 3, Stride: 1, Cin: 64, Cout: 64, H: 128, W: 128, Act: leaky},
	{Kind: KindConv, K: 3, Stride: 1, Cin: 64, Cout: 32, H: 128, W: 128, Act: leaky},
	{Kind: KindUpsampleAdd, Cin: 32, Cout: 32, H: 128, W: 128},
	{Kind: KindConv, K: 3, Stride: 1, Cin: 32, Cout: 32, H: 256, W: 256, Act: leaky},
	{Kind: KindConv, K: 7, Stride: 1, Cin: 32, Cout: 3, H: 256, W: 256},
	{Kind: KindGuidedFilter, K: 3, Cin: 3, Cout: 3, H: 256, W: 256},
}

// teacherMACs is what `edgetoon inspect` prints for the teacher at 256x256.
const teacherMACs = 8166309888

func checkBlocks(t *testing.T, got, want []Block) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d blocks, want %d:\n%s", len(got), len(want), keys(got))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("block %d: %s, want %s", i, got[i].Key(), want[i].Key())
		}
	}
}

func keys(bs []Block) string {
	var s []string
	for _, b := range bs {
		s = append(s, b.Key())
	}
	return strings.Join(s, "\n")
}

func sumMACs(bs []Block) int64 {
	var n int64
	for _, b := range bs {
		n += b.MACs()
	}
	return n
}

func TestDecomposeTeacherShapedGraph(t *testing.T) {
	g := teacher.graph()
	got, err := Decompose(g, 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, got, teacherBlocks)
	if n := sumMACs(got); n != teacherMACs {
		t.Errorf("blocks' MACs %d, want %d", n, teacherMACs)
	}
}

// The imported White-box model, where `make model` has made it.
func TestDecomposeImportedTeacher(t *testing.T) {
	path := filepath.Join("..", "web", "dist", "models", "whitebox.safetensors")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing in CI (make model): %v", path, err)
		}
		t.Skipf("%s missing: run make model", path)
	}
	g, err := model.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decompose(g, 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, got, teacherBlocks)
}

// The blocks' MACs add up to the graph's, counted by package model, for
// members of the family at several sizes and depths.
func TestDecomposeMACsMatchModel(t *testing.T) {
	archs := []arch{
		teacher,
		{C0: 8, C1: 12, C2: 16, C3: 20, R: 24, Mids: nil, C6: 28, C8: 4},
		{C0: 4, C1: 8, C2: 8, C3: 16, R: 16, Mids: []int{4, 32}, C6: 8, C8: 12},
	}
	for _, a := range archs {
		for _, size := range [][2]int{{64, 64}, {128, 96}, {36, 44}} {
			g := a.graph()
			bs, err := Decompose(g, size[0], size[1])
			if err != nil {
				t.Fatalf("%v at %v: %v", a, size, err)
			}
			want, err := g.MACs(size[0], size[1])
			if err != nil {
				t.Fatal(err)
			}
			if got := sumMACs(bs); got != want {
				t.Errorf("%v at %v: blocks' MACs %d, model's %d", a, size, got, want)
			}
			if n := 12 + len(a.Mids); len(bs) != n+1 {
				t.Errorf("%v: %d blocks, want %d", a, len(bs), n+1)
			}
		}
	}
}

func TestDecomposeFusions(t *testing.T) {
	build := func(stray bool) *model.Graph {
		b := newGraph("fusions")
		c1 := b.conv("c1", "x", 3, 1, 3, 8, "relu")
		c2 := b.conv("c2", c1, 3, 1, 8, 8, "")
		r := b.op("res", model.OpAdd, c1, c2) // fused into c2: c1 is computed first
		low := b.conv("c3", r, 3, 2, 8, 8, "relu")
		up := b.op("up", model.OpAdd, r, b.resize("rs", low))
		c4 := b.conv("c4", up, 3, 1, 8, 4, "")
		c5 := b.conv("c5", up, 1, 1, 8, 4, "tanh")
		if stray {
			b.op("out", model.OpSub, c4, c5)
		} else {
			// The planner folds the add into the pass of its first
			// input, c4, which then runs after c5. (The restated rules
			// this package had before it read the plan fused it into c5,
			// the later conv; the plan is what runs.)
			b.op("out", model.OpAdd, c4, c5)
		}
		return b.g
	}
	if _, err := Decompose(build(true), 16, 16); err == nil || !strings.Contains(err.Error(), `"out"`) {
		t.Fatalf("stray sub: error %v, want one naming node out", err)
	}
	got, err := Decompose(build(false), 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{Kind: KindConv, K: 3, Stride: 1, Cin: 3, Cout: 8, H: 16, W: 16, Act: "relu"},
		{Kind: KindConv, K: 3, Stride: 1, Cin: 8, Cout: 8, H: 16, W: 16, Residual: true},
		{Kind: KindConv, K: 3, Stride: 2, Cin: 8, Cout: 8, H: 16, W: 16, Act: "relu"},
		{Kind: KindUpsampleAdd, Cin: 8, Cout: 8, H: 8, W: 8},
		{Kind: KindConv, K: 1, Stride: 1, Cin: 8, Cout: 4, H: 16, W: 16, Act: "tanh"},
		{Kind: KindConv, K: 3, Stride: 1, Cin: 8, Cout: 4, H: 16, W: 16, Residual: true},
	}
	checkBlocks(t, got, want)
}

func TestDecomposeRejects(t *testing.T) {
	cases := []struct {
		name, node string
		edit       func(g *model.Graph)
	}{
		{"grouped conv", "conv2", func(g *model.Graph) {
			n := g.Node("conv2")
			n.Groups = 4
			g.Tensors["conv2/w"] = model.NewTensor(64, 3, 3, 32/4)
		}},
		{"dilated conv", "conv3", func(g *model.Graph) { g.Node("conv3").Dilation = [2]int{2, 2} }},
		{"explicit padding", "conv1", func(g *model.Graph) {
			g.Node("conv1").Padding, g.Node("conv1").Pads = model.PadExplicit, [4]int{0, 0, 1, 1} // SAME's pads at 256
		}},
		{"unequal strides", "strided", func(g *model.Graph) {
			b := &graphBuilder{g: g}
			b.conv("strided", "final_output", 3, 1, 3, 3, "")
			g.Node("strided").Stride = [2]int{2, 1}
		}},
		{"non-square kernel", "conv9", func(g *model.Graph) { g.Tensors["conv9/w"] = model.NewTensor(3, 7, 5, 32) }},
		{"nearest resize", "resize", func(g *model.Graph) { g.Node("resize").Mode = "nearest" }},
		{"standalone activation", "act", func(g *model.Graph) {
			g.Nodes = append(g.Nodes, model.Node{Name: "act", Op: model.OpTanh, Inputs: []string{"final_output"}})
			g.Output = "act"
		}},
		{"two box radii", "truediv_6", func(g *model.Graph) { g.Node("truediv_6").Radius = 2 }},
		{"filter without box means", "mul", func(g *model.Graph) {
			for i := range g.Nodes {
				if g.Nodes[i].Op == model.OpBoxMean {
					g.Nodes[i].Op = model.OpSub
					g.Nodes[i].Inputs = []string{g.Nodes[i].Inputs[0], "eps"}
				}
			}
		}},
	}
	for _, c := range cases {
		g := teacher.graph()
		c.edit(g)
		if _, err := g.Shapes(256, 256); err != nil {
			t.Fatalf("%s: the edited graph is malformed, not just unprofiled: %v", c.name, err)
		}
		_, err := Decompose(g, 256, 256)
		if err == nil || !strings.Contains(err.Error(), `"`+c.node+`"`) {
			t.Errorf("%s: error %v, want one naming node %q", c.name, err, c.node)
		}
	}
	if _, err := Decompose(nil, 256, 256); err == nil {
		t.Error("nil graph: no error")
	}
	if _, err := Decompose(teacher.graph(), 0, 256); err == nil {
		t.Error("size 0: no error")
	}
}

// What the planner folds into a conv's pass or computes in its fetch,
// beyond a residual add, makes the pass no profiled block: Decompose
// names the node rather than guess a block.
func TestDecomposeRejectsPlannerFusions(t *testing.T) {
	cases := []struct {
		name, node string
		build      func(b *graphBuilder)
	}{
		// A 1x1 conv reads its input once per pixel, so the planner
		// inlines an upsample into its fetch; without the skip add it is
		// no upsample_add block (TestDecomposeInlinedUpsampleAdd).
		{"bare upsample inlined into a 1x1 conv", "rs", func(b *graphBuilder) {
			skip := b.conv("c1", "x", 3, 1, 3, 8, "relu")
			low := b.conv("c2", skip, 3, 2, 8, 8, "relu")
			b.conv("c3", b.resize("rs", low), 1, 1, 8, 4, "")
		}},
		{"upsample and mul inlined into a 1x1 conv", "rs", func(b *graphBuilder) {
			skip := b.conv("c1", "x", 3, 1, 3, 8, "relu")
			low := b.conv("c2", skip, 3, 2, 8, 8, "relu")
			up := b.op("up", model.OpMul, b.resize("rs", low), skip)
			b.conv("c3", up, 1, 1, 8, 4, "")
		}},
		{"activation folded into a conv", "act", func(b *graphBuilder) {
			c := b.conv("c1", "x", 3, 1, 3, 8, "")
			b.op("act", model.OpTanh, c)
		}},
		{"sub folded into a conv", "diff", func(b *graphBuilder) {
			x := b.conv("c1", "x", 3, 1, 3, 8, "relu")
			c := b.conv("c2", x, 3, 1, 8, 8, "")
			b.op("diff", model.OpSub, c, x)
		}},
	}
	for _, c := range cases {
		b := newGraph(c.name)
		c.build(b)
		if _, err := b.g.Shapes(16, 16); err != nil {
			t.Fatalf("%s: malformed graph: %v", c.name, err)
		}
		_, err := Decompose(b.g, 16, 16)
		if err == nil || !strings.Contains(err.Error(), `"`+c.node+`"`) {
			t.Errorf("%s: error %v, want one naming node %q", c.name, err, c.node)
		}
	}
}

// A 1x1 conv reads its input once per pixel, so the planner inlines
// add(upsample(low), skip) into its fetch; Decompose names that one pass
// as the upsample_add block and the 1x1 conv, the blocks the catalogue
// profiles for it (docs/latency.md: the fused pass is not profiled).
func TestDecomposeInlinedUpsampleAdd(t *testing.T) {
	b := newGraph("inlined")
	skip := b.conv("c1", "x", 3, 1, 3, 8, "relu")
	low := b.conv("c2", skip, 3, 2, 8, 12, "relu")
	low = b.conv("c3", low, 3, 1, 12, 8, "relu")
	up := b.op("up", model.OpAdd, b.resize("rs", low), skip)
	b.conv("c4", up, 1, 1, 8, 4, "")
	passes, err := kernels.Passes(b.g, kernels.Options{H: 16, W: 16, InlineInput: true}) // as Decompose plans
	if err != nil {
		t.Fatal(err)
	}
	if len(passes) != 4 {
		t.Fatalf("the planner runs %d passes, want 4 (the upsample and add in c4's fetch): %v", len(passes), passes)
	}
	got, err := Decompose(b.g, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, got, []Block{
		{Kind: KindConv, K: 3, Stride: 1, Cin: 3, Cout: 8, H: 16, W: 16, Act: "relu"},
		{Kind: KindConv, K: 3, Stride: 2, Cin: 8, Cout: 12, H: 16, W: 16, Act: "relu"},
		{Kind: KindConv, K: 3, Stride: 1, Cin: 12, Cout: 8, H: 8, W: 8, Act: "relu"},
		{Kind: KindUpsampleAdd, Cin: 8, Cout: 8, H: 8, W: 8},
		{Kind: KindConv, K: 1, Stride: 1, Cin: 8, Cout: 4, H: 16, W: 16},
	})
}
