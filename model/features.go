package model

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/leadscore/leadscore"
)

// Event flags, set on an Activity's events by the spec's type lists.
const (
	FlagHandRaise uint8 = 1 << iota
	FlagUnsubscribe
	FlagBounce
)

// Activity is one lead's de-duplicated events in columnar form, sorted by
// time, oldest first. Building it is the caller's job (dataset.History for
// training and backtests, ActivityFromEvents for live requests); computing
// features from it allocates nothing.
type Activity struct {
	// Times are the events' times in Unix seconds, ascending.
	Times []int64
	// Kinds are the events' kind indexes in the spec (FeatureSpec.KindOf),
	// or -1 for events the spec does not count (they still count as
	// activity).
	Kinds []int32
	// Flags are the events' Flag* bits.
	Flags []uint8
}

// Len is the number of events.
func (a Activity) Len() int { return len(a.Times) }

// FlagsOf returns the Flag* bits of an event type under the spec.
func (s *FeatureSpec) FlagsOf(eventType string) uint8 {
	var f uint8
	if containsType(s.HandRaiseTypes, eventType) {
		f |= FlagHandRaise
	}
	if containsType(s.UnsubscribeTypes, eventType) {
		f |= FlagUnsubscribe
	}
	if containsType(s.BounceTypes, eventType) {
		f |= FlagBounce
	}
	return f
}

// ActivityFromEvents builds the Activity of events given as domain records,
// as a live scoring request carries them. Events with the same non-empty id
// are counted once, at the earliest time any copy claims, so that a copy
// recorded later can never change what was known earlier.
func (s *FeatureSpec) ActivityFromEvents(events []leadscore.Event) Activity {
	idx := make([]int, 0, len(events))
	first := make(map[string]int, len(events))
	for i, e := range events {
		if e.ID == "" {
			idx = append(idx, i)
			continue
		}
		j, seen := first[e.ID]
		if !seen {
			first[e.ID] = len(idx)
			idx = append(idx, i)
			continue
		}
		if e.OccurredAt.Before(events[idx[j]].OccurredAt) {
			idx[j] = i
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return events[idx[a]].OccurredAt.Before(events[idx[b]].OccurredAt) })
	act := Activity{Times: make([]int64, len(idx)), Kinds: make([]int32, len(idx)), Flags: make([]uint8, len(idx))}
	for n, i := range idx {
		e := events[i]
		act.Times[n] = e.OccurredAt.Unix()
		act.Kinds[n] = int32(s.KindOf(e.Type, func(name string) string { return e.Properties[name] }))
		act.Flags[n] = s.FlagsOf(e.Type)
	}
	return act
}

// Featurizer computes feature rows for one spec. It keeps scratch space,
// so it is not safe for concurrent use: give each goroutine its own
// (Clone is cheap).
type Featurizer struct {
	spec       FeatureSpec
	width      int
	categories []map[string]int
	windows    []int64 // seconds
	decayRate  float64 // per second
	handRaise  bool

	// scratch, one entry per event kind
	capDay   []int64
	capCount []int
}

// NewFeaturizer validates spec and prepares its lookups.
func NewFeaturizer(spec *FeatureSpec) (*Featurizer, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	f := &Featurizer{
		spec:      *spec,
		width:     spec.Width(),
		decayRate: math.Ln2 / (spec.HalfLifeDays * 86400),
		capDay:    make([]int64, len(spec.Kinds)),
		capCount:  make([]int, len(spec.Kinds)),
	}
	for _, fit := range spec.Fit {
		var m map[string]int
		if fit.Kind == KindCategorical {
			m = make(map[string]int, len(fit.Categories))
			for i, c := range fit.Categories {
				m[c] = i
			}
		}
		f.categories = append(f.categories, m)
	}
	for _, w := range spec.WindowDays {
		f.windows = append(f.windows, int64(w)*86400)
	}
	return f, nil
}

// Clone returns a Featurizer for the same spec with its own scratch space.
func (f *Featurizer) Clone() *Featurizer {
	c := *f
	c.capDay = make([]int64, len(f.capDay))
	c.capCount = make([]int, len(f.capCount))
	return &c
}

// Spec returns the spec the featurizer computes.
func (f *Featurizer) Spec() *FeatureSpec { return &f.spec }

// Width is the length of the rows Compute fills.
func (f *Featurizer) Width() int { return f.width }

// Compute fills out with the features of a lead as of time at (Unix
// seconds): fit holds the lead's attribute values in the order of the
// spec's Fit features, created is the lead's creation time, and act its
// events. Only events strictly before at are used, so what happens at or
// after at can never change a feature at at. Missing values are NaN.
//
// It returns an error, naming the attribute and value, when a value does
// not match its feature's kind, and never guesses.
func (f *Featurizer) Compute(fit []leadscore.Value, created int64, act Activity, at int64, out []float64) error {
	if len(fit) != len(f.spec.Fit) {
		return leadscore.InvalidField("fit", len(fit), fmt.Sprintf("must hold %d attribute values", len(f.spec.Fit)))
	}
	if len(out) != f.width {
		return leadscore.InvalidField("features", len(out), fmt.Sprintf("must have room for %d features", f.width))
	}
	if len(act.Kinds) != len(act.Times) || len(act.Flags) != len(act.Times) {
		return leadscore.InvalidField("activity", len(act.Times), "times, kinds and flags must have the same length")
	}
	if created > at {
		return leadscore.InvalidField("created_at", time.Unix(created, 0).UTC().Format(time.RFC3339),
			"is after the scoring time "+time.Unix(at, 0).UTC().Format(time.RFC3339))
	}
	col := 0
	for i := range f.spec.Fit {
		v, err := f.encode(i, &f.spec.Fit[i], &fit[i])
		if err != nil {
			return err
		}
		out[col] = v
		col++
	}
	out[col] = float64(at-created) / 86400
	col++

	kinds := len(f.spec.Kinds)
	perKind := len(f.windows) + 1
	counts := out[col : col+kinds*perKind]
	for i := range counts {
		counts[i] = 0
	}
	col += kinds * perKind
	for k := range f.capDay {
		f.capDay[k] = math.MinInt64
		f.capCount[k] = 0
	}

	n := countBefore(act.Times, at)
	maxWindow := f.windows[len(f.windows)-1]
	var decayedTotal float64
	var flags uint8
	activeDays := 0
	lastActiveDay := int64(math.MinInt64)
	for i := 0; i < n; i++ {
		t := act.Times[i]
		age := at - t
		day := floorDiv(t, 86400)
		flags |= act.Flags[i]
		if age <= maxWindow && day != lastActiveDay {
			activeDays++
			lastActiveDay = day
		}
		k := act.Kinds[i]
		if k < 0 || int(k) >= kinds {
			continue
		}
		if f.capDay[k] == day {
			f.capCount[k]++
		} else {
			f.capDay[k] = day
			f.capCount[k] = 1
		}
		if f.capCount[k] > f.spec.DailyCap {
			continue
		}
		base := int(k) * perKind
		for w, window := range f.windows {
			if age <= window {
				counts[base+w]++
			}
		}
		d := math.Exp(-f.decayRate * float64(age))
		counts[base+len(f.windows)] += d
		decayedTotal += d
	}

	out[col] = decayedTotal
	if n > 0 {
		out[col+1] = float64(at-act.Times[n-1]) / 86400
	} else {
		out[col+1] = math.NaN()
	}
	out[col+2] = float64(activeDays)
	out[col+3] = flag(flags, FlagHandRaise)
	out[col+4] = flag(flags, FlagUnsubscribe)
	out[col+5] = flag(flags, FlagBounce)
	return nil
}

// encode turns one attribute value into its feature value.
// spec and v are pointers because the row loop calls it for every
// attribute: copying both structs each time showed in the batch-scoring
// profile.
func (f *Featurizer) encode(i int, spec *FitFeature, v *leadscore.Value) (float64, error) {
	if v.Missing() {
		return math.NaN(), nil
	}
	// The field name is built only on the error paths: concatenating it
	// up front would allocate on every row.
	switch spec.Kind {
	case KindNumeric:
		if v.Kind != leadscore.KindNumber {
			return 0, leadscore.InvalidField("attributes."+spec.Attribute, v.Format(), "must be a number")
		}
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return 0, leadscore.InvalidField("attributes."+spec.Attribute, v.Num, "must be a finite number")
		}
		return v.Num, nil
	case KindBoolean:
		if v.Kind != leadscore.KindBool {
			return 0, leadscore.InvalidField("attributes."+spec.Attribute, v.Format(), "must be true or false")
		}
		return flag(boolBit(v.Bool), 1), nil
	default:
		if v.Kind != leadscore.KindString {
			return 0, leadscore.InvalidField("attributes."+spec.Attribute, v.Format(), "must be a string")
		}
		if c, ok := f.categories[i][v.Str]; ok {
			return float64(c), nil
		}
		return float64(len(spec.Categories)), nil
	}
}

func flag(bits, mask uint8) float64 {
	if bits&mask != 0 {
		return 1
	}
	return 0
}

func boolBit(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// countBefore returns how many of the ascending times are before at. It is
// a hand-written binary search because sort.Search's closure escapes and
// would allocate on every row.
func countBefore(times []int64, at int64) int {
	lo, hi := 0, len(times)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if times[mid] < at {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// floorDiv divides rounding toward negative infinity, so that times before
// 1970 fall on the right UTC day.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// sortedCopy returns a sorted copy, for building deterministic specs.
func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
