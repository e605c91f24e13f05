package evaluator

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// The small case of testdata/sklearn_reference.py: tied probabilities
// across the classes.
var (
	smallP = []float64{0.9, 0.9, 0.8, 0.8, 0.8, 0.7, 0.6, 0.6, 0.5, 0.5, 0.4, 0.4, 0.4, 0.3, 0.3, 0.2, 0.2, 0.1, 0.1, 0.05}
	smallY = []bool{true, false, true, true, false, false, true, false, false, true, false, false, true, false, false, false, false, false, true, false}
)

// readSklearnRows reads testdata/sklearn_rows.csv, written by
// testdata/sklearn_reference.py.
func readSklearnRows(t *testing.T) ([]float64, []bool) {
	t.Helper()
	f, err := os.Open("testdata/sklearn_rows.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var p []float64
	var y []bool
	for _, r := range recs[1:] {
		v, err := strconv.ParseFloat(r[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		p = append(p, v)
		y = append(y, r[1] == "1")
	}
	return p, y
}

type sklearnCase struct {
	name                               string
	p                                  []float64
	y                                  []bool
	rocAUC, prAUC, logLoss, brier, ece float64
	ks                                 float64
	deciles                            [10]struct {
		leads, conv           int
		lift, gain, mean, min float64
	}
}

// TestMetricsMatchScikitLearn checks every figure against the numbers
// printed by testdata/sklearn_reference.py (scikit-learn 1.2.1,
// SciPy 1.10.1, NumPy; deciles by a stable argsort and np.array_split,
// ECE over ten equal-width bins), copied here verbatim.
func TestMetricsMatchScikitLearn(t *testing.T) {
	t.Parallel()
	bigP, bigY := readSklearnRows(t)
	type d = struct {
		leads, conv           int
		lift, gain, mean, min float64
	}
	cases := []sklearnCase{
		{
			name: "small with ties", p: smallP, y: smallY,
			rocAUC: 0.6813186813186813, prAUC: 0.5042799305957201, logLoss: 0.7018936008875903,
			brier: 0.24062500000000003, ece: 0.20750000000000002, ks: 0.32967032967032966,
			deciles: [10]d{
				{2, 1, 1.4285714285714286, 0.14285714285714285, 0.9, 0.9},
				{2, 2, 2.857142857142857, 0.42857142857142855, 0.8, 0.8},
				{2, 0, 0.0, 0.42857142857142855, 0.75, 0.7},
				{2, 1, 1.4285714285714286, 0.5714285714285714, 0.6, 0.6},
				{2, 1, 1.4285714285714286, 0.7142857142857143, 0.5, 0.5},
				{2, 0, 0.0, 0.7142857142857143, 0.4, 0.4},
				{2, 1, 1.4285714285714286, 0.8571428571428571, 0.35, 0.3},
				{2, 0, 0.0, 0.8571428571428571, 0.25, 0.2},
				{2, 0, 0.0, 0.8571428571428571, 0.15000000000000002, 0.1},
				{2, 1, 1.4285714285714286, 1.0, 0.07500000000000001, 0.05},
			},
		},
		{
			name: "sklearn_rows.csv", p: bigP, y: bigY,
			rocAUC: 0.7850021094318823, prAUC: 0.45629536547177335, logLoss: 0.3968972822772371,
			brier: 0.12431795, ece: 0.04135500000000001, ks: 0.4270851053695248,
			deciles: [10]d{
				{200, 111, 3.1005586592178775, 0.3100558659217877, 0.42650000000000005, 0.31},
				{200, 67, 1.8715083798882683, 0.4972067039106145, 0.25935, 0.22},
				{200, 47, 1.312849162011173, 0.6284916201117319, 0.18904999999999994, 0.17},
				{200, 43, 1.2011173184357542, 0.7486033519553073, 0.14644999999999997, 0.13},
				{200, 30, 0.8379888268156425, 0.8324022346368715, 0.11170000000000004, 0.1},
				{200, 23, 0.6424581005586593, 0.8966480446927374, 0.085, 0.08},
				{200, 18, 0.5027932960893855, 0.946927374301676, 0.06570000000000002, 0.06},
				{200, 5, 0.13966480446927376, 0.9608938547486033, 0.04915, 0.04},
				{200, 8, 0.223463687150838, 0.9832402234636871, 0.03425, 0.03},
				{200, 6, 0.16759776536312848, 1.0, 0.016399999999999998, 0.0},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Evaluate(&Scores{Probability: c.p, Label: c.y}, EvalOptions{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				name      string
				got, want float64
			}{
				{"roc_auc", m.RocAUC, c.rocAUC}, {"pr_auc", m.PrAUC, c.prAUC}, {"log_loss", m.LogLoss, c.logLoss},
				{"brier", m.Brier, c.brier}, {"ece", m.ECE, c.ece}, {"ks", m.KS, c.ks},
				{"lift_top_decile", m.LiftTopDecile, c.deciles[0].lift},
			} {
				if !near(f.got, f.want, 1e-12) {
					t.Errorf("%s: got %.17g, want %.17g", f.name, f.got, f.want)
				}
			}
			for k, want := range c.deciles {
				got := m.Deciles[k]
				if got.Decile != k+1 || got.Leads != want.leads || got.Conversions != want.conv || !near(got.Lift, want.lift, 1e-12) ||
					!near(got.CumulativeGain, want.gain, 1e-12) || !near(got.MeanProbability, want.mean, 1e-12) || !near(got.MinProbability, want.min, 1e-12) {
					t.Errorf("decile %d: got %+v, want %+v", k+1, got, want)
				}
			}
		})
	}
}

// TestAveragePrecisionGroupsTies checks by hand that tied scores form one
// threshold, as scikit-learn's average_precision_score has it: ranking the
// positive of a tie first would give 1·½ + ⅔·½ = 0.833.
func TestAveragePrecisionGroupsTies(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		s    []float64
		l    []bool
		want float64
	}{
		// {0.8, 0.8} hold one positive: precision ½ at recall ½; then ⅔ at recall 1.
		"tie across classes":        {[]float64{0.8, 0.8, 0.4, 0.2}, []bool{false, true, true, false}, 0.5*0.5 + 0.5*2.0/3},
		"same tie, other row order": {[]float64{0.8, 0.8, 0.4, 0.2}, []bool{true, false, true, false}, 0.5*0.5 + 0.5*2.0/3},
		"perfect":                   {[]float64{0.9, 0.8, 0.1}, []bool{true, true, false}, 1},
		"all tied":                  {[]float64{0.5, 0.5, 0.5, 0.5}, []bool{true, false, false, false}, 0.25},
	} {
		got, err := AveragePrecision(tt.s, tt.l)
		if err != nil || !near(got, tt.want, 1e-12) {
			t.Errorf("%s: got %v, %v; want %v", name, got, err, tt.want)
		}
	}
}

// TestKSComparesOnlyBetweenTies checks by hand that the CDFs are compared
// after whole tie groups: converted {0.5, 0.5} against other {0.5, 0.1}
// differ by ½ (at 0.1 < t ≤ 0.5), not by 1, which reading the tied rows one
// at a time, positives first, would give.
func TestKSComparesOnlyBetweenTies(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		s    []float64
		l    []bool
		want float64
	}{
		"tie across classes": {[]float64{0.5, 0.5, 0.5, 0.1}, []bool{true, true, false, false}, 0.5},
		"separated":          {[]float64{0.9, 0.8, 0.2, 0.1}, []bool{true, true, false, false}, 1},
		"reversed":           {[]float64{0.1, 0.2, 0.8, 0.9}, []bool{true, true, false, false}, 1},
		"all tied":           {[]float64{0.3, 0.3, 0.3}, []bool{true, false, false}, 0},
	} {
		got, err := KS(tt.s, tt.l)
		if err != nil || !near(got, tt.want, 1e-12) {
			t.Errorf("%s: got %v, %v; want %v", name, got, err, tt.want)
		}
	}
}

func TestRankedAUCMatchesROCAUC(t *testing.T) {
	t.Parallel()
	p, y := readSklearnRows(t)
	want, err := ROCAUC(p, y)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _, err := BootstrapROCAUC(p, y, 10, 1)
	if err != nil || !near(got, want, 1e-12) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
}

func TestBootstrapIsDeterministic(t *testing.T) {
	t.Parallel()
	p, y := readSklearnRows(t)
	auc, lo, hi, err := BootstrapROCAUC(p, y, DefaultResamples, 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("same seed gives the same interval", func(t *testing.T) {
		_, lo2, hi2, _ := BootstrapROCAUC(p, y, DefaultResamples, 7)
		if lo2 != lo || hi2 != hi {
			t.Errorf("got [%v, %v], want [%v, %v]", lo2, hi2, lo, hi)
		}
	})
	t.Run("another seed gives another interval", func(t *testing.T) {
		_, lo2, hi2, _ := BootstrapROCAUC(p, y, DefaultResamples, 8)
		if lo2 == lo && hi2 == hi {
			t.Errorf("seeds 7 and 8 both gave [%v, %v]", lo, hi)
		}
	})
	t.Run("the interval contains the AUC and is plausible", func(t *testing.T) {
		// 358 positives of 2,000: the AUC's standard error is about 0.013.
		if !(lo < auc && auc < hi) || hi-lo < 0.02 || hi-lo > 0.1 {
			t.Errorf("interval [%v, %v] around %v", lo, hi, auc)
		}
	})
}

// TestBootstrapResampleAUCIsExact replays the bootstrap's draws as explicit
// resampled rows and checks that counting draws per tie group gives the
// AUC of the resampled rows exactly.
func TestBootstrapResampleAUCIsExact(t *testing.T) {
	t.Parallel()
	r, err := rank(smallP, smallY)
	if err != nil {
		t.Fatal(err)
	}
	var posRows, negRows []int
	for _, i := range r.order {
		if smallY[i] {
			posRows = append(posRows, i)
		} else {
			negRows = append(negRows, i)
		}
	}
	const resamples = 50
	rng := rand.New(rand.NewPCG(3, bootstrapStream))
	var want []float64
	for range resamples {
		var s []float64
		var l []bool
		for range r.p {
			s, l = append(s, smallP[posRows[rng.IntN(len(posRows))]]), append(l, true)
		}
		for range r.n {
			s, l = append(s, smallP[negRows[rng.IntN(len(negRows))]]), append(l, false)
		}
		auc, err := ROCAUC(s, l)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, auc)
	}
	slices.Sort(want)
	lo, hi := r.bootstrap(resamples, 3)
	if !near(lo, quantile(want, 0.025), 1e-12) || !near(hi, quantile(want, 0.975), 1e-12) {
		t.Errorf("got [%v, %v], want [%v, %v]", lo, hi, quantile(want, 0.025), quantile(want, 0.975))
	}
}

// TestDecilesSplitEvenlyAndBreakTiesByRow checks by hand 23 rows, all tied:
// deciles of 3, 3, 3 and then 2, the first rows first.
func TestDecilesSplitEvenlyAndBreakTiesByRow(t *testing.T) {
	t.Parallel()
	n := 23
	p := make([]float64, n)
	y := make([]bool, n)
	for i := range p {
		p[i] = 0.5
		y[i] = i < 3 // the first three rows convert
	}
	ds, err := Deciles(p, y)
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{3, 3, 3, 2, 2, 2, 2, 2, 2, 2}
	for k, d := range ds {
		if d.Leads != sizes[k] {
			t.Errorf("decile %d: %d leads, want %d", k+1, d.Leads, sizes[k])
		}
	}
	// Ties keep row order, so decile 1 holds rows 0-2, all converted.
	if ds[0].Conversions != 3 || !near(ds[0].Lift, 1/(3.0/23), 1e-12) || ds[0].CumulativeGain != 1 || ds[1].Conversions != 0 {
		t.Errorf("deciles 1 and 2: %+v %+v", ds[0], ds[1])
	}
	if _, err := Deciles(p[:9], y[:9]); leadscore.ErrorCode(err) != leadscore.EINVALID {
		t.Errorf("9 rows: got %v, want EINVALID", err)
	}
}

// TestEvaluateGroupsByHand checks the groups, the acceptance figures, the
// histogram and the importance on ten hand-made rows.
func TestEvaluateGroupsByHand(t *testing.T) {
	t.Parallel()
	vg, g, md, lo := leadscore.TierVeryGood, leadscore.TierGood, leadscore.TierMedium, leadscore.TierLow
	cell := func(s string) leadscore.Cell {
		c, err := leadscore.ParseCell("cell", s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	s := &Scores{
		Model:           "m",
		Family:          "logistic",
		Probability:     []float64{0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 1},
		Label:           []bool{true, true, false, true, false, false, false, false, true, false},
		Tier:            []leadscore.Tier{vg, vg, g, g, md, md, md, lo, lo, vg},
		Cell:            []leadscore.Cell{cell("A1"), cell("A2"), cell("B1"), cell("A1"), cell("C3"), cell("C3"), cell("D4"), cell("D4"), cell("D4"), cell("A1")},
		Campaign:        []string{"x", "x", "y", "", "y", "x", "z", "z", "", "y"},
		Features:        []model.Feature{{Name: "attr.a", Group: model.GroupFit}, {Name: "events.b", Group: model.GroupEngagement}, {Name: "attr.c", Group: model.GroupFit}},
		AbsContribution: []float64{1, 3, 0},
	}
	m, err := Evaluate(s, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Base rate 4/10.
	wantTiers := []Group{
		{Key: "very_good", Leads: 3, Conversions: 2, CloseRate: 2.0 / 3, Lift: (2.0 / 3) / 0.4, MeanProbability: 0.9},
		{Key: "good", Leads: 2, Conversions: 1, CloseRate: 0.5, Lift: 1.25, MeanProbability: 0.65},
		{Key: "medium", Leads: 3, Conversions: 0, CloseRate: 0, Lift: 0, MeanProbability: 0.4},
		{Key: "low", Leads: 2, Conversions: 1, CloseRate: 0.5, Lift: 1.25, MeanProbability: 0.15},
	}
	groupsEqual(t, "tiers", m.Tiers, wantTiers)
	groupsEqual(t, "grades", m.Grades, []Group{
		{Key: "A", Leads: 4, Conversions: 3, CloseRate: 0.75, Lift: 1.875, MeanProbability: 0.825},
		{Key: "B", Leads: 1, Conversions: 0, MeanProbability: 0.7},
		{Key: "C", Leads: 2, Conversions: 0, MeanProbability: 0.45},
		{Key: "D", Leads: 3, Conversions: 1, CloseRate: 1.0 / 3, Lift: (1.0 / 3) / 0.4, MeanProbability: 0.2},
	})
	if len(m.Cells) != 16 || m.Cells[0].Key != "A1" || m.Cells[0].Leads != 3 || m.Cells[15].Key != "D4" || m.Cells[15].Leads != 3 || m.Cells[5].Key != "B2" || m.Cells[5].Leads != 0 {
		t.Errorf("cells: %+v", m.Cells)
	}
	// x: 3 leads, y: 3 leads, then (none) and z with 2 each, by key.
	var keys []string
	for _, c := range m.Campaigns {
		keys = append(keys, c.Key)
	}
	if want := []string{"x", "y", NoneGroup, "z"}; !slices.Equal(keys, want) {
		t.Errorf("campaigns: got %v, want %v", keys, want)
	}
	if len(m.Sources) != 0 || m.Sources == nil {
		t.Errorf("sources: got %#v, want an empty list", m.Sources)
	}
	a := m.Acceptance
	if !near(a.TopTwoTiersLeadShare, 0.5, 1e-12) || !near(a.TopTwoTiersConversionShare, 0.75, 1e-12) ||
		!near(a.TopToBottomCloseRateRatio, (2.0/3)/0.5, 1e-12) || a.BottomTierConversions != 1 {
		t.Errorf("acceptance: %+v", a)
	}
	h := m.Histogram
	if h.Bins != 20 || h.Converted[18] != 1 || h.Converted[16] != 1 || h.Converted[2] != 1 || h.Converted[12] != 1 || h.Other[19] != 1 || h.Other[14] != 1 {
		t.Errorf("histogram: %+v", h)
	}
	wantImp := []Importance{{"events.b", "engagement", 0.75}, {"attr.a", "fit", 0.25}, {"attr.c", "fit", 0}}
	if len(m.Importance) != 3 {
		t.Fatalf("importance: %+v", m.Importance)
	}
	for k, w := range wantImp {
		if got := m.Importance[k]; got.Feature != w.Feature || got.Group != w.Group || !near(got.Share, w.Share, 1e-12) {
			t.Errorf("importance[%d]: got %+v, want %+v", k, got, w)
		}
	}
	if m.Model != "m" || m.Family != "logistic" || m.Leads != 10 || m.Conversions != 4 || m.BaseRate != 0.4 {
		t.Errorf("header: %+v", m)
	}
}

func groupsEqual(t *testing.T, what string, got, want []Group) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d groups, want %d", what, len(got), len(want))
	}
	for k := range want {
		g, w := got[k], want[k]
		if g.Key != w.Key || g.Leads != w.Leads || g.Conversions != w.Conversions || !near(g.CloseRate, w.CloseRate, 1e-12) ||
			!near(g.Lift, w.Lift, 1e-12) || !near(g.MeanProbability, w.MeanProbability, 1e-12) {
			t.Errorf("%s[%d]: got %+v, want %+v", what, k, g, w)
		}
	}
}

func TestAcceptanceRatioWithoutBottomConversions(t *testing.T) {
	t.Parallel()
	tiers := []Group{{Key: "very_good", Leads: 2, Conversions: 1, CloseRate: 0.5}, {Key: "good", Leads: 2}, {Key: "medium", Leads: 2}, {Key: "low", Leads: 4}}
	a := acceptance(tiers, 10, 1)
	if a.TopToBottomCloseRateRatio != 0 || a.BottomTierConversions != 0 {
		t.Errorf("got %+v, want a zero ratio and no bottom conversions", a)
	}
	m := &Metrics{Tiers: tiers, Acceptance: a}
	if v, ok := MetricValue(m, "top_to_bottom_close_rate_ratio"); !ok || !math.IsInf(v, 1) {
		t.Errorf("MetricValue: got %v, %v; want +Inf (unbounded)", v, ok)
	}
}

func TestGroupsBeyondMaxAreSummed(t *testing.T) {
	t.Parallel()
	n := MaxGroups + 5
	s := &Scores{Probability: make([]float64, n), Label: make([]bool, n), Campaign: make([]string, n)}
	for i := range n {
		s.Probability[i] = 0.5
		s.Campaign[i] = "c" + strconv.Itoa(1000+i)
	}
	groups := groupsByKey(s.Campaign, s, 0.5)
	if len(groups) != MaxGroups+1 || groups[MaxGroups].Key != OtherGroup || groups[MaxGroups].Leads != 5 || groups[0].Key != "c1000" {
		t.Errorf("got %d groups, last %+v", len(groups), groups[len(groups)-1])
	}
}

func TestEvaluateRefusesBadInput(t *testing.T) {
	t.Parallel()
	ten := func(f func(p []float64, y []bool)) *Scores {
		p := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}
		y := []bool{false, true, false, true, false, true, false, true, false, true}
		f(p, y)
		return &Scores{Probability: p, Label: y}
	}
	for _, tt := range []struct {
		name  string
		s     *Scores
		field string
	}{
		{"empty", &Scores{}, "probabilities"},
		{"NaN probability", ten(func(p []float64, _ []bool) { p[3] = math.NaN() }), "probabilities[3]"},
		{"probability above one", ten(func(p []float64, _ []bool) { p[0] = 1.5 }), "probabilities[0]"},
		{"one class", ten(func(_ []float64, y []bool) { clear(y) }), "labels"},
		{"too few for deciles", &Scores{Probability: []float64{0.2, 0.8}, Label: []bool{false, true}}, "rows"},
		{"labels mismatch", &Scores{Probability: []float64{0.2, 0.8}, Label: []bool{false}}, "labels"},
		{"bad tier", &Scores{Probability: []float64{0.2}, Label: []bool{true}, Tier: []leadscore.Tier{0}}, "tiers[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Evaluate(tt.s, EvalOptions{})
			var e *leadscore.Error
			if leadscore.ErrorCode(err) != leadscore.EINVALID || !errors.As(err, &e) || len(e.Fields) == 0 || e.Fields[0].Field != tt.field {
				t.Errorf("got %v, want EINVALID naming %s", err, tt.field)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(DataInfo{Horizon: Duration(90 * 24 * 3600 * 1e9)})
	if err != nil || !strings.Contains(string(b), `"horizon":"2160h0m0s"`) {
		t.Fatalf("got %s, %v", b, err)
	}
	var d DataInfo
	if err := json.Unmarshal(b, &d); err != nil || d.Horizon != Duration(90*24*3600*1e9) {
		t.Errorf("read back %v, %v", d.Horizon, err)
	}
	if err := json.Unmarshal([]byte(`{"horizon":7776000}`), &d); leadscore.ErrorCode(err) != leadscore.EINVALID {
		t.Errorf("a bare number: got %v, want EINVALID", err)
	}
}

func TestScoreRowsRefusesBadInput(t *testing.T) {
	t.Parallel()
	if _, err := ScoreRows(context.Background(), nil, "m", nil, nil); leadscore.ErrorCode(err) != leadscore.EINVALID {
		t.Errorf("nil model: got %v, want EINVALID", err)
	}
}
