package latency

import (
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// fitSynthetic trains once on the full catalogue profiled on the made-up
// device; several tests share the result.
var fitSynthetic = sync.OnceValues(func() (*fitResult, error) {
	t := synthTable(FullCatalog(), 0.03, 7)
	m, rep, err := Fit(t, FitOptions{Seed: 1})
	return &fitResult{t, m, rep}, err
})

type fitResult struct {
	table *Table
	m     *MLP
	rep   Report
}

func TestFitSyntheticHeldOut(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a predictor")
	}
	f, err := fitSynthetic()
	if err != nil {
		t.Fatal(err)
	}
	r := f.rep
	t.Logf("synthetic table: %d train, %d held out; MAPE train %.2f%%, held out %.2f%% (worst %.1f%%: %s); loss %.4f",
		r.TrainRows, r.TestRows, r.TrainMAPE, r.TestMAPE, r.TestMaxAPE, r.Worst.Key(), r.Loss)
	if r.TestRows < len(f.table.Rows)/10 || r.TestRows > len(f.table.Rows)*3/10 {
		t.Errorf("%d of %d rows held out, want about 20%%", r.TestRows, len(f.table.Rows))
	}
	if r.TestMAPE > 10 {
		t.Errorf("held-out MAPE %.2f%%, want <= 10%%", r.TestMAPE)
	}
	// Recompute the held-out MAPE here from the rows, as a check of Report.
	kindRows := map[string]int{}
	for _, row := range f.table.Rows {
		kindRows[row.Block.Kind]++
	}
	var sum float64
	var n int
	for _, row := range f.table.Rows {
		if HeldOut(row.Block, 20) && kindRows[row.Block.Kind] >= MinHoldoutKindRows {
			sum += math.Abs(f.m.Predict(row.Block)-row.MedianMS) / row.MedianMS * 100
			n++
		}
	}
	if n != r.TestRows || math.Abs(sum/float64(n)-r.TestMAPE) > 1e-9 {
		t.Errorf("report says %d rows at %.6f%%, recomputed %d at %.6f%%", r.TestRows, r.TestMAPE, n, sum/float64(n))
	}
}

// The predictor ranks members of the family as the analytic device does,
// and its sums over blocks land near the analytic totals.
func TestFitSyntheticRanksArchitectures(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a predictor")
	}
	f, err := fitSynthetic()
	if err != nil {
		t.Fatal(err)
	}
	archs := []arch{
		teacher,
		{C0: 16, C1: 16, C2: 32, C3: 32, R: 64, Mids: []int{64, 64, 64, 64}, C6: 32, C8: 16},
		{C0: 24, C1: 32, C2: 48, C3: 64, R: 96, Mids: []int{48, 48, 48}, C6: 48, C8: 24},
		{C0: 16, C1: 24, C2: 32, C3: 48, R: 64, Mids: []int{32, 32}, C6: 32, C8: 16},
		{C0: 8, C1: 8, C2: 16, C3: 16, R: 32, Mids: []int{32, 32}, C6: 16, C8: 8},
		{C0: 4, C1: 8, C2: 16, C3: 16, R: 16, Mids: nil, C6: 8, C8: 4},
		// Widths the catalogue does not list.
		{C0: 12, C1: 20, C2: 40, C3: 56, R: 80, Mids: []int{40, 72}, C6: 40, C8: 12},
	}
	type result struct {
		name        string
		exact, pred float64
	}
	var res []result
	for _, a := range archs {
		g := a.graph()
		bs, err := Decompose(g, 256, 256)
		if err != nil {
			t.Fatal(err)
		}
		exact := 0.0
		for _, b := range bs {
			exact += synthLatency(b)
		}
		pred, err := f.m.PredictGraph(g, 256, 256)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, result{g.Name, exact, pred})
		t.Logf("%-60s analytic %8.3f ms, predicted %8.3f ms (%+.1f%%)", g.Name, exact, pred, (pred-exact)/exact*100)
		if math.Abs(pred-exact)/exact > 0.10 {
			t.Errorf("%s: predicted %.3f ms, analytic %.3f ms: more than 10%% apart", g.Name, pred, exact)
		}
	}
	byExact := slices.Clone(res)
	sort.Slice(byExact, func(i, j int) bool { return byExact[i].exact < byExact[j].exact })
	byPred := slices.Clone(res)
	sort.Slice(byPred, func(i, j int) bool { return byPred[i].pred < byPred[j].pred })
	for i := 1; i < len(byExact); i++ {
		if byExact[i].exact < 1.1*byExact[i-1].exact {
			t.Fatalf("test design: %s and %s are within 10%% analytically; pick architectures further apart", byExact[i].name, byExact[i-1].name)
		}
	}
	for i := range byExact {
		if byExact[i].name != byPred[i].name {
			t.Errorf("rank %d: predicted %s, analytic %s", i, byPred[i].name, byExact[i].name)
		}
	}
}

func TestFitIsDeterministic(t *testing.T) {
	tab := synthTable(ReducedCatalog(), 0.03, 3)
	opts := FitOptions{Seed: 5, Epochs: 50, Hidden: []int{8}, HoldoutPercent: -1}
	m1, r1, err := Fit(tab, opts)
	if err != nil {
		t.Fatal(err)
	}
	m2, r2, err := Fit(tab, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m1, m2) || r1 != r2 {
		t.Error("two fits with the same seed differ")
	}
	m3, _, err := Fit(tab, FitOptions{Seed: 6, Epochs: 50, Hidden: []int{8}, HoldoutPercent: -1})
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(m1.Layers, m3.Layers) {
		t.Error("fits with different seeds are identical")
	}
	if r1.TestRows != 0 || r1.TrainRows != len(tab.Rows) {
		t.Errorf("no holdout: %d train, %d test rows", r1.TrainRows, r1.TestRows)
	}
}

// A network that can fit exactly gets the training error down: on a table
// whose ln(latency) is linear in the features, a linear model (no hidden
// layer) reaches a tiny error. This checks the gradients.
func TestFitLinearTarget(t *testing.T) {
	tab := synthTable(ReducedCatalog(), 0, 1)
	for i := range tab.Rows {
		f := Features(tab.Rows[i].Block)
		ms := math.Exp(0.3*f[4] - 0.2*f[8] + 0.1*f[14] - 1)
		tab.Rows[i].MedianMS, tab.Rows[i].P10MS, tab.Rows[i].P90MS = ms, ms, ms
	}
	_, rep, err := Fit(tab, FitOptions{Hidden: []int{}, Epochs: 3000, BatchSize: 4, LearningRate: 0.01, HoldoutPercent: -1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.TrainMAPE > 1 {
		t.Errorf("linear target: training MAPE %.3f%%, want < 1%%", rep.TrainMAPE)
	}
}

// TestFitEnsembleIsMean checks the merged ensemble against its members
// fitted one by one: its output is the mean of theirs, in ln ms, for
// every block, and its hidden layers are theirs side by side; also with
// no hidden layer, where the members share their inputs.
func TestFitEnsembleIsMean(t *testing.T) {
	tab := synthTable(ReducedCatalog(), 0.03, 3)
	for _, c := range []struct {
		hidden, widths []int
	}{{[]int{8, 6}, []int{24, 18, 1}}, {[]int{}, []int{1}}} {
		opts := FitOptions{Seed: 7, Epochs: 30, Hidden: c.hidden, Ensemble: 3}
		m, _, err := Fit(tab, opts)
		if err != nil {
			t.Fatal(err)
		}
		var members []*MLP
		for k := range uint64(3) {
			o := opts
			o.Seed, o.Ensemble = opts.Seed+k, 1
			mk, _, err := Fit(tab, o)
			if err != nil {
				t.Fatal(err)
			}
			members = append(members, mk)
		}
		var widths []int
		for _, l := range m.Layers {
			widths = append(widths, len(l.W))
		}
		if !slices.Equal(widths, c.widths) {
			t.Errorf("hidden %v: merged layer widths %v, want %v", c.hidden, widths, c.widths)
		}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, r := range tab.Rows {
			var mean float64
			for _, mk := range members {
				mean += math.Log(mk.Predict(r.Block)) / 3
			}
			if got := math.Log(m.Predict(r.Block)); math.Abs(got-mean) > 1e-9 {
				t.Fatalf("hidden %v, %s: ensemble ln ms %.12f, mean of its members %.12f", c.hidden, r.Block.Key(), got, mean)
			}
		}
	}
}

func TestFitRejects(t *testing.T) {
	tab := synthTable(ReducedCatalog(), 0.03, 3)
	cases := []struct {
		opts FitOptions
		want string
	}{
		{FitOptions{Hidden: []int{0}}, "hidden"},
		{FitOptions{Hidden: make([]int, 9)}, "hidden layers"},
		{FitOptions{Epochs: -1}, "epochs"},
		{FitOptions{BatchSize: -3}, "batch"},
		{FitOptions{LearningRate: math.NaN()}, "learning rate"},
		{FitOptions{LearningRate: 2}, "learning rate"},
		{FitOptions{HoldoutPercent: 95}, "holdout"},
		{FitOptions{Ensemble: -1}, "ensemble"},
		{FitOptions{Ensemble: 17}, "ensemble"}, // 17 x 32 units
	}
	for _, c := range cases {
		if _, _, err := Fit(tab, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one about %s", c.opts, err, c.want)
		}
	}
	if _, _, err := Fit(synthTable(ReducedCatalog()[:3], 0, 1), FitOptions{}); err == nil || !strings.Contains(err.Error(), "3 training rows") {
		t.Errorf("3-row table: error %v, want one about training rows", err)
	}
	if _, _, err := Fit(nil, FitOptions{}); err == nil {
		t.Error("nil table: no error")
	}
	bad := synthTable(ReducedCatalog(), 0.03, 3)
	bad.Rows[0].MedianMS = -1
	if _, _, err := Fit(bad, FitOptions{}); err == nil || !strings.Contains(err.Error(), "row 0") {
		t.Errorf("invalid table: error %v, want one naming row 0", err)
	}
}
