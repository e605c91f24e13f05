package artifact_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
	artifactv1 "github.com/leadscore/leadscore/proto/leadscore/artifact/v1"
	"github.com/leadscore/leadscore/trainer"
)

// testSpec is a spec with every feature kind and a property-restricted
// event kind: rows of 19 features.
func testSpec() *model.FeatureSpec {
	return &model.FeatureSpec{
		Version: model.SpecVersion,
		Fit: []model.FitFeature{
			{Attribute: "industry", Kind: model.KindCategorical, Categories: []string{"software", "retail", "finance"}},
			{Attribute: "employees", Kind: model.KindNumeric},
			{Attribute: "partner", Kind: model.KindBoolean},
		},
		Kinds: []model.EventKind{
			{Name: "page_view.pricing", Type: "page_view", Property: "page", Value: "pricing"},
			{Name: "page_view", Type: "page_view"},
			{Name: "email_open", Type: "email_open"},
		},
		WindowDays:       []int{7, 30},
		HalfLifeDays:     14,
		DailyCap:         10,
		HandRaiseTypes:   []string{"demo_request"},
		UnsubscribeTypes: []string{"unsubscribe"},
		BounceTypes:      []string{"email_bounce"},
	}
}

// randomRows returns n row-major feature rows of spec, with missing values
// and categories outside the vocabulary among them.
func randomRows(rng *rand.Rand, spec *model.FeatureSpec, n int) []float64 {
	features := spec.Features()
	rows := make([]float64, 0, n*len(features))
	for range n {
		for _, f := range features {
			var x float64
			switch f.Kind {
			case model.KindCategorical:
				x = float64(rng.IntN(len(f.Categories) + 1))
			case model.KindBoolean:
				x = float64(rng.IntN(2))
			default:
				x = math.Round(rng.ExpFloat64()*5*100) / 100
			}
			if rng.IntN(10) == 0 {
				x = math.NaN()
			}
			rows = append(rows, x)
		}
	}
	return rows
}

// trainingData is a seeded training set over testSpec whose labels depend
// on the industry, the pricing page views and the unsubscribe flag.
func trainingData(seed uint64, train, valid int) *trainer.Data {
	spec := testSpec()
	w := spec.Width()
	rng := rand.New(rand.NewPCG(seed, 1))
	label := func(row []float64) bool {
		v := func(j int) float64 {
			if math.IsNaN(row[j]) {
				return 0
			}
			return row[j]
		}
		z := -1.5 + 0.2*v(4) - 1.5*v(17) + 0.05*v(1)
		if row[0] == 0 {
			z += 1.2
		}
		return rng.Float64() < 1/(1+math.Exp(-z))
	}
	d := &trainer.Data{
		Spec:      spec,
		TrainRows: randomRows(rng, spec, train),
		ValidRows: randomRows(rng, spec, valid),
		Start:     time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		End:       time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Horizon:   90 * 24 * time.Hour,
	}
	for i := range train {
		d.TrainLabels = append(d.TrainLabels, label(d.TrainRows[i*w:(i+1)*w]))
	}
	for i := range valid {
		d.ValidLabels = append(d.ValidLabels, label(d.ValidRows[i*w:(i+1)*w]))
	}
	return d
}

// testPointsRules are points rules for testSpec with every kind of rule
// and term: per-event with and without a cap, decayed, a rule counting an
// event type the spec splits into two kinds, categorical, boolean and
// numeric-range attributes, and signals.
const testPointsRules = `
calibration: platt
rules:
  - name: pricing-visits
    event: page_view
    page: pricing
    points: 5
    window_days: 7
    max_points: 30
  - name: page-views
    event: page_view
    decay: true
    points: 1
  - name: email-opens
    event: email_open
    window_days: 30
    points: 0.5
  - name: software
    attribute: industry
    equals: software
    points: 10
  - name: partner
    attribute: partner
    equals: true
    points: 4
  - name: mid-size
    attribute: employees
    min: 2
    max: 20
    points: 3
  - name: unsubscribed
    signal: unsubscribed
    points: -20
`

// trainModel trains a small model of a family on trainingData with the
// trainer's fitting functions, calibrates it on the held-out rows and
// learns its grid from the training rows. calibration is
// model.CalibrationPlatt or model.CalibrationIsotonic; the points model
// takes its calibration from its rules.
func trainModel(t testing.TB, fam model.Family, calibration string) *model.Model {
	t.Helper()
	return trainModelKnots(t, fam, calibration, 0)
}

// trainModelKnots is trainModel with a logistic regression given knots
// hinges per numeric feature.
func trainModelKnots(t testing.TB, fam model.Family, calibration string, knots int) *model.Model {
	t.Helper()
	return trainModelBasis(t, fam, calibration, knots, model.GridBasisContributions)
}

// trainModelBasis is trainModelKnots whose grid is learned on the given
// basis.
func trainModelBasis(t testing.TB, fam model.Family, calibration string, knots int, basis model.GridBasis) *model.Model {
	t.Helper()
	ctx := context.Background()
	d := trainingData(7, 2000, 800)
	features := d.Spec.Features()
	w := len(features)
	m := &model.Model{
		Family: fam,
		Spec:   d.Spec,
		// A placeholder calibration and grid make the model valid, so that
		// a scorer can compute the raw outputs both are fitted from.
		Calibration: &model.Calibration{Method: model.CalibrationPlatt, A: 1},
		Grid:        tinyModel(fam).Grid,
		Metadata: model.Metadata{
			TrainerVersion: "artifact-test",
			Seed:           7,
			DataSHA256:     strings.Repeat("ab", 32),
			DataStart:      d.Start,
			DataEnd:        d.End,
			Horizon:        d.Horizon,
			Parameters:     map[string]string{"family": string(fam), "calibration": calibration},
		},
	}
	// The scorer computes the sums of the grid's basis, which the grid is
	// then learned from.
	m.Grid.Basis = basis
	var err error
	switch fam {
	case model.FamilyLogistic:
		m.Logistic, err = fitLinear(ctx, features, d, knots)
	case model.FamilyGBDT:
		m.GBDT, _, err = trainer.FitGBDT(ctx, d.TrainRows, w, features, d.TrainLabels, nil,
			trainer.GBDTOptions{NumTrees: 30, MaxDepth: 4, Seed: 7, Threads: 2})
	case model.FamilyPoints:
		m.Points, m.Calibration, err = trainer.FitPoints([]byte(testPointsRules), d.Spec, d.ValidRows, d.ValidLabels)
	}
	if err != nil {
		t.Fatalf("fit %s: %v", fam, err)
	}
	s, err := model.NewScorer(m)
	if err != nil {
		t.Fatalf("the fitted %s model does not validate: %v", fam, err)
	}
	if fam != model.FamilyPoints {
		validRaw := make([]float64, len(d.ValidLabels))
		for i := range validRaw {
			validRaw[i] = s.Raw(d.ValidRows[i*w : (i+1)*w])
		}
		if calibration == model.CalibrationIsotonic {
			m.Calibration, err = trainer.FitIsotonic(validRaw, d.ValidLabels)
		} else {
			m.Calibration, err = trainer.FitPlatt(validRaw, d.ValidLabels)
		}
		if err != nil {
			t.Fatalf("calibrate %s: %v", fam, err)
		}
	}
	n := len(d.TrainLabels)
	fitSums, engSums, probs, raws := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	var sc model.Scored
	for i := range n {
		if err := s.Score(d.TrainRows[i*w:(i+1)*w], &sc); err != nil {
			t.Fatal(err)
		}
		fitSums[i], engSums[i], probs[i], raws[i] = sc.FitSum, sc.EngagementSum, m.Calibration.Probability(sc.Raw), sc.Raw
	}
	if m.Grid, err = model.FitGrid(fitSums, engSums, probs, raws, model.GridOptions{}); err != nil {
		t.Fatalf("fit grid: %v", err)
	}
	m.Grid.Basis = basis
	m.Metadata.ValidationMetrics = map[string]float64{"train_mean_probability": mean(probs), "valid_rows": float64(len(d.ValidLabels))}
	return m
}

// fitLinear fits logistic regression over the linear encoding of the
// training rows, with knots hinges per numeric feature.
func fitLinear(ctx context.Context, features []model.Feature, d *trainer.Data, knots int) (*model.Linear, error) {
	w := len(features)
	enc, err := model.FitLinearEncodingWith(features, d.TrainRows, model.LinearEncodingOptions{Knots: knots})
	if err != nil {
		return nil, err
	}
	n := len(d.TrainLabels)
	design := make([]float64, n*enc.Width)
	means := make([]float64, enc.Width)
	for i := range n {
		row := design[i*enc.Width : (i+1)*enc.Width]
		enc.Encode(d.TrainRows[i*w:(i+1)*w], row)
		for j, v := range row {
			means[j] += v / float64(n)
		}
	}
	fit, err := trainer.FitLogistic(ctx, design, enc.Width, d.TrainLabels, trainer.LogisticOptions{})
	if err != nil {
		return nil, err
	}
	return &model.Linear{Encoding: enc, Weights: fit.Weights, Intercept: fit.Intercept, Means: means}, nil
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// tinySpec is the spec of the hand-built tiny models: rows of 10 features
// (plan, lead age, page views in 7 days and decayed, six summaries).
func tinySpec() *model.FeatureSpec {
	return &model.FeatureSpec{
		Version:          model.SpecVersion,
		Fit:              []model.FitFeature{{Attribute: "plan", Kind: model.KindCategorical, Categories: []string{"pro", "free"}}},
		Kinds:            []model.EventKind{{Name: "page_view", Type: "page_view"}},
		WindowDays:       []int{7},
		HalfLifeDays:     14,
		DailyCap:         10,
		HandRaiseTypes:   []string{"demo_request"},
		UnsubscribeTypes: []string{"unsubscribe"},
		BounceTypes:      []string{"email_bounce"},
	}
}

// tinyModel completes a hand-built family's model with a fixed
// calibration, grid and metadata, all written out so that the golden
// files depend on nothing but this code and the format.
func tinyModel(fam model.Family) *model.Model {
	m := &model.Model{
		Family:      fam,
		Spec:        tinySpec(),
		Calibration: &model.Calibration{Method: model.CalibrationPlatt, A: 0.9, B: -0.25},
		Grid: &model.Grid{
			FitCuts:        [3]float64{0.5, 0, -0.5},
			EngagementCuts: [3]float64{0.4, 0.1, -0.2},
			TierCuts:       [3]float64{0.3, 0.15, 0.05},
		},
		Metadata: model.Metadata{
			TrainerVersion: "tiny-test",
			Seed:           42,
			DataSHA256:     hex.EncodeToString(make([]byte, 32)),
			DataStart:      time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			DataEnd:        time.Date(2025, 12, 31, 23, 59, 59, 500, time.UTC),
			Horizon:        90 * 24 * time.Hour,
			Parameters:     map[string]string{"seed": "42", "learning_rate": "0.1", "C": "1"},
			ValidationMetrics: map[string]float64{
				"roc_auc": 0.75, "brier": 0.1, "ece": 0.01, "log_loss": 0.35,
			},
			Reliability: []model.ReliabilityBin{
				{Lower: 0, Upper: 0.5, Leads: 90, MeanProbability: 0.1, ObservedRate: 0.11},
				{Lower: 0.5, Upper: 1, Leads: 10, MeanProbability: 0.7, ObservedRate: 0.6},
			},
		},
	}
	for k := 0; k <= 100; k++ {
		m.Grid.Percentiles = append(m.Grid.Percentiles, -3+float64(k)*0.05)
	}
	policy := leadscore.DefaultGridPolicy()
	for i := range m.Grid.Actions {
		m.Grid.Actions[i] = policy[leadscore.Cell{Grade: leadscore.GradeA + leadscore.Grade(i/4), Level: leadscore.Level(i%4 + 1)}]
	}
	switch fam {
	case model.FamilyLogistic:
		m.Logistic = tinyLinear(m.Spec)
	case model.FamilyGBDT:
		m.GBDT = tinyGBDT(m.Spec.Width())
	case model.FamilyPoints:
		m.Points = tinyPoints(m.Spec)
	}
	return m
}

// tinyTreePathModel is the tiny GBDT whose grid has the tree-path basis.
func tinyTreePathModel() *model.Model {
	m := tinyModel(model.FamilyGBDT)
	m.Grid.Basis = model.GridBasisTreePath
	return m
}

// tinyLinear builds a logistic model over spec with made-up statistics
// and weights: every feature standardised by (j/2, 1+j), every third one
// with a missing indicator.
func tinyLinear(spec *model.FeatureSpec) *model.Linear {
	features := spec.Features()
	e := &model.LinearEncoding{}
	for j, f := range features {
		e.Kinds = append(e.Kinds, f.Kind)
		cats, cols := 0, 1
		if f.Kind == model.KindCategorical {
			cats = len(f.Categories)
			cols = cats + 1
		}
		e.Categories = append(e.Categories, cats)
		e.Mean = append(e.Mean, float64(j)/2)
		e.Scale = append(e.Scale, 1+float64(j))
		e.Offsets = append(e.Offsets, e.Width)
		e.HasMissing = append(e.HasMissing, j%3 == 0)
		if j%3 == 0 {
			cols++
		}
		e.Width += cols
	}
	l := &model.Linear{Encoding: e, Intercept: -1.25}
	for i := range e.Width {
		l.Weights = append(l.Weights, float64(i%5)*0.25-0.5)
		l.Means = append(l.Means, float64(i%3)*0.1)
	}
	return l
}

// tinyHingedModel is the tiny logistic model with hinges: every other
// numeric feature has one to three knots.
func tinyHingedModel() *model.Model {
	m := tinyModel(model.FamilyLogistic)
	m.Logistic = tinyHingedLinear(m.Spec)
	m.Metadata.Parameters["knots"] = "3"
	return m
}

// tinyHingedLinear is tinyLinear with hinges on every other numeric
// feature, knots at 0.5, 2 and 5 (the first one, two or three of them)
// with made-up means and scales.
func tinyHingedLinear(spec *model.FeatureSpec) *model.Linear {
	l := tinyLinear(spec)
	e := l.Encoding
	e.Hinges = make([][]model.Hinge, len(e.Kinds))
	numeric := 0
	for j, k := range e.Kinds {
		if k != model.KindNumeric {
			continue
		}
		numeric++
		if numeric%2 == 1 {
			for i, knot := range []float64{0.5, 2, 5}[:1+j%3] {
				e.Hinges[j] = append(e.Hinges[j], model.Hinge{Knot: knot, Mean: 0.25 * float64(i+1), Scale: 0.5 + float64(j)})
			}
		}
	}
	e.Width = 0
	for j, k := range e.Kinds {
		e.Offsets[j] = e.Width
		cols := 1 + len(e.Hinges[j])
		if k == model.KindCategorical {
			cols = e.Categories[j] + 1
		}
		if e.HasMissing[j] {
			cols++
		}
		e.Width += cols
	}
	l.Weights, l.Means = nil, nil
	for i := range e.Width {
		l.Weights = append(l.Weights, float64(i%5)*0.25-0.5)
		l.Means = append(l.Means, float64(i%3)*0.1)
	}
	return l
}

// tinyPairedModel is the tiny logistic model with hinges and three pairs:
// the plan (categorical, 2 categories and "other") with feature 2
// (numeric, cut at 1 and 4), feature 1 (numeric, cut at 0.5) with feature
// 7 (boolean), and features 3 and 5 (numeric, one cut each), each keeping
// some of its cells.
func tinyPairedModel() *model.Model {
	m := tinyHingedModel()
	m.Logistic = tinyPairedLinear(m.Spec)
	m.Metadata.Parameters["interactions"] = "3"
	m.Metadata.Parameters["pairs"] = "plan×2, 1×7, 3×5"
	return m
}

func tinyPairedLinear(spec *model.FeatureSpec) *model.Linear {
	l := tinyHingedLinear(spec)
	pairs := []model.Pair{
		{
			A:     model.PairSide{Feature: 0, Levels: []int{0, 1, 1}, Bins: 2},
			B:     model.PairSide{Feature: 2, Cuts: []float64{1, 4}, Bins: 3},
			Cells: []int{0, 2, 3, 5, 7, 9},
		},
		{
			A:     model.PairSide{Feature: 1, Cuts: []float64{0.5}, Bins: 2},
			B:     model.PairSide{Feature: 7, Bins: 2},
			Cells: []int{1, 3, 4, 8},
		},
		{
			A:     model.PairSide{Feature: 3, Cuts: []float64{2}, Bins: 2},
			B:     model.PairSide{Feature: 5, Cuts: []float64{0}, Bins: 2},
			Cells: []int{4},
		},
	}
	e := l.Encoding.WithPairs(pairs)
	for i := len(l.Weights); i < e.Width; i++ {
		l.Weights = append(l.Weights, float64(i%7)*0.125-0.375)
		l.Means = append(l.Means, float64(i%4)*0.05)
	}
	l.Encoding = e
	return l
}

// tinyGBDT builds two trees over rows of width features: a numeric split
// on the lead's age whose right branch splits the plan categorically, and
// a split on the page views whose missing values go right.
func tinyGBDT(width int) *model.GBDT {
	return &model.GBDT{
		Width:     width,
		BaseScore: -1.5,
		Trees:     []int32{0, 5},
		Nodes: []model.GBDTNode{
			{Feature: 1, Left: 1, Right: 2, Threshold: 30, Set: -1, DefaultLeft: true, Cover: 100, Gain: 12.5},
			{Left: -1, Right: -1, Set: -1, Value: 0.3, Cover: 40},
			{Feature: 0, Left: 3, Right: 4, Set: 0, Cover: 60, Gain: 4.25},
			{Left: -1, Right: -1, Set: -1, Value: -0.2, Cover: 25},
			{Left: -1, Right: -1, Set: -1, Value: 0.1, Cover: 35},
			{Feature: 2, Left: 6, Right: 7, Threshold: 2.5, Set: -1, Cover: 100, Gain: 3},
			{Left: -1, Right: -1, Set: -1, Value: -0.05, Cover: 70},
			{Left: -1, Right: -1, Set: -1, Value: 0.15, Cover: 30},
		},
		CategorySets: [][]uint64{{1}},
	}
}

// tinyPoints compiles a handful of rules against spec (tinySpec).
func tinyPoints(spec *model.FeatureSpec) *model.Points {
	maxPoints, pro := 10.0, "pro"
	p, err := model.CompilePoints([]model.PointsRule{
		{Name: "page-views", Event: "page_view", WindowDays: 7, MaxPoints: &maxPoints, Points: 2},
		{Name: "recent-views", Event: "page_view", Decay: true, Points: 1},
		{Name: "pro-plan", Attribute: "plan", Equals: &pro, Points: 15},
		{Name: "hand-raise", Signal: model.SignalHandRaise, Points: 30},
		{Name: "unsubscribed", Signal: model.SignalUnsubscribed, Points: -25},
	}, spec)
	if err != nil {
		panic(fmt.Sprintf("the tiny points rules do not compile: %v", err))
	}
	return p
}

// encodeFile is an independent implementation of the documented file
// layout: it frames any payload, valid or not, with a correct header.
func encodeFile(payload []byte) []byte {
	sum := sha256.Sum256(payload)
	header := fmt.Sprintf("LSCOREv1\n%016x\n%x\n", len(payload), sum)
	return append([]byte(header), payload...)
}

// decodePayload returns the message inside a valid artifact file.
func decodePayload(t testing.TB, file []byte) *artifactv1.Artifact {
	t.Helper()
	var pb artifactv1.Artifact
	if err := proto.Unmarshal(file[artifact.HeaderSize:], &pb); err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	return &pb
}

// encodeMessage frames a message as an artifact file.
func encodeMessage(t testing.TB, pb *artifactv1.Artifact) []byte {
	t.Helper()
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		t.Fatalf("marshal message: %v", err)
	}
	return encodeFile(payload)
}

func mustMarshal(t testing.TB, m *model.Model) []byte {
	t.Helper()
	data, err := artifact.Marshal(m)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return data
}

// assertSameScores scores rows with both models and fails unless every
// output, explanations included, has the same bits.
func assertSameScores(t *testing.T, want, got *model.Model, rows []float64) {
	t.Helper()
	ws, err := model.NewScorer(want)
	if err != nil {
		t.Fatalf("NewScorer(original): %v", err)
	}
	gs, err := model.NewScorer(got)
	if err != nil {
		t.Fatalf("NewScorer(loaded): %v", err)
	}
	w := want.Spec.Width()
	var a, b model.Scored
	same := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	for i := 0; i < len(rows)/w; i++ {
		row := rows[i*w : (i+1)*w]
		if err := ws.Explain(row, &a); err != nil {
			t.Fatalf("row %d: Explain(original): %v", i, err)
		}
		if err := gs.Explain(row, &b); err != nil {
			t.Fatalf("row %d: Explain(loaded): %v", i, err)
		}
		if !same(a.Raw, b.Raw) || !same(a.Base, b.Base) || !same(a.Probability, b.Probability) ||
			!same(a.Percentile, b.Percentile) || !same(a.FitSum, b.FitSum) || !same(a.EngagementSum, b.EngagementSum) ||
			a.Score != b.Score || a.Tier != b.Tier || a.Cell != b.Cell || a.Action != b.Action {
			t.Fatalf("row %d: loaded model scores %+v, original %+v", i, b, a)
		}
		for j := range a.Contributions {
			if !same(a.Contributions[j], b.Contributions[j]) {
				t.Fatalf("row %d: contribution %d: loaded %v, original %v", i, j, b.Contributions[j], a.Contributions[j])
			}
		}
		if r := gs.Raw(row); !same(r, ws.Raw(row)) {
			t.Fatalf("row %d: Raw: loaded %v, original %v", i, r, ws.Raw(row))
		}
	}
}
