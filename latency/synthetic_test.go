package latency

import (
	"math"
	"math/rand/v2"
)

// A made-up device for testing the trainer: a roofline per render pass.
// Nothing here was measured; the numbers are of a plausible phone GPU.
const (
	synthPeakMACs   = 50e9 // multiply-accumulates per second
	synthBandwidth  = 10e9 // bytes per second
	synthPassMS     = 0.04 // fixed cost of one render pass
	synthTexelBytes = 16   // RGBA32F
	synthMRT        = 4    // output slices one pass writes
)

// synthLatency is the analytic latency of b on the made-up device, in
// milliseconds. It is written independently of Features: it counts
// passes, re-reads of the input per pass and weight traffic, which the
// features do not.
func synthLatency(b Block) float64 {
	slices := func(c int) float64 { return math.Ceil(float64(c) / 4) }
	pix := float64(b.H * b.W)
	switch b.Kind {
	case KindConv:
		return synthConv(b.K, b.Stride, slices(b.Cin), slices(b.Cout), pix, b.Residual)
	case KindResBlock:
		return synthConv(b.K, 1, slices(b.Cin), slices(b.Mid), pix, false) +
			synthConv(b.K, 1, slices(b.Mid), slices(b.Cin), pix, true) + 0.01
	case KindUpsampleAdd:
		passes := math.Ceil(slices(b.Cin) / synthMRT)
		bytes := synthTexelBytes * pix * slices(b.Cin) * (4 + 4 + 4)
		return passes*synthPassMS + bytes/synthBandwidth*1e3
	case KindGuidedFilter:
		const passes = 9
		bytes := synthTexelBytes * pix * slices(b.Cin) * 3 * passes
		return passes*synthPassMS + bytes/synthBandwidth*1e3 + pix*float64(b.K*b.K)*6*passes/synthPeakMACs*1e3
	}
	return math.NaN()
}

func synthConv(k, stride int, sin, sout, inPix float64, residual bool) float64 {
	outPix := inPix / float64(stride*stride)
	passes := math.Ceil(sout / synthMRT)
	macs := outPix * float64(k*k) * 16 * sin * sout
	fetch := inPix * sin * passes                            // every pass reads the whole input (taps hit the cache)
	weights := float64(k*k) * sin * sout * 4 * outPix / 1024 // weight texels, re-fetched per tile
	texels := fetch + weights + outPix*sout
	if residual {
		texels += outPix * sout
	}
	compute := macs / synthPeakMACs * 1e3
	memory := texels * synthTexelBytes / synthBandwidth * 1e3
	return passes*synthPassMS + max(compute, memory)
}

// synthTable profiles blocks on the made-up device, with log-normal noise
// of sigma noise on each median, deterministic for a seed.
func synthTable(blocks []Block, noise float64, seed uint64) *Table {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := &Table{Schema: Schema, Device: Device{
		UserAgent: "synthetic: roofline oracle in latency/synthetic_test.go, not measured",
		Precision: PrecisionFP32, Timer: TimerFence, Date: "2026-01-01T00:00:00Z",
	}}
	for _, b := range blocks {
		med := synthLatency(b) * math.Exp(noise*rng.NormFloat64())
		t.Rows = append(t.Rows, Row{
			Block: b, MedianMS: med, Reps: 20,
			P10MS: med * math.Exp(-1.28*0.05), P90MS: med * math.Exp(1.28*0.05),
		})
	}
	return t
}
