package server

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The limits of a scoring request, as the API documents them.
const (
	// MaxBatchItems is the most items of a ScoreBatch request or of one
	// StreamScore chunk.
	MaxBatchItems = 1000
	// MaxInlineEvents is the most events an inline lead may carry.
	MaxInlineEvents = 10000
	// MaxItemKey is the longest item key, in bytes.
	MaxItemKey = 128
	// DefaultFactors and MaxFactors bound ScoreOptions.max_factors.
	DefaultFactors = 5
	MaxFactors     = 50
	// maxClockSkew is how far in the future a score time or an event time
	// may be, for callers whose clocks run ahead of the server's.
	maxClockSkew = 5 * time.Minute
)

// scoreOptions are a request's ScoreOptions, checked.
type scoreOptions struct {
	model   leadscore.AliasRef
	version int64
	explain bool
	factors int
	// at is the score time; unix the same in Unix seconds.
	at   time.Time
	unix int64
	// columns are the columns of items given as rows, checked.
	columns []*leadscorev1.Column
}

// parseScoreOptions checks a request's options; field is their path in the
// request, such as "options".
func parseScoreOptions(field string, o *leadscorev1.ScoreOptions, now time.Time) (scoreOptions, error) {
	opts := scoreOptions{model: leadscore.AliasRef{Model: "default", Alias: leadscore.AliasChampion}, factors: DefaultFactors, at: now}
	if sel := o.GetModel(); sel != nil {
		if sel.GetModel() != "" {
			id, err := leadscore.ParseModelName(field+".model.model", sel.GetModel())
			if err != nil {
				return opts, err
			}
			opts.model.Model = id
		}
		switch t := sel.GetTarget().(type) {
		case *leadscorev1.ModelSelector_Alias:
			if err := leadscore.ValidateSlug(field+".model.alias", t.Alias); err != nil {
				return opts, err
			}
			opts.model.Alias = t.Alias
		case *leadscorev1.ModelSelector_Version:
			if t.Version < 1 {
				return opts, leadscore.InvalidField(field+".model.version", t.Version, "must be a version number, 1 or more")
			}
			opts.version = t.Version
		}
	}
	opts.explain = o.GetExplain()
	switch n := o.GetMaxFactors(); {
	case n == 0:
	case n < 1 || n > MaxFactors:
		return opts, leadscore.InvalidField(field+".max_factors", n, fmt.Sprintf("must be from 1 to %d, or 0 for %d", MaxFactors, DefaultFactors))
	default:
		opts.factors = int(n)
	}
	if ts := o.GetScoreTime(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return opts, leadscore.InvalidField(field+".score_time", ts.String(), "must be a valid timestamp")
		}
		at := ts.AsTime()
		if at.After(now.Add(maxClockSkew)) {
			return opts, leadscore.InvalidField(field+".score_time", at.Format(time.RFC3339), "must not be in the future")
		}
		opts.at = at
	}
	opts.unix = opts.at.Unix()
	cols := o.GetColumns()
	if len(cols) > leadscore.MaxAttributes {
		return opts, leadscore.InvalidField(field+".columns", len(cols), fmt.Sprintf("has more than %d columns", leadscore.MaxAttributes))
	}
	seen := make(map[string]bool, len(cols))
	for i, c := range cols {
		cf := field + ".columns[" + strconv.Itoa(i) + "]"
		if err := leadscore.ValidateKey(cf+".attribute", c.GetAttribute()); err != nil {
			return opts, err
		}
		if seen[c.GetAttribute()] {
			return opts, leadscore.InvalidField(cf+".attribute", c.GetAttribute(), "is named by another column too")
		}
		seen[c.GetAttribute()] = true
		switch c.GetKind() {
		case leadscorev1.ColumnKind_COLUMN_KIND_NUMBER, leadscorev1.ColumnKind_COLUMN_KIND_BOOL, leadscorev1.ColumnKind_COLUMN_KIND_STRING:
		default:
			return opts, leadscore.InvalidField(cf+".kind", c.GetKind(), "must be COLUMN_KIND_NUMBER, COLUMN_KIND_BOOL or COLUMN_KIND_STRING")
		}
	}
	opts.columns = cols
	return opts, nil
}

// columnPlan is a request's columns bound to the model scoring them: where
// each value of a row goes among the model's fit values.
type columnPlan struct {
	numbers []columnTarget // one per LeadRow.numbers value
	strings []columnTarget // one per LeadRow.strings value
	// unknown are the columns the model does not read, sorted; every
	// result of the request shares the slice.
	unknown []string
}

type columnTarget struct {
	attribute string
	fit       int // index among the spec's fit features, or -1
	bool      bool
}

// bindColumns binds checked columns to a model. A column whose kind does
// not match the model's feature is refused here, once, rather than in every
// row.
func bindColumns(field string, cols []*leadscorev1.Column, sm *servedModel) (*columnPlan, error) {
	if len(cols) == 0 {
		return nil, nil
	}
	p := &columnPlan{}
	for i, c := range cols {
		t := columnTarget{attribute: c.GetAttribute(), fit: -1, bool: c.GetKind() == leadscorev1.ColumnKind_COLUMN_KIND_BOOL}
		if idx, ok := sm.fitIndex[t.attribute]; ok {
			want := map[model.Kind]leadscorev1.ColumnKind{
				model.KindNumeric:     leadscorev1.ColumnKind_COLUMN_KIND_NUMBER,
				model.KindBoolean:     leadscorev1.ColumnKind_COLUMN_KIND_BOOL,
				model.KindCategorical: leadscorev1.ColumnKind_COLUMN_KIND_STRING,
			}[sm.m.Spec.Fit[idx].Kind]
			if c.GetKind() != want {
				return nil, leadscore.InvalidField(field+".columns["+strconv.Itoa(i)+"].kind", c.GetKind(),
					fmt.Sprintf("%s reads %s as %s", sm.name, t.attribute, want))
			}
			t.fit = idx
		} else {
			p.unknown = append(p.unknown, t.attribute)
		}
		if c.GetKind() == leadscorev1.ColumnKind_COLUMN_KIND_STRING {
			p.strings = append(p.strings, t)
		} else {
			p.numbers = append(p.numbers, t)
		}
	}
	slices.Sort(p.unknown)
	return p, nil
}

// itemInput is one item converted for a model: its fit values in the
// spec's order (in the scratch), creation time and activity.
type itemInput struct {
	created  int64
	act      model.Activity
	unknown  []string
	storedID string // set when the item names a stored lead
}

// parseItem checks an item against the model that will score it and fills
// the scratch's fit values. Every problem is an EINVALID error naming the
// field's path within the item, such as "inline_lead.attributes.country";
// the caller puts the item's own path in front (withFieldPrefix), so that
// no path is built for an item that is fine.
func parseItem(it *leadscorev1.ScoreItem, sm *servedModel, opts *scoreOptions, plan *columnPlan, fit []leadscore.Value) (itemInput, error) {
	var in itemInput
	if len(it.GetKey()) > MaxItemKey {
		return in, leadscore.InvalidField("key", it.GetKey()[:32]+"...", fmt.Sprintf("must be at most %d bytes", MaxItemKey))
	}
	switch s := it.GetSubject().(type) {
	case *leadscorev1.ScoreItem_Lead:
		id, err := leadscore.ParseLeadName("lead", s.Lead)
		if err != nil {
			return in, err
		}
		in.storedID = id
		return in, nil
	case *leadscorev1.ScoreItem_InlineLead:
		if s.InlineLead == nil {
			return in, leadscore.InvalidField("inline_lead", "null", "is required")
		}
		return parseInline("inline_lead", s.InlineLead, sm, opts, fit)
	case *leadscorev1.ScoreItem_Row:
		if s.Row == nil {
			return in, leadscore.InvalidField("row", "null", "is required")
		}
		if plan == nil {
			return in, leadscore.InvalidField("row", "no columns", "needs the request's options.columns")
		}
		return parseRow("row", s.Row, plan, sm, opts, fit)
	default:
		return in, leadscore.InvalidField("subject", "unset", "set lead (a stored lead's name) or inline_lead")
	}
}

func parseInline(field string, l *leadscorev1.InlineLead, sm *servedModel, opts *scoreOptions, fit []leadscore.Value) (itemInput, error) {
	var in itemInput
	attrs := l.GetAttributes()
	if len(attrs) > leadscore.MaxAttributes {
		return in, leadscore.InvalidField(field+".attributes", len(attrs), fmt.Sprintf("has more than %d attributes", leadscore.MaxAttributes))
	}
	for key, pv := range attrs {
		i, known := sm.fitIndex[key]
		if !known {
			if err := leadscore.ValidateKey(field+".attributes", key); err != nil {
				return in, err
			}
			in.unknown = append(in.unknown, key)
		}
		v, ok := attributeValue(pv)
		if !ok {
			// The field's path is built only here: concatenating it for
			// every attribute would cost each lead thirty allocations.
			return in, attributeError(field+".attributes."+key, pv)
		}
		if known {
			fit[i] = v
		}
	}
	if len(in.unknown) > 1 {
		slices.Sort(in.unknown)
	}
	var err error
	in.created, in.act, err = parseActivity(field, l.GetAccount(), l.GetEvents(), l.GetCreateTime(), sm, opts)
	return in, err
}

// parseRow reads a row of the request's columns.
func parseRow(field string, r *leadscorev1.LeadRow, plan *columnPlan, sm *servedModel, opts *scoreOptions, fit []leadscore.Value) (itemInput, error) {
	in := itemInput{unknown: plan.unknown}
	nums, strs := r.GetNumbers(), r.GetStrings()
	if len(nums) != len(plan.numbers) {
		return in, leadscore.InvalidField(field+".numbers", len(nums), fmt.Sprintf("must hold one value per number and boolean column (%d)", len(plan.numbers)))
	}
	if len(strs) != len(plan.strings) {
		return in, leadscore.InvalidField(field+".strings", len(strs), fmt.Sprintf("must hold one value per string column (%d)", len(plan.strings)))
	}
	for j, x := range nums {
		t := &plan.numbers[j]
		switch {
		case x != x: // missing
			continue
		case math.IsInf(x, 0):
			return in, leadscore.InvalidField(field+".numbers["+strconv.Itoa(j)+"]", x, "column "+t.attribute+" must be a finite number, or NaN for missing")
		case t.bool && x != 0 && x != 1:
			return in, leadscore.InvalidField(field+".numbers["+strconv.Itoa(j)+"]", x, "column "+t.attribute+" is boolean: 0, 1, or NaN for missing")
		}
		if t.fit < 0 {
			continue
		}
		if t.bool {
			fit[t.fit] = leadscore.Bool(x == 1)
		} else {
			fit[t.fit] = leadscore.Number(x)
		}
	}
	for j, v := range strs {
		t := &plan.strings[j]
		if len(v) > leadscore.MaxAttributeValueBytes {
			return in, leadscore.String(v).Validate(field + ".strings[" + strconv.Itoa(j) + "]")
		}
		if v != "" && t.fit >= 0 {
			fit[t.fit] = leadscore.String(v)
		}
	}
	var err error
	in.created, in.act, err = parseActivity(field, r.GetAccount(), r.GetEvents(), r.GetCreateTime(), sm, opts)
	return in, err
}

// parseActivity checks what an inline lead carries besides attributes: its
// account, events and creation time (default: its earliest event, or the
// score time).
func parseActivity(field, account string, evs []*leadscorev1.Event, createTime *timestamppb.Timestamp, sm *servedModel, opts *scoreOptions) (int64, model.Activity, error) {
	var act model.Activity
	if account != "" {
		if _, err := leadscore.ParseAccountName(field+".account", account); err != nil {
			return 0, act, err
		}
	}
	if len(evs) > MaxInlineEvents {
		return 0, act, leadscore.InvalidField(field+".events", len(evs), fmt.Sprintf("has more than %d events", MaxInlineEvents))
	}
	created := opts.unix
	if len(evs) > 0 {
		events := make([]leadscore.Event, len(evs))
		for j, pe := range evs {
			e, err := inlineEvent(fmt.Sprintf("%s.events[%d]", field, j), pe, sm, opts)
			if err != nil {
				return 0, act, err
			}
			events[j] = e
			created = min(created, e.OccurredAt.Unix())
		}
		act = sm.m.Spec.ActivityFromEvents(events)
	}
	if createTime != nil {
		if err := createTime.CheckValid(); err != nil {
			return 0, act, leadscore.InvalidField(field+".create_time", createTime.String(), "must be a valid timestamp")
		}
		c := createTime.AsTime()
		if c.After(opts.at) {
			return 0, act, leadscore.InvalidField(field+".create_time", c.Format(time.RFC3339),
				"is after the score time "+opts.at.UTC().Format(time.RFC3339))
		}
		created = c.Unix()
	}
	return created, act, nil
}

// inlineEvent converts and checks one inline event.
func inlineEvent(field string, pe *leadscorev1.Event, sm *servedModel, opts *scoreOptions) (leadscore.Event, error) {
	e := leadscore.Event{ID: pe.GetEventId(), Type: pe.GetType(), Properties: pe.GetProperties()}
	if e.ID != "" {
		if err := leadscore.ValidateID(field+".event_id", e.ID); err != nil {
			return e, err
		}
	}
	if err := leadscore.ValidateKey(field+".type", e.Type); err != nil {
		return e, err
	}
	if !sm.knowsType(e.Type) {
		return e, leadscore.InvalidField(field+".type", e.Type,
			fmt.Sprintf("is not a well-known event type and %s does not count it", sm.name))
	}
	ts := pe.GetOccurTime()
	if ts == nil {
		return e, leadscore.InvalidField(field+".occur_time", "unset", "is required")
	}
	if err := ts.CheckValid(); err != nil {
		return e, leadscore.InvalidField(field+".occur_time", ts.String(), "must be a valid timestamp")
	}
	e.OccurredAt = ts.AsTime()
	if e.OccurredAt.After(opts.at) {
		return e, leadscore.InvalidField(field+".occur_time", e.OccurredAt.Format(time.RFC3339),
			"is after the score time "+opts.at.UTC().Format(time.RFC3339))
	}
	if len(e.Properties) > leadscore.MaxEventProperties {
		return e, leadscore.InvalidField(field+".properties", len(e.Properties), fmt.Sprintf("has more than %d properties", leadscore.MaxEventProperties))
	}
	// The domain's own rules for properties, with the path put in front.
	check := e
	check.LeadID = "inline"
	if check.ID == "" {
		check.ID = "inline"
	}
	if err := check.Validate(); err != nil {
		return e, withFieldPrefix(field, err)
	}
	return e, nil
}

// attributeValue converts one attribute value; ok is false for an unset
// kind, a non-finite number or an over-long string, which attributeError
// then explains.
func attributeValue(pv *leadscorev1.AttributeValue) (v leadscore.Value, ok bool) {
	switch k := pv.GetKind().(type) {
	case *leadscorev1.AttributeValue_StringValue:
		return leadscore.String(k.StringValue), len(k.StringValue) <= leadscore.MaxAttributeValueBytes
	case *leadscorev1.AttributeValue_NumberValue:
		return leadscore.Number(k.NumberValue), !math.IsNaN(k.NumberValue) && !math.IsInf(k.NumberValue, 0)
	case *leadscorev1.AttributeValue_BoolValue:
		return leadscore.Bool(k.BoolValue), true
	}
	return v, false
}

// attributeError says what is wrong with a value attributeValue refused.
func attributeError(field string, pv *leadscorev1.AttributeValue) error {
	switch k := pv.GetKind().(type) {
	case *leadscorev1.AttributeValue_NumberValue:
		return leadscore.InvalidField(field, strconv.FormatFloat(k.NumberValue, 'g', -1, 64), "must be a finite number")
	case *leadscorev1.AttributeValue_StringValue:
		return leadscore.String(k.StringValue).Validate(field)
	}
	return leadscore.InvalidField(field, "unset", "has no value; leave a missing attribute out of the map")
}

// withFieldPrefix puts prefix in front of the field paths of an EINVALID
// error (the featurizer names "attributes.country"; the caller sent
// "items[3].inline_lead.attributes.country"). Other errors pass unchanged.
func withFieldPrefix(prefix string, err error) error {
	var e *leadscore.Error
	if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) == 0 {
		return err
	}
	out := *e
	out.Fields = make([]leadscore.FieldViolation, len(e.Fields))
	for i, f := range e.Fields {
		out.Fields[i] = leadscore.FieldViolation{Field: prefix + "." + f.Field, Description: f.Description}
	}
	out.Message = fmt.Sprintf("invalid %s: %s", out.Fields[0].Field, out.Fields[0].Description)
	return &out
}
