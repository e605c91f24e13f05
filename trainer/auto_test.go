package trainer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

// TestAutoTrainsTheChosenFamilyAsItsOwnFamilyWould chooses the family on
// the generated history (whose event rules let points take part), tuned
// on one-value grids and untuned, and checks that the artifact is the one
// training the chosen family directly gives, with the choice recorded.
func TestAutoTrainsTheChosenFamilyAsItsOwnFamilyWould(t *testing.T) {
	g := history(t)
	for _, tt := range []struct {
		name string
		tune *trainer.TuneOptions
	}{
		// One value per grid keeps the test quick; what is checked is that
		// the fold's tuning is the one the final fit uses.
		{"tuned", &trainer.TuneOptions{MaxTrees: 60, EarlyStoppingRounds: 10, Depths: []int{3}, MinChildWeights: []float64{1}, Cs: []float64{1}, Knots: []int{0}, Interactions: []int{0}}},
		{"untuned", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := trainer.Config{Family: trainer.FamilyAuto, Seed: 5, Tune: tt.tune, GBDT: trainer.GBDTOptions{NumTrees: 60, MaxDepth: 4}}
			m, rep, err := trainer.Train(context.Background(), g.data, cfg)
			if err != nil {
				t.Fatalf("train auto: %v", err)
			}
			ch := rep.FamilyChoice
			if ch == nil {
				t.Fatal("no family choice reported")
			}
			if rep.Family != ch.Chosen || m.Family != ch.Chosen {
				t.Errorf("report family %s, model family %s, choice %s", rep.Family, m.Family, ch.Chosen)
			}
			var got []model.Family
			for _, c := range ch.Candidates {
				got = append(got, c.Family)
				if c.Error != "" {
					t.Errorf("%s could not be fitted on the fold: %s", c.Family, c.Error)
				}
				if !(c.ROCAUC > 0 && c.ROCAUC <= 1) || c.BelowBest < 0 || c.BelowBestSE < 0 {
					t.Errorf("%s: fold AUC %v, %v below the best (standard error %v)", c.Family, c.ROCAUC, c.BelowBest, c.BelowBestSE)
				}
				if (c.Tuning != nil) != (tt.tune != nil && c.Family != model.FamilyPoints) {
					t.Errorf("%s: tuning report %v with tuning %v", c.Family, c.Tuning != nil, tt.tune != nil)
				}
			}
			if len(got) != 3 || got[0] != model.FamilyPoints || got[1] != model.FamilyLogistic || got[2] != model.FamilyGBDT {
				t.Errorf("candidates %v, want points, logistic, gbdt", got)
			}
			if ch.Fold != "time" || ch.FoldRows == 0 || ch.FoldRows >= rep.TrainRows {
				t.Errorf("fold %q of %d rows, of %d training rows", ch.Fold, ch.FoldRows, rep.TrainRows)
			}
			p := m.Metadata.Parameters
			if !strings.HasPrefix(p["family_choice"], "auto: "+string(ch.Chosen)+" ranked") || strings.Count(p["family_candidates"], " auc ") != 3 {
				t.Errorf("parameters do not record the choice: family_choice %q, family_candidates %q", p["family_choice"], p["family_candidates"])
			}

			direct := cfg
			direct.Family = ch.Chosen
			m2, rep2, err := trainer.Train(context.Background(), g.data, direct)
			if err != nil {
				t.Fatalf("train %s: %v", ch.Chosen, err)
			}
			for k := range p {
				if strings.HasPrefix(k, "family_") {
					delete(p, k)
				}
			}
			if !equalJSON(t, m, m2) {
				t.Errorf("auto's %s artifact differs from training %s directly", ch.Chosen, ch.Chosen)
			}
			if rep.Tuning != nil && !equalJSON(t, withoutSeconds(rep.Tuning), withoutSeconds(rep2.Tuning)) {
				t.Errorf("auto's tuning report differs from training %s directly", ch.Chosen)
			}
		})
	}
}
