package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // the fixture photo is JPEG
	"os"
	"path/filepath"
	"slices"

	xdraw "golang.org/x/image/draw"

	"github.com/edgetoon/edgetoon/internal/isolated"
	"github.com/edgetoon/edgetoon/model"
)

// tfjsGraph is the spec page.html hands web/tfgraph.js's tfGraph:
// our node list unchanged plus every constant as float32 at an offset in
// one weights blob.
func tfjsGraph(g *model.Graph) (spec, weights []byte, err error) {
	type ref struct {
		Shape  []int `json:"shape"`
		Offset int   `json:"offset"`
	}
	refs := map[string]ref{}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range g.Tensors {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		t := g.Tensors[name]
		refs[name] = ref{Shape: t.Shape, Offset: len(weights)}
		weights = append(weights, isolated.EncodeF32(t.Data)...)
	}
	spec, err = json.Marshal(map[string]any{"input": g.Input, "output": g.Output, "nodes": g.Nodes, "tensors": refs})
	return spec, weights, err
}

// loadPhoto crops the photo's centre square and resizes it to n x n.
func loadPhoto(name string, n int) (*image.RGBA, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open photo: %w", err)
	}
	defer f.Close()
	src, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	b := src.Bounds()
	s := min(b.Dx(), b.Dy())
	crop := image.Rect(0, 0, s, s).Add(image.Pt(b.Min.X+(b.Dx()-s)/2, b.Min.Y+(b.Dy()-s)/2))
	rgb := image.NewRGBA(image.Rect(0, 0, s, s))
	draw.Draw(rgb, rgb.Bounds(), src, crop.Min, draw.Src)
	dst := image.NewRGBA(image.Rect(0, 0, n, n))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), rgb, rgb.Bounds(), xdraw.Src, nil)
	for i := 3; i < len(dst.Pix); i += 4 {
		dst.Pix[i] = 255 // opaque, so the canvas path sees the same RGB
	}
	return dst, nil
}

// normalize applies the model's input affine to 8-bit RGB: the same
// float32 input goes to every runtime and to the CPU reference.
func normalize(g *model.Graph, img *image.RGBA) *model.Tensor {
	n := img.Bounds().Dx()
	px := model.NewTensor(n, n, 3)
	for i := range n * n {
		for c := range 3 {
			px.Data[3*i+c] = float32(img.Pix[4*i+c]) / 255
		}
	}
	return g.Norm.Apply(px)
}

// peerVersions reads the installed versions, for the results file.
func peerVersions(node string) (map[string]string, error) {
	v := map[string]string{}
	for _, p := range []string{"onnxruntime-web", "@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm",
		"@tensorflow/tfjs-backend-webgpu", "@litertjs/core"} {
		b, err := os.ReadFile(filepath.Join(node, p, "package.json"))
		if err != nil {
			return nil, err
		}
		var pkg struct{ Version string }
		if err := json.Unmarshal(b, &pkg); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		v[p] = pkg.Version
	}
	return v, nil
}
