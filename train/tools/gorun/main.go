// Command gorun runs an edgetoon model on the Go CPU engine for the Python
// tests in train/: it reads a model file and an already-normalized
// [H,W,C] float32 .npy input, and writes the output node's value as .npy.
//
//	go run ./train/tools/gorun -model m.safetensors -in x.npy -out y.npy
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/edgetoon/edgetoon/internal/npy"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

func main() {
	modelPath := flag.String("model", "", "model file (.safetensors)")
	inPath := flag.String("in", "", "input .npy, [H,W,C] float32, normalized")
	outPath := flag.String("out", "", "output .npy")
	flag.Parse()
	if err := run(*modelPath, *inPath, *outPath); err != nil {
		fmt.Fprintln(os.Stderr, "gorun:", err)
		os.Exit(1)
	}
}

func run(modelPath, inPath, outPath string) error {
	if modelPath == "" || inPath == "" || outPath == "" {
		return fmt.Errorf("-model, -in and -out are required")
	}
	g, err := model.ReadFile(modelPath)
	if err != nil {
		return err
	}
	shape, data, err := npy.ReadFile(inPath)
	if err != nil {
		return err
	}
	out, err := cpu.Run(g, &model.Tensor{Shape: shape, Data: data, DType: "F32"})
	if err != nil {
		return err
	}
	return npy.WriteFile(outPath, out.Shape, out.Data)
}
