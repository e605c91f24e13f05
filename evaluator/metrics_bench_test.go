package evaluator

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkEvaluate measures every figure of 100,000 scored rows with the
// default 200 bootstrap resamples.
func BenchmarkEvaluate(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 100_000
	s := &Scores{Probability: make([]float64, n), Label: make([]bool, n)}
	for i := range n {
		p := rng.Float64() * 0.2
		s.Probability[i] = float64(int(p*1000)) / 1000 // ties, as calibrated scores have
		s.Label[i] = rng.Float64() < p
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(s, EvalOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
