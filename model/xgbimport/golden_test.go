package xgbimport_test

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/model/xgbimport"
	"github.com/leadscore/leadscore/trainer"
)

// The tolerances of the issue: margins to 1e-6, contributions to 1e-5.
const (
	marginTolerance  = 1e-6
	contribTolerance = 1e-5
)

// golden is one case of testdata/gen.py: the model converted and its rows
// featurized as leadscore does, beside XGBoost's outputs for them.
type golden struct {
	booster *xgbimport.Booster
	spec    *model.FeatureSpec
	gbdt    *model.GBDT
	// rows are the featurized rows, row-major.
	rows []float64
	// margins, contribs (one per model feature) and bias are XGBoost's.
	margins  []float64
	contribs [][]float64
	bias     []float64
}

func loadGolden(t *testing.T, name string) *golden {
	t.Helper()
	ctx := context.Background()
	f, err := os.Open(filepath.Join("testdata", name+".model.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := xgbimport.Read(f, 0)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	table, err := dataset.ReadFlatTable(ctx, filepath.Join("testdata", name+".csv"), dataset.FlatOptions{Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := trainer.FlatAttributes(table)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := xgbimport.Map(b, attrs, nil, false)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	spec, g, err := xgbimport.Convert(b, mp, attrs)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	rows, err := trainer.FlatRows(ctx, table, spec)
	if err != nil {
		t.Fatal(err)
	}
	gd := &golden{booster: b, spec: spec, gbdt: g, rows: rows}
	gf, err := os.Open(filepath.Join("testdata", name+".golden.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	recs, err := csv.NewReader(gf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(recs[0]), len(b.FeatureNames)+2; got != want {
		t.Fatalf("golden columns: got %d, want %d", got, want)
	}
	for _, rec := range recs[1:] {
		v := make([]float64, len(rec))
		for j, s := range rec {
			if v[j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatal(err)
			}
		}
		gd.margins = append(gd.margins, v[0])
		gd.contribs = append(gd.contribs, v[1:len(v)-1])
		gd.bias = append(gd.bias, v[len(v)-1])
	}
	if got, want := len(gd.margins), table.Len(); got != want {
		t.Fatalf("golden rows: got %d, want %d", got, want)
	}
	return gd
}

func TestGoldenMatchesXGBoost(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"bank", "synth"} {
		t.Run(name+"_margins_and_contributions_equal_xgboost", func(t *testing.T) {
			t.Parallel()
			gd := loadGolden(t, name)
			g, w := gd.gbdt, gd.spec.Width()
			src := make([]float64, len(g.Sources))
			byFeature := make([]float64, w)
			var worstMargin, worstContrib float64
			for i, want := range gd.margins {
				row := gd.rows[i*w : (i+1)*w]
				got := g.Predict(row)
				worstMargin = max(worstMargin, math.Abs(got-want))
				if math.Abs(got-want) > marginTolerance {
					t.Errorf("row %d: margin got %.9g, want %.9g (XGBoost)", i+1, got, want)
				}
				if got, want := g.ExpectedValue(), gd.bias[i]; math.Abs(got-want) > contribTolerance {
					t.Errorf("row %d: expected value got %.9g, want XGBoost's bias %.9g", i+1, got, want)
				}
				// Contributions are a TreeSHAP walk, hundreds of
				// predictions: every row of the bank file, every fourth
				// of the 4,000 generated ones, keep the test quick under
				// -race.
				if len(gd.margins) > 1000 && i%4 != 0 {
					continue
				}
				g.SourceContributions(row, src)
				wantByFeature := make([]float64, w)
				for k, want := range gd.contribs[i] {
					worstContrib = max(worstContrib, math.Abs(src[k]-want))
					if math.Abs(src[k]-want) > contribTolerance {
						t.Errorf("row %d: contribution of %s got %.9g, want %.9g", i+1, g.Sources[k].Name, src[k], want)
					}
					wantByFeature[g.Sources[k].Feature] += want
				}
				// An attribute's contribution is the sum of its features',
				// checked on every tenth row of these: a second walk.
				if i%10 != 0 {
					continue
				}
				g.Contributions(row, byFeature)
				for j := range byFeature {
					if math.Abs(byFeature[j]-wantByFeature[j]) > contribTolerance {
						t.Errorf("row %d: contribution of %s got %.9g, want the sum of its features' %.9g", i+1, gd.spec.Features()[j].Name, byFeature[j], wantByFeature[j])
					}
				}
			}
			t.Logf("%s: %d rows, largest margin difference %.3g, largest contribution difference %.3g", name, len(gd.margins), worstMargin, worstContrib)
		})
	}
}

// TestGoldenCoversTheCases checks that the golden files exercise what the
// exactness test is for: missing values, one-hot and native categorical
// splits of both kinds, both objectives and a best iteration.
func TestGoldenCoversTheCases(t *testing.T) {
	t.Parallel()
	bank, synth := loadGolden(t, "bank"), loadGolden(t, "synth")
	count := func(gd *golden, pred func(n *xgbimport.Node) bool) int {
		k := 0
		for _, tr := range gd.booster.Trees {
			for i := range tr.Nodes {
				if !tr.Nodes[i].IsLeaf() && pred(&tr.Nodes[i]) {
					k++
				}
			}
		}
		return k
	}
	missing := 0
	for _, v := range synth.rows {
		if math.IsNaN(v) {
			missing++
		}
	}
	for _, c := range []struct {
		name string
		got  int
	}{
		{"bank one-hot splits", count(bank, func(n *xgbimport.Node) bool { return strings.Contains(bank.booster.FeatureNames[n.Feature], "_") })},
		{"synth partition splits (several categories)", count(synth, func(n *xgbimport.Node) bool { return n.Categorical && len(n.Categories) > 1 })},
		{"synth one-category splits", count(synth, func(n *xgbimport.Node) bool { return n.Categorical && len(n.Categories) == 1 })},
		{"synth one-hot splits", count(synth, func(n *xgbimport.Node) bool {
			return strings.HasPrefix(synth.booster.FeatureNames[n.Feature], "source_")
		})},
		{"synth missing values", missing},
	} {
		if c.got == 0 {
			t.Errorf("%s: got none, want some", c.name)
		}
	}
	if got, want := bank.booster.Objective, xgbimport.ObjectiveLogistic; got != want {
		t.Errorf("bank objective: got %s, want %s", got, want)
	}
	if got, want := synth.booster.Objective, xgbimport.ObjectiveLogitRaw; got != want {
		t.Errorf("synth objective: got %s, want %s", got, want)
	}
	for _, gd := range []*golden{bank, synth} {
		if !(gd.booster.BestIteration >= 0 && len(gd.booster.Trees) < gd.booster.TreesInFile) {
			t.Errorf("best iteration %d: got %d trees used of %d, want fewer than in the file", gd.booster.BestIteration, len(gd.booster.Trees), gd.booster.TreesInFile)
		}
	}
}

// TestImportedArtifactRoundTrips imports a golden model as the command
// line does and checks that its artifact reads back into a model that
// scores and explains every row alike, with its lineage.
func TestImportedArtifactRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The first 400 leads keep the test quick under -race.
	all, err := os.ReadFile(filepath.Join("testdata", "synth.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(all), "\n")
	path := filepath.Join(t.TempDir(), "synth-400.csv")
	if err := os.WriteFile(path, []byte(strings.Join(lines[:401], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	table, err := dataset.ReadFlatTable(ctx, path, dataset.FlatOptions{Label: "y", TimeColumn: "signed_up"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "synth.model.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := trainer.ImportXGBoost(ctx, f, trainer.XGBoostImport{Reference: table, Calibration: "platt"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := artifact.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := artifact.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"source_format", "source_sha256", "feature_mapping", "reference_sha256"} {
		if back.Metadata.Parameters[key] == "" {
			t.Errorf("lineage: parameter %s is missing", key)
		}
	}
	if back.Metadata.DataEnd.IsZero() || back.PointsBaseline == nil {
		t.Errorf("imported model: got training window end %v and points baseline %v, want both", back.Metadata.DataEnd, back.PointsBaseline != nil)
	}
	rows, err := trainer.FlatRows(ctx, table, m.Spec)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := model.NewScorer(m)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := model.NewScorer(back)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Spec.Width()
	var a, b model.Scored
	for i := range table.Len() {
		row := rows[i*w : (i+1)*w]
		if err := s1.Explain(row, &a); err != nil {
			t.Fatal(err)
		}
		if err := s2.Explain(row, &b); err != nil {
			t.Fatal(err)
		}
		if a.Probability != b.Probability || a.Cell != b.Cell || !slices.Equal(a.Contributions, b.Contributions) {
			t.Fatalf("row %d: got %+v after the round trip, want %+v", i+1, b, a)
		}
	}
}
