package trainer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/dataset/synth"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

// generated is a synthetic history shared by the tests: training rows up
// to a cut-off, and test rows of later snapshots that neither the family
// nor the calibration saw.
type generated struct {
	data      *trainer.Data
	testRows  []float64
	testLabel []bool
}

var (
	genOnce sync.Once
	gen     generated
	genErr  error
)

func history(t *testing.T) generated {
	t.Helper()
	genOnce.Do(func() {
		ctx := context.Background()
		dir := t.TempDir()
		cfg := synth.DefaultConfig()
		cfg.Leads = 12000
		cfg.Seed = 99
		if _, genErr = synth.Generate(ctx, dir, cfg); genErr != nil {
			return
		}
		var h *dataset.History
		h, _, genErr = dataset.LoadHistory(ctx, dataset.HistoryFiles{
			Leads: filepath.Join(dir, "leads.csv"), Events: filepath.Join(dir, "events.csv"), Outcomes: filepath.Join(dir, "outcomes.csv"),
		}, dataset.ReadOptions{})
		if genErr != nil {
			return
		}
		times := cfg.SnapshotTimes()
		// Train on the first snapshots, hold out from the seventh on;
		// test on the last ones, a horizon after the held-out rows'
		// labels end. The held-out period is set rather than left to the
		// default split (tested in oof_test.go), which would train on half
		// as many rows again and make every test here slower.
		gen.data, genErr = trainer.FromHistory(ctx, h, trainer.HistoryOptions{Snapshots: times[:9], ValidFrom: times[6], ObservedUntil: cfg.End()})
		if genErr != nil {
			return
		}
		var bind *dataset.Binding
		if bind, genErr = h.Bind(gen.data.Spec); genErr != nil {
			return
		}
		var ex *dataset.Examples
		if ex, genErr = h.Snapshots(dataset.SnapshotSpec{Times: times[12:], ObservedUntil: cfg.End()}); genErr != nil {
			return
		}
		gen.testLabel = ex.Label
		gen.testRows, genErr = bind.Matrix(ctx, ex)
	})
	if genErr != nil {
		t.Fatalf("prepare generated history: %v", genErr)
	}
	return gen
}

func train(t *testing.T, family model.Family) (*model.Model, *trainer.Report) {
	t.Helper()
	return trainKnots(t, family, 0, 0)
}

// trainKnots trains a family, a logistic regression with knots hinges per
// numeric feature and up to pairs interacting pairs. Each variant is
// trained once and shared by the tests that only read the model (each fit
// now carries five out-of-fold fits for its calibration); freshKnots
// trains anew.
func trainKnots(t *testing.T, family model.Family, knots, pairs int) (*model.Model, *trainer.Report) {
	t.Helper()
	key := fmt.Sprintf("%s/%d/%d", family, knots, pairs)
	trainedMu.Lock()
	defer trainedMu.Unlock()
	if c, ok := trained[key]; ok {
		return c.m, c.rep
	}
	m, rep := freshKnots(t, family, knots, pairs)
	trained[key] = trainedModel{m, rep}
	return m, rep
}

type trainedModel struct {
	m   *model.Model
	rep *trainer.Report
}

var (
	trainedMu sync.Mutex
	trained   = map[string]trainedModel{}
)

func freshKnots(t *testing.T, family model.Family, knots, pairs int) (*model.Model, *trainer.Report) {
	t.Helper()
	g := history(t)
	m, rep, err := trainer.Train(context.Background(), g.data, trainer.Config{
		Family: family, Seed: 5, GBDT: trainer.GBDTOptions{NumTrees: 60, MaxDepth: 4},
		Logistic: trainer.LogisticOptions{Knots: knots, Interactions: pairs},
		// Two out-of-fold models keep the tests quick; oof_test.go trains
		// with the default number.
		CalibrationFolds: 2,
	})
	if err != nil {
		t.Fatalf("train %s: %v", family, err)
	}
	return m, rep
}

var families = []model.Family{model.FamilyPoints, model.FamilyLogistic, model.FamilyGBDT}

// variants are the families, the logistic regression with hinges, and
// with hinges and pairs.
var variants = []struct {
	name   string
	family model.Family
	knots  int
	pairs  int
}{
	{"points", model.FamilyPoints, 0, 0},
	{"logistic", model.FamilyLogistic, 0, 0},
	{"logistic knots", model.FamilyLogistic, 8, 0},
	{"logistic pairs", model.FamilyLogistic, 8, 8},
	{"gbdt", model.FamilyGBDT, 0, 0},
}

func TestTrainedModelsAreDeterministic(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			a, _ := trainKnots(t, v.family, v.knots, v.pairs)
			b, _ := freshKnots(t, v.family, v.knots, v.pairs)
			ja, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Errorf("two trainings with the same seed and data gave different models")
			}
		})
	}
}

// TestContributionsAddUpToTheRawOutput holds every family's explanations
// to the 1e-9: base value plus contributions is the raw output,
// for the logistic regression with hinges too (each numeric feature's
// contribution sums its linear and hinge columns).
func TestContributionsAddUpToTheRawOutput(t *testing.T) {
	g := history(t)
	w := g.data.Spec.Width()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			m, _ := trainKnots(t, v.family, v.knots, v.pairs)
			if v.knots > 0 && m.Logistic.Encoding.HingeCount() == 0 {
				t.Fatal("the model has no hinges to explain")
			}
			if v.pairs > 0 && len(m.Logistic.Encoding.Pairs) == 0 {
				t.Fatal("the model has no pairs to explain")
			}
			s, err := model.NewScorer(m)
			if err != nil {
				t.Fatal(err)
			}
			var sc model.Scored
			worst := 0.0
			for i := 0; i < min(len(g.testLabel), 3000); i++ {
				if err := s.Explain(g.testRows[i*w:(i+1)*w], &sc); err != nil {
					t.Fatal(err)
				}
				sum := sc.Base
				for _, c := range sc.Contributions {
					sum += c
				}
				worst = math.Max(worst, math.Abs(sum-sc.Raw))
				if math.Abs(sc.FitSum+sc.EngagementSum+sc.Base-sc.Raw) > 1e-9 {
					t.Fatalf("row %d: fit %v + engagement %v + base %v ≠ raw %v", i, sc.FitSum, sc.EngagementSum, sc.Base, sc.Raw)
				}
			}
			if worst > 1e-9 {
				t.Errorf("contributions miss the raw output by up to %g, want ≤ 1e-9", worst)
			}
		})
	}
}

// TestCalibrationHoldsOnLaterData checks each variant's probabilities on
// snapshots after everything it was trained and calibrated on: expected
// calibration error within 0.02.
func TestCalibrationHoldsOnLaterData(t *testing.T) {
	g := history(t)
	w := g.data.Spec.Width()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			m, rep := trainKnots(t, v.family, v.knots, v.pairs)
			s, err := model.NewScorer(m)
			if err != nil {
				t.Fatal(err)
			}
			probs := make([]float64, len(g.testLabel))
			raws := make([]float64, len(g.testLabel))
			var sc model.Scored
			for i := range probs {
				if err := s.Score(g.testRows[i*w:(i+1)*w], &sc); err != nil {
					t.Fatal(err)
				}
				probs[i], raws[i] = sc.Probability, sc.Raw
			}
			_, ece, err := evaluator.Reliability(probs, g.testLabel, 10)
			if err != nil {
				t.Fatal(err)
			}
			auc, _ := evaluator.ROCAUC(raws, g.testLabel)
			t.Logf("%s: held-out AUC %.4f ECE %.4f; later test AUC %.4f ECE %.4f", v.name, rep.Validation["roc_auc"], rep.Validation["ece"], auc, ece)
			if ece > 0.02 {
				t.Errorf("expected calibration error on later data %.4f, want ≤ 0.02", ece)
			}
		})
	}
}

// TestScoringAllocatesNothingPerRow holds the hot path of every family to
// zero allocations once a scorer and its output are set up, explained or
// not.
func TestScoringAllocatesNothingPerRow(t *testing.T) {
	g := history(t)
	w := g.data.Spec.Width()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			m, _ := trainKnots(t, v.family, v.knots, v.pairs)
			s, err := model.NewScorer(m)
			if err != nil {
				t.Fatal(err)
			}
			var sc model.Scored
			row := g.testRows[:w]
			if err := s.Explain(row, &sc); err != nil { // sizes sc.Contributions
				t.Fatal(err)
			}
			for name, score := range map[string]func([]float64, *model.Scored) error{"Score": s.Score, "Explain": s.Explain} {
				allocs := testing.AllocsPerRun(50, func() {
					if err := score(row, &sc); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Errorf("%s allocates %v times per row, want 0", name, allocs)
				}
			}
		})
	}
}

// TestKnotsAreRecorded: a logistic regression with hinges or pairs says so
// in its parameters, and a plain one records exactly what it did before
// knots and pairs existed, so that its artifact is unchanged.
func TestKnotsAreRecorded(t *testing.T) {
	plain, _ := train(t, model.FamilyLogistic)
	for _, k := range []string{"knots", "hinges", "interactions", "pairs"} {
		if v, ok := plain.Metadata.Parameters[k]; ok {
			t.Errorf("a plain logistic regression records %s=%q", k, v)
		}
	}
	if plain.Logistic.Encoding.Hinges != nil {
		t.Errorf("a plain logistic regression has hinges")
	}
	m, _ := trainKnots(t, model.FamilyLogistic, 8, 0)
	p := m.Metadata.Parameters
	if got, want := p["hinges"], strconv.Itoa(m.Logistic.Encoding.HingeCount()); p["knots"] != "8" || got != want {
		t.Errorf("parameters knots=%q hinges=%q, want 8 and %s", p["knots"], got, want)
	}
	if m.Logistic.Encoding.Pairs != nil {
		t.Errorf("a logistic regression asked for no pairs has %d", len(m.Logistic.Encoding.Pairs))
	}
	m, _ = trainKnots(t, model.FamilyLogistic, 8, 8)
	p = m.Metadata.Parameters
	if p["interactions"] != "8" || p["pairs"] == "" || strings.Count(p["pairs"], "×") != len(m.Logistic.Encoding.Pairs) {
		t.Errorf("parameters interactions=%q pairs=%q for %d pairs, want 8 and each pair named", p["interactions"], p["pairs"], len(m.Logistic.Encoding.Pairs))
	}
}

// TestTrainedGridsReadTheirBasis: a trained GBDT's grid has the tree-path
// basis and the others the contributions basis, and each grid's cut
// points are the quartiles of the sums its scorer produces. The history
// has fewer training rows than the grid's sample (10,000), so the grid was
// learned from all of them and refitting it from Score's sums gives the
// same cut points. The history's first 10,000 training rows are used, so
// that the grid is learned from all of them.
func TestTrainedGridsReadTheirBasis(t *testing.T) {
	g := history(t)
	w := g.data.Spec.Width()
	d := *g.data
	n := min(len(d.TrainLabels), 10000)
	d.TrainRows, d.TrainLabels = d.TrainRows[:n*w], d.TrainLabels[:n]
	if d.TrainTimes != nil {
		d.TrainTimes = d.TrainTimes[:n]
	}
	rows := d.TrainRows
	for _, tc := range []struct {
		family model.Family
		basis  model.GridBasis
	}{
		{model.FamilyPoints, model.GridBasisContributions},
		{model.FamilyLogistic, model.GridBasisContributions},
		{model.FamilyGBDT, model.GridBasisTreePath},
	} {
		t.Run(string(tc.family), func(t *testing.T) {
			m, _, err := trainer.Train(t.Context(), &d, trainer.Config{Family: tc.family, Seed: 5, GBDT: trainer.GBDTOptions{NumTrees: 60, MaxDepth: 4}})
			if err != nil {
				t.Fatal(err)
			}
			if m.Grid.Basis != tc.basis {
				t.Fatalf("grid basis %q, want %q", m.Grid.Basis, tc.basis)
			}
			s, err := model.NewScorer(m)
			if err != nil {
				t.Fatal(err)
			}
			fits, engs, probs, raws := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
			var sc model.Scored
			for i := range n {
				if err := s.Score(rows[i*w:(i+1)*w], &sc); err != nil {
					t.Fatal(err)
				}
				fits[i], engs[i], probs[i], raws[i] = sc.FitSum, sc.EngagementSum, sc.Probability, sc.Raw
			}
			want, err := model.FitGrid(fits, engs, probs, raws, model.GridOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Grid; got.FitCuts != want.FitCuts || got.EngagementCuts != want.EngagementCuts {
				t.Errorf("fit cuts %v and engagement cuts %v, want %v and %v from the scorer's sums",
					got.FitCuts, got.EngagementCuts, want.FitCuts, want.EngagementCuts)
			}
		})
	}
}
