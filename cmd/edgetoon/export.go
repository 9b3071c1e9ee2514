package main

import (
	"flag"
	"fmt"

	"github.com/edgetoon/edgetoon/model/onnx"
)

// runExportONNX writes an edgetoon model as an ONNX file:
//
//	edgetoon export-onnx -model m.safetensors [-size 256] -o m.onnx
//
// -size 0 writes symbolic height and width.
func runExportONNX(args []string) error {
	fs := flag.NewFlagSet("export-onnx", flag.ContinueOnError)
	in := fs.String("model", "", "edgetoon model `file` (.safetensors)")
	size := fs.Int("size", 256, "input height and width (0: symbolic, SAME convs as auto_pad)")
	out := fs.String("o", "", "output `file` (.onnx)")
	budget := budgetFlag(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edgetoon export-onnx -model m.safetensors [-size 256] -o m.onnx\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || fs.NArg() != 0 || *size < 0 {
		fs.Usage()
		return fmt.Errorf("want -model, -o and a size >= 0")
	}
	budget.apply()
	w, err := createOutput(*out)
	if err != nil {
		return err
	}
	defer w.abort()
	g, err := readModel(*in, *budget)
	if err != nil {
		return err
	}
	// The ONNX file holds the weights again as float32, beside the graph.
	if err := budget.check("exporting "+*in, "use a smaller model", part{"weights", 4 * g.Params()}, part{"ONNX file", 4*g.Params() + 1<<20}); err != nil {
		return err
	}
	data, err := onnx.Export(g, *size, *size)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := w.commit(); err != nil {
		return err
	}
	dims := fmt.Sprintf("%dx%d", *size, *size)
	if *size == 0 {
		dims = "symbolic size"
	}
	fmt.Printf("%s: ONNX opset 13, input \"input\" [1,%d,H,W], output \"output\", %s, %d bytes\n",
		*out, g.InputChannels, dims, len(data))
	return nil
}
