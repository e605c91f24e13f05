package trainer

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// PointsPerDoubling is the scale of learned points: a lead with this many
// more points has twice the odds of converting, the "points to double the
// odds" of a credit scorecard. At 20, a rule worth one point moves the
// odds by 3.5%, smaller effects round to no rule at all, and the spread
// between a poor lead and a strong one is typically 50 to 150 points.
const PointsPerDoubling = 20

// Settings of the points learner. They are fixed rather than tuned: the
// points family is the simple, explainable baseline.
const (
	// learnedBins is the most quantile bins a numeric attribute is cut
	// into before neighbouring bins that earn the same points merge.
	learnedBins = 8
	// learnedC is the inverse L2 strength of the fit, as LogisticOptions.C:
	// it shrinks the points of a rare value toward the common one.
	learnedC = 1.0
	// learnedEventQuantile places an event rule's cap: events beyond this
	// quantile of the leads that have any earn no more points, so that a
	// bot cannot outscore a buyer.
	learnedEventQuantile = 0.99
	// learnedSampleRows is how many training rows the bin edges and the
	// event caps are read from: eight quantiles need no more, and sorting
	// every row of a large table would cost more than the fit.
	learnedSampleRows = 20000
)

// LearnPoints learns a points rules file from the training rows of d (never
// the held-out ones): points for each value of a categorical or boolean
// attribute, for each quantile bin of a numeric one, for each event of a
// kind in one counting window (capped) and for the hand-raise,
// unsubscribe and bounce signals. A regularised logistic regression over
// one indicator per value or bin (and the capped event counts) gives each
// one a weight; the points are the weights relative to the attribute's
// reference value, in units of PointsPerDoubling, rounded to whole points.
// Neighbouring bins with equal points merge, and values worth no points
// get no rule, so the file stays short enough to read.
//
// The reference value of an attribute earns no points: a rule cannot give
// points to a missing value, nor to a category too rare to have its own
// (the spec's "other"), so when the training rows have either, they are
// the reference; otherwise the most common value is. Features the rules
// cannot express (a lead's age, days since the last activity, decayed
// totals) take no part.
//
// The rules are what the model applies: Train compiles them as it does a
// hand-written file.
func LearnPoints(ctx context.Context, d *Data) (*model.PointsRules, error) {
	features := d.Spec.Features()
	w := len(features)
	n := len(d.TrainLabels)
	if w == 0 || len(d.TrainRows) != n*w {
		return nil, leadscore.InvalidField("data", len(d.TrainRows), fmt.Sprintf("rows must have %d features", w))
	}
	if n == 0 {
		return nil, leadscore.InvalidField("data", 0, "needs training rows to learn points from")
	}
	l := &pointsLearner{spec: d.Spec, features: features, rows: d.TrainRows, labels: d.TrainLabels, n: n, w: w,
		sample: sampleRows(n, learnedSampleRows, 1)}
	l.plan()
	if l.width == 0 {
		return nil, leadscore.InvalidField("data", w, "has no attribute, event kind or signal a points rule can read")
	}
	x := l.design()
	fit, err := fitDesign(ctx, x, d.TrainLabels, LogisticOptions{C: learnedC})
	if err != nil {
		return nil, fmt.Errorf("learn points: %w", err)
	}
	rules := l.rules(fit.Weights)
	if len(rules) == 0 {
		return nil, leadscore.InvalidField("data", fmt.Sprintf("%d rows, %d won", n, count(d.TrainLabels)),
			"shows no value that moves the odds of converting by a whole point: no rule can be learned")
	}
	out := &model.PointsRules{Calibration: model.CalibrationPlatt, Rules: rules}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("learn points: the learned rules do not validate: %w", err)
	}
	return out, nil
}

// pointsLearner holds what LearnPoints reads and the design columns it
// plans.
type pointsLearner struct {
	spec     *model.FeatureSpec
	features []model.Feature
	rows     []float64
	labels   []bool
	n, w     int
	// sample is the rows quantiles are read from, ascending.
	sample []uint32

	attrs   []*learnedAttr
	events  []*learnedEvent
	signals []*learnedSignal
	// width is the number of design columns; the event columns are the
	// dense ones.
	width int
}

// learnedAttr is an attribute's values (or bins) as design columns.
type learnedAttr struct {
	feature int
	fit     model.FitFeature
	// values are the values that can earn points: categories, "false" and
	// "true", or numeric bins [edges[k-1], edges[k]).
	values []learnedValue
	// edges are a numeric attribute's bin edges, ascending.
	edges []float64
	// rest is the column of the rows a rule cannot give points to
	// (missing, or a category outside the vocabulary), -1 when the
	// training rows have none.
	rest, restCount int
}

// learnedValue is one value or bin of an attribute.
type learnedValue struct {
	label string // a category, "false" or "true"; empty for a bin
	col   int    // its design column, -1 when no training row has it
	count int
}

// learnedEvent is the capped count of one event kind in one window.
type learnedEvent struct {
	feature     int
	event, page string
	name        string
	window      int
	// cap is the count beyond which events earn no more points.
	cap float64
	col int
}

// capped is the count x as the event's rule gives it points: up to the
// cap, none when missing.
func (e *learnedEvent) capped(x float64) float64 {
	if !(x > 0) {
		return 0
	}
	return math.Min(x, e.cap)
}

// learnedSignal is an engagement flag.
type learnedSignal struct {
	feature int
	signal  string
	col     int
}

// plan chooses the design columns from the training rows.
func (l *pointsLearner) plan() {
	index := make(map[string]int, len(l.features))
	for j, f := range l.features {
		index[f.Name] = j
	}
	for _, f := range l.spec.Fit {
		a := &learnedAttr{feature: index["attr."+f.Attribute], fit: f, rest: -1}
		switch f.Kind {
		case model.KindNumeric:
			a.edges = l.binEdges(a.feature)
			a.values = make([]learnedValue, len(a.edges)+1)
		case model.KindBoolean:
			a.values = []learnedValue{{label: "false"}, {label: "true"}}
		default:
			a.values = make([]learnedValue, len(f.Categories))
			for c, name := range f.Categories {
				a.values[c].label = name
			}
		}
		for i := range l.n {
			if v := a.value(l.rows[i*l.w+a.feature]); v < 0 {
				a.restCount++
			} else {
				a.values[v].count++
			}
		}
		for k := range a.values {
			a.values[k].col = -1
			if a.values[k].count > 0 {
				a.values[k].col = l.column()
			}
		}
		if a.restCount > 0 {
			a.rest = l.column()
		}
		l.attrs = append(l.attrs, a)
	}
	l.planEvents(index)
	for _, s := range []string{model.SignalHandRaise, model.SignalUnsubscribed, model.SignalBounced} {
		j, ok := index["engagement."+s]
		if !ok || !l.anyEqual(j, 1) {
			continue
		}
		l.signals = append(l.signals, &learnedSignal{feature: j, signal: s, col: l.column()})
	}
}

func (l *pointsLearner) column() int {
	l.width++
	return l.width - 1
}

// planEvents adds a capped count column for each event kind a rule can
// name on its own, in the window that tells most. A rule names a kind by
// its type and page; the plain kind of a type that also has page kinds
// cannot be named apart from them (a rule without a page counts every
// kind of its type), so it takes no part.
func (l *pointsLearner) planEvents(index map[string]int) {
	kindsOfType := map[string]int{}
	for _, k := range l.spec.Kinds {
		kindsOfType[k.Type]++
	}
	for _, k := range l.spec.Kinds {
		page := ""
		switch {
		case k.Property == "page":
			page = k.Value
		case k.Property != "" || kindsOfType[k.Type] > 1:
			continue
		}
		// One window a kind: the counts of the spec's windows overlap
		// (the last 7 days are in the last 30), so rules for several
		// would share one effect between them, with points of opposite
		// signs nobody could read.
		var best *learnedEvent
		bestScore := 0.0
		for _, days := range l.spec.WindowDays {
			j := index[fmt.Sprintf("events.%s.count_%dd", k.Name, days)]
			limit := l.eventCap(j)
			if limit == 0 {
				continue
			}
			if score := l.association(j, limit); best == nil || score > bestScore {
				best, bestScore = &learnedEvent{feature: j, event: k.Type, page: page, name: k.Name, window: days, cap: limit}, score
			}
		}
		if best != nil {
			best.col = l.column()
			l.events = append(l.events, best)
		}
	}
}

// association is the squared correlation between the conversions and
// column j's values capped at limit: the share of the labels' variance
// the column explains on its own, which picks the window whose counts
// tell converting leads apart best.
func (l *pointsLearner) association(j int, limit float64) float64 {
	var sx, sy, sxx, sxy float64
	for i := range l.n {
		x := (&learnedEvent{cap: limit}).capped(l.rows[i*l.w+j])
		y := 0.0
		if l.labels[i] {
			y = 1
		}
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(l.n)
	vx, vy, cxy := sxx-sx*sx/n, sy-sy*sy/n, sxy-sx*sy/n
	if vx <= 0 || vy <= 0 {
		return 0
	}
	return cxy * cxy / (vx * vy)
}

// eventCap is the count at the learnedEventQuantile of the sampled rows
// with at least one event in column j, rounded up to a whole event; 0 when
// none has one.
func (l *pointsLearner) eventCap(j int) float64 {
	v := make([]float64, 0, len(l.sample))
	for _, i := range l.sample {
		if x := l.rows[int(i)*l.w+j]; x > 0 {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return math.Max(1, math.Ceil(v[int(learnedEventQuantile*float64(len(v)-1))]))
}

func (l *pointsLearner) anyEqual(j int, x float64) bool {
	for i := range l.n {
		if l.rows[i*l.w+j] == x {
			return true
		}
	}
	return false
}

// binEdges cuts column j's present values (of the sampled rows) into up
// to learnedBins bins of about equal size (see quantileUppers), each edge
// moved to the roundest number between the values on either side of it,
// so that the rules read "age from 30 to 40" rather than "from 29.5 to
// 39.5".
func (l *pointsLearner) binEdges(j int) []float64 {
	v := make([]float64, 0, len(l.sample))
	for _, i := range l.sample {
		if x := l.rows[int(i)*l.w+j]; x == x {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return nil
	}
	slices.Sort(v)
	uppers := quantileUppers(v, learnedBins)
	edges := make([]float64, 0, len(uppers)-1)
	for _, u := range uppers[:len(uppers)-1] {
		// The values either side of the edge: lo < u ≤ hi.
		k, _ := slices.BinarySearch(v, u)
		edges = append(edges, roundestBetween(v[k-1], v[k]))
	}
	return edges
}

// roundestBetween returns a number m with lo < m ≤ hi and as few
// significant digits as any: the smallest multiple in that range of the
// largest power of ten that has one.
func roundestBetween(lo, hi float64) float64 {
	for e := 15; e >= -15; e-- {
		step := math.Pow10(e)
		m := math.Floor(lo/step) + 1
		// Dividing by a power of ten rather than multiplying by a
		// fraction keeps 0.3 from becoming 0.30000000000000004.
		var x float64
		if e < 0 {
			x = m / math.Pow10(-e)
		} else {
			x = m * step
		}
		if x > lo && x <= hi {
			return x
		}
	}
	return hi
}

// value returns the index of x's value or bin, or -1 when a rule cannot
// give it points (missing, or a category outside the vocabulary).
func (a *learnedAttr) value(x float64) int {
	if x != x {
		return -1
	}
	switch a.fit.Kind {
	case model.KindNumeric:
		k, _ := slices.BinarySearchFunc(a.edges, x, func(e, x float64) int {
			if e <= x {
				return -1
			}
			return 1
		})
		return k
	case model.KindBoolean:
		if x == 1 {
			return 1
		}
		return 0
	default:
		if c := int(x); c >= 0 && c < len(a.values) && float64(c) == x {
			return c
		}
		return -1
	}
}

// design builds the design matrix: the event columns dense, the rest as
// indicators.
func (l *pointsLearner) design() *design {
	x := &design{n: l.n, width: l.width}
	for _, e := range l.events {
		x.dense = append(x.dense, e.col)
	}
	x.x = make([]float64, 0, l.n*len(x.dense))
	x.start = make([]int, 1, l.n+1)
	x.on = make([]int32, 0, l.n*(len(l.attrs)+len(l.signals)))
	for i := range l.n {
		row := l.rows[i*l.w : (i+1)*l.w]
		for _, e := range l.events {
			x.x = append(x.x, e.capped(row[e.feature]))
		}
		for _, a := range l.attrs {
			if v := a.value(row[a.feature]); v >= 0 {
				x.on = append(x.on, int32(a.values[v].col))
			} else {
				x.on = append(x.on, int32(a.rest))
			}
		}
		for _, s := range l.signals {
			if row[s.feature] == 1 {
				x.on = append(x.on, int32(s.col))
			}
		}
		x.start = append(x.start, len(x.on))
	}
	return x
}

// scalePoints turns a weight (log-odds) into whole points.
func scalePoints(weight float64) float64 {
	return math.Round(weight * PointsPerDoubling / math.Ln2)
}

// rules turns the fitted weights into rules: attributes in the spec's
// order, then events, then signals.
func (l *pointsLearner) rules(weights []float64) []model.PointsRule {
	var out []model.PointsRule
	names := map[string]bool{}
	add := func(r model.PointsRule) {
		r.Name = uniqueName(names, r.Name)
		out = append(out, r)
	}
	for _, a := range l.attrs {
		// The reference: the rows no rule can reach when there are any,
		// else the most common value.
		ref := 0.0
		if a.rest >= 0 {
			ref = weights[a.rest]
		} else {
			most := -1
			for k, v := range a.values {
				if v.col >= 0 && (most < 0 || v.count > a.values[most].count) {
					most = k
				}
			}
			ref = weights[a.values[most].col]
		}
		points := make([]float64, len(a.values))
		for k, v := range a.values {
			if v.col >= 0 {
				points[k] = scalePoints(weights[v.col] - ref)
			}
		}
		if a.fit.Kind == model.KindNumeric {
			for _, r := range binRules(a, points) {
				add(r)
			}
			continue
		}
		for k, v := range a.values {
			if points[k] == 0 {
				continue
			}
			add(model.PointsRule{
				Name:      a.fit.Attribute + "=" + v.label,
				Attribute: a.fit.Attribute,
				Equals:    &v.label,
				Points:    points[k],
			})
		}
	}
	for _, e := range l.events {
		p := scalePoints(weights[e.col])
		if p == 0 {
			continue
		}
		limit := math.Abs(p) * e.cap
		add(model.PointsRule{
			Name:       fmt.Sprintf("%s-%dd", e.name, e.window),
			Event:      e.event,
			Page:       e.page,
			WindowDays: e.window,
			MaxPoints:  &limit,
			Points:     p,
		})
	}
	for _, s := range l.signals {
		if p := scalePoints(weights[s.col]); p != 0 {
			add(model.PointsRule{Name: s.signal, Signal: s.signal, Points: p})
		}
	}
	return strongest(out, model.MaxPointsRules)
}

// strongest keeps, when rules are more than limit, the limit rules worth
// the most points in absolute value, in their order: a table of many wide
// categorical columns can earn more rules than a rules file may hold.
func strongest(rules []model.PointsRule, limit int) []model.PointsRule {
	if len(rules) <= limit {
		return rules
	}
	order := make([]int, len(rules))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(math.Abs(rules[b].Points), math.Abs(rules[a].Points))
	})
	keep := order[:limit]
	slices.Sort(keep)
	out := make([]model.PointsRule, limit)
	for k, i := range keep {
		out[k] = rules[i]
	}
	return out
}

// binRules merges neighbouring bins of a numeric attribute that earn the
// same points (a bin no training row fell in joins its neighbour) and
// returns a range rule for each run that earns any.
func binRules(a *learnedAttr, points []float64) []model.PointsRule {
	// An empty bin takes the points of the bin before it (or after it,
	// for the first), so that it never splits a run.
	filled := slices.Clone(points)
	for k := range filled {
		if a.values[k].col < 0 && k > 0 {
			filled[k] = filled[k-1]
		}
	}
	for k := len(filled) - 2; k >= 0; k-- {
		if a.values[k].col < 0 && (k == 0 || a.values[k-1].col < 0) {
			filled[k] = filled[k+1]
		}
	}
	var out []model.PointsRule
	for lo := 0; lo < len(filled); {
		hi := lo + 1
		for hi < len(filled) && filled[hi] == filled[lo] {
			hi++
		}
		if filled[lo] != 0 {
			r := model.PointsRule{Attribute: a.fit.Attribute, Points: filled[lo]}
			attr := a.fit.Attribute
			switch {
			case lo > 0 && hi < len(filled):
				r.Min, r.Max = &a.edges[lo-1], &a.edges[hi-1]
				r.Name = fmt.Sprintf("%s<=%s<%s", formatEdge(*r.Min), attr, formatEdge(*r.Max))
			case lo > 0:
				r.Min = &a.edges[lo-1]
				r.Name = fmt.Sprintf("%s>=%s", attr, formatEdge(*r.Min))
			case hi < len(filled):
				r.Max = &a.edges[hi-1]
				r.Name = fmt.Sprintf("%s<%s", attr, formatEdge(*r.Max))
			default:
				// Every present value earns the same points: one rule
				// whose lower bound is below any number.
				r.Min = new(float64)
				*r.Min = -math.MaxFloat64
				r.Name = attr + " present"
			}
			out = append(out, r)
		}
		lo = hi
	}
	return out
}

// formatEdge writes a bin edge for a rule name: whole numbers in full
// (3050000, not 3.05e+06).
func formatEdge(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// uniqueName makes a rule name valid and unique: printable, at most 64
// bytes, and followed by a number when it is already taken.
func uniqueName(taken map[string]bool, name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, name)
	clip := func(s string, limit int) string {
		for len(s) > limit {
			_, size := utf8.DecodeLastRuneInString(s)
			s = s[:len(s)-size]
		}
		return s
	}
	const limit = 64
	out := clip(name, limit)
	for k := 2; taken[out]; k++ {
		suffix := "#" + strconv.Itoa(k)
		out = clip(name, limit-len(suffix)) + suffix
	}
	taken[out] = true
	return out
}
