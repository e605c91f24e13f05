package trainer_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

// TestRefitLearnsFromTheHeldOutRowsAndStaysCalibrated checks Config.Refit:
// the family is fitted again on the training and held-out rows with the
// first fit's parameters, deterministically; the first fit's calibration
// keeps its shape at the refit's level and holds on later data; and
// explanations still add up.
func TestRefitLearnsFromTheHeldOutRowsAndStaysCalibrated(t *testing.T) {
	g := history(t)
	w := g.data.Spec.Width()
	for _, family := range []model.Family{model.FamilyLogistic, model.FamilyGBDT} {
		t.Run(string(family), func(t *testing.T) {
			cfg := trainer.Config{Family: family, Seed: 5, GBDT: trainer.GBDTOptions{NumTrees: 60, MaxDepth: 4}, CalibrationFolds: 2}
			first, firstRep, err := trainer.Train(t.Context(), g.data, cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Refit = true
			m, rep, err := trainer.Train(t.Context(), g.data, cfg)
			if err != nil {
				t.Fatal(err)
			}
			again, _, err := trainer.Train(t.Context(), g.data, cfg)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(m)
			b, _ := json.Marshal(again)
			f, _ := json.Marshal(first)
			switch {
			case !bytes.Equal(a, b):
				t.Fatal("two refits with the same seed and data differ")
			case bytes.Equal(a, f):
				t.Fatal("the refit model equals the first fit: the held-out rows were not learned from")
			case !rep.Refit || m.Metadata.Parameters["refit"] == "":
				t.Fatal("the refit is not recorded in the report and the artifact")
			case rep.Validation["roc_auc"] != firstRep.Validation["roc_auc"]:
				t.Fatalf("held-out AUC %v, want the first fit's %v", rep.Validation["roc_auc"], firstRep.Validation["roc_auc"])
			}
			if m.Calibration.Method != first.Calibration.Method || m.Calibration.A != first.Calibration.A {
				t.Fatalf("the refit's calibration %+v does not keep the first fit's shape %+v", m.Calibration, first.Calibration)
			}
			if rep.Calibration == nil || rep.Calibration.Refit == "" || m.Metadata.Parameters["calibration_refit"] == "" {
				t.Fatal("the refit's re-anchored calibration is not recorded")
			}
			if family == model.FamilyGBDT && len(m.GBDT.Trees) != len(first.GBDT.Trees) {
				t.Fatalf("refit grew %d trees, the first fit %d", len(m.GBDT.Trees), len(first.GBDT.Trees))
			}
			s, err := model.NewScorer(m)
			if err != nil {
				t.Fatal(err)
			}
			n := len(g.testLabel)
			probs := make([]float64, n)
			var sc model.Scored
			worst := 0.0
			for i := range n {
				row := g.testRows[i*w : (i+1)*w]
				if i < 2000 {
					if err := s.Explain(row, &sc); err != nil {
						t.Fatal(err)
					}
					sum := sc.Base
					for _, c := range sc.Contributions {
						sum += c
					}
					worst = max(worst, math.Abs(sum-sc.Raw))
				}
				probs[i] = m.Calibration.Probability(s.Raw(row))
			}
			if worst > 1e-9 {
				t.Errorf("contributions miss the raw output by %g", worst)
			}
			_, ece, err := evaluator.Reliability(probs, g.testLabel, 10)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s refit: later-data ECE %.4f", family, ece)
			if ece > 0.02 {
				t.Errorf("refit model's calibration error on later data %.4f, want ≤ 0.02", ece)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
