package model

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkCompiledLinearRawWide scores rows of 30 numeric features, 5%
// of the values missing, as bench/logistic's table has them: the shape of
// the logistic prediction target.
func BenchmarkCompiledLinearRawWide(b *testing.B) {
	const w, n = 30, 4096
	rng := rand.New(rand.NewPCG(7, 8))
	features := make([]Feature, w)
	for j := range features {
		features[j] = Feature{Name: fmt.Sprint("x", j), Kind: KindNumeric}
	}
	rows := make([]float64, n*w)
	for i := range rows {
		rows[i] = rng.NormFloat64()
		if rng.IntN(20) == 0 {
			rows[i] = nan
		}
	}
	e, err := FitLinearEncoding(features, rows)
	if err != nil {
		b.Fatal(err)
	}
	l := &Linear{Encoding: e, Weights: make([]float64, e.Width), Means: make([]float64, e.Width)}
	for i := range l.Weights {
		l.Weights[i] = rng.NormFloat64()
	}
	benchmarkRaw(b, l.Compile(), rows, w)
}
