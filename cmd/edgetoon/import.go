package main

import (
	"errors"
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
	budget := budgetFlag(fs)
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
	budget.apply()
	w, err := createOutput(*out)
	if err != nil {
		return err
	}
	defer w.abort()
	g, err := importFile(files[0], *name, *budget)
	if err != nil {
		return err
	}
	if g.License == "" {
		fmt.Fprintf(os.Stderr, "edgetoon import: %s is not a known model; set its licence in the model card yourself\n", filepath.Base(files[0]))
	}
	data, err := model.Encode(g, dt)
	if err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}
	// What import writes, every reader must accept: check the file with
	// the reader itself (finite weights, shapes, limits) before writing.
	if _, err := model.Decode(data); err != nil {
		return fmt.Errorf("%s: the imported model would not read back, not writing it: %w", files[0], err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := w.commit(); err != nil {
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

// importFactor bounds an importer's memory as a multiple of its input
// file: the file, the weights as float32 (four times an int8 file), the
// encoded model and its check by the reader, each as large again.
const importFactor = 16

// importFile converts a TFLite or ONNX file (by the .onnx extension)
// within the budget.
func importFile(path, name string, b byteSize) (*model.Graph, error) {
	limit := min(b.fileLimit(importFactor), model.MaxFileBytes)
	data, err := model.ReadRegularFile(path, limit)
	if errors.Is(err, model.ErrTooLarge) {
		return nil, fmt.Errorf("%w (what the memory budget of %s leaves an import; raise -max-memory)", err, b.String())
	}
	if err != nil {
		return nil, err
	}
	var g *model.Graph
	if strings.EqualFold(filepath.Ext(path), ".onnx") {
		g, err = onnx.Import(data, onnx.Options{Name: name, FileName: filepath.Base(path)})
	} else {
		g, err = tflite.Import(data, tflite.Options{Name: name, FileName: filepath.Base(path)})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}
