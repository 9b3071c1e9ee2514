// Command edgetoon imports, inspects and runs edgetoon models, and serves
// the stylization page to browsers and phones.
//
// Usage:
//
//	edgetoon serve [-addr :8080] [-tls] [-models DIR]
//	edgetoon import model.tflite|model.onnx -o model.safetensors
//	edgetoon inspect [-size 256] model.safetensors
//	edgetoon stylize [-model m.safetensors|NAME] [-size N] in.jpg -o out.png
//	edgetoon fetch-teacher -o whitebox.safetensors
//	edgetoon export-onnx -model m.safetensors [-size 256] -o m.onnx
//
// The lab's tools (the latency profiler and predictor) are a command of
// their own, cmd/edgetoon-lab: this one links no browser driver and no
// test code (TestProductDeps).
package main

import (
	"fmt"
	"os"
)

const usage = `usage: edgetoon <command> [flags]

commands:
  serve          serve the page, the WASM engine and the models (HTTPS with -tls)
  import         convert a TFLite or ONNX model into an edgetoon model file
  inspect        print a model's layers, parameters and MACs
  stylize        stylize a photo on the CPU reference engine
  fetch-teacher  make the default White-box model (from ../shared or its public source)
  export-onnx    write a model as ONNX (opset 13), for other runtimes

Run 'edgetoon <command> -h' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = runServe(args)
	case "import":
		err = runImport(args)
	case "inspect":
		err = runInspect(args)
	case "stylize":
		err = runStylize(args)
	case "fetch-teacher":
		err = runFetchTeacher(args)
	case "export-onnx":
		err = runExportONNX(args)
	case "profile", "fit-latency", "predict-latency":
		err = fmt.Errorf("moved to the lab command: go run ./cmd/edgetoon-lab %s", os.Args[1])
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "edgetoon: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "edgetoon %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
