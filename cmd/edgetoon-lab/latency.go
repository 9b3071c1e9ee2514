package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/edgetoon/edgetoon/latency"
	"github.com/edgetoon/edgetoon/model"
)

func runFitLatency(args []string) error {
	fs := flag.NewFlagSet("fit-latency", flag.ContinueOnError)
	table := fs.String("table", "", "latency table `file` (from edgetoon-lab profile)")
	out := fs.String("o", "", "write the predictor (JSON, for Go and train/ Python) to this `file`")
	epochs := fs.Int("epochs", 0, "training epochs (0: the default)")
	hidden := fs.String("hidden", "", "hidden layer widths, comma-separated (default 32,32)")
	seed := fs.Uint64("seed", 1, "initialization and shuffling seed (of the first MLP of the ensemble)")
	ensemble := fs.Int("ensemble", 0, "MLPs trained, with seeds seed, seed+1, ..., and merged into one predicting their mean (0: the default, 5)")
	holdout := fs.Int("holdout", 0, "percent of configurations held out for the report (0: 20; -1: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *table == "" || *out == "" || fs.NArg() > 0 {
		return errors.New("usage: edgetoon-lab fit-latency -table t.json -o predictor.json")
	}
	f, err := os.Open(*table)
	if err != nil {
		return err
	}
	t, err := latency.Read(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *table, err)
	}
	opts := latency.FitOptions{Epochs: *epochs, Seed: *seed, HoldoutPercent: *holdout, Ensemble: *ensemble}
	if *hidden != "" {
		for _, s := range strings.Split(*hidden, ",") {
			var w int
			if _, err := fmt.Sscan(strings.TrimSpace(s), &w); err != nil {
				return fmt.Errorf("-hidden %q: %w", *hidden, err)
			}
			opts.Hidden = append(opts.Hidden, w)
		}
	}
	m, rep, err := latency.Fit(t, opts)
	if err != nil {
		return err
	}
	data, err := m.Encode()
	if err != nil {
		return err
	}
	fmt.Printf("trained on %d configurations: MAPE %.2f%%\n", rep.TrainRows, rep.TrainMAPE)
	if rep.TestRows > 0 {
		fmt.Printf("held out %d configurations: MAPE %.2f%%, worst %.1f%% (%s)\n", rep.TestRows, rep.TestMAPE, rep.TestMaxAPE, rep.Worst.Key())
	}
	return writeFileAtomic(*out, append(data, '\n'))
}

func runPredictLatency(args []string) error {
	fs := flag.NewFlagSet("predict-latency", flag.ContinueOnError)
	pred := fs.String("predictor", "", "predictor `file` (from fit-latency)")
	modelFile := fs.String("model", "", "model `file` (.safetensors) to predict")
	size := fs.Int("size", 256, "input height and width")
	measured := fs.String("measured", "", "instead of -model: a `file` from 'edgetoon-lab profile -networks'; compares predicted with measured")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pred == "" || (*modelFile == "") == (*measured == "") || fs.NArg() > 0 {
		return errors.New("usage: edgetoon-lab predict-latency -predictor p.json (-model m.safetensors [-size 256] | -measured networks.json)")
	}
	f, err := os.Open(*pred)
	if err != nil {
		return err
	}
	m, err := latency.ReadMLP(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *pred, err)
	}
	if *measured != "" {
		return compareMeasured(os.Stdout, m, *measured)
	}
	g, err := model.ReadFile(*modelFile)
	if err != nil {
		return err
	}
	blocks, err := latency.Decompose(g, *size, *size)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ms\tblock\t")
	total := 0.0
	for _, b := range blocks {
		ms := m.Predict(b)
		total += ms
		fmt.Fprintf(tw, "%.3f\t%s\t\n", ms, b.Key())
	}
	tw.Flush()
	fmt.Printf("predicted latency of %s at %dx%d: %.2f ms (%d blocks; device %s)\n", g.Name, *size, *size, total, len(blocks), m.Device)
	return nil
}

// networkLatency is one entry of 'edgetoon-lab profile -networks' output.
type networkLatency struct {
	Arch     latency.Arch `json:"arch"`
	Name     string       `json:"name"`
	Size     int          `json:"size"`
	MedianMS float64      `json:"median_ms"`
}

// compareMeasured prints predicted against measured latency for each
// network of a 'profile -networks' file and the mean absolute error. A
// network timed in several rounds counts once, at the median of its
// rounds' medians: on a machine whose speed drifts, one round can catch a
// slow minute.
func compareMeasured(w io.Writer, m *latency.MLP, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var nets []networkLatency
	if err := json.Unmarshal(data, &nets); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	type key struct {
		name string
		size int
	}
	rounds := map[key][]float64{}
	var order []networkLatency
	for _, n := range nets {
		k := key{n.Name, n.Size}
		if rounds[k] == nil {
			order = append(order, n)
		}
		rounds[k] = append(rounds[k], n.MedianMS)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measured ms\trounds\tpredicted ms\terror\tnetwork\t")
	sum, worst := 0.0, 0.0
	for _, n := range order {
		ms := rounds[key{n.Name, n.Size}]
		n.MedianMS = median(ms)
		g, err := n.Arch.Graph()
		if err != nil {
			return err
		}
		p, err := m.PredictGraph(g, n.Size, n.Size)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		e := (p - n.MedianMS) / n.MedianMS * 100
		sum += math.Abs(e)
		worst = math.Max(worst, math.Abs(e))
		fmt.Fprintf(tw, "%.1f\t%d\t%.1f\t%+.1f%%\t%s @%d\t\n", n.MedianMS, len(ms), p, e, n.Name, n.Size)
	}
	tw.Flush()
	if len(order) > 0 {
		fmt.Fprintf(w, "mean absolute error %.1f%%, worst %.1f%% over %d networks\n", sum/float64(len(order)), worst, len(order))
	}
	return nil
}

// median of v (not empty), which it sorts.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
