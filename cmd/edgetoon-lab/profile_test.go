package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/internal/browser"
	"github.com/edgetoon/edgetoon/latency"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/web"
)

// needProfiler skips t without Chromium or the built engine, and fails
// it in CI, which has both.
func needProfiler(t *testing.T) {
	t.Helper()
	if _, err := browser.Path(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if _, err := fs.Stat(web.FS, labWasm); err != nil {
		msg := "web/" + labWasm + " is not built: run make lab-wasm"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// TestProfileReduced runs the profiler on the reduced catalogue in
// headless Chromium (as CI does) and checks the table it writes.
func TestProfileReduced(t *testing.T) {
	needProfiler(t)
	out := filepath.Join(t.TempDir(), "table.json")
	// -min-ms 50: a block keeps being timed past its 2 reps until the
	// samples add up to 50 ms, up to 16 samples.
	if err := runProfile([]string{"-catalog", "reduced", "-warmup", "0", "-reps", "2", "-min-ms", "50", "-o", out}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := latency.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []latency.Block
	extended := 0
	for _, r := range tab.Rows {
		got = append(got, r.Block)
		switch {
		case r.Reps < 2 || r.Reps > 16:
			t.Errorf("%s: %d reps, want 2..16", r.Block.Key(), r.Reps)
		case r.Reps == 2 && 2*r.MedianMS < 50:
			// The median of two samples is their mean.
			t.Errorf("%s: stopped at 2 reps with samples adding up to %.3g ms < 50", r.Block.Key(), 2*r.MedianMS)
		case r.Reps > 2:
			extended++
		}
	}
	if extended == 0 {
		t.Error("-min-ms 50 added no samples to any block of the reduced catalogue")
	}
	slices.SortFunc(got, latency.Compare)
	if want := latency.ReducedCatalog(); !slices.Equal(got, want) {
		t.Errorf("rows %v, want the reduced catalogue %v", got, want)
	}
	d := tab.Device
	if !strings.Contains(d.UserAgent, "Chrome") || d.Precision != latency.PrecisionFP32 || d.Renderer == "" {
		t.Errorf("device %+v", d)
	}

	// The table trains a predictor (too few rows of each kind to hold any
	// out) that predicts every row within a factor of ten: a loose check
	// that the measured numbers are consistent with each other.
	pred := filepath.Join(t.TempDir(), "predictor.json")
	if err := runFitLatency([]string{"-table", out, "-o", pred, "-epochs", "300"}); err != nil {
		t.Fatal(err)
	}
	pf, err := os.Open(pred)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	m, err := latency.ReadMLP(pf)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Rows {
		if p := m.Predict(r.Block); !(p > r.MedianMS/10 && p < r.MedianMS*10) {
			t.Errorf("%s: measured %.3g ms, predicted %.3g ms", r.Block.Key(), r.MedianMS, p)
		}
	}
}

// TestProfileRounds times two blocks in three rounds: each row pools
// its rounds' samples.
func TestProfileRounds(t *testing.T) {
	needProfiler(t)
	dir := t.TempDir()
	blocks := latency.ReducedCatalog()[:2]
	data, _ := json.Marshal(blocks)
	list := filepath.Join(dir, "blocks.json")
	if err := os.WriteFile(list, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "table.json")
	if err := runProfile([]string{"-blocks", list, "-rounds", "3", "-warmup", "0", "-reps", "2", "-o", out}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := latency.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != len(blocks) {
		t.Fatalf("%d rows, want %d", len(tab.Rows), len(blocks))
	}
	for i, r := range tab.Rows {
		if r.Block != blocks[i] || r.Reps != 6 {
			t.Errorf("row %d: %s with %d reps, want %s with 3 rounds x 2", i, r.Block.Key(), r.Reps, blocks[i].Key())
		}
	}
}

// TestProfileModel profiles real plans pass by pass: the student, and a
// residual block of 64 channels, whose convs run as Winograd's three
// passes. The passes must account for the whole graph: every conv
// computed by some pass, and the passes' multiply-adds adding up to the
// graph's own count (model.Graph.MACs, arithmetic on the shapes).
func TestProfileModel(t *testing.T) {
	needProfiler(t)
	dir := t.TempDir()
	student := filepath.Join("..", "..", "web", "models", "student.safetensors")
	block, err := latency.BlockGraph(latency.Block{Kind: latency.KindResBlock, K: 3, Stride: 1, Cin: 64, Cout: 64, Mid: 64, H: 32, W: 32, Act: "leaky_relu"})
	if err != nil {
		t.Fatal(err)
	}
	latency.RandomizeWeights(block, 1)
	block.Norm, block.Denorm = identity(block.InputChannels), identity(64)
	resblock := filepath.Join(dir, "resblock.safetensors")
	if err := model.WriteFile(resblock, block, "F32"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file     string
		size     int
		winograd bool
	}{{student, 64, false}, {resblock, 32, true}} {
		out := filepath.Join(dir, "profile.json")
		if err := runProfile([]string{"-model", c.file, "-size", fmt.Sprint(c.size), "-warmup", "0", "-reps", "1", "-rounds", "2", "-o", out}); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		p, err := latency.ReadModelProfile(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		g, err := model.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := g.MACs(c.size, c.size)
		if err != nil {
			t.Fatal(err)
		}
		var macs int64
		computed := map[string]bool{}
		winograd := 0
		for _, ps := range p.Passes {
			macs += ps.MACs
			for _, n := range ps.Nodes {
				computed[n] = true
			}
			if strings.HasSuffix(ps.Value, "#winograd-m") {
				winograd++
			}
			if ps.Reps != 2 || ps.Draws < 1 {
				t.Errorf("%s: pass %s: %d samples, %d draws; want 2 (2 rounds of 1), >= 1", c.file, ps.Value, ps.Reps, ps.Draws)
			}
		}
		if macs != want {
			t.Errorf("%s: the passes count %d multiply-adds, the graph %d", c.file, macs, want)
		}
		for _, n := range g.Nodes {
			if n.Op == model.OpConv2D && !computed[n.Name] {
				t.Errorf("%s: conv %s in no pass", c.file, n.Name)
			}
		}
		if (winograd == 2) != c.winograd || !c.winograd && winograd != 0 {
			t.Errorf("%s: %d convs run as Winograd", c.file, winograd)
		}
		if p.Height != c.size || p.Width != c.size || p.Model != g.Name || p.Frame.Reps != 2 {
			t.Errorf("%s: profile of %q at %dx%d, frame %d samples", c.file, p.Model, p.Width, p.Height, p.Frame.Reps)
		}
	}
}

func identity(c int) model.Affine {
	a := model.Affine{Scale: make([]float32, c), Bias: make([]float32, c)}
	for i := range a.Scale {
		a.Scale[i] = 1
	}
	return a
}

func TestProfileFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-catalog", "reduced"}, // no -o
		{"-catalog", "huge", "-o", "x.json"},
		{"-precision", "fp64", "-o", "x.json"},
		{"-blocks", "/nonexistent.json", "-o", "x.json"},
		{"-o", "x.json", "extra"},
		{"-catalog", "reduced", "-min-ms", "-1", "-o", "x.json"},
		{"-catalog", "reduced", "-rounds", "0", "-o", "x.json"},
		{"-model", "/nonexistent.safetensors"},
	} {
		if err := runProfile(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// TestFitAndPredictLatency fits the sample synthetic table and predicts
// with it: the predicted latency of a model file and of measured networks
// is the sum of its blocks' predictions.
func TestFitAndPredictLatency(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join("..", "..", "testdata", "latency", "synthetic_reduced_table.json")
	pred := filepath.Join(dir, "p.json")
	if err := runFitLatency([]string{"-table", table, "-o", pred, "-epochs", "200"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pred)
	if err != nil {
		t.Fatal(err)
	}
	m, err := latency.ReadMLP(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	g, err := latency.Teacher.Graph()
	if err != nil {
		t.Fatal(err)
	}
	g.Norm = model.Affine{Scale: []float32{2, 2, 2}, Bias: []float32{-1, -1, -1}}
	g.Denorm = model.Affine{Scale: []float32{0.5, 0.5, 0.5}, Bias: []float32{0.5, 0.5, 0.5}}
	mf := filepath.Join(dir, "teacher.safetensors")
	if err := model.WriteFile(mf, g, "F32"); err != nil {
		t.Fatal(err)
	}
	if err := runPredictLatency([]string{"-predictor", pred, "-model", mf, "-size", "128"}); err != nil {
		t.Fatal(err)
	}

	// A networks file claiming exactly the predicted latency shows +0.0%.
	want, err := m.PredictGraph(g, 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	// Three rounds, one caught on a slow minute: the median of the
	// rounds is the one that counts, and the network counts once.
	nets, _ := json.Marshal([]networkLatency{
		{Arch: latency.Teacher, Name: "teacher", Size: 256, MedianMS: 2 * want},
		{Arch: latency.Teacher, Name: "teacher", Size: 256, MedianMS: want},
		{Arch: latency.Teacher, Name: "teacher", Size: 256, MedianMS: want * 0.9},
	})
	nf := filepath.Join(dir, "nets.json")
	if err := os.WriteFile(nf, nets, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := compareMeasured(&buf, m, nf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "+0.0%") || !strings.Contains(buf.String(), "mean absolute error 0.0%, worst 0.0% over 1 networks") {
		t.Errorf("comparison:\n%s", buf.String())
	}
	for _, args := range [][]string{
		{"-predictor", pred},
		{"-predictor", pred, "-model", mf, "-measured", nf},
		{"-predictor", "/nonexistent", "-model", mf},
	} {
		if err := runPredictLatency(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if err := runFitLatency([]string{"-table", "/nonexistent", "-o", pred}); err == nil {
		t.Error("fit-latency without a table: no error")
	}
}
