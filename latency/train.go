package latency

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
)

// FitOptions tune [Fit]. The zero value gives the defaults.
type FitOptions struct {
	Hidden       []int   // hidden layer widths; default {32, 32}
	Epochs       int     // passes over the training rows; default 600
	BatchSize    int     // default 32
	LearningRate float64 // Adam's initial step, decayed to 1% of it; default 0.003
	Seed         uint64  // weight initialization and shuffling
	// Ensemble is how many MLPs are trained, with seeds Seed, Seed+1,
	// ..., and merged into one whose output is the mean of theirs (in
	// ln ms: a geometric mean of the latencies); default 5. Seeds alone
	// moved a single MLP's held-out error by a fifth (docs/latency.md).
	Ensemble int
	// HoldoutPercent of the configurations are held out for the report:
	// 0 means 20; a negative value holds out none. A configuration is held
	// out when the FNV-1a hash of its [Block.Key] modulo 100 is below the
	// percentage ([HeldOut]), so the split depends neither on the seed nor
	// on the row order. A kind with fewer than MinHoldoutKindRows rows in
	// the table is kept whole in training: too few to spare any.
	HoldoutPercent int
}

// MinTrainRows is the fewest training rows Fit accepts.
const MinTrainRows = 4

// MinHoldoutKindRows is the fewest rows of a kind for Fit to hold any of
// that kind out.
const MinHoldoutKindRows = 10

// Report is how well a fit predicts. Percentage errors are
// |predicted - median| / median * 100.
type Report struct {
	TrainRows, TestRows int
	TrainMAPE           float64 // mean over training rows, percent
	TestMAPE            float64 // mean over held-out rows, percent; 0 without any
	TestMaxAPE          float64 // worst held-out row, percent
	Worst               Block   // the worst held-out row's configuration
	Epochs              int
	Loss                float64 // final mean squared error of the standardized ln(ms), training rows
}

func (o FitOptions) withDefaults() (FitOptions, error) {
	if o.Hidden == nil {
		o.Hidden = []int{32, 32}
	}
	o.Epochs = cmpOr(o.Epochs, 600)
	o.BatchSize = cmpOr(o.BatchSize, 32)
	o.Ensemble = cmpOr(o.Ensemble, 5)
	if o.LearningRate == 0 {
		o.LearningRate = 0.003
	}
	if o.HoldoutPercent == 0 {
		o.HoldoutPercent = 20
	}
	switch {
	case len(o.Hidden) > MaxMLPLayers-1:
		return o, fmt.Errorf("fit: %d hidden layers, at most %d", len(o.Hidden), MaxMLPLayers-1)
	case slices.ContainsFunc(o.Hidden, func(w int) bool { return w < 1 || w > MaxMLPWidth }):
		return o, fmt.Errorf("fit: hidden widths %v: want 1..%d", o.Hidden, MaxMLPWidth)
	case o.Ensemble < 1 || o.Ensemble*slices.Max(append([]int{1}, o.Hidden...)) > MaxMLPWidth:
		return o, fmt.Errorf("fit: ensemble of %d MLPs of widths %v: the merged widths must stay within %d", o.Ensemble, o.Hidden, MaxMLPWidth)
	case o.Epochs < 1 || o.Epochs > 1000000:
		return o, fmt.Errorf("fit: epochs %d: out of range 1..1000000", o.Epochs)
	case o.BatchSize < 1:
		return o, fmt.Errorf("fit: batch size %d: want at least 1", o.BatchSize)
	case !(o.LearningRate > 0 && o.LearningRate < 1):
		return o, fmt.Errorf("fit: learning rate %g: want in (0, 1)", o.LearningRate)
	case o.HoldoutPercent > 90:
		return o, fmt.Errorf("fit: holdout %d%%: at most 90", o.HoldoutPercent)
	}
	return o, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// HeldOut reports whether Fit with the given holdout percentage keeps b
// out of training.
func HeldOut(b Block, percent int) bool {
	h := fnv.New64a()
	h.Write([]byte(b.Key()))
	return percent > 0 && int(h.Sum64()%100) < percent
}

// Fit trains a predictor on t with Adam, deterministically for a given
// seed, and reports its error on the training and held-out rows.
func Fit(t *Table, opts FitOptions) (*MLP, Report, error) {
	var rep Report
	if t == nil {
		return nil, rep, fmt.Errorf("fit: nil table")
	}
	if err := t.Validate(); err != nil {
		return nil, rep, fmt.Errorf("fit: %w", err)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, rep, err
	}
	perKind := map[string]int{}
	for _, r := range t.Rows {
		perKind[r.Block.Kind]++
	}
	var train, test []Row
	for _, r := range t.Rows {
		if perKind[r.Block.Kind] >= MinHoldoutKindRows && HeldOut(r.Block, opts.HoldoutPercent) {
			test = append(test, r)
		} else {
			train = append(train, r)
		}
	}
	if len(train) < MinTrainRows {
		return nil, rep, fmt.Errorf("fit: %d training rows, want at least %d", len(train), MinTrainRows)
	}
	members := make([]*MLP, opts.Ensemble)
	var xs [][]float64 // standardized by the scaling every member shares
	var ys []float64
	for k := range members {
		o := opts
		o.Seed += uint64(k)
		m := newMLP(train, o)
		if xs == nil {
			xs, ys = make([][]float64, len(train)), make([]float64, len(train))
			for i, r := range train {
				xs[i] = m.standardize(Features(r.Block))
				ys[i] = (math.Log(r.MedianMS) - m.OutMean) / m.OutStd
			}
		}
		rep.Loss += adam(m, xs, ys, o) / float64(len(members))
		members[k] = m
	}
	m := merge(members)
	if hash, err := t.Hash(); err == nil {
		m.Table = hash
	}
	m.Device = t.Device.Renderer
	if m.Device == "" {
		m.Device = t.Device.UserAgent
	}
	rep.Epochs = opts.Epochs
	rep.TrainRows, rep.TestRows = len(train), len(test)
	rep.TrainMAPE, _, _ = m.MAPE(train)
	if len(test) > 0 {
		rep.TestMAPE, rep.TestMaxAPE, rep.Worst = m.MAPE(test)
	}
	if err := m.Validate(); err != nil { // diverged training
		return nil, rep, fmt.Errorf("fit: %w", err)
	}
	return m, rep, nil
}

// newMLP sets the scaling from the training rows and draws He-uniform
// initial weights.
func newMLP(train []Row, opts FitOptions) *MLP {
	n := len(FeatureNames)
	m := &MLP{
		Format: MLPFormat, Features: slices.Clone(FeatureNames), Activation: "relu", Target: "ln_ms",
		InMean: make([]float64, n), InStd: make([]float64, n),
	}
	feats := make([][]float64, len(train))
	logs := make([]float64, len(train))
	for i, r := range train {
		feats[i] = Features(r.Block)
		logs[i] = math.Log(r.MedianMS)
	}
	for j := range n {
		col := make([]float64, len(train))
		for i := range train {
			col[i] = feats[i][j]
		}
		m.InMean[j], m.InStd[j] = meanStd(col)
	}
	m.OutMean, m.OutStd = meanStd(logs)

	rng := rand.New(rand.NewPCG(opts.Seed, 0x6c6174656e6379)) // "latency"
	in := n
	for _, out := range append(slices.Clone(opts.Hidden), 1) {
		limit := math.Sqrt(6 / float64(in))
		l := DenseLayer{W: make([][]float64, out), B: make([]float64, out)}
		for j := range l.W {
			l.W[j] = make([]float64, in)
			for i := range l.W[j] {
				l.W[j][i] = (2*rng.Float64() - 1) * limit
			}
		}
		m.Layers = append(m.Layers, l)
		in = out
	}
	return m
}

// meanStd returns the mean and standard deviation of v, with a deviation
// of 1 where v is constant (a feature no training row varies).
func meanStd(v []float64) (float64, float64) {
	mean := 0.0
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	std := math.Sqrt(ss / float64(len(v)))
	if std < 1e-9 {
		std = 1
	}
	return mean, std
}

func (m *MLP) standardize(f []float64) []float64 {
	x := make([]float64, len(f))
	for i := range f {
		x[i] = (f[i] - m.InMean[i]) / m.InStd[i]
	}
	return x
}

// MAPE returns the mean and the largest absolute percentage error of m's
// predictions on rows, and the block of the largest; zeros for no rows.
func (m *MLP) MAPE(rows []Row) (mean, worst float64, at Block) {
	if len(rows) == 0 {
		return 0, 0, Block{}
	}
	for _, r := range rows {
		e := math.Abs(m.Predict(r.Block)-r.MedianMS) / r.MedianMS * 100
		mean += e
		if e > worst || at.Kind == "" {
			worst, at = e, r.Block
		}
	}
	return mean / float64(len(rows)), worst, at
}

// adam minimizes the mean squared error of m on (xs, ys) by minibatch Adam
// with a cosine-decayed step, and returns the final training loss.
func adam(m *MLP, xs [][]float64, ys []float64, opts FitOptions) float64 {
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	L := len(m.Layers)
	// Gradients and Adam moments, shaped like the layers.
	grad, mom, vel := zeroLike(m.Layers), zeroLike(m.Layers), zeroLike(m.Layers)
	acts := make([][]float64, L+1) // acts[0] input, acts[l+1] output of layer l
	for l, layer := range m.Layers {
		acts[l+1] = make([]float64, len(layer.B))
	}
	deltas := make([][]float64, L)
	for l := range deltas {
		deltas[l] = make([]float64, len(m.Layers[l].B))
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x73687566666c65)) // "shuffle"
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	step := 0
	totalSteps := opts.Epochs * ((len(xs) + opts.BatchSize - 1) / opts.BatchSize)
	for range opts.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for start := 0; start < len(order); start += opts.BatchSize {
			batch := order[start:min(start+opts.BatchSize, len(order))]
			for _, g := range grad {
				clear(g.B)
				for _, row := range g.W {
					clear(row)
				}
			}
			for _, i := range batch {
				acts[0] = xs[i]
				forward(m, acts)
				// d(mean squared error)/d(output).
				deltas[L-1][0] = 2 * (acts[L][0] - ys[i]) / float64(len(batch))
				for l := L - 1; l >= 0; l-- {
					layer, g := m.Layers[l], grad[l]
					for j, d := range deltas[l] {
						g.B[j] += d
						for k, a := range acts[l] {
							g.W[j][k] += d * a
						}
					}
					if l == 0 {
						break
					}
					for k := range deltas[l-1] {
						if acts[l][k] <= 0 { // relu'
							deltas[l-1][k] = 0
							continue
						}
						s := 0.0
						for j, d := range deltas[l] {
							s += d * layer.W[j][k]
						}
						deltas[l-1][k] = s
					}
				}
			}
			step++
			lr := opts.LearningRate * (0.01 + 0.99*0.5*(1+math.Cos(math.Pi*float64(step)/float64(totalSteps))))
			c1 := 1 - math.Pow(beta1, float64(step))
			c2 := 1 - math.Pow(beta2, float64(step))
			update := func(p, g, mo, ve []float64) {
				for i := range p {
					mo[i] = beta1*mo[i] + (1-beta1)*g[i]
					ve[i] = beta2*ve[i] + (1-beta2)*g[i]*g[i]
					p[i] -= lr * (mo[i] / c1) / (math.Sqrt(ve[i]/c2) + eps)
				}
			}
			for l := range m.Layers {
				update(m.Layers[l].B, grad[l].B, mom[l].B, vel[l].B)
				for j := range m.Layers[l].W {
					update(m.Layers[l].W[j], grad[l].W[j], mom[l].W[j], vel[l].W[j])
				}
			}
		}
	}
	loss := 0.0
	for i := range xs {
		acts[0] = xs[i]
		forward(m, acts)
		d := acts[L][0] - ys[i]
		loss += d * d
	}
	return loss / float64(len(xs))
}

// forward fills acts[1:] from acts[0], relu on all layers but the last.
func forward(m *MLP, acts [][]float64) {
	for l, layer := range m.Layers {
		for j, row := range layer.W {
			s := layer.B[j]
			for i, w := range row {
				s += w * acts[l][i]
			}
			if l < len(m.Layers)-1 {
				s = max(s, 0)
			}
			acts[l+1][j] = s
		}
	}
}

func zeroLike(layers []DenseLayer) []DenseLayer {
	out := make([]DenseLayer, len(layers))
	for l, layer := range layers {
		out[l].B = make([]float64, len(layer.B))
		out[l].W = make([][]float64, len(layer.W))
		for j := range layer.W {
			out[l].W[j] = make([]float64, len(layer.W[j]))
		}
	}
	return out
}
