// Command edgetoon-lab holds the tools that measure and model the engine,
// apart from the product's CLI (cmd/edgetoon), so that the product links
// neither a browser driver nor the lab's code: it times latency blocks in
// headless Chromium and fits and checks the latency predictor that the
// architecture search (train/) uses.
//
// Usage:
//
//	edgetoon-lab profile [-browser chromium] [-catalog full|reduced] [-precision fp32|fp16] [-reps N] -o table.json
//	edgetoon-lab fit-latency -table t.json -o predictor.json
//	edgetoon-lab predict-latency -predictor p.json -model m.safetensors [-size 256]
//
// profile needs the lab build of the engine (make lab-wasm) embedded in
// this binary or served from -web; docs/lab.md says how to run each tool.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: edgetoon-lab <command> [flags]

commands:
  profile          time the latency blocks in headless Chromium: a latency table
  fit-latency      train the latency predictor on a table
  predict-latency  predict a model's latency on the table's device

Run 'edgetoon-lab <command> -h' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "profile":
		err = runProfile(args)
	case "fit-latency":
		err = runFitLatency(args)
	case "predict-latency":
		err = runPredictLatency(args)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "edgetoon-lab: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "edgetoon-lab %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
