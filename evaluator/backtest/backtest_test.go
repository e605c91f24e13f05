package backtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/dataset/synth"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/evaluator/backtest"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

// generated is a synthetic history shared by the tests, with a logistic
// candidate and a small gbdt champion trained on what was known by the
// cut-off.
type generated struct {
	h         *dataset.History
	end       time.Time // when the generated history's observation ends
	cutoff    time.Time
	candidate *model.Model
	champion  *model.Model
}

var (
	genOnce sync.Once
	gen     generated
	genErr  error
)

// history generates 16,000 leads over 18 months from 2024-01-01 and trains
// on the history up to the cut-off 2025-04-01, the last one that leaves a
// whole 90-day horizon before the history ends on 2025-07-01. About 11,000
// leads are open at the cut-off and 270 of them convert: with half as many
// leads the bottom deciles hold one or two conversions each and their
// order is noise (Spearman between -0.85 and -0.98 over seeds 1 to 4,
// against -0.93 to -0.99 at this size).
func history(t *testing.T) generated {
	t.Helper()
	genOnce.Do(func() {
		ctx := context.Background()
		dir := t.TempDir()
		cfg := synth.DefaultConfig()
		cfg.Leads, cfg.Seed = 16000, 11
		if _, genErr = synth.Generate(ctx, dir, cfg); genErr != nil {
			return
		}
		gen.h, _, genErr = dataset.LoadHistory(ctx, dataset.HistoryFiles{
			Leads: filepath.Join(dir, synth.LeadsFile), Events: filepath.Join(dir, synth.EventsFile), Outcomes: filepath.Join(dir, synth.OutcomesFile),
		}, dataset.ReadOptions{})
		if genErr != nil {
			return
		}
		gen.end = cfg.End()
		gen.cutoff = time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
		var d *trainer.Data
		if d, genErr = trainer.FromHistory(ctx, gen.h, trainer.HistoryOptions{ObservedUntil: gen.cutoff}); genErr != nil {
			return
		}
		if gen.candidate, _, genErr = trainer.Train(ctx, d, trainer.Config{Family: model.FamilyLogistic, Seed: 1}); genErr != nil {
			return
		}
		gen.champion, _, genErr = trainer.Train(ctx, d, trainer.Config{Family: model.FamilyGBDT, Seed: 1,
			GBDT: trainer.GBDTOptions{NumTrees: 40, MaxDepth: 4}})
	})
	if genErr != nil {
		t.Fatalf("prepare the generated history: %v", genErr)
	}
	return gen
}

func fixedNow() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }

// spearman returns the rank correlation of the decile index with the close
// rate (ties in close rate get their mean rank).
func spearman(rates []float64) float64 {
	n := len(rates)
	ranks := make([]float64, n)
	for i := range rates {
		less, equal := 0, 0
		for j := range rates {
			switch {
			case rates[j] < rates[i]:
				less++
			case rates[j] == rates[i]:
				equal++
			}
		}
		ranks[i] = float64(less) + float64(equal+1)/2
	}
	var mx, my float64
	for i := range n {
		mx += float64(i + 1)
		my += ranks[i]
	}
	mx, my = mx/float64(n), my/float64(n)
	var sxy, sxx, syy float64
	for i := range n {
		dx, dy := float64(i+1)-mx, ranks[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	return sxy / math.Sqrt(sxx*syy)
}

// TestHistoryBacktestRanksLaterLeads is the acceptance check: a
// model trained before the cut-off, backtested on the leads open at it,
// puts the converting leads in the top deciles — close rate falling with
// the decile (Spearman ≤ -0.9) and the top decile closing more than twice
// as often as the bottom one.
func TestHistoryBacktestRanksLaterLeads(t *testing.T) {
	g := history(t)
	ctx := context.Background()
	models := backtest.Models{
		Candidate: backtest.Model{Name: "models/m/versions/2", Model: g.candidate},
		Champion:  backtest.Model{Name: "models/m/versions/1", Model: g.champion},
	}
	opts := backtest.Options{Seed: 3, Policy: evaluator.DefaultPolicy(), PolicyName: "gatePolicies/default/revisions/1",
		ObservedUntil: g.end, Source: "generated", Now: fixedNow}
	rep, err := backtest.History(ctx, g.h, g.cutoff, 0, models, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Candidate
	var rates []float64
	for _, d := range c.Deciles {
		rates = append(rates, d.CloseRate)
	}
	rho := spearman(rates)
	t.Logf("candidate: %d leads, %d conversions, ROC AUC %.4f [%.4f, %.4f], PR AUC %.4f, KS %.3f, ECE %.4f, top-decile lift %.2f; decile close rates %.4f; Spearman %.3f",
		c.Leads, c.Conversions, c.RocAUC, c.RocAUCCILower, c.RocAUCCIUpper, c.PrAUC, c.KS, c.ECE, c.LiftTopDecile, rates, rho)
	for _, m := range []*evaluator.Metrics{rep.Champion, rep.Baseline} {
		t.Logf("%s (%s): ROC AUC %.4f, top-decile lift %.2f, acceptance %+v", m.Model, m.Family, m.RocAUC, m.LiftTopDecile, m.Acceptance)
	}
	t.Logf("verdict %s; warnings %q", rep.Verdict, rep.Warnings)
	if rho > -0.9 {
		t.Errorf("decile close rates %.4f: Spearman correlation with the decile %.3f, want ≤ -0.9", rates, rho)
	}
	if top, bottom := rates[0], rates[9]; !(top > 2*bottom) {
		t.Errorf("top decile closes %.4f, bottom %.4f: want more than twice", top, bottom)
	}
	if !(c.RocAUCCILower < c.RocAUC && c.RocAUC < c.RocAUCCIUpper) {
		t.Errorf("ROC AUC %v outside its interval [%v, %v]", c.RocAUC, c.RocAUCCILower, c.RocAUCCIUpper)
	}

	t.Run("report describes the rows and the models", func(t *testing.T) {
		d := rep.Data
		if d.Kind != "history" || !d.Cutoff.Equal(g.cutoff) || time.Duration(d.Horizon) != dataset.DefaultHorizon ||
			!d.WindowStart.Equal(g.cutoff) || !d.WindowEnd.Equal(g.cutoff.Add(dataset.DefaultHorizon)) ||
			d.Rows != c.Leads || d.Positives != c.Conversions || len(d.SHA256) != 64 || d.Source != "generated" {
			t.Errorf("data %+v", d)
		}
		if c.Model != "models/m/versions/2" || c.Family != "logistic" || rep.Champion.Family != "gbdt" ||
			rep.Baseline == nil || rep.Baseline.Model != backtest.LearnedBaselineName || rep.Baseline.Family != "points" {
			t.Errorf("models %s/%s, %+v, %+v", c.Model, c.Family, rep.Champion.Model, rep.Baseline)
		}
		for _, m := range []*evaluator.Metrics{rep.Champion, rep.Baseline} {
			if m.Leads != c.Leads || m.Conversions != c.Conversions {
				t.Errorf("%s scored %d leads (%d conversions), the candidate %d (%d): every model must read the same rows",
					m.Model, m.Leads, m.Conversions, c.Leads, c.Conversions)
			}
		}
		if len(rep.Deltas) != 2*len(evaluator.ComparedMetrics) || rep.Gate == nil || rep.Gate.Reference != evaluator.ReferenceChampion {
			t.Errorf("deltas %d, gate %+v", len(rep.Deltas), rep.Gate)
		}
		if len(c.Tiers) != 4 || len(c.Grades) != 4 || len(c.Cells) != 16 || len(c.Campaigns) < 2 || len(c.Sources) < 2 || len(c.Importance) == 0 {
			t.Errorf("groups: %d tiers, %d grades, %d cells, %d campaigns, %d sources, %d importances",
				len(c.Tiers), len(c.Grades), len(c.Cells), len(c.Campaigns), len(c.Sources), len(c.Importance))
		}
		for i := 1; i < len(c.Sources); i++ {
			if c.Sources[i].Leads > c.Sources[i-1].Leads {
				t.Errorf("sources not by lead count: %+v", c.Sources)
			}
		}
		if !rep.CreatedAt.Equal(fixedNow()) || rep.Seed != 3 || rep.SchemaVersion != evaluator.ReportSchemaVersion {
			t.Errorf("header: %v %v %v", rep.CreatedAt, rep.Seed, rep.SchemaVersion)
		}
	})

	t.Run("the same inputs give the same report", func(t *testing.T) {
		again, err := backtest.History(ctx, g.h, g.cutoff, 0, models, opts)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(rep)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Errorf("two runs differ")
		}
		var back evaluator.Report
		if err := json.Unmarshal(a, &back); err != nil || back.Data.Horizon != rep.Data.Horizon {
			t.Errorf("the report does not read back: %v", err)
		}
	})
}

func TestHistoryRefusesDishonestCutoffs(t *testing.T) {
	g := history(t)
	ctx := context.Background()
	models := backtest.Models{Candidate: backtest.Model{Name: "c", Model: g.candidate}}
	opts := backtest.Options{ObservedUntil: g.end, NoBaseline: true}
	first, _ := g.h.Span()
	tests := []struct {
		name    string
		cutoff  time.Time
		horizon time.Duration
		reason  string
	}{
		{"labels incomplete", time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), 0, "leaves the labels incomplete"},
		{"before the history", first.Add(-time.Hour), 0, "is not after the history's start"},
		{"on the candidate's training data", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), 0, "is before the end of the candidate's training data 2025-04-01T00:00:00Z"},
		{"no conversions in a one-second horizon", g.cutoff, time.Second, "has no conversions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := backtest.History(ctx, g.h, tt.cutoff, tt.horizon, models, opts)
			var e *leadscore.Error
			if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) == 0 || e.Fields[0].Field != "cutoff" {
				t.Fatalf("got %v, want EINVALID naming the cutoff", err)
			}
			if !strings.Contains(err.Error(), tt.cutoff.Format(time.RFC3339)) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got %q, want the cut-off and %q", err, tt.reason)
			}
		})
	}
	t.Run("no candidate", func(t *testing.T) {
		if _, err := backtest.History(ctx, g.h, g.cutoff, 0, backtest.Models{}, opts); leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("got %v, want EINVALID", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := backtest.History(cctx, g.h, g.cutoff, 0, models, opts); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
}

// readFlat reads a fixture of testdata, written by testdata/make_flat.py.
func readFlat(t *testing.T, name string, opts dataset.FlatOptions) *dataset.FlatTable {
	t.Helper()
	opts.Label = "converted"
	tab, err := dataset.ReadFlatTable(context.Background(), filepath.Join("testdata", name), opts)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestFlatBacktest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := dataset.FlatOptions{IDColumn: "Lead ID", TimeColumn: "created_at"}
	train := readFlat(t, "flat_train.csv", opts)
	test := readFlat(t, "flat_backtest.csv", opts)
	d, err := trainer.FromFlatTable(ctx, train, trainer.FlatSplit{})
	if err != nil {
		t.Fatal(err)
	}
	// Hinges let the logistic regression follow the log of the company
	// size, as the fixture's truth has it (see make_flat.py).
	m, _, err := trainer.Train(ctx, d, trainer.Config{Family: model.FamilyLogistic, Seed: 1, Logistic: trainer.LogisticOptions{Knots: 8}})
	if err != nil {
		t.Fatal(err)
	}
	// The end of the training table's time column: what the model learned
	// from ends there, and the backtest table starts after it.
	m.Metadata.DataEnd = train.Time(train.Len() - 1)
	models := backtest.Models{Candidate: backtest.Model{Name: "flat.lsm", Model: m}}
	rep, err := backtest.Flat(ctx, test, models, backtest.Options{Policy: evaluator.DefaultPolicy(), PolicyName: "default", Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Candidate
	t.Logf("flat: %d rows, %d conversions, ROC AUC %.4f, lift %.2f; warnings %q", c.Leads, c.Conversions, c.RocAUC, c.LiftTopDecile, rep.Warnings)
	data := rep.Data
	if data.Kind != "flat" || data.Rows != 800 || data.Positives != test.Positives() || data.Source != test.File() ||
		!data.WindowStart.Equal(test.Time(0)) || !data.WindowEnd.Equal(test.Time(test.Len()-1)) || !data.Cutoff.IsZero() {
		t.Errorf("data %+v", data)
	}
	if c.RocAUC < 0.7 || c.LiftTopDecile < 2 {
		t.Errorf("the model ranks later rows poorly: ROC AUC %.3f, lift %.2f", c.RocAUC, c.LiftTopDecile)
	}
	var campaigns, sources []string
	for _, g := range c.Campaigns {
		campaigns = append(campaigns, g.Key)
	}
	for _, g := range c.Sources {
		sources = append(sources, g.Key)
	}
	slices.Sort(campaigns)
	slices.Sort(sources)
	if !slices.Equal(campaigns, []string{evaluator.NoneGroup, "brand", "q2-ebook", "spring-webinar"}) ||
		!slices.Equal(sources, []string{"events", "organic_search", "paid_search", "referral"}) {
		t.Errorf("campaigns %v, sources %v", campaigns, sources)
	}
	// With no champion, the candidate is judged against the points it
	// learned from its own training rows, which never saw these rows: a
	// first champion can pass the default gate on a flat table.
	b := rep.Baseline
	if b == nil || b.Model != backtest.LearnedBaselineName || b.Family != "points" || b.Leads != c.Leads {
		t.Fatalf("baseline %+v, want the candidate's learned points on the same %d rows; warnings %q", b, c.Leads, rep.Warnings)
	}
	t.Logf("learned points baseline: ROC AUC %.4f, lift %.2f", b.RocAUC, b.LiftTopDecile)
	if b.RocAUC < 0.6 {
		t.Errorf("the learned points rank later rows at ROC AUC %.3f, want above 0.6", b.RocAUC)
	}
	if rep.Verdict != evaluator.VerdictPass || rep.Gate.Reference != evaluator.ReferenceBaseline || !rep.Gate.Checks[0].Passed {
		t.Errorf("verdict %s, gate %+v: want the first champion to pass against its points baseline", rep.Verdict, rep.Gate)
	}

	t.Run("without learned points falls back to the built-in rules", func(t *testing.T) {
		// An artifact written before candidates carried their points. The
		// built-in rules count events, which a flat table has none of, so
		// there is no baseline; with no champion either, the relative AUC
		// rule has nothing to compare with and fails.
		old := *m
		old.PointsBaseline = nil
		rep, err := backtest.Flat(ctx, test, backtest.Models{Candidate: backtest.Model{Name: "old.lsm", Model: &old}},
			backtest.Options{Policy: evaluator.DefaultPolicy(), PolicyName: "default", Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Baseline != nil || len(rep.Warnings) == 0 || !strings.HasPrefix(rep.Warnings[0], "no points baseline: ") {
			t.Errorf("baseline %v, warnings %q", rep.Baseline, rep.Warnings)
		}
		if rep.Verdict != evaluator.VerdictFail || rep.Gate.Reference != evaluator.ReferenceNone || rep.Gate.Checks[0].Passed ||
			!strings.Contains(rep.Gate.Checks[0].Message, "no reference was available") {
			t.Errorf("verdict %s, gate %+v", rep.Verdict, rep.Gate)
		}
	})

	t.Run("refuses a table the model was trained on", func(t *testing.T) {
		_, err := backtest.Flat(ctx, train, models, backtest.Options{NoBaseline: true})
		var e *leadscore.Error
		if !errors.As(err, &e) || e.Code != leadscore.EINVALID || e.Fields[0].Field != "table" || !strings.Contains(err.Error(), "training data") {
			t.Errorf("got %v, want EINVALID naming the table", err)
		}
	})
	t.Run("refuses a model that reads columns the table lacks", func(t *testing.T) {
		other := readFlat(t, "flat_backtest.csv", dataset.FlatOptions{IDColumn: "Lead ID", TimeColumn: "created_at", Exclude: []string{"industry"}})
		_, err := backtest.Flat(ctx, other, models, backtest.Options{NoBaseline: true})
		if leadscore.ErrorCode(err) != leadscore.EINVALID || !strings.Contains(err.Error(), "industry") {
			t.Errorf("got %v, want EINVALID naming industry", err)
		}
	})
}
