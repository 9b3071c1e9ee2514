// Package onnx converts between edgetoon graphs and ONNX models.
//
// Export writes a model.Graph as an opset-13 ONNX model in NCHW layout,
// for runtimes such as ONNX Runtime Web. Import reads the ONNX models
// that Export and PyTorch's torch.onnx.export (opsets 11-17) write for
// plain convolutional image-to-image networks.
//
// Both sides parse and write the protobuf wire format by hand (with
// google.golang.org/protobuf/encoding/protowire), so no generated code
// or ONNX library enters the build. Every length and index of the input
// is checked: a truncated or hostile file yields an error, never a
// panic.
//
// Import folds constant subgraphs (Constant, Shape of a fixed-size
// activation, Gather, Cast, Concat, Unsqueeze, Slice, arithmetic),
// fuses an activation into the conv or elementwise op before it when
// it is that op's only consumer, recognizes the ReduceMean expansion of
// layer and instance normalization, and reports any other op by name
// rather than returning a different network.
package onnx

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// Options adjust an import.
type Options struct {
	// Name is the graph's name; empty means the ONNX graph's name, or
	// the file name, or "model".
	Name string
	// License and Provenance override what the file's metadata says.
	License    string
	Provenance string
	// FileName is recorded in the provenance; ImportFile sets it.
	FileName string
}

// ImportFile reads and converts the .onnx file at path.
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

// Import converts an ONNX model's bytes to a validated graph.
func Import(data []byte, opt Options) (g *model.Graph, err error) {
	defer func() {
		// Every index is checked before use; this is the last line of
		// defence so that a case missed never crashes a server.
		if p := recover(); p != nil {
			g, err = nil, fmt.Errorf("onnx: malformed model: %v", p)
		}
	}()
	if len(data) > model.MaxFileBytes {
		return nil, fmt.Errorf("onnx: %d bytes, larger than the %d limit", len(data), model.MaxFileBytes)
	}
	m, err := decodeModel(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	g, err = convert(m, opt)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return g, nil
}

type importer struct {
	m      *modelProto
	opset  int64
	g      *model.Graph
	h, w   int               // static input size, 0 if symbolic
	consts map[string]*value // ONNX name -> constant
	acts   map[string]string // ONNX name -> our value name
	used   map[string]bool   // names taken in our graph
	uses   map[string]int    // ONNX name -> number of readers (outputs count)
	reader map[string][]int  // ONNX name -> indices of the nodes reading it
	done   map[int]bool      // nodes consumed by a pattern
	cache  map[string]string // constant conversions already added
	// shapes caches the activation shapes at the size shapeOf uses.
	shapes  map[string][]int
	tooMany bool // more than model.MaxNodes nodes emitted
}

func convert(m *modelProto, opt Options) (*model.Graph, error) {
	c := &importer{m: m, consts: map[string]*value{}, acts: map[string]string{}, used: map[string]bool{},
		uses: map[string]int{}, reader: map[string][]int{}, done: map[int]bool{}, cache: map[string]string{}}
	for domain, v := range m.opsets {
		if domain == "" || domain == "ai.onnx" {
			c.opset = v
		}
	}
	if c.opset < 7 || c.opset > 22 {
		return nil, fmt.Errorf("default-domain opset %d not supported (want 7..22)", c.opset)
	}
	mg := m.graph
	for _, t := range mg.inits {
		v, err := decodeValue(t)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		c.consts[t.name] = v
	}
	var input *valueInfo
	for _, vi := range mg.inputs {
		if _, ok := c.consts[vi.name]; ok {
			continue
		}
		if input != nil {
			return nil, fmt.Errorf("graph inputs %q and %q: want one image input", input.name, vi.name)
		}
		input = vi
	}
	if input == nil {
		return nil, fmt.Errorf("graph has no input")
	}
	if len(mg.outputs) != 1 {
		return nil, fmt.Errorf("graph has %d outputs, want 1", len(mg.outputs))
	}
	ch, err := c.inputShape(input)
	if err != nil {
		return nil, err
	}
	for i, n := range mg.nodes {
		if len(n.outputs) == 0 || n.outputs[0] == "" {
			return nil, fmt.Errorf("node %q (%s): no output", n.name, n.op)
		}
		for j, in := range n.inputs {
			c.uses[in]++
			if !slices.Contains(n.inputs[:j], in) {
				c.reader[in] = append(c.reader[in], i)
			}
		}
		for _, out := range n.outputs {
			c.used[out] = true
		}
	}
	c.uses[mg.outputs[0].name]++
	c.g = &model.Graph{Version: model.FormatVersion, Name: opt.Name, Input: input.name, InputChannels: ch,
		NominalSize: 256, SizeMultiple: 4, Tensors: map[string]*model.Tensor{}}
	if c.h > 0 && c.h == c.w && c.h%4 == 0 {
		c.g.NominalSize = c.h
	}
	c.used[input.name] = true
	c.acts[input.name] = input.name
	// Constants first: exporters place them anywhere, and the patterns
	// look ahead.
	for i, n := range mg.nodes {
		if n.op == "Constant" && (n.domain == "" || n.domain == "ai.onnx") {
			v, err := c.constant(n)
			if err != nil {
				return nil, fmt.Errorf("node %q (Constant, output %q): %w", n.name, n.outputs[0], err)
			}
			c.consts[n.outputs[0]] = v
			c.done[i] = true
		}
	}
	for i, n := range mg.nodes {
		if c.done[i] {
			continue
		}
		if n.domain != "" && n.domain != "ai.onnx" {
			return nil, fmt.Errorf("node %q: op %s of domain %q not supported", n.name, n.op, n.domain)
		}
		if err := c.node(i, n); err != nil {
			return nil, fmt.Errorf("node %q (%s, output %q): %w", n.name, n.op, n.outputs[0], err)
		}
		if c.tooMany {
			return nil, fmt.Errorf("more than %d nodes", model.MaxNodes)
		}
	}
	out, ok := c.acts[mg.outputs[0].name]
	if !ok || out == c.g.Input {
		return nil, fmt.Errorf("output %q is not computed from the input", mg.outputs[0].name)
	}
	c.g.Output = out
	c.fuse()
	c.g.Prune()
	c.setInfo(opt)
	if err := c.g.Validate(); err != nil {
		return nil, err
	}
	return c.g, nil
}

// inputShape checks the image input [1|N, C, H, W] and records H and W
// when they are fixed.
func (c *importer) inputShape(vi *valueInfo) (int, error) {
	if vi.elemType != tFloat {
		return 0, fmt.Errorf("input %q: element type %d, want float", vi.name, vi.elemType)
	}
	if len(vi.dims) != 4 {
		return 0, fmt.Errorf("input %q: rank %d, want NCHW", vi.name, len(vi.dims))
	}
	ch := vi.dims[1].value
	if ch < 1 || ch > 4 {
		return 0, fmt.Errorf("input %q: %d channels, want a fixed 1..4", vi.name, ch)
	}
	if n := vi.dims[0].value; n > 1 {
		return 0, fmt.Errorf("input %q: batch %d, want 1", vi.name, n)
	}
	h, w := vi.dims[2].value, vi.dims[3].value
	if h > 0 && w > 0 && h <= model.MaxImageSide && w <= model.MaxImageSide {
		c.h, c.w = int(h), int(w)
	}
	return int(ch), nil
}

// setInfo fills the graph's user-facing fields from the metadata that
// Export writes, the options and defaults.
func (c *importer) setInfo(opt Options) {
	g, meta := c.g, c.m.meta
	ch := c.g.InputChannels
	g.Norm = uniform(ch, 2, -1)
	if out, err := g.Shapes(g.NominalSize, g.NominalSize); err == nil {
		g.Denorm = uniform(out[g.Output][2], 0.5, 0.5)
	}
	var a model.Affine
	if json.Unmarshal([]byte(meta[metaNorm]), &a) == nil && len(a.Scale) == ch {
		g.Norm = a
	}
	if json.Unmarshal([]byte(meta[metaDenorm]), &a) == nil && len(a.Scale) == len(g.Denorm.Scale) {
		g.Denorm = a
	}
	if v, err := strconv.Atoi(meta[metaMultiple]); err == nil && v >= 1 && v <= 64 {
		g.SizeMultiple = v
	}
	if v, err := strconv.Atoi(meta[metaNominal]); err == nil && v > 0 && v <= model.MaxImageSide {
		g.NominalSize = v
	}
	if g.NominalSize%g.SizeMultiple != 0 {
		g.SizeMultiple = 1
	}
	g.License = meta[metaLicense]
	if opt.License != "" {
		g.License = opt.License
	}
	g.Provenance = meta[metaProvenance]
	if opt.Provenance != "" {
		g.Provenance = opt.Provenance
	}
	if g.Provenance == "" && opt.FileName != "" {
		g.Provenance = "imported from " + opt.FileName
	}
	if g.Name == "" {
		g.Name = c.m.graph.name
	}
	if g.Name == "" || g.Name == "main_graph" || g.Name == "torch_jit" {
		g.Name = strings.TrimSuffix(opt.FileName, filepath.Ext(opt.FileName))
	}
	if g.Name == "" {
		g.Name = "model"
	}
}

func uniform(n int, scale, bias float32) model.Affine {
	a := model.Affine{Scale: make([]float32, n), Bias: make([]float32, n)}
	for i := range n {
		a.Scale[i], a.Bias[i] = scale, bias
	}
	return a
}

// fuse merges a standalone activation into the conv or elementwise op
// that produces its input, when that op has no other reader.
func (c *importer) fuse() {
	g := c.g
	readers := map[string]int{g.Output: 1}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			readers[in]++
		}
	}
	index := map[string]int{}
	var kept []model.Node
	for _, n := range g.Nodes {
		act, alpha := "", float32(0)
		switch {
		case n.Op == model.OpReLU, n.Op == model.OpClip && n.Min == 0 && n.Max == 6:
			act = map[bool]string{true: "relu", false: "relu6"}[n.Op == model.OpReLU]
		case n.Op == model.OpLeakyReLU:
			act, alpha = "leaky_relu", n.Alpha
		case n.Op == model.OpTanh, n.Op == model.OpSigmoid:
			act = n.Op
		}
		if act != "" && len(n.Inputs) == 1 {
			if i, ok := index[n.Inputs[0]]; ok && readers[n.Inputs[0]] == 1 && act == "relu6" && kept[i].Act == "relu" {
				// Relu then Clip(0, 6), as PyTorch writes ReLU6.
				delete(index, kept[i].Name)
				kept[i].Act, kept[i].Name = act, n.Name
				index[n.Name] = i
				continue
			}
			if i, ok := index[n.Inputs[0]]; ok && readers[n.Inputs[0]] == 1 && kept[i].Act == "" &&
				(kept[i].Op == model.OpConv2D || kept[i].Op == model.OpAdd || kept[i].Op == model.OpSub ||
					kept[i].Op == model.OpMul || kept[i].Op == model.OpDiv) {
				delete(index, kept[i].Name)
				kept[i].Act, kept[i].Alpha, kept[i].Name = act, alpha, n.Name
				index[n.Name] = i
				continue
			}
		}
		index[n.Name] = len(kept)
		kept = append(kept, n)
	}
	g.Nodes = kept
}
