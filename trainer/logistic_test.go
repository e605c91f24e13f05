package trainer

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/leadscore/leadscore"
)

// synthetic draws n rows of d standard normal columns and labels from a
// known logistic model.
func synthetic(n, d int, w []float64, b float64, seed uint64) ([]float64, []bool) {
	rng := rand.New(rand.NewPCG(seed, 9))
	x := make([]float64, n*d)
	y := make([]bool, n)
	for i := 0; i < n; i++ {
		z := b
		for j := 0; j < d; j++ {
			v := rng.NormFloat64()
			x[i*d+j] = v
			z += w[j] * v
		}
		y[i] = rng.Float64() < sigmoid(z)
	}
	return x, y
}

func TestFitLogisticRecoversKnownCoefficients(t *testing.T) {
	t.Parallel()
	want := []float64{1.5, -2, 0.5, 0}
	x, y := synthetic(40000, len(want), want, -1, 1)
	fit, err := FitLogistic(context.Background(), x, len(want), y, LogisticOptions{C: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	for j, w := range want {
		if math.Abs(fit.Weights[j]-w) > 0.08 {
			t.Errorf("weight %d: got %.3f, want %.3f ± 0.08", j, fit.Weights[j], w)
		}
	}
	if math.Abs(fit.Intercept+1) > 0.08 {
		t.Errorf("intercept: got %.3f, want -1 ± 0.08", fit.Intercept)
	}
}

// TestFitLogisticReachesTheOptimum checks first-order optimality of the
// penalised objective: its gradient vanishes at the fitted parameters.
func TestFitLogisticReachesTheOptimum(t *testing.T) {
	t.Parallel()
	d := 5
	x, y := synthetic(5000, d, []float64{1, -1, 0.3, 2, 0}, 0.5, 2)
	const c = 0.01
	fit, err := FitLogistic(context.Background(), x, d, y, LogisticOptions{C: c, Tol: 1e-10})
	if err != nil {
		t.Fatal(err)
	}
	assertOptimal(t, fit, func(i int) []float64 { return x[i*d : (i+1)*d] }, y, c, nil)
}

// assertOptimal checks first-order optimality of the penalised objective
// Σ log loss + Σ scale[j] w[j]²/(2C) at fit (scale nil means 1): its
// gradient, summed over the design rows rowAt(i), vanishes.
func assertOptimal(t *testing.T, fit *LogisticFit, rowAt func(i int) []float64, y []bool, c float64, scale []float64) {
	t.Helper()
	d := len(fit.Weights)
	grad := make([]float64, d+1)
	for i := range y {
		row := rowAt(i)
		p := sigmoid(fit.Logit(row))
		if y[i] {
			p--
		}
		for j, v := range row {
			grad[j] += p * v
		}
		grad[d] += p
	}
	for j := 0; j < d; j++ {
		s := 1.0
		if scale != nil {
			s = scale[j]
		}
		grad[j] += fit.Weights[j] * s / c
	}
	for j, g := range grad {
		if math.Abs(g)/float64(len(y)) > 1e-6 {
			t.Errorf("gradient component %d is %.3g per row at the fit, want ~0", j, g/float64(len(y)))
		}
	}
}

func TestFitLogisticIsDeterministic(t *testing.T) {
	t.Parallel()
	x, y := synthetic(30000, 6, []float64{1, -1, 0.3, 2, 0, 0.1}, -2, 3)
	a, err := FitLogistic(context.Background(), x, 6, y, LogisticOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := FitLogistic(context.Background(), x, 6, y, LogisticOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for j := range a.Weights {
		if math.Float64bits(a.Weights[j]) != math.Float64bits(b.Weights[j]) {
			t.Fatalf("weight %d differs between runs: %v vs %v", j, a.Weights[j], b.Weights[j])
		}
	}
}

func TestFitLogisticRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		x    []float64
		d    int
		y    []bool
		opts LogisticOptions
	}{
		{"one class", []float64{1, 2}, 1, []bool{true, true}, LogisticOptions{}},
		{"ragged design", []float64{1, 2, 3}, 2, []bool{true, false}, LogisticOptions{}},
		{"NaN in design", []float64{1, math.NaN()}, 1, []bool{true, false}, LogisticOptions{}},
		{"negative C", []float64{1, 2}, 1, []bool{true, false}, LogisticOptions{C: -1}},
		{"no rows", nil, 1, nil, LogisticOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := FitLogistic(ctx, tt.x, tt.d, tt.y, tt.opts); leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Errorf("got %v, want EINVALID", err)
			}
		})
	}
}

func TestFitLogisticStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	x, y := synthetic(1000, 3, []float64{1, 1, 1}, 0, 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := FitLogistic(ctx, x, 3, y, LogisticOptions{}); err == nil {
		t.Error("a cancelled fit returned no error")
	}
}

// TestFitDesignReachesTheOptimumWithIndicatorsAndScaledPenalties checks
// the design form the trainer fits (dense columns plus each row's list of
// indicator columns, some columns' penalties scaled, as pair columns'
// are) against first-order optimality of the objective it states.
func TestFitDesignReachesTheOptimumWithIndicatorsAndScaledPenalties(t *testing.T) {
	t.Parallel()
	features, rows, y := pairData(6000, true, 5)
	additive, err := fitLinear(context.Background(), features, rows, y, LogisticOptions{C: 1})
	if err != nil {
		t.Fatal(err)
	}
	pairs, _, err := choosePairs(context.Background(), features, rows, y, additive.lin, 2)
	if err != nil || len(pairs) == 0 {
		t.Fatalf("no pairs to fit (%v)", err)
	}
	enc := additive.lin.Encoding.WithPairs(pairs)
	x, _ := newDesign(enc, len(features), rows, len(y))
	if len(x.dense) == 0 || len(x.dense) == enc.Width || len(x.on) == 0 {
		t.Fatalf("%d dense columns of %d and %d indicator ones: the design does not have both parts", len(x.dense), enc.Width, len(x.on))
	}
	x.scale = make([]float64, enc.Width)
	for j := range x.scale {
		x.scale[j] = 1 + float64(j%3)*7.5
	}
	const c = 0.5
	fit, err := fitDesign(context.Background(), x, y, LogisticOptions{C: c, Tol: 1e-10, MaxIter: 5000})
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float64, enc.Width)
	w := len(features)
	assertOptimal(t, fit, func(i int) []float64 {
		enc.Encode(rows[i*w:(i+1)*w], row)
		return row
	}, y, c, x.scale)
}
