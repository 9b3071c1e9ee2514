// Package model defines edgetoon's network description: a graph of image
// operators with its weights, stored in one safetensors file, plus the
// shape inference and cost accounting that every engine and tool shares.
//
// Activations are single images laid out HWC (height, width, channels),
// float32. The batch dimension of the source formats is dropped.
package model

// FormatVersion is the graph-spec version this package writes. Readers
// accept versions 1..FormatVersion.
const FormatVersion = 1

// Graph is a whole network: its input, its operators in execution order,
// its weights and the facts a user needs about it.
type Graph struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	// Input names the single image input. Its channel count is InputChannels.
	Input         string `json:"input"`
	InputChannels int    `json:"input_channels"`
	// Output names the node whose value is the network's result.
	Output string `json:"output"`
	// Norm maps pixels in [0,1] to the network's input range:
	// x = p*Scale + Bias, per channel. Denorm maps the output back:
	// p = y*OutScale + OutBias.
	Norm   Affine `json:"norm"`
	Denorm Affine `json:"denorm"`
	// NominalSize is the square size the network was trained at.
	NominalSize int `json:"nominal_size"`
	// SizeMultiple: input height and width must be multiples of it.
	SizeMultiple int    `json:"size_multiple"`
	Nodes        []Node `json:"nodes"`
	// Provenance says where the weights came from; License their licence.
	Provenance string `json:"provenance,omitempty"`
	License    string `json:"license,omitempty"`
	// Tensors holds the constants (weights, biases) by name. It is filled
	// from the file's tensors, not from the JSON spec.
	Tensors map[string]*Tensor `json:"-"`
}

// Affine is a per-channel x*Scale+Bias.
type Affine struct {
	Scale []float32 `json:"scale"`
	Bias  []float32 `json:"bias"`
}

// Apply returns a new tensor: x with a applied along its last dimension,
// whose size must be len(a.Scale) (as for a graph's Norm and its input).
func (a Affine) Apply(x *Tensor) *Tensor {
	y := NewTensor(x.Shape...)
	c := len(a.Scale)
	for i, v := range x.Data {
		y.Data[i] = v*a.Scale[i%c] + a.Bias[i%c]
	}
	return y
}

// Node is one operator. Its output value carries the node's Name. Inputs
// name the graph input, earlier nodes, or constant tensors. Only the
// attributes that the op reads are set; the rest stay zero.
type Node struct {
	Name   string   `json:"name"`
	Op     string   `json:"op"`
	Inputs []string `json:"inputs"`

	// Conv2D.
	Stride   [2]int `json:"stride,omitempty"`   // y, x; zero means 1
	Dilation [2]int `json:"dilation,omitempty"` // y, x; zero means 1
	// Padding is PadSame, PadValid or PadExplicit. SAME depends on the
	// input size, so it is kept symbolic rather than resolved at import.
	Padding string `json:"padding,omitempty"`
	Pads    [4]int `json:"pads,omitempty"` // top, left, bottom, right (explicit)
	Groups  int    `json:"groups,omitempty"`

	// Act is an activation fused into conv2d and elementwise ops:
	// "" (none), "relu", "relu6", "leaky_relu" (with Alpha), "tanh", "sigmoid".
	Act   string  `json:"act,omitempty"`
	Alpha float32 `json:"alpha,omitempty"`

	// Resize: Mode "bilinear" or "nearest"; output = input * Scale.
	Mode         string `json:"mode,omitempty"`
	Scale        [2]int `json:"scale,omitempty"`
	AlignCorners bool   `json:"align_corners,omitempty"`
	HalfPixel    bool   `json:"half_pixel,omitempty"`

	// Norms.
	Eps float32 `json:"eps,omitempty"`

	// Clip.
	Min float32 `json:"min,omitempty"`
	Max float32 `json:"max,omitempty"`

	// BoxMean: window of (2*Radius+1)^2, averaged over the taps inside
	// the image (so borders divide by fewer taps).
	Radius int `json:"radius,omitempty"`
}

// Ops. Each is documented where its shape rule lives (shape.go).
const (
	OpConv2D       = "conv2d"        // x, weight [O,KH,KW,I/groups], optional bias [O]
	OpAdd          = "add"           // a, b (broadcast)
	OpSub          = "sub"           // a, b
	OpMul          = "mul"           // a, b
	OpDiv          = "div"           // a, b
	OpLeakyReLU    = "leaky_relu"    // x; Alpha
	OpReLU         = "relu"          // x
	OpTanh         = "tanh"          // x
	OpSigmoid      = "sigmoid"       // x
	OpClip         = "clip"          // x; Min, Max
	OpResize       = "resize"        // x; Mode, Scale, AlignCorners, HalfPixel
	OpInstanceNorm = "instance_norm" // x, gamma [C], beta [C]; per-channel over H,W
	OpLayerNorm    = "layer_norm"    // x, gamma [C], beta [C]; over H,W,C together
	OpConcat       = "concat"        // x1..xn along channels
	OpBoxMean      = "box_mean"      // x; Radius
	OpPad          = "pad"           // x; Pads, Mode "constant" (zeros) or "reflect"
)

// Padding modes of conv2d.
const (
	PadSame     = "same"
	PadValid    = "valid"
	PadExplicit = "explicit"
)

// Tensor is a constant or an activation: float32 values in row-major order
// of Shape. Activations have Shape [H, W, C].
type Tensor struct {
	Shape []int
	Data  []float32
	// DType is the storage type in the file: "F32" or "F16".
	DType string
}

// NewTensor returns a zeroed float32 tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: shape, Data: make([]float32, NumElements(shape)), DType: "F32"}
}

// NumElements is the product of the dimensions; 1 for a scalar.
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Node returns the node with the given name, or nil.
func (g *Graph) Node(name string) *Node {
	for i := range g.Nodes {
		if g.Nodes[i].Name == name {
			return &g.Nodes[i]
		}
	}
	return nil
}

// StrideY etc. give the effective attribute, with zero meaning one.
func (n *Node) StrideY() int    { return orOne(n.Stride[0]) }
func (n *Node) StrideX() int    { return orOne(n.Stride[1]) }
func (n *Node) DilationY() int  { return orOne(n.Dilation[0]) }
func (n *Node) DilationX() int  { return orOne(n.Dilation[1]) }
func (n *Node) GroupCount() int { return orOne(n.Groups) }

func orOne(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

// Prune removes the nodes the output does not depend on and the constants
// no remaining node reads. Importers call it after rewriting patterns.
func (g *Graph) Prune() {
	live := map[string]bool{g.Output: true}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		if live[g.Nodes[i].Name] {
			for _, in := range g.Nodes[i].Inputs {
				live[in] = true
			}
		}
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if live[n.Name] {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
	for name := range g.Tensors {
		if !live[name] {
			delete(g.Tensors, name)
		}
	}
}
