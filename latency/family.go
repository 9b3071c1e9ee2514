package latency

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// Arch is one member of the searchable family (see [CatalogSpec]): the
// widths of its convs, the mid width of each residual block it keeps and
// the kernel sides of its full-resolution convs (see [KernelConvs]).
// The skip adds force conv5's output to C2 channels and conv7's to C0.
type Arch struct {
	C0   int   `json:"c0"`
	C1   int   `json:"c1"`
	C2   int   `json:"c2"`
	C3   int   `json:"c3"`
	R    int   `json:"r"`
	Mids []int `json:"mids"` // one per residual block kept, at most 4
	C6   int   `json:"c6"`
	C8   int   `json:"c8"`
	// Kernel sides of conv0, conv8 and conv9; 0 is the teacher's, so
	// that an Arch written before kernels were searched is unchanged.
	K0 int `json:"k0,omitempty"`
	K8 int `json:"k8,omitempty"`
	K9 int `json:"k9,omitempty"`
}

// KernelConv is a conv of the family whose kernel side the search
// chooses.
type KernelConv struct {
	Name    string // the Arch field's JSON name, e.g. "k0"
	Conv    string // its node in [Arch.Graph]
	Teacher int    // the side an Arch field of 0 means
	Choices []int  // ascending
}

// KernelConvs are the convs with searched kernels: the full-resolution
// ones, where most of a small student's MACs are.
var KernelConvs = []KernelConv{
	{Name: "k0", Conv: "conv0", Teacher: 7, Choices: []int{3, 5, 7}},
	{Name: "k8", Conv: "conv8", Teacher: 3, Choices: []int{1, 3, 5}},
	{Name: "k9", Conv: "conv9", Teacher: 7, Choices: []int{3, 5, 7}},
}

// kernelField is the field of a holding the kernel side named name
// (a [KernelConv.Name]), or nil.
func (a *Arch) kernelField(name string) *int {
	switch name {
	case "k0":
		return &a.K0
	case "k8":
		return &a.K8
	case "k9":
		return &a.K9
	}
	return nil
}

// Kernel is the side of the kernel named name (a [KernelConv.Name]),
// the teacher's where a leaves it 0; 0 for an unknown name.
func (a Arch) Kernel(name string) int {
	for _, kc := range KernelConvs {
		if kc.Name == name {
			if k := *a.kernelField(name); k != 0 {
				return k
			}
			return kc.Teacher
		}
	}
	return 0
}

// WithKernel returns a copy of a with the kernel named name set to k.
func (a Arch) WithKernel(name string, k int) Arch {
	if f := a.kernelField(name); f != nil {
		*f = k
	}
	return a
}

// Teacher is the White-box generator's architecture.
var Teacher = Arch{C0: 32, C1: 32, C2: 64, C3: 64, R: 128, Mids: []int{128, 128, 128, 128}, C6: 64, C8: 32}

// MaxResBlocks is the most residual blocks an [Arch] may have.
const MaxResBlocks = 4

// Validate checks every width.
func (a Arch) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"c0", a.C0}, {"c1", a.C1}, {"c2", a.C2}, {"c3", a.C3}, {"r", a.R}, {"c6", a.C6}, {"c8", a.C8}} {
		if err := inRange(f.name, f.v, 1, MaxChannels); err != nil {
			return fmt.Errorf("arch: %w", err)
		}
	}
	if len(a.Mids) > MaxResBlocks {
		return fmt.Errorf("arch: %d residual blocks, at most %d", len(a.Mids), MaxResBlocks)
	}
	for i, m := range a.Mids {
		if err := inRange(fmt.Sprintf("mids[%d]", i), m, 1, MaxChannels); err != nil {
			return fmt.Errorf("arch: %w", err)
		}
	}
	for _, kc := range KernelConvs {
		if k := *a.kernelField(kc.Name); k != 0 && !slices.Contains(kc.Choices, k) {
			return fmt.Errorf("arch: %s %d: want one of %v (0: the teacher's %d)", kc.Name, k, kc.Choices, kc.Teacher)
		}
	}
	return nil
}

// String is a short name: "c0.c1.c2.c3.r/m1,m2.c6.c8", followed by
// "/k<k0>.<k8>.<k9>" when a kernel is not the teacher's.
func (a Arch) String() string {
	mids := make([]string, len(a.Mids))
	for i, m := range a.Mids {
		mids[i] = fmt.Sprint(m)
	}
	s := fmt.Sprintf("%d.%d.%d.%d.%d/%s.%d.%d", a.C0, a.C1, a.C2, a.C3, a.R, strings.Join(mids, ","), a.C6, a.C8)
	for _, kc := range KernelConvs {
		if a.Kernel(kc.Name) != kc.Teacher {
			return s + fmt.Sprintf("/k%d.%d.%d", a.Kernel("k0"), a.Kernel("k8"), a.Kernel("k9"))
		}
	}
	return s
}

// Graph builds a's network with zero weights (see [RandomizeWeights]),
// naming nodes like the imported White-box graph: input "x" with 3
// channels, nominal size 256, sizes a multiple of 4.
func (a Arch) Graph() (*model.Graph, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	b := newBuilder(a.String(), "x", 3, 256, 4)
	const lr = leaky
	e0 := b.conv("conv0", "x", a.Kernel("k0"), 1, 3, a.C0, lr)
	e1 := b.conv("conv1", e0, 3, 2, a.C0, a.C1, lr)
	e2 := b.conv("conv2", e1, 3, 1, a.C1, a.C2, lr)
	e3 := b.conv("conv3", e2, 3, 2, a.C2, a.C3, lr)
	x := b.conv("conv4", e3, 3, 1, a.C3, a.R, lr)
	for i, m := range a.Mids {
		p := fmt.Sprintf("block_%d/", i)
		y := b.conv(p+"conv1", x, 3, 1, a.R, m, lr)
		y = b.conv(p+"conv2", y, 3, 1, m, a.R, "")
		x = b.op(p+"add", model.OpAdd, y, x)
	}
	x = b.conv("conv5", x, 3, 1, a.R, a.C2, lr)
	x = b.op("add_up", model.OpAdd, b.resize("resize", x), e2)
	x = b.conv("conv6", x, 3, 1, a.C2, a.C6, lr)
	x = b.conv("conv7", x, 3, 1, a.C6, a.C0, lr)
	x = b.op("add_up_1", model.OpAdd, b.resize("resize_1", x), e0)
	x = b.conv("conv8", x, a.Kernel("k8"), 1, a.C0, a.C8, lr)
	y := b.conv("conv9", x, a.Kernel("k9"), 1, a.C8, 3, "")
	b.guidedFilter("", "x", y, 1)
	return b.g, nil
}

// builder assembles a model.Graph with zero weights of the right shapes.
type builder struct {
	g *model.Graph
}

func newBuilder(name, input string, channels, nominal, multiple int) *builder {
	return &builder{g: &model.Graph{
		Version: 1, Name: name, Input: input, InputChannels: channels,
		NominalSize: nominal, SizeMultiple: multiple,
		Tensors: map[string]*model.Tensor{},
	}}
}

func (b *builder) node(n model.Node) string {
	b.g.Nodes = append(b.g.Nodes, n)
	b.g.Output = n.Name
	return n.Name
}

func (b *builder) conv(name, x string, k, stride, cin, cout int, act string) string {
	b.g.Tensors[name+"/w"] = model.NewTensor(cout, k, k, cin)
	b.g.Tensors[name+"/b"] = model.NewTensor(cout)
	n := model.Node{Name: name, Op: model.OpConv2D, Inputs: []string{x, name + "/w", name + "/b"},
		Stride: [2]int{stride, stride}, Padding: model.PadSame, Act: act}
	if act == leaky {
		n.Alpha = 0.2
	}
	return b.node(n)
}

func (b *builder) op(name, op string, ins ...string) string {
	return b.node(model.Node{Name: name, Op: op, Inputs: ins})
}

func (b *builder) resize(name, x string) string {
	return b.node(model.Node{Name: name, Op: model.OpResize, Inputs: []string{x}, Mode: "bilinear", Scale: [2]int{2, 2}})
}

func (b *builder) box(name, x string, radius int) string {
	return b.node(model.Node{Name: name, Op: model.OpBoxMean, Inputs: []string{x}, Radius: radius})
}

// guidedFilter appends the White-box guided filter of y guided by x, its
// node names prefixed with p.
func (b *builder) guidedFilter(p, x, y string, radius int) string {
	eps := p + "eps"
	b.g.Tensors[eps] = &model.Tensor{Shape: []int{1}, Data: []float32{5e-3}, DType: "F32"}
	xy := b.op(p+"mul", model.OpMul, x, y)
	xx := b.op(p+"mul_2", model.OpMul, x, x)
	mx := b.box(p+"truediv", x, radius)
	mx2 := b.op(p+"mul_3", model.OpMul, mx, mx)
	my := b.box(p+"truediv_1", y, radius)
	mxmy := b.op(p+"mul_1", model.OpMul, mx, my)
	mxy := b.box(p+"truediv_2", xy, radius)
	cov := b.op(p+"sub", model.OpSub, mxy, mxmy)
	mxx := b.box(p+"truediv_3", xx, radius)
	vx := b.op(p+"sub_1", model.OpSub, mxx, mx2)
	vxe := b.op(p+"add", model.OpAdd, vx, eps)
	a := b.op(p+"truediv_4", model.OpDiv, cov, vxe)
	amx := b.op(p+"mul_4", model.OpMul, a, mx)
	bb := b.op(p+"sub_2", model.OpSub, my, amx)
	ma := b.box(p+"truediv_5", a, radius)
	max := b.op(p+"mul_5", model.OpMul, ma, x)
	mb := b.box(p+"truediv_6", bb, radius)
	return b.op(p+"final_output", model.OpAdd, max, mb)
}

// RandomizeWeights fills the weights ("*/w") and biases ("*/b") of g's
// convs with uniform random values, deterministically for a seed: weights
// in ±sqrt(3/fan_in), so that activations keep their scale through the
// network, biases in ±0.05. Other tensors are left alone.
func RandomizeWeights(g *model.Graph, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x77656967687473)) // "weights"
	for _, n := range g.Nodes {
		if n.Op != model.OpConv2D || len(n.Inputs) < 2 {
			continue
		}
		if w := g.Tensors[n.Inputs[1]]; w != nil && len(w.Shape) == 4 {
			fan := max(w.Shape[1]*w.Shape[2]*w.Shape[3], 1)
			limit := math.Sqrt(3 / float64(fan))
			for i := range w.Data {
				w.Data[i] = float32((2*rng.Float64() - 1) * limit)
			}
		}
		if len(n.Inputs) > 2 {
			if bias := g.Tensors[n.Inputs[2]]; bias != nil {
				for i := range bias.Data {
					bias.Data[i] = float32((2*rng.Float64() - 1) * 0.05)
				}
			}
		}
	}
}
