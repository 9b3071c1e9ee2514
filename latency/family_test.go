package latency

import (
	"fmt"

	"github.com/edgetoon/edgetoon/model"
)

// arch is one member of the searchable family (see CatalogSpec): the skip
// adds force c5 = C2 and c7 = C0.
type arch struct {
	C0, C1, C2, C3, R int
	Mids              []int // one per residual block
	C6, C8            int
}

var teacher = arch{C0: 32, C1: 32, C2: 64, C3: 64, R: 128, Mids: []int{128, 128, 128, 128}, C6: 64, C8: 32}

// graphBuilder assembles a model.Graph with zero weights of the right
// shapes, naming nodes like the imported White-box graph.
type graphBuilder struct {
	g *model.Graph
}

func newGraph(name string) *graphBuilder {
	return &graphBuilder{g: &model.Graph{
		Version: 1, Name: name, Input: "x", InputChannels: 3, NominalSize: 256, SizeMultiple: 4,
		Tensors: map[string]*model.Tensor{},
	}}
}

func (b *graphBuilder) node(n model.Node) string {
	b.g.Nodes = append(b.g.Nodes, n)
	b.g.Output = n.Name
	return n.Name
}

func (b *graphBuilder) conv(name, x string, k, stride, cin, cout int, act string) string {
	b.g.Tensors[name+"/w"] = model.NewTensor(cout, k, k, cin)
	b.g.Tensors[name+"/b"] = model.NewTensor(cout)
	return b.node(model.Node{Name: name, Op: model.OpConv2D, Inputs: []string{x, name + "/w", name + "/b"},
		Stride: [2]int{stride, stride}, Padding: model.PadSame, Act: act, Alpha: 0.2})
}

func (b *graphBuilder) op(name, op string, ins ...string) string {
	return b.node(model.Node{Name: name, Op: op, Inputs: ins})
}

func (b *graphBuilder) resize(name, x string) string {
	return b.node(model.Node{Name: name, Op: model.OpResize, Inputs: []string{x}, Mode: "bilinear", Scale: [2]int{2, 2}})
}

func (b *graphBuilder) box(name, x string) string {
	return b.node(model.Node{Name: name, Op: model.OpBoxMean, Inputs: []string{x}, Radius: 1})
}

// guidedFilter appends the White-box guided filter of y guided by x.
func (b *graphBuilder) guidedFilter(x, y string) string {
	b.g.Tensors["eps"] = model.NewTensor(1)
	xy := b.op("mul", model.OpMul, x, y)
	xx := b.op("mul_2", model.OpMul, x, x)
	mx := b.box("truediv", x)
	mx2 := b.op("mul_3", model.OpMul, mx, mx)
	my := b.box("truediv_1", y)
	mxmy := b.op("mul_1", model.OpMul, mx, my)
	mxy := b.box("truediv_2", xy)
	cov := b.op("sub", model.OpSub, mxy, mxmy)
	mxx := b.box("truediv_3", xx)
	vx := b.op("sub_1", model.OpSub, mxx, mx2)
	vxe := b.op("add", model.OpAdd, vx, "eps")
	a := b.op("truediv_4", model.OpDiv, cov, vxe)
	amx := b.op("mul_4", model.OpMul, a, mx)
	bb := b.op("sub_2", model.OpSub, my, amx)
	ma := b.box("truediv_5", a)
	max := b.op("mul_5", model.OpMul, ma, x)
	mb := b.box("truediv_6", bb)
	return b.op("final_output", model.OpAdd, max, mb)
}

// graph builds a's network.
func (a arch) graph() *model.Graph {
	b := newGraph(fmt.Sprint(a))
	const lr = "leaky_relu"
	e0 := b.conv("conv0", "x", 7, 1, 3, a.C0, lr)
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
	x = b.conv("conv8", x, 3, 1, a.C0, a.C8, lr)
	y := b.conv("conv9", x, 7, 1, a.C8, 3, "")
	b.guidedFilter("x", y)
	return b.g
}
