package trainer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/leadscore/leadscore/model"
)

// TestChiSquareSurvivalMatchesClosedForms checks the chance of a χ² value
// at least x against the closed forms for 1, 2 and 4 degrees of freedom,
// far into the tail too, where only the log can tell chances apart.
func TestChiSquareSurvivalMatchesClosedForms(t *testing.T) {
	t.Parallel()
	for _, x := range []float64{0.01, 0.5, 1, 2.5, 3.841458820694124, 10, 40, 300, 2000} {
		for _, tc := range []struct {
			k    float64
			want float64 // log P(χ²_k > x)
		}{
			{1, math.Log(math.Erfc(math.Sqrt(x / 2)))},
			{2, -x / 2},
			{4, -x/2 + math.Log1p(x/2)},
		} {
			got := logChiSquareSurvival(x, tc.k)
			if math.IsInf(tc.want, -1) {
				// erfc underflows before the log does: the log must only be
				// far below any bound a pair is held to.
				if got > -700 {
					t.Errorf("log P(χ²_%g > %g) = %v, want below -700", tc.k, x, got)
				}
				continue
			}
			if math.Abs(got-tc.want) > 1e-9*max(1, math.Abs(tc.want)) {
				t.Errorf("log P(χ²_%g > %g) = %.12g, want %.12g", tc.k, x, got, tc.want)
			}
		}
	}
	if got := math.Exp(logChiSquareSurvival(3.841458820694124, 1)); math.Abs(got-0.05) > 1e-9 {
		t.Errorf("P(χ²_1 > 3.8415) = %v, want 0.05", got)
	}
	if got := logChiSquareSurvival(0, 3); got != 0 {
		t.Errorf("log P(χ²_3 > 0) = %v, want 0", got)
	}
}

// pairData draws rows of six features (0 a categorical of 5 categories,
// 1 to 3 numeric, 4 boolean, 5 numeric with missing values) whose log-odds
// add up each feature's own effect and, when interact is set, a term
// that only the combination of features 0 and 1 carries: category 2
// converts far better above the middle of feature 1 and worse below.
func pairData(n int, interact bool, seed uint64) ([]model.Feature, []float64, []bool) {
	features := []model.Feature{
		{Name: "plan", Kind: model.KindCategorical, Categories: []string{"a", "b", "c", "d", "e"}},
		{Name: "x1", Kind: model.KindNumeric},
		{Name: "x2", Kind: model.KindNumeric},
		{Name: "x3", Kind: model.KindNumeric},
		{Name: "flag", Kind: model.KindBoolean},
		{Name: "x5", Kind: model.KindNumeric},
	}
	rng := rand.New(rand.NewPCG(seed, 31))
	w := len(features)
	x := make([]float64, n*w)
	y := make([]bool, n)
	for i := range n {
		r := x[i*w : (i+1)*w]
		r[0] = float64(rng.IntN(5))
		r[1], r[2], r[3] = rng.NormFloat64(), rng.NormFloat64(), rng.ExpFloat64()
		r[4] = float64(rng.IntN(2))
		r[5] = rng.NormFloat64()
		z := -2 + 0.3*r[0] + 0.8*r[1] - 0.5*r[2] + 0.4*r[3] + 0.6*r[4] + 0.3*r[5]
		if rng.IntN(6) == 0 {
			r[5] = math.NaN()
		}
		if interact && r[0] == 2 {
			z += 2.5 * math.Copysign(1, r[1])
		}
		y[i] = rng.Float64() < sigmoid(z)
	}
	return features, x, y
}

func TestChoosePairsFindsTheInteraction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	features, x, y := pairData(20000, true, 1)
	opts := LogisticOptions{C: 1, Knots: 8, Interactions: 4}
	fit, err := fitLinear(ctx, features, x, y, opts)
	if err != nil {
		t.Fatal(err)
	}
	pairs := fit.lin.Encoding.Pairs
	if len(pairs) == 0 || pairs[0].A.Feature != 0 || pairs[0].B.Feature != 1 {
		t.Fatalf("pairs %s, want plan×x1 first", describePairs(features, pairs, nil))
	}
	if len(fit.pairs) != len(pairs) {
		t.Fatalf("%d pair statistics for %d pairs", len(fit.pairs), len(pairs))
	}
	// The pair improves the ranking of fresh rows over the additive model.
	additive, err := fitLinear(ctx, features, x, y, LogisticOptions{C: 1, Knots: 8})
	if err != nil {
		t.Fatal(err)
	}
	_, tx, ty := pairData(20000, true, 2)
	score := func(l *model.Linear) float64 {
		c := l.Compile()
		z := make([]float64, len(ty))
		for i := range z {
			z[i] = c.Raw(tx[i*len(features) : (i+1)*len(features)])
		}
		return auc(t, z, ty)
	}
	with, without := score(fit.lin), score(additive.lin)
	t.Logf("fresh rows: AUC %.4f with %s, %.4f additive", with, describePairs(features, pairs, fit.pairs), without)
	if with < without+0.01 {
		t.Errorf("AUC with the pair %.4f, additive %.4f: want at least 0.01 better", with, without)
	}
}

// TestChoosePairsAddsNoneWithoutInteractions holds the significance rule
// to its promise: where the log-odds are additive, no pair of the 15 is
// added, on several draws.
func TestChoosePairsAddsNoneWithoutInteractions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			features, x, y := pairData(20000, false, seed)
			fit, err := fitLinear(ctx, features, x, y, LogisticOptions{C: 1, Knots: 8, Interactions: 8})
			if err != nil {
				t.Fatal(err)
			}
			if p := fit.lin.Encoding.Pairs; len(p) > 0 {
				t.Errorf("additive data got pairs %s", describePairs(features, p, nil))
			}
		})
	}
}

// TestPairStatisticIsCalibratedWithoutInteractions checks the statistic
// behind the rule: on additive data, the chance it gives each pair is
// about uniform, so about 10% of pairs fall below 0.1 (a statistic that
// overstated interactions would put many more there, one that understated
// them next to none).
func TestPairStatisticIsCalibratedWithoutInteractions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	below, total := 0, 0
	for seed := uint64(10); seed < 30; seed++ {
		features, x, y := pairData(5000, false, seed)
		fit, err := fitLinear(ctx, features, x, y, LogisticOptions{C: 1, Knots: 8})
		if err != nil {
			t.Fatal(err)
		}
		scores, err := scorePairs(ctx, features, x, y, fit.lin)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range scores {
			total++
			if s.logP < math.Log(0.1) {
				below++
			}
		}
	}
	share := float64(below) / float64(total)
	t.Logf("%d of %d pairs below 0.1 (%.3f)", below, total, share)
	if share < 0.03 || share > 0.2 {
		t.Errorf("%.3f of the pairs of additive data have a chance below 0.1, want about 0.1", share)
	}
}

func TestFitLinearRefusesBadInteractions(t *testing.T) {
	t.Parallel()
	features, x, y := pairData(200, true, 1)
	for _, n := range []int{-1, model.MaxPairs + 1} {
		if _, err := fitLinear(context.Background(), features, x, y, LogisticOptions{Interactions: n}); err == nil {
			t.Errorf("interactions %d accepted", n)
		}
	}
}

// TestTunedRefitKeepsTheFoldsNumberOfPairs: the refit on all the training
// rows adds at most as many pairs as the chosen candidate had on the
// inner fold, even where all the rows would make more of them
// significant.
func TestTunedRefitKeepsTheFoldsNumberOfPairs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	features, x, y := pairData(30000, true, 3)
	w := len(features)
	split := 28000
	d := &Data{
		Spec:        nil,
		TrainRows:   x[:split*w],
		TrainLabels: y[:split],
		ValidRows:   x[split*w:],
		ValidLabels: y[split:],
		Shuffled:    true,
	}
	opts, rep, err := tuneLogistic(ctx, features, d, LogisticOptions{}, 1, TuneOptions{Cs: []float64{1}, Knots: []int{0}, Interactions: []int{8}}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	chosen := rep.Candidates[rep.Chosen]
	if opts.Interactions != chosen.Pairs {
		t.Errorf("refit allowed %d pairs, the chosen candidate had %d", opts.Interactions, chosen.Pairs)
	}
	uncapped, err := fitLinear(ctx, features, d.TrainRows, d.TrainLabels, LogisticOptions{C: 1, Interactions: 8})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(uncapped.lin.Encoding.Pairs); n <= chosen.Pairs {
		t.Fatalf("all the training rows give %d pairs, the fold's candidate %d: the test does not exercise the cap", n, chosen.Pairs)
	}
	refit, err := fitLinear(ctx, features, d.TrainRows, d.TrainLabels, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(refit.lin.Encoding.Pairs); n > chosen.Pairs {
		t.Errorf("the refit has %d pairs, the chosen candidate %d", n, chosen.Pairs)
	}
}
