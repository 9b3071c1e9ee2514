package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/onnx"
	"github.com/edgetoon/edgetoon/model/tflite"
)

// runImport converts a TFLite or ONNX model (by the .onnx extension)
// into an edgetoon model file:
//
//	edgetoon import <file.tflite|file.onnx> -o out.safetensors [-dtype F16|F32] [-name N]
func runImport(args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	out := fs.String("o", "", "output model `file` (.safetensors)")
	dtype := fs.String("dtype", "F16", "weight storage type: F16 or F32")
	name := fs.String("name", "", "model name (default: the input file's name)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edgetoon import <file.tflite> -o out.safetensors [-dtype F16|F32] [-name N]\n")
		fs.PrintDefaults()
	}
	// Accept flags both before and after the input file.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 || *out == "" {
		fs.Usage()
		return fmt.Errorf("want one input file and -o")
	}
	dt := strings.ToUpper(*dtype)
	if dt != "F16" && dt != "F32" {
		return fmt.Errorf("-dtype %q: want F16 or F32", *dtype)
	}
	var g *model.Graph
	var err error
	if strings.EqualFold(filepath.Ext(files[0]), ".onnx") {
		g, err = onnx.ImportFile(files[0], onnx.Options{Name: *name})
	} else {
		g, err = tflite.ImportFile(files[0], tflite.Options{Name: *name})
	}
	if err != nil {
		return err
	}
	if g.License == "" {
		fmt.Fprintf(os.Stderr, "edgetoon import: %s is not a known model; set its licence in the model card yourself\n", filepath.Base(files[0]))
	}
	if err := model.WriteFile(*out, g, dt); err != nil {
		return err
	}
	macs, err := g.MACs(g.NominalSize, g.NominalSize)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d nodes, %.3f M parameters, %.2f GMACs at %dx%d, %s weights\n",
		*out, len(g.Nodes), float64(g.Params())/1e6, float64(macs)/1e9, g.NominalSize, g.NominalSize, dt)
	return nil
}
