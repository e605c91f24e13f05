package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
)

// scorerSpec is a spec of 30 features, the benchmark ensemble's width: an
// industry (categorical, feature 0), a partner flag and nine numeric
// attributes, the lead's age, three event kinds counted in three windows
// and decayed, and the six activity summaries.
func scorerSpec() *FeatureSpec {
	s := &FeatureSpec{
		Version: SpecVersion,
		Fit: []FitFeature{
			{Attribute: "industry", Kind: KindCategorical, Categories: []string{"software", "retail", "finance"}},
			{Attribute: "partner", Kind: KindBoolean},
		},
		Kinds: []EventKind{
			{Name: "page_view.pricing", Type: "page_view", Property: "page", Value: "pricing"},
			{Name: "page_view", Type: "page_view"},
			{Name: "email_open", Type: "email_open"},
		},
		WindowDays:       []int{7, 30, 90},
		HalfLifeDays:     DefaultHalfLifeDays,
		DailyCap:         DefaultDailyCap,
		HandRaiseTypes:   []string{"demo_request"},
		UnsubscribeTypes: []string{"unsubscribe"},
		BounceTypes:      []string{"email_bounce"},
	}
	for _, a := range []string{"employees", "revenue", "a", "b", "c", "d", "e", "f", "g"} {
		s.Fit = append(s.Fit, FitFeature{Attribute: a, Kind: KindNumeric})
	}
	return s
}

// scorerPointsRules read attributes, events and a signal of scorerSpec.
const scorerPointsRules = `
rules:
  - name: software
    attribute: industry
    equals: software
    points: 10.1
  - name: partner
    attribute: partner
    equals: true
    points: 6.6
  - name: mid-size
    attribute: employees
    min: 0.5
    max: 2
    points: 3.3
  - name: pricing
    event: page_view
    page: pricing
    window_days: 7
    points: 5.3
    max_points: 30
  - name: opens
    event: email_open
    decay: true
    points: 0.7
  - name: hand-raise
    signal: hand_raise
    points: 25
`

// scorerCase is a model for the scorer's tests.
type scorerCase struct {
	name   string
	family Family
	basis  GridBasis
	// categorical gives a GBDT categorical splits on the industry.
	categorical bool
}

var scorerCases = []scorerCase{
	{"logistic", FamilyLogistic, GridBasisContributions, false},
	{"points", FamilyPoints, GridBasisContributions, false},
	{"gbdt, contributions basis", FamilyGBDT, GridBasisContributions, false},
	{"gbdt, tree-path basis", FamilyGBDT, GridBasisTreePath, false},
	{"gbdt, tree-path basis, categorical splits", FamilyGBDT, GridBasisTreePath, true},
}

// scorerModel builds a model of the case over scorerSpec from random
// parameters (a GBDT of the given trees and depth) and fits its grid, on
// the case's basis, to n random rows, which it returns.
func scorerModel(t testing.TB, c scorerCase, trees, depth, n int) (*Model, []float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, uint64(len(c.name))))
	spec := scorerSpec()
	features := spec.Features()
	w := len(features)
	rows := scorerRows(rng, features, n)
	m := &Model{Family: c.family, Spec: spec, Calibration: &Calibration{Method: CalibrationPlatt, A: 0.8, B: -1}}
	switch c.family {
	case FamilyLogistic:
		e, err := FitLinearEncodingWith(features, rows, LinearEncodingOptions{Knots: 3})
		if err != nil {
			t.Fatal(err)
		}
		l := &Linear{Encoding: e, Intercept: -1.5, Weights: make([]float64, e.Width)}
		for i := range l.Weights {
			l.Weights[i] = rng.NormFloat64() * 0.3
		}
		setMeans(t, l, rows, w)
		m.Logistic = l
	case FamilyPoints:
		m.Points = compileRules(t, scorerPointsRules, spec)
	case FamilyGBDT:
		m.GBDT = randomEnsemble(rng, w, trees, depth, c.categorical)
	}
	// A one-lead grid of the right basis lets a scorer compute the sums
	// the real grid is fitted from, as the trainer does.
	g, err := FitGrid([]float64{0}, []float64{0}, []float64{0.5}, []float64{0}, GridOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g.Basis = c.basis
	m.Grid = g
	s, err := NewScorer(m)
	if err != nil {
		t.Fatal(err)
	}
	fits, engs, probs, raws := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	var sc Scored
	for i := range n {
		if err := s.Score(rows[i*w:(i+1)*w], &sc); err != nil {
			t.Fatal(err)
		}
		fits[i], engs[i], probs[i], raws[i] = sc.FitSum, sc.EngagementSum, sc.Probability, sc.Raw
	}
	if m.Grid, err = FitGrid(fits, engs, probs, raws, GridOptions{}); err != nil {
		t.Fatal(err)
	}
	m.Grid.Basis = c.basis
	return m, rows
}

// scorerRows draws n rows of the features, with missing values, unseen
// categories and values on both sides of the random ensembles' normal
// thresholds.
func scorerRows(rng *rand.Rand, features []Feature, n int) []float64 {
	rows := make([]float64, 0, n*len(features))
	for range n {
		for _, f := range features {
			var x float64
			switch f.Kind {
			case KindCategorical:
				x = float64(rng.IntN(len(f.Categories) + 1))
			case KindBoolean:
				x = float64(rng.IntN(2))
			default:
				x = rng.NormFloat64() + 0.5
			}
			if rng.IntN(10) == 0 {
				x = math.NaN()
			}
			rows = append(rows, x)
		}
	}
	return rows
}

func same(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// TestScoreAndExplainAgree: Explain is Score plus the contributions, to
// the bit, so a lead gets the same probability, tier and cell whether it
// is explained or not; the contributions and the grid's sums each add up
// to Raw − Base; and the sums are those of the grid's basis.
func TestScoreAndExplainAgree(t *testing.T) {
	t.Parallel()
	for _, c := range scorerCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, rows := scorerModel(t, c, 60, 5, 2000)
			s, err := NewScorer(m)
			if err != nil {
				t.Fatal(err)
			}
			w := m.Spec.Width()
			var fitMask []bool
			for _, f := range m.Spec.Features() {
				fitMask = append(fitMask, f.Group == GroupFit)
			}
			var got, want Scored
			// Score keeps the memory of contributions an Explain left.
			if err := s.Explain(rows[:w], &got); err != nil {
				t.Fatal(err)
			}
			cells := map[leadscore.Cell]bool{}
			for i := range 500 {
				row := rows[i*w : (i+1)*w]
				if err := s.Explain(row, &want); err != nil {
					t.Fatal(err)
				}
				if err := s.Score(row, &got); err != nil {
					t.Fatal(err)
				}
				if len(got.Contributions) != 0 {
					t.Fatalf("row %d: Score left %d contributions, want none", i, len(got.Contributions))
				}
				if cap(got.Contributions) < w {
					t.Fatalf("row %d: Score dropped the contributions' memory", i)
				}
				if !same(got.Raw, want.Raw) || !same(got.Base, want.Base) || !same(got.Probability, want.Probability) ||
					!same(got.Percentile, want.Percentile) || !same(got.FitSum, want.FitSum) || !same(got.EngagementSum, want.EngagementSum) ||
					got.Score != want.Score || got.Tier != want.Tier || got.Cell != want.Cell || got.Action != want.Action {
					t.Fatalf("row %d: Score gives %+v, Explain %+v", i, got, want)
				}
				if r := s.Raw(row); !same(got.Raw, r) {
					t.Fatalf("row %d: Score's raw output %v, Raw %v", i, got.Raw, r)
				}
				cells[got.Cell] = true

				if len(want.Contributions) != w {
					t.Fatalf("row %d: Explain gave %d contributions, want %d", i, len(want.Contributions), w)
				}
				sum := want.Base
				var fit, eng float64
				for j, v := range want.Contributions {
					sum += v
					if fitMask[j] {
						fit += v
					} else {
						eng += v
					}
				}
				tol := 1e-9 * max(1, math.Abs(want.Raw))
				if math.Abs(sum-want.Raw) > tol {
					t.Fatalf("row %d: base + contributions %v, raw %v", i, sum, want.Raw)
				}
				if got := want.Base + want.FitSum + want.EngagementSum; math.Abs(got-want.Raw) > tol {
					t.Fatalf("row %d: base + fit + engagement %v, raw %v", i, got, want.Raw)
				}
				if c.basis == GridBasisTreePath {
					wantFit, wantEng := naivePath(m.GBDT, row, fitMask)
					if math.Abs(want.FitSum-wantFit) > 1e-9 || math.Abs(want.EngagementSum-wantEng) > 1e-9 {
						t.Fatalf("row %d: sums %v and %v, tree paths %v and %v", i, want.FitSum, want.EngagementSum, wantFit, wantEng)
					}
				} else if !same(want.FitSum, fit) || !same(want.EngagementSum, eng) {
					t.Fatalf("row %d: sums %v and %v, summed contributions %v and %v", i, want.FitSum, want.EngagementSum, fit, eng)
				}
			}
			// A grid fitted on the rows spreads them: the test compares
			// cells that mean something.
			if len(cells) < 10 {
				t.Errorf("500 rows fall in %d cells, want at least 10", len(cells))
			}
		})
	}
}

// TestContributionsBasisGradesAGBDTFromTreeSHAP: a GBDT grid of the
// contributions basis (every artifact made before bases existed) keeps
// reading the summed TreeSHAP contributions, which are not the tree-path
// sums: its cut points were fitted on them.
func TestContributionsBasisGradesAGBDTFromTreeSHAP(t *testing.T) {
	t.Parallel()
	m, rows := scorerModel(t, scorerCase{name: "old gbdt", family: FamilyGBDT}, 60, 5, 500)
	s, err := NewScorer(m)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Spec.Width()
	var fitMask []bool
	for _, f := range m.Spec.Features() {
		fitMask = append(fitMask, f.Group == GroupFit)
	}
	phi := make([]float64, w)
	var sc Scored
	differ := 0
	for i := range 500 {
		row := rows[i*w : (i+1)*w]
		if err := s.Score(row, &sc); err != nil {
			t.Fatal(err)
		}
		m.GBDT.Contributions(row, phi)
		var fit, eng float64
		for j, v := range phi {
			if fitMask[j] {
				fit += v
			} else {
				eng += v
			}
		}
		if !same(sc.FitSum, fit) || !same(sc.EngagementSum, eng) {
			t.Fatalf("row %d: sums %v and %v, TreeSHAP's %v and %v", i, sc.FitSum, sc.EngagementSum, fit, eng)
		}
		if got, want := sc.Cell, m.Grid.Cell(fit, eng); got != want {
			t.Fatalf("row %d: cell %v, want %v from TreeSHAP", i, got, want)
		}
		if pathFit, _ := naivePath(m.GBDT, row, fitMask); math.Abs(pathFit-fit) > 1e-6 {
			differ++
		}
	}
	if differ < 250 {
		t.Errorf("the tree-path fit sum differs from TreeSHAP's in %d of 500 rows; the test cannot tell the bases apart", differ)
	}
}

func TestModelValidateChecksTheGridBasis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		family Family
		basis  GridBasis
		reason string // "" when valid
	}{
		{"tree path on a gbdt", FamilyGBDT, GridBasisTreePath, ""},
		{"contributions on a gbdt", FamilyGBDT, GridBasisContributions, ""},
		{"contributions on a logistic regression", FamilyLogistic, GridBasisContributions, ""},
		{"tree path on a logistic regression", FamilyLogistic, GridBasisTreePath, "family gbdt only"},
		{"tree path on points", FamilyPoints, GridBasisTreePath, "family gbdt only"},
		{"unknown basis", FamilyGBDT, "shap", "must be"},
		{"contributions spelt out", FamilyGBDT, "contributions", "must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, _ := scorerModel(t, scorerCase{name: tc.name, family: tc.family}, 5, 3, 50)
			m.Grid.Basis = tc.basis
			err := m.Validate()
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *leadscore.Error
			if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "grid.basis" {
				t.Fatalf("got %v, want an EINVALID error naming grid.basis", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.reason) || !strings.Contains(msg, string(tc.basis)) {
				t.Errorf("got %q, want it to say %q and quote %q", msg, tc.reason, tc.basis)
			}
			if _, err := NewScorer(m); err == nil {
				t.Error("NewScorer accepted the model")
			}
		})
	}
}

// TestScorerAllocatesNothing holds Score and Explain to zero allocations a
// row once the scorer and the output are set up.
func TestScorerAllocatesNothing(t *testing.T) {
	for _, c := range scorerCases {
		t.Run(c.name, func(t *testing.T) {
			m, rows := scorerModel(t, c, 20, 4, 100)
			s, err := NewScorer(m)
			if err != nil {
				t.Fatal(err)
			}
			row := rows[:m.Spec.Width()]
			var out Scored
			if err := s.Explain(row, &out); err != nil { // sizes out.Contributions
				t.Fatal(err)
			}
			for name, f := range map[string]func(row []float64, out *Scored) error{"Score": s.Score, "Explain": s.Explain} {
				allocs := testing.AllocsPerRun(100, func() {
					if err := f(row, &out); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Errorf("%s allocates %v times a row, want 0", name, allocs)
				}
			}
		})
	}
}

func TestScorerRefusesARowOfTheWrongWidth(t *testing.T) {
	t.Parallel()
	m, rows := scorerModel(t, scorerCases[3], 5, 3, 50)
	s, err := NewScorer(m)
	if err != nil {
		t.Fatal(err)
	}
	var out Scored
	for name, f := range map[string]func(row []float64, out *Scored) error{"Score": s.Score, "Explain": s.Explain} {
		if err := f(rows[:5], &out); leadscore.ErrorCode(err) != leadscore.EINVALID || !strings.Contains(err.Error(), "features") {
			t.Errorf("%s of 5 features: got %v, want an EINVALID error naming the features", name, err)
		}
	}
}

// TestScoringWhileValidating scores with a tree-path GBDT while other
// goroutines make scorers of the same model, each of which validates it
// and so swaps its prediction layout: the scores must not change (run
// with -race).
func TestScoringWhileValidating(t *testing.T) {
	t.Parallel()
	m, rows := scorerModel(t, scorerCases[3], 30, 5, 200)
	s, err := NewScorer(m)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Spec.Width()
	want := make([]Scored, len(rows)/w)
	for i := range want {
		if err := s.Score(rows[i*w:(i+1)*w], &want[i]); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if _, err := NewScorer(m); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var got Scored
	for pass := 0; ; pass++ {
		for i := range want {
			if err := s.Score(rows[i*w:(i+1)*w], &got); err != nil {
				t.Fatal(err)
			}
			if !same(got.Raw, want[i].Raw) || !same(got.FitSum, want[i].FitSum) || got.Cell != want[i].Cell {
				t.Fatalf("pass %d, row %d: scored %+v while validating, %+v before", pass, i, got, want[i])
			}
		}
		select {
		case <-done:
			return
		default:
		}
	}
}

// TestScoreBatchIsScore: a batch gives every row Score's result to the bit,
// for every family and basis, in batches that are not whole blocks.
func TestScoreBatchIsScore(t *testing.T) {
	t.Parallel()
	for _, c := range scorerCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, rows := scorerModel(t, c, 40, 5, 700)
			s, err := NewScorer(m)
			if err != nil {
				t.Fatal(err)
			}
			w := m.Spec.Width()
			n := len(rows) / w
			for _, size := range []int{1, 63, 64, 65, n} {
				out, errs := make([]Scored, size), make([]error, size)
				if err := s.ScoreBatch(rows[:size*w], out, errs); err != nil {
					t.Fatal(err)
				}
				for i := range size {
					var want Scored
					wantErr := s.Score(rows[i*w:(i+1)*w], &want)
					if (errs[i] == nil) != (wantErr == nil) {
						t.Fatalf("batch of %d, row %d: error %v, Score's %v", size, i, errs[i], wantErr)
					}
					got := out[i]
					if !same(got.Raw, want.Raw) || !same(got.Base, want.Base) || !same(got.Probability, want.Probability) ||
						!same(got.FitSum, want.FitSum) || !same(got.EngagementSum, want.EngagementSum) ||
						got.Tier != want.Tier || got.Cell != want.Cell || got.Action != want.Action || len(got.Contributions) != 0 {
						t.Fatalf("batch of %d, row %d: %+v, Score gives %+v", size, i, got, want)
					}
				}
			}
			if err := s.ScoreBatch(rows[:w+1], make([]Scored, 1), make([]error, 1)); err == nil {
				t.Error("a batch of the wrong width was scored")
			}
		})
	}
}
