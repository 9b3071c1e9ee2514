// Package kernels compiles an edgetoon model graph into a plan of WebGL2
// fragment-shader passes for one input size: which programs to compile,
// which textures to allocate, which weights to upload and, per frame, which
// passes to draw. It is plain Go so that it can be tested natively; the
// js/wasm engine (package wasm) only executes plans.
//
// Layout. An activation [H,W,C] lives in a TEXTURE_2D_ARRAY of W x H texels
// with one layer per 4 channels (RGBA). A pass renders one node's value
// (plus whatever was fused into it) into layers of its output texture, up
// to MaxOutputs layers per draw through multiple render targets. Lanes past
// C in the last layer are kept zero.
//
// Conv outputs are stored column-split: a conv fragment computes P
// horizontally adjacent output pixels (Pass.Pixels), so that every weight
// texel it fetches serves P pixels (reading the weights is what a conv
// spends its time on), and writes them through P render targets. Pixel
// (x, y) of layer l is then texel (x/P, y) of layer P*l + x%P, in a
// texture ceil(W/P) wide. Readers see no difference: every value is read
// through a fetch function that knows its layout.
//
// A small dense conv whose output layers fit one draw takes its weights
// into its program as constants instead (conv_baked.go): every tap and
// input layer unrolled, all its layers computed by each fragment, so that
// no weight is fetched and each input texel feeds every layer. Its
// weights stay in the weight texture too, where unbaked plans (the
// engine's first frames) read them.
//
// A dense 3x3 conv of many channels runs as Winograd F(4x4, 3x3) in
// fp32 (winograd.go): three passes, the input transform, the products
// and the output transform, the last storing the conv's value as the
// direct conv does.
//
// Fusion. Elementwise nodes (add, sub, mul, div, activations, clip) whose
// producer has no other consumer are folded into the producer's epilogue
// (conv + bias + activation + residual add in one pass). Elementwise, resize,
// pad and concat nodes with a single consumer are inlined into the
// consumer's input fetch (upsample + skip add fused into the next conv).
// The graph input is read straight from the source image with the input
// normalization applied in the fetch, and the final pass denormalizes and
// renders to the canvas. A guided filter, recognised by its formula among
// the box means and arithmetic nodes it arrives as, runs in two passes of
// its own instead of six (guided.go).
//
// Ops. Every op has one entry in the op table (registry.go): whether it
// folds into an epilogue, is inlined into its reader's fetch, or has a
// pass of its own, and the Go function generating each. The GLSL itself
// lives in .glsl files, one per kernel or piece of a kernel, embedded and
// filled in one way: $NAME placeholders (upper case) take values from Go
// (fill), and lines holding the markers $k, $i and $o are repeated per
// output layer and pixel of a fragment (expand). docs/architecture.md
// walks through adding an op.
package kernels

import (
	"fmt"
	"math/bits"

	"github.com/edgetoon/edgetoon/model"
)

// InputKind says where the graph input comes from.
type InputKind int

const (
	// InputImage: an RGBA8 2D texture holding the source picture at any
	// size; the plan's first pass resamples it (bilinear) to the plan's
	// size and normalizes it with the graph's Norm (Options.InlineInput:
	// in every fetch instead).
	InputImage InputKind = iota
	// InputRaw: a float texture array holding the already normalized
	// [H,W,C] input (tests).
	InputRaw
)

// Options choose how a plan is built.
type Options struct {
	H, W int
	// ContentH and ContentW are the picture's size within the plan's H x
	// W (0: all of it), for a picture whose sides are not multiples of
	// the graph's SizeMultiple: the image input (InputImage) is sampled at
	// that size into the top-left corner and repeats its last row and
	// column beyond it, as internal/photo.ToTensor pads on the CPU (zeros
	// would print a dark seam into the convolutions), and a canvas pass
	// renders that corner only. They change uniforms, not programs.
	ContentH, ContentW int
	// Half stores activations and weights as RGBA16F instead of RGBA32F.
	Half  bool
	Input InputKind
	// ToCanvas makes the final pass denormalize and render RGBA to the
	// default framebuffer (flipped, since its row 0 is the bottom). Without
	// it the output stays in a float texture for read-back.
	ToCanvas bool
	// Device limits; zero means the WebGL2 minimum-or-typical default.
	MaxTextureSize int // default 4096
	MaxLayers      int // MAX_ARRAY_TEXTURE_LAYERS, default 256
	MaxOutputs     int // render targets per draw, default 4 (at most MAX_DRAW_BUFFERS)
	MaxUniformVecs int // MAX_FRAGMENT_UNIFORM_VECTORS, default 224
	// ConvPixels is the number of output pixels per conv fragment: 1, 2,
	// 4 or 8, at most MaxOutputs; 0 means DefaultConvPixels, or as many
	// as MaxOutputs allows. 1 is the plain layout everywhere (kept for
	// benchmarks).
	ConvPixels int
	// SplitGuided plans a guided filter node by node (six box-mean
	// passes) instead of in two (guided.go): kept for the benchmark that
	// compares them.
	SplitGuided bool
	// InlineInput resamples and normalizes the image (InputImage) in
	// every fetch of the graph input instead of storing it once in a pass
	// of its own that every reader fetches: kept for the benchmark that
	// compares them (BenchmarkPlans).
	InlineInput bool
	// Unbaked reads every conv's weights from the weight texture, even
	// those small enough to go into its program as constants
	// (conv_baked.go): kept for the benchmark that compares them
	// (BenchmarkPlans) and for plans that must compile fast (the
	// engine's first frames).
	Unbaked bool
	// ShapeUniforms reads the numbers that shape a conv's loops and its
	// stores (stride, kernel height, input layers, output channels) from
	// uniforms instead of spelling them in the program, so that the convs
	// that differ only in those share one program: fewer programs to
	// compile, for plans that must compile fast (the engine's first
	// frames). The default spells them, so the compiler knows its loops.
	ShapeUniforms bool
	// Direct runs every conv directly, none as Winograd (winograd.go):
	// kept for the benchmark that compares them (BenchmarkPlans).
	Direct bool
	// Memo, when set, keeps the graph's transformed weights between its
	// plans (NewMemo).
	Memo *Memo
	// BakedPixelTerms bounds the products a baked conv's fragment spells
	// over all its pixels, which sets how many pixels it computes (0:
	// the bound whether to bake at all, maxBakedTerms): kept for the
	// benchmark that compares the bounds (BenchmarkPlans).
	BakedPixelTerms int
}

// DefaultConvPixels is the conv fragment width the plans use by default:
// with shared input rows (conv.glsl), 8 pixels of one output layer fetch
// fewer texels per MAC than 4 pixels of 2 layers (22 against 30 for a 3x3
// row), and ran faster on both shipped networks: BenchmarkConvPixels in
// wasm/browsertest compares the layouts (docs/performance.md).
const DefaultConvPixels = 8

// MostOutputs is the most render targets a draw writes, whatever the
// device's MAX_DRAW_BUFFERS (WebGL2 guarantees 4; desktop and SwiftShader
// give 8, some drivers more).
const MostOutputs = 8

// Special texture ids in Pass.Inputs.
const (
	TexImage   = -1 // the source image (InputImage)
	TexWeights = -2 // the packed weight texture
	TexCanvas  = -1 // as Pass.Out: the default framebuffer
)

// Plan is everything the engine needs to run a graph at one size.
type Plan struct {
	Opts     Options
	Programs []Program
	// Textures are the physical activation textures; a texture may hold
	// several tensors over the frame (reuse by liveness), each in its
	// top-left corner.
	Textures []Texture
	Weights  Weights
	Passes   []Pass
	// Input is the texture of the raw input (InputRaw), else -1.
	Input int
	// Output is the texture holding the result when !ToCanvas, else -1;
	// OutShape is the result's [H,W,C].
	Output   int
	OutShape [3]int
}

// Program is one fragment shader. Several passes may share it: sizes and
// offsets are uniforms, only the structure is in the source (and a baked
// conv's weights).
type Program struct {
	Source string
	// Op names the op (and first node) it was generated for, for errors.
	Op string
	// Samplers are the sampler uniform names, bound to units 0.. in order.
	Samplers []string
	// Outputs is the number of render targets each draw writes.
	Outputs int
}

// Texture is a W x H x Layers texture array.
type Texture struct {
	W, H, Layers int
}

// Weights is the single weight texture: W x H RGBA texels.
type Weights struct {
	W, H int
	Data []float32 // RGBA, row-major, len W*H*4
}

// Pass is one program run over the output's pixels.
type Pass struct {
	// Nodes are the graph nodes computed by this pass; the first is the
	// root.
	Nodes []string
	// Value is the value written: the last node's, except for the first
	// pass of a guided filter, which writes its coefficients a and b as
	// two layers of a value of its own (see guided.go).
	Value   string
	Program int
	// Inputs are the textures bound to sampler units 0.. (Texture index,
	// TexImage or TexWeights), in the program's Samplers order.
	Inputs []int
	Out    int // texture index or TexCanvas
	W, H   int // viewport
	// Pixels is the number of adjacent output pixels per fragment (1, or
	// P of a column-split output; see the package comment).
	Pixels int
	// Bases are the first output layer of each draw; each draw writes
	// Program.Outputs consecutive layers.
	Bases []int
	Ints  []int32   // uniform int u_i[]
	Vecs  []float32 // uniform vec4 u_v[], 4 floats per slot
	// MACs counts the multiply-adds of a conv pass (0 for other passes).
	MACs int64
}

// String names the pass, for errors, by the value it writes.
func (p *Pass) String() string { return p.Value }

// TextureBytes is the activation memory of the plan: 4 channels per texel,
// 4 bytes each (2 in fp16).
func (p *Plan) TextureBytes() int64 {
	bpc := int64(4)
	if p.Opts.Half {
		bpc = 2
	}
	var n int64
	for _, t := range p.Textures {
		n += int64(t.W) * int64(t.H) * int64(t.Layers) * 4 * bpc
	}
	return n
}

// layers is the number of RGBA layers that hold c channels.
func layers(c int) int { return (c + 3) / 4 }

// Storage returns the texture size that holds a value of shape [H,W,C]
// written pixels at a time (see the package comment).
func Storage(shape []int, pixels int) (w, h, l int) {
	return ceilDiv(shape[1], pixels), shape[0], pixels * layers(shape[2])
}

// Build compiles g into a plan for opts.
func Build(g *model.Graph, opts Options) (*Plan, error) {
	if opts.MaxTextureSize == 0 {
		opts.MaxTextureSize = 4096
	}
	if opts.MaxLayers == 0 {
		opts.MaxLayers = 256
	}
	if opts.MaxOutputs == 0 {
		opts.MaxOutputs = 4
	}
	if opts.MaxUniformVecs == 0 {
		opts.MaxUniformVecs = 224
	}

	opts.MaxOutputs = min(opts.MaxOutputs, MostOutputs)
	if opts.ConvPixels == 0 {
		opts.ConvPixels = DefaultConvPixels
	}
	switch {
	case opts.ConvPixels != 1 && opts.ConvPixels != 2 && opts.ConvPixels != 4 && opts.ConvPixels != 8:
		return nil, fmt.Errorf("ConvPixels %d: want 1, 2, 4 or 8", opts.ConvPixels)
	case opts.ConvPixels > opts.MaxOutputs:
		opts.ConvPixels = 1 << (bits.Len(uint(opts.MaxOutputs)) - 1)
	}
	shapes, err := g.Shapes(opts.H, opts.W)
	if err != nil {
		return nil, err
	}
	if opts.H > opts.MaxTextureSize || opts.W > opts.MaxTextureSize {
		return nil, &SizeError{fmt.Sprintf("input %dx%d exceeds MAX_TEXTURE_SIZE %d", opts.W, opts.H, opts.MaxTextureSize)}
	}
	if opts.ContentH == 0 && opts.ContentW == 0 {
		opts.ContentH, opts.ContentW = opts.H, opts.W
	}
	if opts.ContentH < 1 || opts.ContentH > opts.H || opts.ContentW < 1 || opts.ContentW > opts.W {
		return nil, fmt.Errorf("content %dx%d: want 1x1 to the plan's %dx%d", opts.ContentW, opts.ContentH, opts.W, opts.H)
	}
	if cropped := opts.ContentH != opts.H || opts.ContentW != opts.W; cropped {
		if opts.Input != InputImage {
			return nil, fmt.Errorf("content %dx%d of %dx%d: only an image input is padded", opts.ContentW, opts.ContentH, opts.W, opts.H)
		}
		if s := shapes[g.Output]; opts.ToCanvas && (s[0] != opts.H || s[1] != opts.W) {
			return nil, fmt.Errorf("content %dx%d of %dx%d: the output (%dx%d) must be the input's size to be cropped", opts.ContentW, opts.ContentH, opts.W, opts.H, s[1], s[0])
		}
	}
	if g.InputChannels > 4 && opts.Input == InputImage {
		return nil, fmt.Errorf("input has %d channels: an image gives at most 4", g.InputChannels)
	}
	b := &builder{g: g, opts: opts, shapes: shapes, plan: &Plan{Opts: opts, Input: -1, Output: -1}}
	if err := b.fuse(); err != nil {
		return nil, err
	}
	if err := b.emit(); err != nil {
		return nil, err
	}
	return b.plan, nil
}

// Passes returns the nodes of each pass that Build plans for g at opts,
// as Pass.Nodes, without generating programs or packing weights: the
// planner's fusion alone, for tools that need only its grouping
// (latency.Decompose). Device limits are not checked.
func Passes(g *model.Graph, opts Options) ([][]string, error) {
	shapes, err := g.Shapes(opts.H, opts.W)
	if err != nil {
		return nil, err
	}
	// A conv run as Winograd adds two passes that compute no node, and
	// its node is grouped as when run direct (its last pass's).
	opts.Direct = true
	b := &builder{g: g, opts: opts, shapes: shapes}
	if err := b.fuse(); err != nil {
		return nil, err
	}
	var out [][]string
	for _, gr := range b.groups {
		out = append(out, gr.names())
	}
	return out, nil
}

// SizeError reports a plan that does not fit the device's texture limits.
type SizeError struct{ Msg string }

func (e *SizeError) Error() string { return e.Msg }

// MACs sums the multiply-adds of the plan's conv passes.
func (p *Plan) MACs() int64 {
	var n int64
	for i := range p.Passes {
		n += p.Passes[i].MACs
	}
	return n
}
