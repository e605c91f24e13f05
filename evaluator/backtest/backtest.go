package backtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

// BuiltinBaselineName names the built-in points baseline in reports.
const BuiltinBaselineName = "builtin:points"

// LearnedBaselineName names, in reports, the points baseline a trained
// candidate carries: points learned from its own training rows
// (model.Model.PointsBaseline).
const LearnedBaselineName = "learned:points"

// Attribute keys and flat-table columns read for the campaign and source
// groups, in order of preference: the synthetic history (dataset/synth)
// writes "campaign" and "source"; CRM exports often say "utm_campaign" and
// "lead_source" ("Lead Source").
var (
	CampaignKeys = []string{"campaign", "utm_campaign"}
	SourceKeys   = []string{"source", "lead_source"}
)

// Model is a model with the name reports give it: a registry version name,
// an artifact path or BuiltinBaselineName.
type Model struct {
	Name  string
	Model *model.Model
}

// Models are the models a backtest scores on the same rows. Candidate is
// required; a Champion or Baseline with a nil Model is absent. Without a
// Baseline, unless Options.NoBaseline is set, the baseline is the points
// the candidate learned from its own training rows (LearnedBaselineName),
// which judges it against the simple baseline on equal information; a
// candidate without them (an artifact written before they existed, or an
// import) is judged against the built-in points rules (see
// BuiltinBaseline).
type Models struct {
	Candidate Model
	Champion  Model
	Baseline  Model
}

// Options control a backtest.
type Options struct {
	// Seed seeds the bootstrap confidence intervals; Resamples is their
	// number of resamples (0 means evaluator.DefaultResamples).
	Seed      uint64
	Resamples int
	// Policy is the gate applied, nil for none; PolicyName names it in the
	// report.
	Policy     *evaluator.GatePolicy
	PolicyName string
	// Source says where the rows came from, for the report: file paths or
	// "store". Empty means the flat table's file name, or nothing.
	Source string
	// ObservedUntil is when the history's observation ended, when known
	// (a generated history's manifest says): outcomes up to it are known.
	// Zero means the latest time in the history, which is earlier when the
	// last days were quiet.
	ObservedUntil time.Time
	// NoBaseline skips the built-in points baseline when Models has none.
	NoBaseline bool
	// Now gives the report's creation time; nil means time.Now.
	Now func() time.Time
	// Progress, when set, is told the stage being worked on.
	Progress func(stage string)
}

func (o *Options) progress(stage string) {
	if o.Progress != nil {
		o.Progress(stage)
	}
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

// roles are the models of a backtest in report order.
type roles struct {
	candidate, champion, baseline Model
}

// History backtests models on a history as of a cut-off: the eligible
// leads are those created before cutoff with no outcome (won or lost) at
// or before it; each model computes its own features of them as of cutoff
// through the shared point-in-time featurizer (so every model reads the
// same rows and only what was known before cutoff); a lead's label is
// whether it was won in (cutoff, cutoff+horizon]. A zero horizon means
// dataset.DefaultHorizon.
//
// It refuses, with an EINVALID error naming the cut-off: a cut-off at or
// before the history's start, one whose horizon ends after the history
// does (labels would be incomplete), one before the end of the candidate's
// training data (a backtest on training data flatters), and a cut-off at
// which no lead was open or none of the open leads converted.
func History(ctx context.Context, h *dataset.History, cutoff time.Time, horizon time.Duration, models Models, opts Options) (*evaluator.Report, error) {
	if h == nil {
		return nil, leadscore.InvalidField("history", "nil", "is required")
	}
	if err := checkModels(models); err != nil {
		return nil, err
	}
	if horizon == 0 {
		horizon = dataset.DefaultHorizon
	}
	if horizon < 0 {
		return nil, leadscore.InvalidField("horizon", horizon, "must be positive")
	}
	cutoff = cutoff.UTC()
	first, last := h.Span()
	end := opts.ObservedUntil
	if end.IsZero() {
		end = last
	}
	at := cutoff.Format(time.RFC3339)
	switch {
	case h.Len() == 0:
		return nil, leadscore.InvalidField("history", 0, "has no leads")
	case !cutoff.After(first):
		return nil, leadscore.InvalidField("cutoff", at, "is not after the history's start "+first.Format(time.RFC3339)+": no lead was created before it")
	case cutoff.Add(horizon).After(end):
		return nil, leadscore.InvalidField("cutoff", at, fmt.Sprintf(
			"leaves the labels incomplete: the cut-off plus the %s horizon is %s, after the history ends %s; choose a cut-off at or before %s",
			horizon, cutoff.Add(horizon).Format(time.RFC3339), end.Format(time.RFC3339), end.Add(-horizon).Format(time.RFC3339)))
	}
	if dataEnd := models.Candidate.Model.Metadata.DataEnd; !dataEnd.IsZero() && cutoff.Before(dataEnd) {
		return nil, leadscore.InvalidField("cutoff", at, fmt.Sprintf(
			"is before the end of the candidate's training data %s: a backtest on data the model learned from flatters it; choose a cut-off at or after %s",
			dataEnd.UTC().Format(time.RFC3339), dataEnd.UTC().Format(time.RFC3339)))
	}
	opts.progress("selecting the leads open at the cut-off")
	ex, err := h.Snapshots(dataset.SnapshotSpec{Times: []time.Time{cutoff}, Horizon: horizon, ObservedUntil: end})
	if err != nil {
		return nil, err
	}
	if ex.Len() == 0 {
		return nil, leadscore.InvalidField("cutoff", at, "has no eligible leads: none was created before it and still open at it")
	}
	if ex.Positives() == 0 {
		return nil, leadscore.InvalidField("cutoff", at, fmt.Sprintf(
			"has no conversions: none of the %d leads open at it was won within the %s horizon, so nothing can be ranked", ex.Len(), horizon))
	}

	var warnings []string
	r := roles{candidate: models.Candidate, champion: models.Champion, baseline: models.Baseline}
	if r.baseline.Model == nil && !opts.NoBaseline {
		r.baseline = ownBaseline(models.Candidate)
	}
	if r.baseline.Model == nil && !opts.NoBaseline {
		opts.progress("fitting the built-in points baseline")
		b, err := BuiltinBaseline(ctx, h, cutoff, horizon)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			warnings = append(warnings, "no points baseline: "+err.Error())
		default:
			r.baseline = Model{Name: BuiltinBaselineName, Model: b}
		}
	}
	warnings = append(warnings, modelWarnings(r, cutoff, horizon)...)

	campaigns := historyGroups(h, ex, CampaignKeys)
	sources := historyGroups(h, ex, SourceKeys)
	rowsOf := func(m *model.Model) ([]float64, error) {
		bind, err := h.Bind(m.Spec)
		if err != nil {
			return nil, err
		}
		return bind.Matrix(ctx, ex)
	}
	metrics, err := evaluate(ctx, r, rowsOf, ex.Label, campaigns, sources, opts)
	if err != nil {
		return nil, err
	}
	data := evaluator.DataInfo{
		Kind:        "history",
		Source:      opts.Source,
		Cutoff:      cutoff,
		Horizon:     evaluator.Duration(horizon),
		WindowStart: cutoff,
		WindowEnd:   cutoff.Add(horizon),
		Rows:        ex.Len(),
		Positives:   ex.Positives(),
		SHA256: evaluator.HashRows(ex.Len(),
			func(i int) string { return h.LeadID(int(ex.Lead[i])) },
			func(i int) bool { return ex.Label[i] }),
	}
	return assemble(data, metrics, warnings, opts)
}

// BuiltinBaseline fits the built-in points rules (model.DefaultPointsRules)
// on the history before a cut-off, as `leadscore train --family points`
// would with its observation ending at the cut-off: snapshots whose labels
// are complete by the cut-off, the spec learned before its held-out part,
// and only the map from points to a probability fitted. Nothing at or after
// the cut-off shapes it. It fails when the history is too short before the
// cut-off or the rules name attributes or events the history lacks.
func BuiltinBaseline(ctx context.Context, h *dataset.History, cutoff time.Time, horizon time.Duration) (*model.Model, error) {
	d, err := trainer.FromHistory(ctx, h, trainer.HistoryOptions{Horizon: horizon, ObservedUntil: cutoff})
	if err != nil {
		return nil, fmt.Errorf("fit the built-in points rules before the cut-off: %w", err)
	}
	m, _, err := trainer.Train(ctx, d, trainer.Config{Family: model.FamilyPoints, PointsRules: model.DefaultPointsRules, NoPointsBaseline: true})
	if err != nil {
		return nil, fmt.Errorf("fit the built-in points rules: %w", err)
	}
	return m, nil
}

// Flat backtests models on a flat table: every row is scored, its
// features computed as training computes a flat table's (trainer.FlatRows),
// and judged on its label. The report's window is the span of the table's
// time column, when it has one; its data hash reads the id column, or the
// 1-based row numbers of a table without one. Campaigns and sources are
// read from categorical columns named as CampaignKeys and SourceKeys say
// (after trainer.AttributeKey, so "Lead Source" is lead_source).
//
// Without a Baseline in models the baseline is the points the candidate
// learned from its own training rows (see Models), which never saw this
// table's rows unless the candidate did. Only a candidate without them
// falls back to the built-in points rules: they are compiled against a
// spec learned from the table's first four fifths (in time order) and
// their probability map fitted on the last fifth, as `leadscore train
// --family points --rules` does; a table without the columns they name
// (most) has no baseline, which the report warns of. Since that last
// fifth is also scored, that baseline's calibration figures are slightly
// flattered; its ranking figures are not, as its points are not learned.
// Points are never learned here: a baseline learned on the rows it is
// judged on would know the judged period as the candidate cannot.
//
// It refuses a table with one class of labels, and, when the table has
// times and the candidate's training data has an end, a table whose
// earliest row is not after that end (a backtest on training data
// flatters).
func Flat(ctx context.Context, t *dataset.FlatTable, models Models, opts Options) (*evaluator.Report, error) {
	if t == nil {
		return nil, leadscore.InvalidField("table", "nil", "is required")
	}
	if err := checkModels(models); err != nil {
		return nil, err
	}
	n := t.Len()
	if n == 0 {
		return nil, leadscore.InvalidField("table", t.File(), "has no rows")
	}
	if p := t.Positives(); p == 0 || p == n {
		return nil, leadscore.InvalidField("label", fmt.Sprintf("%d converted of %d", p, n),
			"needs both converted and other rows: the ROC AUC and the lift are undefined with one class")
	}
	var windowStart, windowEnd time.Time
	if t.HasTimes() {
		times := t.Times()
		lo, hi := times[0], times[0]
		for _, x := range times {
			lo, hi = min(lo, x), max(hi, x)
		}
		windowStart, windowEnd = time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC()
		if dataEnd := models.Candidate.Model.Metadata.DataEnd; !dataEnd.IsZero() && !windowStart.After(dataEnd) {
			return nil, leadscore.InvalidField("table", t.File(), fmt.Sprintf(
				"starts %s, not after the end of the candidate's training data %s: a backtest on data the model learned from flatters it",
				windowStart.Format(time.RFC3339), dataEnd.UTC().Format(time.RFC3339)))
		}
	}

	var warnings []string
	r := roles{candidate: models.Candidate, champion: models.Champion, baseline: models.Baseline}
	if r.baseline.Model == nil && !opts.NoBaseline {
		r.baseline = ownBaseline(models.Candidate)
	}
	if r.baseline.Model == nil && !opts.NoBaseline {
		opts.progress("fitting the built-in points baseline")
		b, err := flatBaseline(ctx, t)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			warnings = append(warnings, "no points baseline: "+err.Error())
		default:
			r.baseline = Model{Name: BuiltinBaselineName, Model: b}
		}
	}
	warnings = append(warnings, modelWarnings(r, time.Time{}, 0)...)

	labels := make([]bool, n)
	for i := range labels {
		labels[i] = t.Label(i)
	}
	rowsOf := func(m *model.Model) ([]float64, error) { return trainer.FlatRows(ctx, t, m.Spec) }
	metrics, err := evaluate(ctx, r, rowsOf, labels, flatGroups(t, CampaignKeys), flatGroups(t, SourceKeys), opts)
	if err != nil {
		return nil, err
	}
	source := opts.Source
	if source == "" {
		source = t.File()
	}
	id := func(i int) string { return strconv.Itoa(i + 1) }
	if t.HasIDs() {
		id = t.ID
	}
	data := evaluator.DataInfo{
		Kind:        "flat",
		Source:      source,
		WindowStart: windowStart,
		WindowEnd:   windowEnd,
		Rows:        n,
		Positives:   t.Positives(),
		SHA256:      evaluator.HashRows(n, id, func(i int) bool { return labels[i] }),
	}
	return assemble(data, metrics, warnings, opts)
}

// ownBaseline returns the points baseline the candidate carries, learned
// from its own training rows; its Model is nil when it carries none.
func ownBaseline(candidate Model) Model {
	if b := candidate.Model.PointsBaseline; b != nil {
		return Model{Name: LearnedBaselineName, Model: b}
	}
	return Model{}
}

// flatBaseline fits the built-in points rules on a flat table.
func flatBaseline(ctx context.Context, t *dataset.FlatTable) (*model.Model, error) {
	d, err := trainer.FromFlatTable(ctx, t, trainer.FlatSplit{})
	if err != nil {
		return nil, err
	}
	m, _, err := trainer.Train(ctx, d, trainer.Config{Family: model.FamilyPoints, PointsRules: model.DefaultPointsRules, NoPointsBaseline: true})
	if err != nil {
		return nil, fmt.Errorf("the built-in points rules do not fit %s: %w", t.File(), err)
	}
	return m, nil
}

func checkModels(models Models) error {
	if models.Candidate.Model == nil {
		return leadscore.InvalidField("candidate", "nil", "is required")
	}
	for _, m := range []Model{models.Candidate, models.Champion, models.Baseline} {
		if m.Model != nil && m.Model.Spec == nil {
			return leadscore.InvalidField("model "+m.Name+" spec", "nil", "is required")
		}
	}
	return nil
}

// modelWarnings says what makes a comparison unfair: a champion trained on
// data after the cut-off, and models trained for another horizon than the
// backtest judges.
func modelWarnings(r roles, cutoff time.Time, horizon time.Duration) []string {
	var out []string
	if m := r.champion.Model; m != nil && !cutoff.IsZero() && cutoff.Before(m.Metadata.DataEnd) {
		out = append(out, fmt.Sprintf("the champion %s was trained on data up to %s, after the cut-off: its figures are flattered",
			r.champion.Name, m.Metadata.DataEnd.UTC().Format(time.DateOnly)))
	}
	if horizon > 0 {
		for _, x := range []struct {
			role string
			m    Model
		}{{"candidate", r.candidate}, {"champion", r.champion}} {
			if x.m.Model != nil && x.m.Model.Metadata.Horizon > 0 && x.m.Model.Metadata.Horizon != horizon {
				out = append(out, fmt.Sprintf("the %s %s predicts conversion within %s, but the backtest judges %s",
					x.role, x.m.Name, x.m.Model.Metadata.Horizon, horizon))
			}
		}
	}
	return out
}

// evaluate scores the rows with each model in turn, computing each model's
// own feature rows and dropping them before the next.
func evaluate(ctx context.Context, r roles, rowsOf func(*model.Model) ([]float64, error), labels []bool, campaigns, sources []string, opts Options) ([3]*evaluator.Metrics, error) {
	var out [3]*evaluator.Metrics
	for k, role := range []struct {
		kind string
		m    Model
	}{{"candidate", r.candidate}, {"champion", r.champion}, {"baseline", r.baseline}} {
		if role.m.Model == nil {
			continue
		}
		name := role.m.Name
		if name == "" {
			name = role.kind
		}
		opts.progress("scoring with the " + role.kind + " " + name)
		rows, err := rowsOf(role.m.Model)
		if err != nil {
			return out, modelError(ctx, role.kind, name, err)
		}
		s, err := evaluator.ScoreRows(ctx, role.m.Model, name, rows, labels)
		if err != nil {
			return out, modelError(ctx, role.kind, name, err)
		}
		s.Campaign, s.Source = campaigns, sources
		if out[k], err = evaluator.Evaluate(s, evaluator.EvalOptions{Seed: opts.Seed, Resamples: opts.Resamples}); err != nil {
			return out, modelError(ctx, role.kind, name, err)
		}
	}
	return out, nil
}

func modelError(ctx context.Context, kind, name string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return ctxErr
	}
	return fmt.Errorf("backtest the %s %s: %w", kind, name, err)
}

func assemble(data evaluator.DataInfo, m [3]*evaluator.Metrics, warnings []string, opts Options) (*evaluator.Report, error) {
	return evaluator.NewReport(evaluator.ReportInput{
		Data:       data,
		Candidate:  m[0],
		Champion:   m[1],
		Baseline:   m[2],
		Policy:     opts.Policy,
		PolicyName: opts.PolicyName,
		Seed:       opts.Seed,
		CreatedAt:  opts.now(),
		Warnings:   warnings,
	})
}

// historyGroups returns each example's value of the first of keys that
// any example's lead has, "" where it has none; nil when no lead has any.
func historyGroups(h *dataset.History, ex *dataset.Examples, keys []string) []string {
	for _, key := range keys {
		out := make([]string, ex.Len())
		found := false
		for i, lead := range ex.Lead {
			v := h.Attribute(int(lead), key)
			if v.Missing() {
				continue
			}
			found = true
			if v.Kind == leadscore.KindString {
				out[i] = v.Str
			} else {
				out[i] = v.Format()
			}
		}
		if found {
			return out
		}
	}
	return nil
}

// flatGroups returns each row's value of the first categorical column
// (feature or group) whose attribute key is one of keys; nil when there is
// none. A numeric column of that name is not a campaign: the bank
// marketing data's "campaign" counts contacts.
func flatGroups(t *dataset.FlatTable, keys []string) []string {
	for _, key := range keys {
		for _, c := range t.Columns() {
			if trainer.AttributeKey(c.Name) != key || c.Type != dataset.ColumnCategorical ||
				(c.Role != dataset.RoleFeature && c.Role != dataset.RoleGroup) {
				continue
			}
			col, err := t.Categorical(c.Name)
			if err != nil {
				continue
			}
			out := make([]string, t.Len())
			for i := range out {
				out[i], _ = col.Value(i)
			}
			return out
		}
	}
	return nil
}
