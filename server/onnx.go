package server

import (
	"fmt"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/onnx"
)

// ONNXModel is where the page's CPU path (web/cpupath.js, for devices
// whose WebGL is software) finds a model's ONNX export, and what it needs
// beside it: the export maps the normalized input to the normalized
// output, so the page applies Norm and Denorm itself (pixels in [0,1],
// x = p*Scale + Bias per channel), and sizes must be multiples of
// Multiple.
type ONNXModel struct {
	URL      string       `json:"url"`
	Norm     model.Affine `json:"norm"`
	Denorm   model.Affine `json:"denorm"`
	Multiple int          `json:"multiple"`
}

// onnxAsset exports a validated model file as ONNX with a symbolic
// height and width, served at /models/NAME.onnx beside its safetensors.
func onnxAsset(name string, data []byte) (*asset, *ONNXModel, error) {
	g, err := model.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("onnx export of %s: %w", name, err)
	}
	body, err := onnx.Export(g, 0, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("onnx export of %s: %w", name, err)
	}
	p := "/models/" + name + ".onnx"
	a := &asset{path: p, ctype: contentTypes[".onnx"], body: body, hash: hashOf(body), cors: true}
	return a, &ONNXModel{URL: p + "?v=" + a.hash, Norm: g.Norm, Denorm: g.Denorm, Multiple: max(g.SizeMultiple, 1)}, nil
}
