package evaluator

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPairedROCAUCMatchesTheDefinition computes DeLong's components by
// counting every positive-negative pair, and the variance of the difference
// from the covariance matrices as the 1988 paper writes it, on two
// correlated scorings with ties, and compares.
func TestPairedROCAUCMatchesTheDefinition(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 8))
	n := 300
	a, b := make([]float64, n), make([]float64, n)
	labels := make([]bool, n)
	for i := range labels {
		signal := rng.NormFloat64()
		labels[i] = signal+rng.NormFloat64() > 0.8
		a[i] = math.Round(4*(signal+0.5*rng.NormFloat64())) / 4 // coarse: ties
		b[i] = signal + rng.NormFloat64()
	}
	psi := func(x, y float64) float64 {
		switch {
		case x > y:
			return 1
		case x == y:
			return 0.5
		}
		return 0
	}
	comps := func(s []float64) (v10, v01 []float64) {
		for i := range s {
			if !labels[i] {
				continue
			}
			var sum, k float64
			for j := range s {
				if !labels[j] {
					sum += psi(s[i], s[j])
					k++
				}
			}
			v10 = append(v10, sum/k)
		}
		for j := range s {
			if labels[j] {
				continue
			}
			var sum, k float64
			for i := range s {
				if labels[i] {
					sum += psi(s[i], s[j])
					k++
				}
			}
			v01 = append(v01, sum/k)
		}
		return v10, v01
	}
	cov := func(x, y []float64) float64 {
		mx, my := meanOf(x), meanOf(y)
		var s float64
		for i := range x {
			s += (x[i] - mx) * (y[i] - my)
		}
		return s / float64(len(x)-1)
	}
	a10, a01 := comps(a)
	b10, b01 := comps(b)
	p, q := float64(len(a10)), float64(len(a01))
	wantVar := (cov(a10, a10)+cov(b10, b10)-2*cov(a10, b10))/p + (cov(a01, a01)+cov(b01, b01)-2*cov(a01, b01))/q

	gotA, gotB, se, err := PairedROCAUC(a, b, labels)
	if err != nil {
		t.Fatal(err)
	}
	wantA, _ := ROCAUC(a, labels)
	wantB, _ := ROCAUC(b, labels)
	if math.Abs(gotA-wantA) > 1e-12 || math.Abs(gotB-wantB) > 1e-12 {
		t.Errorf("AUCs %v, %v; want %v, %v", gotA, gotB, wantA, wantB)
	}
	if want := math.Sqrt(wantVar); math.Abs(se-want) > 1e-12 {
		t.Errorf("standard error %v, want %v", se, want)
	}
	if se <= 0 {
		t.Errorf("standard error %v of two different scorings, want positive", se)
	}
	if _, _, same, err := PairedROCAUC(b, b, labels); err != nil || same != 0 {
		t.Errorf("a scoring against itself: standard error %v, %v; want 0", same, err)
	}
}

func TestPairedROCAUCRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		a, b   []float64
		labels []bool
	}{
		{"lengths differ", []float64{1, 2, 3, 4}, []float64{1, 2, 3}, []bool{true, true, false, false}},
		{"NaN", []float64{1, 2, 3, math.NaN()}, []float64{1, 2, 3, 4}, []bool{true, true, false, false}},
		{"one positive", []float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, []bool{true, false, false, false}},
	} {
		if _, _, _, err := PairedROCAUC(tt.a, tt.b, tt.labels); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
