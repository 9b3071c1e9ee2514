package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/edgetoon/edgetoon/model"
)

func runInspect(args []string) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	size := fs.Int("size", 256, "input height and width for shapes and MACs")
	layers := fs.Bool("layers", true, "print the per-layer table")
	budget := budgetFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one model file, have %d arguments", fs.NArg())
	}
	budget.apply()
	g, err := readModel(fs.Arg(0), *budget)
	if err != nil {
		return err
	}
	return inspect(os.Stdout, g, *size, *layers)
}

func inspect(w io.Writer, g *model.Graph, size int, withLayers bool) error {
	rows, err := g.Layers(size, size)
	if err != nil {
		return err
	}
	var macs int64
	ops := map[string]int{}
	for _, l := range rows {
		macs += l.MACs
		ops[l.Op]++
	}
	fmt.Fprintf(w, "model:       %s (format v%d)\n", g.Name, g.Version)
	fmt.Fprintf(w, "nodes:       %d %v\n", len(g.Nodes), ops)
	fmt.Fprintf(w, "parameters:  %d (%.2f M)\n", g.Params(), float64(g.Params())/1e6)
	fmt.Fprintf(w, "MACs:        %d (%.2f G) at %dx%d\n", macs, float64(macs)/1e9, size, size)
	acts, err := g.RunBytes(size, size, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "memory:      %s of activations at %dx%d on the CPU engine (%d threads), %s of weights\n",
		model.FormatBytes(acts), size, size, runtime.GOMAXPROCS(0), model.FormatBytes(4*g.Params()))
	fmt.Fprintf(w, "input:       %q, %d channels, nominal %dx%d, multiple of %d\n", g.Input, g.InputChannels, g.NominalSize, g.NominalSize, g.SizeMultiple)
	fmt.Fprintf(w, "license:     %s\n", g.License)
	fmt.Fprintf(w, "provenance:  %s\n", g.Provenance)
	if !withLayers {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\n#\tname\top\toutput\tparams\tMMACs\t")
	for i, l := range rows {
		op := l.Op
		if n := g.Nodes[i]; n.Act != "" {
			op += "+" + n.Act
		}
		shape := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(l.Shape)), "x"), "[]")
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%.1f\t\n", i, l.Name, op, shape, l.Params, float64(l.MACs)/1e6)
	}
	return tw.Flush()
}
