package trainer_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

// tuneOpts keep the tuned tests quick: the default grids, fewer trees.
var tuneOpts = trainer.TuneOptions{MaxTrees: 300, EarlyStoppingRounds: 20}

func trainTuned(t *testing.T, d *trainer.Data, family model.Family, threads int) (*model.Model, *trainer.Report) {
	t.Helper()
	opts := tuneOpts
	m, rep, err := trainer.Train(context.Background(), d, trainer.Config{
		Family: family, Seed: 5, Tune: &opts, GBDT: trainer.GBDTOptions{Threads: threads}, CalibrationFolds: 2,
	})
	if err != nil {
		t.Fatalf("tuned train %s: %v", family, err)
	}
	return m, rep
}

// heldOutRaw scores d's held-out rows with m's raw output.
func heldOutRaw(t *testing.T, m *model.Model, d *trainer.Data) []float64 {
	t.Helper()
	s, err := model.NewScorer(m)
	if err != nil {
		t.Fatal(err)
	}
	w := d.Spec.Width()
	out := make([]float64, len(d.ValidLabels))
	for i := range out {
		out[i] = s.Raw(d.ValidRows[i*w : (i+1)*w])
	}
	return out
}

// untunedLike trains, without tuning, what candidate c of a tuning would
// give when refitted on all the training rows.
func untunedLike(t *testing.T, d *trainer.Data, family model.Family, c trainer.TuneCandidate) *model.Model {
	t.Helper()
	// Only its raw outputs are read, so its calibration takes the fewest
	// out-of-fold fits.
	cfg := trainer.Config{Family: family, Seed: 5, CalibrationFolds: 2}
	if family == model.FamilyGBDT {
		cfg.GBDT = trainer.GBDTOptions{MaxDepth: c.MaxDepth, MinChildWeight: c.MinChildWeight, NumTrees: c.Trees}
	} else {
		cfg.Logistic = trainer.LogisticOptions{C: c.C, Knots: c.Knots}
	}
	m, _, err := trainer.Train(context.Background(), d, cfg)
	if err != nil {
		t.Fatalf("train candidate %+v: %v", c, err)
	}
	return m
}

// withoutSeconds is a tuning report with its timings cleared, for
// comparing two runs.
func withoutSeconds(r *trainer.TuningReport) trainer.TuningReport {
	out := *r
	out.Candidates = slices.Clone(r.Candidates)
	for i := range out.Candidates {
		out.Candidates[i].Seconds = 0
	}
	return out
}

// TestTuningNeverSeesTheHeldOutRows relabels the held-out rows so that
// they favour a candidate the tuner did not choose, the one a tuner
// peeking at them would pick, and checks that tuning on the relabelled
// data chooses the same candidate with the same fold metrics and fits the
// same family parameters and calibration: only the held-out metrics,
// which are meant to come from the held-out rows, change.
func TestTuningNeverSeesTheHeldOutRows(t *testing.T) {
	g := history(t)
	for _, family := range []model.Family{model.FamilyLogistic, model.FamilyGBDT} {
		t.Run(string(family), func(t *testing.T) {
			m, rep := trainTuned(t, g.data, family, 0)
			tr := rep.Tuning
			// The held-out rows of the altered data are labelled by the
			// ranking of another candidate refitted on all training rows:
			// its top tenth won, the rest lost.
			other := (tr.Chosen + len(tr.Candidates)/2) % len(tr.Candidates)
			// A candidate that fits the same model as another (a pairs
			// candidate that found no pair) cannot be told from it: the
			// rival is one whose fold AUC no other candidate shares.
			for other == tr.Chosen || sharesFoldAUC(tr, other) {
				other = (other + 1) % len(tr.Candidates)
			}
			rival := heldOutRaw(t, untunedLike(t, g.data, family, tr.Candidates[other]), g.data)
			cut := slices.Sorted(slices.Values(rival))[len(rival)*9/10]
			altered := *g.data
			altered.ValidLabels = make([]bool, len(rival))
			for i, r := range rival {
				altered.ValidLabels[i] = r > cut
			}
			// On these held-out rows the rival candidate is the best and
			// the chosen one is not: peeking would change the choice.
			best, bestAUC := -1, math.Inf(-1)
			for i, c := range tr.Candidates {
				auc, err := evaluator.ROCAUC(heldOutRaw(t, untunedLike(t, g.data, family, c), g.data), altered.ValidLabels)
				if err != nil {
					t.Fatal(err)
				}
				if auc > bestAUC {
					best, bestAUC = i, auc
				}
			}
			if best != other || best == tr.Chosen {
				t.Fatalf("the altered held-out rows favour candidate %d; want the rival %d, not the chosen %d", best, other, tr.Chosen)
			}

			m2, rep2 := trainTuned(t, &altered, family, 0)
			if got, want := withoutSeconds(rep2.Tuning), withoutSeconds(tr); !equalJSON(t, got, want) {
				t.Errorf("tuning changed with the held-out labels:\ngot  %+v\nwant %+v", got, want)
			}
			if got, want := m2.Logistic, m.Logistic; !equalJSON(t, got, want) {
				t.Errorf("the logistic fit changed with the held-out labels")
			}
			if got, want := m2.GBDT, m.GBDT; !equalJSON(t, got, want) {
				t.Errorf("the gbdt fit changed with the held-out labels")
			}
			if rep2.Validation["roc_auc"] == rep.Validation["roc_auc"] {
				t.Errorf("held-out AUC %v on both label sets: the altered labels were not used where they should be", rep.Validation["roc_auc"])
			}
		})
	}
}

// sharesFoldAUC reports whether another candidate of tr has candidate
// i's fold AUC.
func sharesFoldAUC(tr *trainer.TuningReport, i int) bool {
	for j, c := range tr.Candidates {
		if j != i && c.ROCAUC == tr.Candidates[i].ROCAUC {
			return true
		}
	}
	return false
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// TestTunedTrainingIsDeterministic trains twice, the second time with the
// gbdt on one thread instead of every core: the artifacts are the same.
func TestTunedTrainingIsDeterministic(t *testing.T) {
	g := history(t)
	for _, family := range []model.Family{model.FamilyLogistic, model.FamilyGBDT} {
		t.Run(string(family), func(t *testing.T) {
			a, ra := trainTuned(t, g.data, family, 0)
			b, rb := trainTuned(t, g.data, family, 1)
			if !equalJSON(t, a, b) {
				t.Errorf("two tuned trainings with the same seed and data gave different models")
			}
			if !equalJSON(t, withoutSeconds(ra.Tuning), withoutSeconds(rb.Tuning)) {
				t.Errorf("two tuned trainings reported different tunings")
			}
		})
	}
}

// TestTuningReportsItsCandidatesAndChoice checks the report and the
// artifact's parameters against each other.
func TestTuningReportsItsCandidatesAndChoice(t *testing.T) {
	g := history(t)
	tests := []struct {
		family     model.Family
		candidates int
	}{
		{model.FamilyLogistic, 28}, // 7 Cs × 0 and 8 knots × 0 and 8 pairs
		{model.FamilyGBDT, 8},      // depths 2, 3, 4, 6 × min child weights 1, 5
	}
	for _, tt := range tests {
		t.Run(string(tt.family), func(t *testing.T) {
			m, rep := trainTuned(t, g.data, tt.family, 0)
			tr := rep.Tuning
			if tr == nil {
				t.Fatal("no tuning report")
			}
			// The grid's candidates, then one for each value tried beyond
			// an edge of it (tune_widen.go).
			widened := 0
			for _, w := range tr.Widened {
				if strings.Contains(w, ": tried ") {
					widened++
				}
			}
			if got, want := len(tr.Candidates), tt.candidates+widened; got != want {
				t.Errorf("%d candidates, want %d (%d widened: %q)", got, want, widened, tr.Widened)
			}
			// A history's fold is its latest snapshots, the candidates
			// fitted on rows a horizon earlier: fewer rows than the rest.
			if tr.Fold != "time" || tr.FoldRows < rep.TrainRows/6 || tr.FoldRows > rep.TrainRows/2 ||
				tr.FitRows+tr.FoldRows >= rep.TrainRows || tr.FitPositives == 0 || tr.FoldPositives == 0 {
				t.Errorf("fold %q: fitted on %d rows (%d won), judged on %d (%d won), of %d training rows",
					tr.Fold, tr.FitRows, tr.FitPositives, tr.FoldRows, tr.FoldPositives, rep.TrainRows)
			}
			// A weak candidate may rank the fold worse than chance (the
			// fixture's candidates are fitted on 22 won rows); the chosen
			// one must not.
			if auc := tr.Candidates[tr.Chosen].ROCAUC; !(auc > 0.5) {
				t.Errorf("the chosen candidate's fold AUC is %v, want above 0.5", auc)
			}
			for i, c := range tr.Candidates {
				if !(c.ROCAUC >= 0 && c.ROCAUC <= 1) || !(c.LogLoss > 0) {
					t.Errorf("candidate %d: fold AUC %v, log loss %v", i, c.ROCAUC, c.LogLoss)
				}
				if c.ROCAUC > tr.Candidates[tr.Chosen].ROCAUC {
					t.Errorf("candidate %d has fold AUC %v, above the chosen %d's %v", i, c.ROCAUC, tr.Chosen, tr.Candidates[tr.Chosen].ROCAUC)
				}
			}
			chosen := tr.Candidates[tr.Chosen]
			p := m.Metadata.Parameters
			if p["tuned"] != "true" || p["tune_candidates"] == "" || p["tune_fold"] == "" {
				t.Errorf("parameters %v do not say how the model was tuned", p)
			}
			switch tt.family {
			case model.FamilyGBDT:
				if chosen.Trees < 1 || chosen.Trees > tuneOpts.MaxTrees {
					t.Errorf("chosen %d trees, want 1 to %d", chosen.Trees, tuneOpts.MaxTrees)
				}
				want := map[string]string{
					"max_depth":        strconv.Itoa(chosen.MaxDepth),
					"min_child_weight": strconv.FormatFloat(chosen.MinChildWeight, 'g', -1, 64),
					"num_trees":        strconv.Itoa(chosen.Trees),
				}
				for k, v := range want {
					if p[k] != v {
						t.Errorf("parameter %s = %q, want %q", k, p[k], v)
					}
				}
				if got := len(m.GBDT.Trees); got != chosen.Trees {
					t.Errorf("the artifact has %d trees, the choice %d", got, chosen.Trees)
				}
			case model.FamilyLogistic:
				if got, want := p["C"], strconv.FormatFloat(chosen.C, 'g', -1, 64); got != want {
					t.Errorf("parameter C = %q, want %q", got, want)
				}
				if got, want := p["knots"], strconv.Itoa(chosen.Knots); got != want {
					t.Errorf("parameter knots = %q, want %q", got, want)
				}
				if got := m.Logistic.Encoding.HingeCount() > 0; got != (chosen.Knots > 0) {
					t.Errorf("the artifact has %d hinges, the choice %d knots", m.Logistic.Encoding.HingeCount(), chosen.Knots)
				}
				// The refit adds at most as many pairs as the chosen
				// candidate had on the fold.
				if got := len(m.Logistic.Encoding.Pairs); got > chosen.Pairs {
					t.Errorf("the artifact has %d pairs, the chosen candidate %d", got, chosen.Pairs)
				}
				if got, want := p["interactions"], strconv.Itoa(chosen.Pairs); got != want {
					t.Errorf("parameter interactions = %q, want %q", got, want)
				}
				// The plain encoding is tried first, additive before
				// paired, each C with every combination.
				for i, c := range tr.Candidates[:tt.candidates] {
					if want := []int{0, 8}[i/14]; c.Knots != want {
						t.Errorf("candidate %d has %d knots, want %d", i, c.Knots, want)
					}
					if want := []int{0, 8}[i/7%2]; c.Interactions != want || c.Pairs > c.Interactions {
						t.Errorf("candidate %d asked for %d pairs and has %d, want %d asked", i, c.Interactions, c.Pairs, want)
					}
				}
			}
		})
	}
}

// TestUntunedTrainingRecordsNoTuning keeps the untuned path as it was.
func TestUntunedTrainingRecordsNoTuning(t *testing.T) {
	m, rep := train(t, model.FamilyGBDT)
	if rep.Tuning != nil {
		t.Errorf("untuned training reported a tuning: %+v", rep.Tuning)
	}
	if _, ok := m.Metadata.Parameters["tuned"]; ok {
		t.Errorf("untuned training recorded tuned=%q", m.Metadata.Parameters["tuned"])
	}
}

// TestTuningFallsBackWhenTheFoldCannotChoose checks that when no candidate
// ranks the inner fold better than MinFoldAUC, the given parameters are
// fitted rather than the noise winner.
func TestTuningFallsBackWhenTheFoldCannotChoose(t *testing.T) {
	// The generated history's rows with the labels of the latest training
	// rows (where the time fold lies) shuffled among themselves: no
	// feature predicts them, so every candidate scores about 0.5 on the
	// fold, while the earlier rows keep the signal the refit and the
	// calibration need.
	d := *history(t).data
	d.TrainLabels = slices.Clone(d.TrainLabels)
	times := slices.Sorted(slices.Values(d.TrainTimes))
	cut := times[len(times)*7/10]
	var late []int
	for i, at := range d.TrainTimes {
		if at >= cut {
			late = append(late, i)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(late), func(i, j int) {
		a, b := late[i], late[j]
		d.TrainLabels[a], d.TrainLabels[b] = d.TrainLabels[b], d.TrainLabels[a]
	})
	m, rep, err := trainer.Train(t.Context(), &d, trainer.Config{
		Family: model.FamilyGBDT, Seed: 1, GBDT: trainer.GBDTOptions{NumTrees: 30, MaxDepth: 2},
		Tune: &trainer.TuneOptions{Depths: []int{3, 4}, MinChildWeights: []float64{1}, MaxTrees: 50, EarlyStoppingRounds: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tuning == nil || rep.Tuning.Fallback == "" {
		t.Fatalf("tuning on shuffled labels did not fall back: %+v", rep.Tuning)
	}
	if best := rep.Tuning.Candidates[rep.Tuning.Chosen].ROCAUC; best >= trainer.MinFoldAUC {
		t.Fatalf("the shuffled fold's best AUC %.4f is not below %.2f", best, trainer.MinFoldAUC)
	}
	if got := len(m.GBDT.Trees); got != 30 {
		t.Errorf("fallback fitted %d trees, want the 30 given", got)
	}
	if got := m.Metadata.Parameters["max_depth"]; got != "2" {
		t.Errorf("fallback fitted depth %q, want the 2 given", got)
	}
	if m.Metadata.Parameters["tune_fallback"] == "" {
		t.Error("the artifact does not record the fallback")
	}
}
