package trainer

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
)

// HistoryOptions say how training rows are taken from a three-table
// history.
type HistoryOptions struct {
	// Snapshots are the snapshot times; nil means the first of every month
	// from the history's third month while a whole horizon still fits
	// before ObservedUntil.
	Snapshots []time.Time
	// Horizon is the conversion horizon; zero means 90 days.
	Horizon time.Duration
	// ObservedUntil is when observation ended; zero means the history's
	// latest time.
	ObservedUntil time.Time
	// ValidFrom starts the held-out period; zero means the snapshot time
	// from which on the snapshots hold about a fifth of the held-out and
	// training examples, as a flat table's split holds out a fifth of its
	// rows (see heldOutFrom). Training rows end one horizon before it, so no
	// training label sees the held-out period.
	ValidFrom time.Time
	// Spec controls the learned feature spec (exclusions, vocabularies).
	Spec model.SpecOptions
}

// FromHistory prepares training data from a history: point-in-time
// snapshots labelled over the horizon, split in time with a one-horizon
// gap, with the feature spec learned from what was known before the
// held-out period.
func FromHistory(ctx context.Context, h *dataset.History, opts HistoryOptions) (*Data, error) {
	horizon := opts.Horizon
	if horizon == 0 {
		horizon = dataset.DefaultHorizon
	}
	first, last := h.Span()
	end := opts.ObservedUntil
	if end.IsZero() {
		end = last
	}
	times := opts.Snapshots
	if times == nil {
		start := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
		for t := start.AddDate(0, 2, 0); !t.Add(horizon).After(end); t = t.AddDate(0, 1, 0) {
			times = append(times, t)
		}
	}
	if len(times) < 2 {
		return nil, leadscore.InvalidField("history", fmt.Sprintf("%s to %s", first.Format(time.DateOnly), end.Format(time.DateOnly)),
			"is too short: training needs at least two snapshot times a horizon apart from the end")
	}
	ex, err := h.Snapshots(dataset.SnapshotSpec{Times: times, Horizon: horizon, ObservedUntil: end})
	if err != nil {
		return nil, err
	}
	validFrom := opts.ValidFrom
	if validFrom.IsZero() {
		validFrom = heldOutFrom(ex.At, times, horizon, heldOutFraction)
	}
	train, valid := ex.TimeSplit(validFrom)
	if train.Len() == 0 || valid.Len() == 0 {
		return nil, leadscore.InvalidField("valid_from", validFrom.Format(time.DateOnly),
			fmt.Sprintf("leaves %d training and %d held-out examples; both need some", train.Len(), valid.Len()))
	}
	spec, err := h.LearnSpec(opts.Spec, validFrom)
	if err != nil {
		return nil, err
	}
	bind, err := h.Bind(spec)
	if err != nil {
		return nil, err
	}
	d := &Data{Spec: spec, TrainLabels: train.Label, ValidLabels: valid.Label, TrainTimes: train.At, Start: first, End: end, Horizon: horizon}
	if d.TrainRows, err = bind.Matrix(ctx, train); err != nil {
		return nil, err
	}
	if d.ValidRows, err = bind.Matrix(ctx, valid); err != nil {
		return nil, err
	}
	return d, nil
}

// heldOutFraction is the share of the examples a history's default split
// holds out, as FlatSplit's default does a flat table's rows.
const heldOutFraction = 0.2

// heldOutFrom returns the snapshot time that splits the examples (at
// their snapshot times, Unix seconds) so that the held-out ones, at that
// time or later, are closest to frac of the held-out and training ones
// together; training examples are those whose horizon ends by the cut, as
// Examples.TimeSplit takes them. The cut is counted in examples, not in
// snapshot times: a lead with no outcome yet is an example at every later
// snapshot, so the eligible leads pile up and the last snapshots hold the
// most examples, and the one-horizon gap drops the snapshots before the
// cut. Three quarters of the way through the times held out more examples
// than the training rows kept (124,744 against 89,743 on a generated
// history).
func heldOutFrom(at []int64, times []time.Time, horizon time.Duration, frac float64) time.Time {
	sorted := slices.Clone(at)
	slices.Sort(sorted)
	h := int64(horizon / time.Second)
	best, bestDiff := len(times)-1, math.Inf(1)
	for k := len(times) - 1; k >= 1; k-- {
		cut := times[k].Unix()
		train, _ := slices.BinarySearch(sorted, cut-h+1) // at + h <= cut
		heldStart, _ := slices.BinarySearch(sorted, cut)
		held := len(sorted) - heldStart
		if train == 0 || held == 0 {
			continue
		}
		if diff := math.Abs(float64(held)/float64(train+held) - frac); diff < bestDiff {
			best, bestDiff = k, diff
		}
	}
	return times[best]
}

// FlatSplit says how a flat table is split into training and held-out
// rows.
type FlatSplit struct {
	// TestFraction is the held-out share; zero means 0.2.
	TestFraction float64
	// Random splits at random with Seed instead of in row (or time) order.
	Random bool
	Seed   uint64
	// Spec controls the learned vocabularies; Exclude also removes
	// columns.
	Spec model.SpecOptions
}

// FromFlatTable prepares training data from a flat table: every feature
// column becomes a fit feature, and the rows are split in order (by the
// time column when there is one) or at random.
func FromFlatTable(ctx context.Context, t *dataset.FlatTable, opts FlatSplit) (*Data, error) {
	frac := opts.TestFraction
	if frac == 0 {
		frac = 0.2
	}
	var train, valid []int
	var err error
	if opts.Random {
		train, valid, err = dataset.RandomSplit(t.Len(), frac, opts.Seed, nil)
	} else {
		train, valid, err = dataset.OrderedSplit(t.Len(), t.Times(), frac)
	}
	if err != nil {
		return nil, err
	}
	leads, err := flatLeads(t)
	if err != nil {
		return nil, err
	}
	d, err := flatData(ctx, t, leads, train, valid, opts.Spec)
	if err != nil {
		return nil, err
	}
	d.Shuffled = opts.Random
	return d, nil
}

// FromFlatTables prepares training data from a training table and a
// separate held-out table with the same columns, for a split made
// elsewhere (a later export, or the exact split another tool used).
func FromFlatTables(ctx context.Context, train, held *dataset.FlatTable, spec model.SpecOptions) (*Data, error) {
	trainCols, heldCols := train.Columns(), held.Columns()
	if len(trainCols) != len(heldCols) {
		return nil, leadscore.InvalidField("held-out table", held.File(), fmt.Sprintf("has %d columns, the training table %d", len(heldCols), len(trainCols)))
	}
	for i := range trainCols {
		if trainCols[i].Name != heldCols[i].Name || trainCols[i].Role != heldCols[i].Role {
			return nil, leadscore.InvalidField("held-out table column "+heldCols[i].Name, heldCols[i].Name,
				"must match the training table's column "+trainCols[i].Name)
		}
	}
	trainLeads, err := flatLeads(train)
	if err != nil {
		return nil, err
	}
	heldLeads, err := flatLeads(held)
	if err != nil {
		return nil, err
	}
	all := append(trainLeads, heldLeads...)
	trainIdx := make([]int, train.Len())
	for i := range trainIdx {
		trainIdx[i] = i
	}
	heldIdx := make([]int, held.Len())
	for i := range heldIdx {
		heldIdx[i] = train.Len() + i
	}
	return flatData(ctx, joinedLabels{train, held}, all, trainIdx, heldIdx, spec)
}

// labeled is a table whose rows have labels and maybe times.
type labeled interface {
	Label(i int) bool
	HasTimes() bool
	Times() []int64
}

// joinedLabels reads the labels of two tables as one.
type joinedLabels struct{ a, b *dataset.FlatTable }

func (j joinedLabels) Label(i int) bool {
	if i < j.a.Len() {
		return j.a.Label(i)
	}
	return j.b.Label(i - j.a.Len())
}

func (j joinedLabels) HasTimes() bool { return j.a.HasTimes() && j.b.HasTimes() }

func (j joinedLabels) Times() []int64 {
	if !j.HasTimes() {
		return nil
	}
	return append(append([]int64(nil), j.a.Times()...), j.b.Times()...)
}

// flatData computes the feature rows of flat-table leads for the given
// training and held-out rows, learning the spec from the training rows.
func flatData(ctx context.Context, t labeled, leads []map[string]leadscore.Value, train, valid []int, specOpts model.SpecOptions) (*Data, error) {
	b := model.NewSpecBuilder(specOpts)
	for _, i := range train {
		if err := b.ObserveLead(leads[i]); err != nil {
			return nil, err
		}
	}
	spec, err := b.Build()
	if err != nil {
		return nil, err
	}
	f, err := model.NewFeaturizer(spec)
	if err != nil {
		return nil, err
	}
	w := f.Width()
	rows := func(idx []int) ([]float64, []bool, error) {
		out := make([]float64, len(idx)*w)
		labels := make([]bool, len(idx))
		fit := make([]leadscore.Value, len(spec.Fit))
		for n, i := range idx {
			if n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, nil, err
				}
			}
			for j, ff := range spec.Fit {
				fit[j] = leads[i][ff.Attribute]
			}
			if err := f.Compute(fit, 0, model.Activity{}, 0, out[n*w:(n+1)*w]); err != nil {
				return nil, nil, fmt.Errorf("row %d: %w", i+1, err)
			}
			labels[n] = t.Label(i)
		}
		return out, labels, nil
	}
	d := &Data{Spec: spec}
	if d.TrainRows, d.TrainLabels, err = rows(train); err != nil {
		return nil, err
	}
	if d.ValidRows, d.ValidLabels, err = rows(valid); err != nil {
		return nil, err
	}
	if t.HasTimes() {
		// A flat table's times are Unix nanoseconds; Data's are seconds,
		// as a history's snapshot times are.
		times := t.Times()
		d.TrainTimes = make([]int64, len(train))
		for k, i := range train {
			d.TrainTimes[k] = time.Unix(0, times[i]).Unix()
		}
		lo, hi := times[0], times[0]
		for _, x := range times {
			lo, hi = min(lo, x), max(hi, x)
		}
		d.Start, d.End = time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC()
	}
	return d, nil
}

// flatLeads turns each row's feature columns into attribute values.
func flatLeads(t *dataset.FlatTable) ([]map[string]leadscore.Value, error) {
	out := make([]map[string]leadscore.Value, t.Len())
	for i := range out {
		out[i] = map[string]leadscore.Value{}
	}
	keys := map[string]string{}
	for _, info := range t.Columns() {
		if info.Role != dataset.RoleFeature {
			continue
		}
		// CRM exports name columns for people ("Lead Source"); features
		// need keys ("lead_source"). Two columns that would share a key
		// are an error rather than a silent merge.
		key := attributeKey(info.Name)
		if other, taken := keys[key]; taken {
			return nil, leadscore.InvalidField("column "+info.Name, key, "has the same feature name as column "+other)
		}
		keys[key] = info.Name
		if err := leadscore.ValidateKey("column "+info.Name, key); err != nil {
			return nil, err
		}
		switch info.Type {
		case dataset.ColumnNumeric:
			c, err := t.Numeric(info.Name)
			if err != nil {
				return nil, err
			}
			for i := range out {
				if v, ok := c.Value(i); ok {
					out[i][key] = leadscore.Number(v)
				}
			}
		case dataset.ColumnBoolean:
			c, err := t.Boolean(info.Name)
			if err != nil {
				return nil, err
			}
			for i := range out {
				if v, ok := c.Value(i); ok {
					out[i][key] = leadscore.Bool(v)
				}
			}
		case dataset.ColumnCategorical:
			c, err := t.Categorical(info.Name)
			if err != nil {
				return nil, err
			}
			for i := range out {
				if v, ok := c.Value(i); ok {
					out[i][key] = leadscore.String(v)
				}
			}
		}
	}
	return out, nil
}

// attributeKey turns a column name into a feature key: lower case, with
// every run of other characters than letters and digits replaced by "_".
func attributeKey(name string) string {
	var b []byte
	under := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b = append(b, byte(r))
			under = false
			continue
		}
		if !under && len(b) > 0 {
			b = append(b, '_')
			under = true
		}
	}
	return strings.TrimSuffix(string(b), "_")
}
