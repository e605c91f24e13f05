package trainer

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// learnSpec is a spec with a categorical, a numeric, a boolean and a noise
// attribute, pricing-page visits, demo requests and the unsubscribe
// signal.
func learnSpec(t *testing.T) *model.FeatureSpec {
	t.Helper()
	b := model.NewSpecBuilder(model.SpecOptions{MinCategoryCount: 1, MinRefinementCount: 1})
	for _, industry := range []string{"software", "retail", "finance"} {
		if err := b.ObserveLead(map[string]leadscore.Value{
			"industry": leadscore.String(industry), "employees": leadscore.Number(10),
			"enterprise": leadscore.Bool(true), "noise": leadscore.Number(1),
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []struct{ typ, page string }{{"page_view", "pricing"}, {"page_view", "blog"}, {"demo_request", ""}, {"unsubscribe", ""}} {
		b.ObserveEvent(e.typ, func(string) string { return e.page })
	}
	spec, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// learnTruth gives the true log-odds of the rows learnData draws: software
// +1 and retail -0.7 against finance, more than 500 employees +1, 0.1 a
// pricing visit up to 10, unsubscribed -1.5; enterprise and noise do
// nothing.
const (
	learnSoftware  = 1.0
	learnRetail    = -0.7
	learnLarge     = 1.0
	learnPerVisit  = 0.1
	learnUnsubbed  = -1.5
	learnIntercept = -2.5
)

// learnData draws n rows of spec (as Data, the last fifth held out).
func learnData(t *testing.T, spec *model.FeatureSpec, n int, seed uint64) *Data {
	t.Helper()
	features := spec.Features()
	col := map[string]int{}
	for j, f := range features {
		col[f.Name] = j
	}
	cat := func(name string) float64 {
		return float64(slices.Index(features[col["attr.industry"]].Categories, name))
	}
	w := len(features)
	rows := make([]float64, n*w)
	labels := make([]bool, n)
	rng := rand.New(rand.NewPCG(seed, 5))
	for i := range n {
		row := rows[i*w : (i+1)*w]
		for j := range row {
			row[j] = 0
		}
		z := learnIntercept
		switch rng.IntN(3) {
		case 0:
			row[col["attr.industry"]] = cat("software")
			z += learnSoftware
		case 1:
			row[col["attr.industry"]] = cat("retail")
			z += learnRetail
		default:
			row[col["attr.industry"]] = cat("finance")
		}
		employees := math.Round(math.Exp(rng.Float64() * 9))
		row[col["attr.employees"]] = employees
		if employees > 500 {
			z += learnLarge
		}
		if rng.IntN(10) == 0 {
			row[col["attr.employees"]] = math.NaN()
			if employees > 500 {
				z -= learnLarge // a missing size tells nothing
			}
		}
		row[col["attr.enterprise"]] = float64(rng.IntN(2))
		row[col["attr.noise"]] = rng.NormFloat64()
		visits := 0.0
		if rng.IntN(2) == 0 {
			visits = float64(rng.IntN(15))
		}
		row[col["events.page_view.pricing.count_30d"]] = visits
		z += learnPerVisit * math.Min(visits, 10)
		if rng.IntN(8) == 0 {
			row[col["engagement.unsubscribed"]] = 1
			z += learnUnsubbed
		}
		labels[i] = rng.Float64() < 1/(1+math.Exp(-z))
	}
	cut := n * 4 / 5
	return &Data{
		Spec:      spec,
		TrainRows: rows[:cut*w], TrainLabels: labels[:cut],
		ValidRows: rows[cut*w:], ValidLabels: labels[cut:],
	}
}

// probe returns the points the compiled rules give a row of missing values
// with the given features set.
func probe(t *testing.T, p *model.Points, spec *model.FeatureSpec, set map[string]float64) float64 {
	t.Helper()
	features := spec.Features()
	row := make([]float64, len(features))
	for j, f := range features {
		row[j] = math.NaN()
		if v, ok := set[f.Name]; ok {
			row[j] = v
		}
	}
	return p.Raw(row)
}

func TestLearnPointsRecoversTheTrueEffects(t *testing.T) {
	t.Parallel()
	spec := learnSpec(t)
	d := learnData(t, spec, 30000, 1)
	rules, err := LearnPoints(context.Background(), d)
	if err != nil {
		t.Fatalf("learn points: %v", err)
	}
	p, err := model.CompilePoints(rules.Rules, spec)
	if err != nil {
		t.Fatalf("the learned rules do not compile: %v", err)
	}
	cats := spec.Fit[slices.IndexFunc(spec.Fit, func(f model.FitFeature) bool { return f.Attribute == "industry" })].Categories
	code := func(name string) float64 { return float64(slices.Index(cats, name)) }
	scale := PointsPerDoubling / math.Ln2
	// Each effect, read from the compiled rules as the points between two
	// leads that differ in it alone, is the true log-odds in points, give
	// or take the sampling error of 24,000 rows and the rounding.
	tests := []struct {
		name   string
		a, b   map[string]float64
		want   float64
		within float64
	}{
		{"software against finance", map[string]float64{"attr.industry": code("software")}, map[string]float64{"attr.industry": code("finance")}, learnSoftware * scale, 6},
		{"retail against finance", map[string]float64{"attr.industry": code("retail")}, map[string]float64{"attr.industry": code("finance")}, learnRetail * scale, 6},
		{"5,000 employees against 50", map[string]float64{"attr.employees": 5000}, map[string]float64{"attr.employees": 50}, learnLarge * scale, 8},
		{"5 pricing visits against none", map[string]float64{"events.page_view.pricing.count_30d": 5}, nil, 5 * learnPerVisit * scale, 5},
		{"unsubscribed against not", map[string]float64{"engagement.unsubscribed": 1}, nil, learnUnsubbed * scale, 7},
		{"enterprise against not", map[string]float64{"attr.enterprise": 1}, map[string]float64{"attr.enterprise": 0}, 0, 4},
		{"noise at +2 sd against -2 sd", map[string]float64{"attr.noise": 2}, map[string]float64{"attr.noise": -2}, 0, 6},
	}
	for _, tt := range tests {
		got := probe(t, p, spec, tt.a) - probe(t, p, spec, tt.b)
		if math.Abs(got-tt.want) > tt.within {
			t.Errorf("%s: %v points, want %.1f ± %v", tt.name, got, tt.want, tt.within)
		}
	}
	// Whole points, no zero-point rule, and each visit rule capped.
	for _, r := range rules.Rules {
		if r.Points != math.Trunc(r.Points) || r.Points == 0 {
			t.Errorf("rule %q gives %v points, want a whole nonzero number", r.Name, r.Points)
		}
		if r.Event != "" && (r.MaxPoints == nil || *r.MaxPoints < math.Abs(r.Points)) {
			t.Errorf("event rule %q has cap %v, want one of at least its points", r.Name, r.MaxPoints)
		}
	}
	// A missing size earns nothing, as a rule cannot give it points, and
	// it is the reference: the bins are measured from it.
	if got := probe(t, p, spec, map[string]float64{"attr.employees": math.NaN()}); got != 0 {
		t.Errorf("a lead with nothing but a missing size has %v points, want 0", got)
	}
}

func TestLearnPointsIsWhatTrainApplies(t *testing.T) {
	t.Parallel()
	spec := learnSpec(t)
	d := learnData(t, spec, 5000, 2)
	ctx := context.Background()
	learned, rep, err := Train(ctx, d, Config{Family: model.FamilyPoints})
	if err != nil {
		t.Fatalf("train points: %v", err)
	}
	rules, err := LearnPoints(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(learned.Points.Rules, rules.Rules, sameRule) {
		t.Errorf("Train applies other rules than LearnPoints learns")
	}
	if learned.Metadata.Parameters["points_rules"] == "" {
		t.Errorf("the artifact's parameters do not say the rules were learned: %v", learned.Metadata.Parameters)
	}
	if auc := rep.Validation["roc_auc"]; !(auc > 0.65) {
		t.Errorf("held-out ROC AUC %.4f, want above 0.65 on rows with strong effects", auc)
	}
	// The rules file rendered from the model, read back by --rules,
	// builds the same model: the same terms and calibration, so the
	// same scores.
	file := model.FormatPointsRules(&model.PointsRules{Calibration: learned.Calibration.Method, Rules: learned.Points.Rules}, "exported")
	again, _, err := Train(ctx, d, Config{Family: model.FamilyPoints, PointsRules: file})
	if err != nil {
		t.Fatalf("train from the exported rules: %v", err)
	}
	if !slices.Equal(again.Points.Terms, learned.Points.Terms) || !reflect.DeepEqual(again.Calibration, learned.Calibration) {
		t.Errorf("the exported rules build another model: calibration %+v, want %+v", *again.Calibration, *learned.Calibration)
	}
	a, err := model.NewScorer(learned)
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.NewScorer(again)
	if err != nil {
		t.Fatal(err)
	}
	w := spec.Width()
	var sa, sb model.Scored
	for i := range len(d.ValidLabels) {
		row := d.ValidRows[i*w : (i+1)*w]
		if err := a.Score(row, &sa); err != nil {
			t.Fatal(err)
		}
		if err := b.Score(row, &sb); err != nil {
			t.Fatal(err)
		}
		if sa.Probability != sb.Probability || sa.Raw != sb.Raw {
			t.Fatalf("row %d: learned model %v (%v points), exported rules %v (%v points)", i, sa.Probability, sa.Raw, sb.Probability, sb.Raw)
		}
	}
}

func sameRule(a, b model.PointsRule) bool {
	eq := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Name == b.Name && a.Event == b.Event && a.Page == b.Page && a.WindowDays == b.WindowDays &&
		a.Decay == b.Decay && eq(a.MaxPoints, b.MaxPoints) && a.Attribute == b.Attribute &&
		(a.Equals == nil) == (b.Equals == nil) && (a.Equals == nil || *a.Equals == *b.Equals) &&
		eq(a.Min, b.Min) && eq(a.Max, b.Max) && a.Signal == b.Signal && a.Points == b.Points
}

func TestLearnPointsRefusesDataWithNothingToLearn(t *testing.T) {
	t.Parallel()
	spec := learnSpec(t)
	ctx := context.Background()
	t.Run("one class", func(t *testing.T) {
		d := learnData(t, spec, 500, 3)
		clear(d.TrainLabels)
		if _, err := LearnPoints(ctx, d); leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("got %v, want EINVALID: both classes are needed", err)
		}
	})
	t.Run("no signal", func(t *testing.T) {
		d := learnData(t, spec, 2000, 4)
		// Every feature the rules could read is missing or zero.
		w := spec.Width()
		for i := range d.TrainLabels {
			for j := range w {
				d.TrainRows[i*w+j] = math.NaN()
			}
		}
		if _, err := LearnPoints(ctx, d); leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("got %v, want EINVALID: no rule can be learned", err)
		}
	})
	t.Run("rows of the wrong width", func(t *testing.T) {
		d := learnData(t, spec, 100, 5)
		d.TrainRows = d.TrainRows[:len(d.TrainRows)-1]
		if _, err := LearnPoints(ctx, d); leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("got %v, want EINVALID naming the data", err)
		}
	})
}

func TestRoundestBetween(t *testing.T) {
	t.Parallel()
	tests := []struct{ lo, hi, want float64 }{
		{32, 33, 33},
		{29, 41, 30},
		{1199, 1500, 1200},
		{-1, 0, 0},
		{-150, -120, -140},
		{0.25, 0.31, 0.3},
		{0.001, 0.0012, 0.0011},
		{5, 5.5, 5.1},
		{99, 1000, 1000},
	}
	for _, tt := range tests {
		if got := roundestBetween(tt.lo, tt.hi); got != tt.want {
			t.Errorf("roundestBetween(%v, %v) = %v, want %v", tt.lo, tt.hi, got, tt.want)
		}
	}
}

func TestTrainStoresThePointsLearnedFromTheSameRows(t *testing.T) {
	t.Parallel()
	spec := learnSpec(t)
	d := learnData(t, spec, 3000, 6)
	ctx := context.Background()
	rules, err := LearnPoints(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	points, _, err := Train(ctx, d, Config{Family: model.FamilyPoints, NoPointsBaseline: true})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := Train(ctx, d, Config{Family: model.FamilyLogistic, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := m.PointsBaseline
	if b == nil {
		t.Fatalf("the logistic model carries no points baseline: %v", m.Metadata.Parameters)
	}
	// The baseline is exactly `train --family points` on the same rows.
	if !slices.EqualFunc(b.Points.Rules, rules.Rules, sameRule) || !reflect.DeepEqual(b.Calibration, points.Calibration) ||
		!reflect.DeepEqual(b.Grid, points.Grid) || b.PointsBaseline != nil {
		t.Errorf("the stored baseline is not the points model learned from the same rows")
	}
	if err := m.Validate(); err != nil {
		t.Errorf("the model with its baseline does not validate: %v", err)
	}
	plain, _, err := Train(ctx, d, Config{Family: model.FamilyLogistic, Seed: 1, NoPointsBaseline: true})
	if err != nil {
		t.Fatal(err)
	}
	if plain.PointsBaseline != nil {
		t.Errorf("NoPointsBaseline still stored a baseline")
	}

	t.Run("none when no points can be learned", func(t *testing.T) {
		// Every row the same: nothing tells converting leads apart, but
		// the logistic regression still trains.
		flat := learnData(t, spec, 1000, 7)
		w := spec.Width()
		for i := range len(flat.TrainLabels) {
			copy(flat.TrainRows[i*w:(i+1)*w], flat.TrainRows[:w])
		}
		m, _, err := Train(ctx, flat, Config{Family: model.FamilyLogistic, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if m.PointsBaseline != nil || m.Metadata.Parameters["points_baseline"] == "" {
			t.Errorf("baseline %v, parameters %v: want none, and why", m.PointsBaseline != nil, m.Metadata.Parameters)
		}
	})
}

func TestStrongestKeepsTheRulesWorthMostInOrder(t *testing.T) {
	t.Parallel()
	var rules []model.PointsRule
	for i, p := range []float64{3, -9, 1, 7, -2, 9} {
		rules = append(rules, model.PointsRule{Name: strconv.Itoa(i), Signal: model.SignalBounced, Points: p})
	}
	var got []string
	for _, r := range strongest(rules, 3) {
		got = append(got, r.Name)
	}
	if want := []string{"1", "3", "5"}; !slices.Equal(got, want) {
		t.Errorf("kept rules %v, want %v", got, want)
	}
	if len(strongest(rules, 10)) != len(rules) {
		t.Errorf("rules within the limit were dropped")
	}
}
