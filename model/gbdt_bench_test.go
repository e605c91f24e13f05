package model

import (
	"math/rand/v2"
	"testing"
)

// benchEnsemble is 200 full trees of depth 6 over 30 features, the shape
// the prediction target is stated for, with some missing values
// and both default directions.
func benchEnsemble(b *testing.B) (*GBDT, []float64) {
	b.Helper()
	const width, trees, depth, rows = 30, 200, 6, 1 << 16
	rng := rand.New(rand.NewPCG(1, 2))
	m := randomEnsemble(rng, width, trees, depth, false)
	if err := m.Validate(); err != nil {
		b.Fatal(err)
	}
	x := make([]float64, rows*width)
	for i := range x {
		x[i] = rng.NormFloat64()
		if rng.IntN(20) == 0 {
			x[i] = nan
		}
	}
	return m, x
}

func BenchmarkGBDTPredictBatch(b *testing.B) {
	m, x := benchEnsemble(b)
	out := make([]float64, len(x)/m.Width)
	for b.Loop() {
		if err := m.PredictBatch(x, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(out))/1000, "µs/row")
}

func BenchmarkGBDTPredictBatchParallel(b *testing.B) {
	m, x := benchEnsemble(b)
	out := make([]float64, len(x)/m.Width)
	for b.Loop() {
		if err := m.PredictBatchParallel(x, out, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(out))/1000, "µs/row")
}

func BenchmarkGBDTPredict(b *testing.B) {
	m, x := benchEnsemble(b)
	n := len(x) / m.Width
	for b.Loop() {
		for i := range n {
			sink += m.Predict(x[i*m.Width : (i+1)*m.Width])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/1000, "µs/row")
}

var sink float64

// BenchmarkGBDTPredictCategorical scores trees whose categorical splits
// (a third of them, on feature 0) send one category left, as one-vs-rest
// splitting grows them and as lead data with industries, countries and
// sources gives them, against the same trees with general category sets.
func BenchmarkGBDTPredictCategorical(b *testing.B) {
	for _, single := range []bool{false, true} {
		name := "sets"
		if single {
			name = "one-category"
		}
		b.Run(name, func(b *testing.B) {
			const width, trees, depth, rows = 30, 200, 6, 1 << 14
			rng := rand.New(rand.NewPCG(1, 2))
			m := randomEnsembleSets(rng, width, trees, depth, true, single)
			if err := m.Validate(); err != nil {
				b.Fatal(err)
			}
			x := randomRows(rng, rows, width)
			out := make([]float64, rows)
			b.ResetTimer()
			for b.Loop() {
				if err := m.PredictBatch(x, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*rows), "µs/row")
		})
	}
}
