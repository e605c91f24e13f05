package trainer

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
)

// foldScores are labels of n fold rows and a scoring of them that carries
// signal: the latent score plus noise of the given size, so that less
// noise ranks better.
func foldScores(n int, seed uint64) (latent []float64, labels []bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	latent = make([]float64, n)
	labels = make([]bool, n)
	for i := range latent {
		latent[i] = rng.NormFloat64()
		labels[i] = latent[i]+rng.NormFloat64() > 1
	}
	return latent, labels
}

func noisy(latent []float64, sd float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]float64, len(latent))
	for i, x := range latent {
		out[i] = x + sd*rng.NormFloat64()
	}
	return out
}

// candidate is a measured family candidate with its fold outputs.
func candidate(t *testing.T, fam model.Family, raw []float64, labels []bool) FamilyCandidate {
	t.Helper()
	c := FamilyCandidate{Family: fam, raw: raw}
	auc, err := evaluator.ROCAUC(raw, labels)
	if err != nil {
		t.Fatal(err)
	}
	c.ROCAUC = auc
	return c
}

func TestFamilyChoiceRule(t *testing.T) {
	t.Parallel()
	latent, labels := foldScores(2000, 3)
	t.Run("a clear winner wins", func(t *testing.T) {
		ch := &FamilyChoice{FoldRows: len(labels), Candidates: []FamilyCandidate{
			candidate(t, model.FamilyPoints, noisy(latent, 3, 1), labels),
			candidate(t, model.FamilyLogistic, noisy(latent, 1.5, 2), labels),
			candidate(t, model.FamilyGBDT, noisy(latent, 0.2, 3), labels),
		}}
		if err := ch.choose(labels); err != nil {
			t.Fatal(err)
		}
		if ch.Chosen != model.FamilyGBDT {
			t.Errorf("chose %s, want gbdt (fold AUCs %v, %v, %v)", ch.Chosen, ch.Candidates[0].ROCAUC, ch.Candidates[1].ROCAUC, ch.Candidates[2].ROCAUC)
		}
		for _, c := range ch.Candidates[:2] {
			if !(c.BelowBest > c.BelowBestSE) || !(c.BelowBestSE > 0) {
				t.Errorf("%s: %.4f below the best with standard error %.4f, want beyond it", c.Family, c.BelowBest, c.BelowBestSE)
			}
		}
		if !strings.Contains(ch.Reason, "gbdt ranked") || !strings.Contains(ch.Reason, "beyond one standard error") {
			t.Errorf("reason %q does not say why gbdt won", ch.Reason)
		}
	})
	t.Run("a tie within the noise goes to the simpler family", func(t *testing.T) {
		// Both families are the latent score with noise of the same size:
		// neither ranks better but by the fold's chance, which here
		// favours the gbdt a little.
		logistic, gbdt := noisy(latent, 0.5, 8), noisy(latent, 0.5, 2)
		ch := &FamilyChoice{FoldRows: len(labels), Candidates: []FamilyCandidate{
			candidate(t, model.FamilyPoints, noisy(latent, 3, 1), labels),
			candidate(t, model.FamilyLogistic, logistic, labels),
			candidate(t, model.FamilyGBDT, gbdt, labels),
		}}
		if err := ch.choose(labels); err != nil {
			t.Fatal(err)
		}
		lg := ch.Candidates[1]
		if !(lg.BelowBest > 0 && lg.BelowBest <= lg.BelowBestSE) {
			t.Fatalf("the fixture's logistic is %.4f below the best with standard error %.4f: not a tie to break", lg.BelowBest, lg.BelowBestSE)
		}
		if ch.Chosen != model.FamilyLogistic {
			t.Errorf("chose %s, want logistic: %.4f below gbdt with standard error %.4f", ch.Chosen, lg.BelowBest, lg.BelowBestSE)
		}
		if !strings.Contains(ch.Reason, "simpler family wins the tie") {
			t.Errorf("reason %q does not say the tie went to the simpler family", ch.Reason)
		}
	})
	t.Run("a failed candidate is reported and skipped", func(t *testing.T) {
		ch := &FamilyChoice{FoldRows: len(labels), Candidates: []FamilyCandidate{
			{Family: model.FamilyPoints, Error: `invalid points rule "demo-request"`},
			candidate(t, model.FamilyLogistic, noisy(latent, 1.5, 2), labels),
			candidate(t, model.FamilyGBDT, noisy(latent, 0.2, 3), labels),
		}}
		if err := ch.choose(labels); err != nil {
			t.Fatal(err)
		}
		if ch.Chosen != model.FamilyGBDT {
			t.Errorf("chose %s, want gbdt", ch.Chosen)
		}
		if !strings.Contains(ch.Reason, "points could not be fitted") {
			t.Errorf("reason %q does not mention the failed points candidate", ch.Reason)
		}
		params := map[string]string{}
		ch.parameters(params)
		if !strings.Contains(params["family_candidates"], `points error invalid points rule "demo-request"`) {
			t.Errorf("family_candidates %q does not record the points error", params["family_candidates"])
		}
	})
	t.Run("no candidate fitted is an error naming each failure", func(t *testing.T) {
		ch := &FamilyChoice{Candidates: []FamilyCandidate{
			{Family: model.FamilyPoints, Error: "no rules"},
			{Family: model.FamilyLogistic, Error: "diverged"},
		}}
		err := ch.choose(labels)
		if err == nil || !strings.Contains(err.Error(), "points: no rules") || !strings.Contains(err.Error(), "logistic: diverged") {
			t.Errorf("got %v, want an error naming both failures", err)
		}
	})
}

// TestGridWideningFindsAnOptimumBeyondTheGrid runs the widening on a fold
// AUC that peaks at C = 50, beyond the grid 0.1, 1, 10: the grid widens to
// 100, which beats 10, then tries 1000, which loses, and stops.
func TestGridWideningFindsAnOptimumBeyondTheGrid(t *testing.T) {
	t.Parallel()
	foldAUC := func(c float64) float64 { return 0.8 - 0.01*math.Pow(math.Log10(c)-math.Log10(50), 2) }
	rep := &TuningReport{}
	for _, c := range []float64{0.1, 1, 10} {
		rep.add(TuneCandidate{C: c, ROCAUC: foldAUC(c)}, nil)
	}
	var tried []float64
	err := rep.widen([]*gridAxis{{name: "C", values: []float64{0.1, 1, 10}, at: func(c TuneCandidate) float64 { return c.C }, lo: minTuneC, hi: maxTuneC}},
		func(_ string, v float64) error {
			tried = append(tried, v)
			rep.add(TuneCandidate{C: v, ROCAUC: foldAUC(v)}, nil)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Candidates[rep.Chosen].C; got != 100 {
		t.Errorf("chose C %g, want 100", got)
	}
	if len(tried) != 2 || tried[0] != 100 || tried[1] != 1000 {
		t.Errorf("tried %v beyond the grid, want [100 1000]", tried)
	}
	if len(rep.Widened) != 2 || !strings.Contains(rep.Widened[0], "C 10 was the highest value tried: tried 100") {
		t.Errorf("widened %q, want both steps recorded", rep.Widened)
	}

	t.Run("bounded", func(t *testing.T) {
		// An optimum far below the grid: three steps down, each better,
		// then widening stops and says so.
		rep := &TuningReport{}
		for _, c := range []float64{0.03, 0.1} {
			rep.add(TuneCandidate{C: c, ROCAUC: 0.7 - c}, nil)
		}
		n := 0
		err := rep.widen([]*gridAxis{{name: "C", values: []float64{0.03, 0.1}, at: func(c TuneCandidate) float64 { return c.C }, lo: minTuneC, hi: maxTuneC}},
			func(_ string, v float64) error {
				n++
				rep.add(TuneCandidate{C: v, ROCAUC: 0.7 - v}, nil)
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if n != maxWidenings {
			t.Errorf("tried %d values beyond the grid, want %d", n, maxWidenings)
		}
		if got, want := rep.Candidates[rep.Chosen].C, 0.001; got != want {
			t.Errorf("chose C %g, want %g (0.03 → 0.009 → 0.003 → 0.001, rounded to one digit each step)", got, want)
		}
		if last := rep.Widened[len(rep.Widened)-1]; !strings.Contains(last, "still on the edge") {
			t.Errorf("last widening note %q, want it to say the edge was not left", last)
		}
	})
	t.Run("a single value and a depth at its bound stay", func(t *testing.T) {
		for _, a := range []*gridAxis{
			{name: "C", values: []float64{1}},
			{name: "depth", values: []float64{10, 12}, linear: true, lo: 1, hi: gbdtMaxDepth},
		} {
			if v, ok := a.beyond(a.values[len(a.values)-1]); ok {
				t.Errorf("%s %v: widened to %g, want no value beyond", a.name, a.values, v)
			}
		}
		depth := &gridAxis{name: "depth", values: []float64{2, 3, 4, 6}, linear: true, lo: 1, hi: gbdtMaxDepth}
		if v, ok := depth.beyond(2); !ok || v != 1 {
			t.Errorf("depth 2 at the low edge widens to %g, %v; want 1", v, ok)
		}
	})
}

// TestTreeCapWidensWhenEarlyStoppingNeverStops tunes stumps at a learning
// rate so small that the fold's loss still falls after the default cap of
// trees: the cap doubles, and the candidate with more trees wins.
func TestTreeCapWidensWhenEarlyStoppingNeverStops(t *testing.T) {
	t.Parallel()
	n := 300
	d := &Data{TrainRows: make([]float64, n), TrainLabels: make([]bool, n)}
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range n {
		x := rng.Float64()
		d.TrainRows[i] = x
		d.TrainLabels[i] = rng.Float64() < 0.2+0.6*x
	}
	f, err := newInnerFold(d, 1)
	if err != nil {
		t.Fatal(err)
	}
	features := []model.Feature{{Name: "x", Kind: model.KindNumeric}}
	rep, err := tuneGBDTOn(context.Background(), features, d, f, GBDTOptions{LearningRate: 0.0005, Threads: 1},
		TuneOptions{Depths: []int{1}, MinChildWeights: []float64{1}}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Candidates) < 2 || rep.Candidates[0].Trees != 1000 || rep.Candidates[1].Trees <= 1000 {
		t.Fatalf("candidates %+v, want the cap of 1000 kept whole, then a wider cap", rep.Candidates)
	}
	if !strings.Contains(rep.Widened[0], "1000 trees, the cap, were all kept: tried up to 2000") {
		t.Errorf("widened %q, want the cap's widening recorded", rep.Widened)
	}
}
