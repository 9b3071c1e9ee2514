package latency

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/edgetoon/edgetoon/model"
)

// MLPFormat is the value of a predictor file's "format" field.
const MLPFormat = "edgetoon-latency-mlp/1"

// Limits on a predictor file.
const (
	MaxMLPBytes  = 8 << 20
	MaxMLPLayers = 8
	MaxMLPWidth  = 512
)

// MLP predicts a block's latency: x = (Features(b) - InMean) / InStd, then
// h = relu(W h + b) for every layer but the last, which is linear and has
// one output y; the latency is exp(y*OutStd + OutMean) milliseconds.
type MLP struct {
	Format   string       `json:"format"`
	Features []string     `json:"features"`
	InMean   []float64    `json:"in_mean"`
	InStd    []float64    `json:"in_std"`
	Layers   []DenseLayer `json:"layers"`
	// Activation of the hidden layers; always "relu".
	Activation string `json:"activation"`
	// Target names what the output predicts: "ln_ms", the natural log of
	// the latency in milliseconds, standardized by OutMean and OutStd.
	Target  string  `json:"target"`
	OutMean float64 `json:"out_mean"`
	OutStd  float64 `json:"out_std"`
	// Table is the hash of the table the predictor was trained on
	// ([Table.Hash]); Device its renderer or user agent.
	Table  string `json:"table,omitempty"`
	Device string `json:"device,omitempty"`
}

// DenseLayer is y = W x + B, W stored one row per output.
type DenseLayer struct {
	W [][]float64 `json:"w"`
	B []float64   `json:"b"`
}

// Predict returns the predicted latency of b in milliseconds, or NaN if b
// fails [Block.Validate]. m must be valid: made by [Fit] or [DecodeMLP].
func (m *MLP) Predict(b Block) float64 {
	if b.Validate() != nil {
		return math.NaN()
	}
	return m.eval(Features(b))
}

// eval runs the network on raw features.
func (m *MLP) eval(f []float64) float64 {
	x := make([]float64, len(f))
	for i, v := range f {
		x[i] = (v - m.InMean[i]) / m.InStd[i]
	}
	for l, layer := range m.Layers {
		y := make([]float64, len(layer.B))
		for j, row := range layer.W {
			s := layer.B[j]
			for i, w := range row {
				s += w * x[i]
			}
			if l < len(m.Layers)-1 {
				s = max(s, 0)
			}
			y[j] = s
		}
		x = y
	}
	return math.Exp(x[0]*m.OutStd + m.OutMean)
}

// PredictGraph returns the predicted latency of g on an h x w input in
// milliseconds: the sum over the blocks of [Decompose].
func (m *MLP) PredictGraph(g *model.Graph, h, w int) (float64, error) {
	blocks, err := Decompose(g, h, w)
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, b := range blocks {
		sum += m.Predict(b)
	}
	return sum, nil
}

// Encode returns m as JSON.
func (m *MLP) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return json.MarshalIndent(m, "", " ")
}

// ReadMLP decodes a predictor from r, reading at most MaxMLPBytes.
func ReadMLP(r io.Reader) (*MLP, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxMLPBytes+1))
	if err != nil {
		return nil, fmt.Errorf("latency predictor: %w", err)
	}
	return DecodeMLP(data)
}

// DecodeMLP decodes and validates a predictor written by [MLP.Encode].
func DecodeMLP(data []byte) (*MLP, error) {
	if len(data) > MaxMLPBytes {
		return nil, fmt.Errorf("latency predictor: larger than %d bytes", MaxMLPBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m MLP
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("latency predictor: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("latency predictor: data after the predictor")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks that m is a predictor this package can evaluate: the
// current format and feature list, consistent layer sizes, finite values
// and a positive input and output scale.
func (m *MLP) Validate() error {
	if m.Format != MLPFormat {
		return fmt.Errorf("latency predictor: format %q: want %q", m.Format, MLPFormat)
	}
	if !slices.Equal(m.Features, FeatureNames) {
		return fmt.Errorf("latency predictor: features %v: want %v", m.Features, FeatureNames)
	}
	if m.Activation != "relu" || m.Target != "ln_ms" {
		return fmt.Errorf("latency predictor: activation %q, target %q: want relu, ln_ms", m.Activation, m.Target)
	}
	n := len(FeatureNames)
	if len(m.InMean) != n || len(m.InStd) != n {
		return fmt.Errorf("latency predictor: in_mean, in_std: want %d values each", n)
	}
	for i := range n {
		if !finite(m.InMean[i]) || !finite(m.InStd[i]) || m.InStd[i] <= 0 {
			return fmt.Errorf("latency predictor: feature %s: mean %g, std %g: want finite, std > 0", FeatureNames[i], m.InMean[i], m.InStd[i])
		}
	}
	if !finite(m.OutMean) || !finite(m.OutStd) || m.OutStd <= 0 {
		return fmt.Errorf("latency predictor: out_mean %g, out_std %g: want finite, std > 0", m.OutMean, m.OutStd)
	}
	if len(m.Layers) < 1 || len(m.Layers) > MaxMLPLayers {
		return fmt.Errorf("latency predictor: %d layers: want 1..%d", len(m.Layers), MaxMLPLayers)
	}
	in := n
	for l, layer := range m.Layers {
		out := len(layer.B)
		if out < 1 || out > MaxMLPWidth || len(layer.W) != out {
			return fmt.Errorf("latency predictor: layer %d: %d biases, %d weight rows: want equal, 1..%d", l, out, len(layer.W), MaxMLPWidth)
		}
		for j, row := range layer.W {
			if len(row) != in {
				return fmt.Errorf("latency predictor: layer %d row %d: %d weights, want %d", l, j, len(row), in)
			}
			if !slices.ContainsFunc(row, func(v float64) bool { return !finite(v) }) && finite(layer.B[j]) {
				continue
			}
			return fmt.Errorf("latency predictor: layer %d row %d: NaN or infinite value", l, j)
		}
		in = out
	}
	if in != 1 {
		return fmt.Errorf("latency predictor: last layer has %d outputs, want 1", in)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
