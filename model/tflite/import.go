// Package tflite converts TensorFlow Lite models (.tflite flatbuffers,
// schema v3) into edgetoon graphs.
//
// The importer reads the flatbuffer with bounds-checked accessors, so a
// truncated or hostile file yields an error, never a panic. It turns the
// first subgraph into a float model.Graph:
//
//   - Constants are decoded to float32: float16 constants (and the
//     DEQUANTIZE ops that widen them) are folded, int8/int16/int32
//     weights are dequantized with their per-tensor or per-channel scales
//     and zero points.
//   - QUANTIZE and DEQUANTIZE ops on activations are dropped, so a fully
//     quantized model runs in float. The result is the float network the
//     quantizer started from, with int8 weights: it omits the rounding of
//     every activation to 256 levels and the clamping to each activation's
//     calibrated range. Its outputs therefore differ from the TFLite int8
//     interpreter's by that quantization noise and are, if anything, closer
//     to the original float model. Likewise a dynamic-range model's convs
//     run in float here, where TFLite would quantize their inputs on the
//     fly.
//   - Batch dimensions are dropped; constants of elementwise ops become
//     [C] or [1]. A constant that depends on the image size is an error
//     unless a pattern below removes it.
//   - Patterns: TF's layer/instance-norm expansion (MEAN,
//     SQUARED_DIFFERENCE, ADD eps, RSQRT, MUL gamma, MUL, MUL, SUB beta,
//     ADD) becomes model.OpLayerNorm or model.OpInstanceNorm depending on
//     the MEAN axes; a box filter divided by the box filter of an all-ones
//     image (White-box's guided filter) becomes model.OpBoxMean, so the
//     graph runs at any size.
//
// An op or pattern the importer does not know is an error naming the op
// and its output tensor: it never returns a silently different graph.
package tflite

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// Options adjust an import.
type Options struct {
	// Name is the graph's name; empty means the file name without its
	// extension (or "model").
	Name string
	// FileName is recorded in the provenance; ImportFile sets it.
	FileName string
}

// ImportFile reads and converts the .tflite file at path.
func ImportFile(path string, opt Options) (*model.Graph, error) {
	data, err := model.ReadRegularFile(path, model.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	if opt.FileName == "" {
		opt.FileName = filepath.Base(path)
	}
	g, err := Import(data, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Import converts a .tflite file's bytes to a graph.
func Import(data []byte, opt Options) (g *model.Graph, err error) {
	defer func() {
		// Every offset and index is checked before use; this is the
		// last line of defence, so that a case missed never crashes a
		// server importing an uploaded file.
		if p := recover(); p != nil {
			g, err = nil, fmt.Errorf("tflite: malformed model: %v", p)
		}
	}()
	return importData(data, opt)
}

// importData is Import without the recover, so tests see any panic.
func importData(data []byte, opt Options) (*model.Graph, error) {
	f, err := parse(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	c, err := newConverter(f)
	if err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	g, err := c.convert()
	if err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	if err := describe(g, opt, digest); err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("tflite: imported graph is invalid: %w", err)
	}
	for _, s := range [][2]int{{224, 224}, {256, 384}} {
		if _, err := g.Shapes(s[0], s[1]); err != nil {
			return nil, fmt.Errorf("tflite: imported graph fails at %dx%d: %w", s[0], s[1], err)
		}
	}
	return g, nil
}

// describe fills the graph's metadata: name, pixel mapping, nominal size
// and, for the files listed in known.go, provenance and licence.
func describe(g *model.Graph, opt Options, digest string) error {
	g.Version = model.FormatVersion
	g.Name = opt.Name
	if g.Name == "" {
		g.Name = strings.TrimSuffix(opt.FileName, filepath.Ext(opt.FileName))
	}
	if g.Name == "" {
		g.Name = "model"
	}
	g.SizeMultiple = 4
	shapes, err := g.Shapes(g.NominalSize, g.NominalSize)
	if err != nil {
		return fmt.Errorf("imported graph at %dx%d: %w", g.NominalSize, g.NominalSize, err)
	}
	// The supported generators all take and produce images in [-1, 1].
	g.Norm = affine(g.InputChannels, 2, -1)
	g.Denorm = affine(shapes[g.Output][2], 0.5, 0.5)
	g.Provenance = fmt.Sprintf("%s sha256:%s", opt.FileName, digest)
	if k, ok := knownModels[digest]; ok {
		g.Provenance += "; " + k.source
		g.License = k.license
		if k.nominal > 0 {
			g.NominalSize = k.nominal
		}
	}
	return nil
}

func affine(channels int, scale, bias float32) model.Affine {
	a := model.Affine{}
	for range channels {
		a.Scale = append(a.Scale, scale)
		a.Bias = append(a.Bias, bias)
	}
	return a
}

// op is an operator after QUANTIZE/DEQUANTIZE removal and constant
// folding, with tensor indices already resolved through aliases.
type op struct {
	index   int // position in the file, for messages
	code    int32
	in, out []int32
	opts    table
	hasOpts bool
	optType uint8

	// Set by the pattern passes: the op is subsumed by a pattern (dead),
	// or replaced by a pattern's node (repl).
	dead bool
	repl *model.Node
}

type converter struct {
	f        *File
	sg       *Subgraph
	consts   map[int32]*constant
	alias    map[int32]int32
	ops      []*op
	producer map[int32]*op
	uses     map[int32]int
	outputs  map[int32]bool

	g      *model.Graph
	values map[int32]string  // tensor -> graph value name
	taken  map[string]bool   // names used in the graph
	cnames map[string]string // constant cache key -> tensor name
	h, w   int               // the file's nominal input size
}

func newConverter(f *File) (*converter, error) {
	sg := &f.Subgraphs[0]
	if len(sg.Inputs) != 1 || len(sg.Outputs) != 1 {
		return nil, fmt.Errorf("subgraph has %d inputs and %d outputs, want one image in and one out", len(sg.Inputs), len(sg.Outputs))
	}
	c := &converter{
		f: f, sg: sg,
		consts:   map[int32]*constant{},
		alias:    map[int32]int32{},
		producer: map[int32]*op{},
		uses:     map[int32]int{},
		outputs:  map[int32]bool{},
		values:   map[int32]string{},
		taken:    map[string]bool{},
		cnames:   map[string]string{},
	}
	for i := range sg.Tensors {
		t := &sg.Tensors[i]
		if raw := f.Buffers[t.Buffer].Data; len(raw) > 0 {
			k, err := decodeConstant(t, raw)
			if err != nil {
				return nil, err
			}
			c.consts[int32(i)] = k
		}
	}
	if err := c.simplify(); err != nil {
		return nil, err
	}
	return c, nil
}

// simplify drops QUANTIZE/DEQUANTIZE, folds ops on constants, and indexes
// producers and uses.
func (c *converter) simplify() error {
	for i, o := range c.sg.Operators {
		code := c.f.OpCodes[o.OpcodeIndex].Builtin
		p := &op{index: i, code: code, opts: o.Options, hasOpts: o.HasOptions, optType: o.OptionsType}
		if want, ok := optionsType[code]; ok && p.hasOpts && p.optType != want {
			return c.opErr(p, fmt.Errorf("options of type %d, want %d", p.optType, want))
		}
		for _, t := range o.Inputs {
			p.in = append(p.in, c.resolve(t))
		}
		p.out = append(p.out, o.Outputs...)
		if len(p.out) != 1 {
			return c.opErr(p, fmt.Errorf("%d outputs, want 1", len(p.out)))
		}
		out := p.out[0]
		if _, dup := c.producer[out]; dup || c.consts[out] != nil || c.aliased(out) || out == c.sg.Inputs[0] {
			return c.opErr(p, fmt.Errorf("output tensor is written twice"))
		}
		if code == opQuantize || code == opDequantize {
			if len(p.in) != 1 || p.in[0] < 0 {
				return c.opErr(p, fmt.Errorf("want 1 input"))
			}
			if k := c.consts[p.in[0]]; k != nil {
				c.consts[out] = k
			} else {
				c.alias[out] = p.in[0]
			}
			continue
		}
		if c.allConstant(p) {
			k, err := c.fold(p)
			if err != nil {
				return c.opErr(p, err)
			}
			c.consts[out] = k
			continue
		}
		c.ops = append(c.ops, p)
		c.producer[out] = p
		for _, t := range p.in {
			if t >= 0 {
				c.uses[t]++
			}
		}
	}
	out := c.resolve(c.sg.Outputs[0])
	c.outputs[out] = true
	c.uses[out]++
	return nil
}

// resolve follows QUANTIZE/DEQUANTIZE aliases to the tensor that holds
// the value. Aliases always point to earlier tensors, so this ends.
func (c *converter) resolve(t int32) int32 {
	for n := 0; n < len(c.sg.Tensors); n++ {
		a, ok := c.alias[t]
		if !ok {
			return t
		}
		t = a
	}
	return t
}

func (c *converter) allConstant(p *op) bool {
	for _, t := range p.in {
		if t >= 0 && c.consts[t] == nil {
			return false
		}
	}
	return true
}

func (c *converter) tensorName(t int32) string {
	if t < 0 || int(t) >= len(c.sg.Tensors) {
		return fmt.Sprintf("#%d", t)
	}
	return c.sg.Tensors[t].Name
}

func (c *converter) aliased(t int32) bool {
	_, ok := c.alias[t]
	return ok
}

func (c *converter) opErr(p *op, err error) error {
	out := int32(-1)
	if len(p.out) > 0 {
		out = p.out[0]
	}
	return fmt.Errorf("operator %d (%s) -> %q: %w", p.index, OpName(p.code), c.tensorName(out), err)
}
