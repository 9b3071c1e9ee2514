package latency

import "testing"

func BenchmarkPredict(b *testing.B) {
	m, _, err := Fit(synthTable(ReducedCatalog(), 0.03, 1), FitOptions{Epochs: 1})
	if err != nil {
		b.Fatal(err)
	}
	blk := teacherBlocks[5]
	for b.Loop() {
		m.Predict(blk)
	}
}

func BenchmarkDecomposeTeacher(b *testing.B) {
	g := teacher.graph()
	for b.Loop() {
		if _, err := Decompose(g, 256, 256); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFitFull is one default training run on the full catalogue.
func BenchmarkFitFull(b *testing.B) {
	t := synthTable(FullCatalog(), 0.03, 7)
	for b.Loop() {
		if _, _, err := Fit(t, FitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFullTable(b *testing.B) {
	data, err := synthTable(FullCatalog(), 0.03, 7).Canonical()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
