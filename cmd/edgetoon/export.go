package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/edgetoon/edgetoon/model"
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
	g, err := model.ReadFile(*in)
	if err != nil {
		return err
	}
	data, err := onnx.Export(g, *size, *size)
	if err != nil {
		return err
	}
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		os.Remove(tmp)
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
