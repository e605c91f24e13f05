package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/leadscore/leadscore"
)

// LinearEncoding turns a feature row into the design vector of a linear
// model: numeric features standardised (missing → 0 with an indicator),
// optionally followed by hinge columns that let the model bend at learned
// knots, booleans as 0/1 (missing → 0 with an indicator), and categorical
// features one-hot over their categories plus "other" (missing → all zero
// with an indicator). Its statistics are learned from training rows only.
type LinearEncoding struct {
	// Kinds are the kinds of the input features, in row order.
	Kinds []Kind `json:"kinds"`
	// Categories are the category counts of categorical features (0 for
	// others); one-hot columns cover them plus "other".
	Categories []int `json:"categories"`
	// Mean and Scale standardise numeric features: (x - Mean) / Scale.
	Mean  []float64 `json:"mean"`
	Scale []float64 `json:"scale"`
	// Offsets are the first design column of each feature; the missing
	// indicator, when the feature has one, is its last column.
	Offsets []int `json:"offsets"`
	// HasMissing says whether a feature has a missing-indicator column
	// (only when training rows had missing values).
	HasMissing []bool `json:"has_missing"`
	// Hinges are the hinge columns of each feature, which follow its
	// standardised column: nil for an encoding without any (the plain
	// linear encoding), otherwise one list per feature, empty for every
	// feature but the numeric ones given knots.
	Hinges [][]Hinge `json:"hinges,omitempty"`
	// Pairs are interactions of two features (see pairs.go), whose
	// one-hot cell columns follow every feature's columns; nil for an
	// additive encoding.
	Pairs []Pair `json:"pairs,omitempty"`
	// Width is the length of the design vector.
	Width int `json:"width"`
}

// Hinge is one piecewise-linear basis column of a numeric feature: the
// standardised hinge (max(0, x - Knot) - Mean) / Scale, 0 when x is
// missing (the feature's indicator carries that). With the feature's
// standardised column, a feature's hinges make its part of the log-odds a
// continuous function that is linear between knots: each hinge's weight
// is the change of slope at its knot, so a zero weight is no bend and L2
// regularisation shrinks towards the plain linear model.
type Hinge struct {
	Knot  float64 `json:"knot"`
	Mean  float64 `json:"mean"`
	Scale float64 `json:"scale"`
}

// MaxKnots is the most hinges a feature can have: 15 knots make 16
// segments, which a compiled model searches in four branch-free steps.
const MaxKnots = 15

// LinearEncodingOptions configure FitLinearEncodingWith.
type LinearEncodingOptions struct {
	// Knots is the most hinge knots given to each numeric feature (at
	// most MaxKnots), placed
	// at the quantiles k/(Knots+1) of its training values, k = 1..Knots;
	// knots that coincide, and knots at the smallest or largest value
	// (whose hinge would be the linear column again, or constant), are
	// dropped, so a feature with few distinct values gets fewer. Zero
	// means none: the plain linear encoding.
	Knots int
}

// FitLinearEncoding learns the plain linear encoding (no hinges) from
// row-major training rows of the given features.
func FitLinearEncoding(features []Feature, rows []float64) (*LinearEncoding, error) {
	return FitLinearEncodingWith(features, rows, LinearEncodingOptions{})
}

// FitLinearEncodingWith learns an encoding from row-major training rows
// of the given features.
func FitLinearEncodingWith(features []Feature, rows []float64, opts LinearEncodingOptions) (*LinearEncoding, error) {
	w := len(features)
	if w == 0 || len(rows)%w != 0 {
		return nil, leadscore.InvalidField("rows", len(rows), fmt.Sprintf("must be a whole number of rows of %d features", w))
	}
	if opts.Knots < 0 || opts.Knots > MaxKnots {
		return nil, leadscore.InvalidField("knots", opts.Knots, fmt.Sprintf("must be from 0 to %d", MaxKnots))
	}
	n := len(rows) / w
	e := &LinearEncoding{
		Kinds:      make([]Kind, w),
		Categories: make([]int, w),
		Mean:       make([]float64, w),
		Scale:      make([]float64, w),
		Offsets:    make([]int, w),
		HasMissing: make([]bool, w),
	}
	var hinges [][]Hinge
	var present []float64
	if opts.Knots > 0 {
		hinges = make([][]Hinge, w)
		present = make([]float64, 0, n)
	}
	for j, f := range features {
		e.Kinds[j] = f.Kind
		e.Scale[j] = 1
		if f.Kind == KindCategorical {
			e.Categories[j] = len(f.Categories)
		}
		var sum, sumSq float64
		count := 0
		present = present[:0]
		for i := 0; i < n; i++ {
			x := rows[i*w+j]
			if math.IsNaN(x) {
				e.HasMissing[j] = true
				continue
			}
			if math.IsInf(x, 0) {
				return nil, leadscore.InvalidField(f.Name, x, "must be finite")
			}
			count++
			sum += x
			sumSq += x * x
			if hinges != nil && f.Kind == KindNumeric {
				present = append(present, x)
			}
		}
		if f.Kind == KindNumeric && count > 0 {
			mean := sum / float64(count)
			variance := sumSq/float64(count) - mean*mean
			e.Mean[j] = mean
			if variance > 1e-24 {
				e.Scale[j] = math.Sqrt(variance)
			}
			if hinges != nil {
				hinges[j] = fitHinges(present, opts.Knots)
			}
		}
	}
	for _, hs := range hinges {
		if len(hs) > 0 {
			// Only an encoding with at least one hinge carries the list, so
			// that asking for knots where none fit gives the plain encoding.
			e.Hinges = hinges
			break
		}
	}
	col := 0
	for j := range features {
		e.Offsets[j] = col
		col += e.columns(j)
	}
	e.Width = col
	return e, nil
}

// fitHinges places up to k knots at the quantiles of the present values
// of a numeric feature (which it sorts) and standardises each hinge over
// them.
func fitHinges(present []float64, k int) []Hinge {
	p := len(present)
	if p < 2 {
		return nil
	}
	slices.Sort(present)
	lo, hi := present[0], present[p-1]
	var hs []Hinge
	for q := 1; q <= k; q++ {
		t := present[q*p/(k+1)]
		if t <= lo || t >= hi || (len(hs) > 0 && t <= hs[len(hs)-1].Knot) {
			continue
		}
		// Two passes: the hinge of a long-tailed feature can have a mean
		// far larger than its spread.
		var sum float64
		for _, x := range present {
			sum += max(0, x-t)
		}
		mean := sum / float64(p)
		var ss float64
		for _, x := range present {
			d := max(0, x-t) - mean
			ss += d * d
		}
		h := Hinge{Knot: t, Mean: mean, Scale: 1}
		if v := ss / float64(p); v > 1e-24 {
			h.Scale = math.Sqrt(v)
		}
		hs = append(hs, h)
	}
	return hs
}

// Encode writes the design vector of one feature row into out, which must
// have length Width. It allocates nothing.
func (e *LinearEncoding) Encode(row, out []float64) {
	for i := range out {
		out[i] = 0
	}
	for j, x := range row {
		off := e.Offsets[j]
		missing := math.IsNaN(x)
		switch e.Kinds[j] {
		case KindCategorical:
			if missing {
				break
			}
			c := int(x)
			if c < 0 || c > e.Categories[j] {
				c = e.Categories[j]
			}
			out[off+c] = 1
		case KindBoolean:
			if !missing {
				out[off] = x
			}
		default:
			if !missing {
				out[off] = (x - e.Mean[j]) / e.Scale[j]
				for k, h := range e.hinges(j) {
					out[off+1+k] = (max(0, x-h.Knot) - h.Mean) / h.Scale
				}
			}
		}
		if missing && e.HasMissing[j] {
			out[off+e.columns(j)-1] = 1
		}
	}
	if e.Pairs != nil {
		e.encodePairs(row, out)
	}
}

// hinges returns feature j's hinges, none when the encoding has none.
func (e *LinearEncoding) hinges(j int) []Hinge {
	if e.Hinges == nil {
		return nil
	}
	return e.Hinges[j]
}

// HingeCount is the number of hinge columns of the encoding.
func (e *LinearEncoding) HingeCount() int {
	n := 0
	for _, hs := range e.Hinges {
		n += len(hs)
	}
	return n
}

// columns is the number of design columns of feature j.
func (e *LinearEncoding) columns(j int) int {
	n := 1
	if e.Kinds[j] == KindCategorical {
		n = e.Categories[j] + 1
	}
	n += len(e.hinges(j))
	if e.HasMissing[j] {
		n++
	}
	return n
}

// validateHinges checks the hinge lists of an encoding of width features.
func (e *LinearEncoding) validateHinges(width int) error {
	if e.Hinges == nil {
		return nil
	}
	if len(e.Hinges) != width {
		return leadscore.InvalidField("logistic.encoding.hinges", len(e.Hinges), fmt.Sprintf("must hold one list per feature, %d", width))
	}
	for j, hs := range e.Hinges {
		if len(hs) > MaxKnots {
			return leadscore.InvalidField(fmt.Sprintf("logistic.encoding.hinges[%d]", j), len(hs), fmt.Sprintf("must hold at most %d hinges", MaxKnots))
		}
		if len(hs) > 0 && e.Kinds[j] != KindNumeric {
			return leadscore.InvalidField(fmt.Sprintf("logistic.encoding.hinges[%d]", j), len(hs), fmt.Sprintf("only numeric features have hinges, and feature %d is %s", j, e.Kinds[j]))
		}
		for k, h := range hs {
			field := fmt.Sprintf("logistic.encoding.hinges[%d][%d]", j, k)
			switch {
			case !finite(h.Knot):
				return leadscore.InvalidField(field+".knot", h.Knot, "must be finite")
			case k > 0 && !(h.Knot > hs[k-1].Knot):
				return leadscore.InvalidField(field+".knot", h.Knot, fmt.Sprintf("must be above the previous knot %v: knots strictly ascend", hs[k-1].Knot))
			case !finite(h.Mean):
				return leadscore.InvalidField(field+".mean", h.Mean, "must be finite")
			case !(h.Scale > 0) || math.IsInf(h.Scale, 0):
				return leadscore.InvalidField(field+".scale", h.Scale, "must be a positive finite number")
			}
		}
	}
	return nil
}

// Linear is a fitted linear model over a LinearEncoding: raw output
// w·encode(row) + b. Its explanations are exact: a feature's contribution
// is the weighted difference of its design columns (its hinges included)
// from their training means, so contributions plus the base value add up
// to the raw output.
type Linear struct {
	Encoding  *LinearEncoding `json:"encoding"`
	Weights   []float64       `json:"weights"`
	Intercept float64         `json:"intercept"`
	// Means are the design columns' means over the training rows, the
	// centre of the explanations.
	Means []float64 `json:"means"`
}

// Validate checks the model's shapes and values.
func (l *Linear) Validate(width int) error {
	if l.Encoding == nil {
		return leadscore.InvalidField("logistic.encoding", "", "is required")
	}
	e := l.Encoding
	if len(e.Kinds) != width || len(e.Categories) != width || len(e.Mean) != width || len(e.Scale) != width ||
		len(e.Offsets) != width || len(e.HasMissing) != width {
		return leadscore.InvalidField("logistic.encoding", len(e.Kinds), fmt.Sprintf("must describe %d features", width))
	}
	if err := e.validateHinges(width); err != nil {
		return err
	}
	col := 0
	for j := 0; j < width; j++ {
		if e.Offsets[j] != col || e.Categories[j] < 0 || !finite(e.Mean[j]) || !(e.Scale[j] > 0) || math.IsInf(e.Scale[j], 0) {
			return leadscore.InvalidField(fmt.Sprintf("logistic.encoding[%d]", j), e.Offsets[j], "is inconsistent")
		}
		col += e.columns(j)
	}
	if err := e.validatePairs(width); err != nil {
		return err
	}
	for _, p := range e.Pairs {
		col += len(p.Cells)
	}
	if e.Width != col || len(l.Weights) != col || len(l.Means) != col {
		return leadscore.InvalidField("logistic.weights", len(l.Weights), fmt.Sprintf("must have %d design columns", col))
	}
	for i := range l.Weights {
		if !finite(l.Weights[i]) || !finite(l.Means[i]) {
			return leadscore.InvalidField(fmt.Sprintf("logistic.weights[%d]", i), l.Weights[i], "must be finite")
		}
	}
	if !finite(l.Intercept) {
		return leadscore.InvalidField("logistic.intercept", l.Intercept, "must be finite")
	}
	return nil
}

// Raw returns the raw output of one row. Scoring many rows should use
// Compile, which folds the encoding into per-feature coefficients once.
func (l *Linear) Raw(row []float64) float64 { return l.Compile().Raw(row) }

// CompiledLinear is a Linear with its encoding folded into per-feature
// coefficients: a numeric feature adds a·x + k, a boolean a·x, a category
// its column's weight and a missing value its indicator's weight, so a row
// is scored in one pass without building its design vector. A numeric
// feature with hinges is linear between its knots, so it adds the a·x + k
// of the segment x falls in, found by a branch-free search.
type CompiledLinear struct {
	base    float64
	weights []float64
	feats   []linearFeature
	hinged  []hingeTable
	pairs   []compiledPair
}

type linearFeature struct {
	kind    uint8 // 0 numeric, 1 boolean, 2 categorical, 3 hinged numeric
	off     int32
	cats    int32 // categories; for a hinged numeric, its index in hinged
	a, k    float64
	missing float64
}

// hingeTable is a hinged numeric feature's segments: its knots padded to
// MaxKnots with +Inf, and the a and k of the segment above each number of
// knots (the padding's never reached).
type hingeTable struct {
	knots cutTable
	a, k  [MaxKnots + 1]float64
}

// b2i is 1 for true and 0 for false, which the compiler sets without a
// branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Compile folds the encoding into per-feature coefficients.
func (l *Linear) Compile() *CompiledLinear {
	e := l.Encoding
	c := &CompiledLinear{base: l.Intercept, weights: l.Weights, feats: make([]linearFeature, len(e.Kinds))}
	for j := range e.Kinds {
		f := linearFeature{off: int32(e.Offsets[j]), cats: int32(e.Categories[j])}
		w := l.Weights[e.Offsets[j]]
		switch e.Kinds[j] {
		case KindCategorical:
			f.kind = 2
		case KindBoolean:
			f.kind, f.a = 1, w
		default:
			f.a, f.k = w/e.Scale[j], -w*e.Mean[j]/e.Scale[j]
			if hs := e.hinges(j); len(hs) > 0 {
				f.kind, f.cats = 3, int32(len(c.hinged))
				c.hinged = append(c.hinged, compileHinges(hs, l.Weights[e.Offsets[j]+1:], f.a, f.k))
			}
		}
		if e.HasMissing[j] {
			f.missing = l.Weights[e.Offsets[j]+e.columns(j)-1]
		}
		c.feats[j] = f
	}
	if e.Pairs != nil {
		c.pairs = l.compilePairs()
	}
	return c
}

// compileHinges folds a feature's linear part a·x + k and its hinges,
// weighted by weights, into the a and k of each segment. Below every knot
// each hinge sits at its centred zero, -Mean/Scale; past its knot it adds
// its slope and the offset that keeps the function continuous there.
func compileHinges(hs []Hinge, weights []float64, a, k float64) hingeTable {
	var t hingeTable
	knots := make([]float64, len(hs))
	for i, h := range hs {
		k -= weights[i] * h.Mean / h.Scale
		knots[i] = h.Knot
	}
	t.knots = newCutTable(knots)
	t.a[0], t.k[0] = a, k
	for i := range MaxKnots {
		if i < len(hs) {
			h, w := hs[i], weights[i]
			a += w / h.Scale
			k -= w * h.Knot / h.Scale
		}
		t.a[i+1], t.k[i+1] = a, k
	}
	return t
}

// Raw returns the raw output of one row.
func (c *CompiledLinear) Raw(row []float64) float64 {
	z := c.base
	for j, x := range row {
		f := &c.feats[j]
		if x != x { // missing
			z += f.missing
			continue
		}
		switch f.kind {
		case 0:
			z += f.a*x + f.k
		case 1:
			z += f.a * x
		case 3:
			h := &c.hinged[f.cats]
			s := h.knots.below(x)
			z += h.a[s]*x + h.k[s]
		default:
			// Out-of-range codes (and values too large for int32) are
			// "other", as in the encoding.
			cat := f.cats
			if x >= 0 && x < float64(f.cats) {
				cat = int32(x)
			}
			z += c.weights[f.off+cat]
		}
	}
	if c.pairs != nil {
		z += c.pairsRaw(row)
	}
	return z
}

// pairsRaw is the pairs' part of a row's raw output, kept out of Raw's
// loop so that a model without pairs pays one test for them.
//
//go:noinline
func (c *CompiledLinear) pairsRaw(row []float64) float64 {
	var z float64
	for i := range c.pairs {
		z += c.pairs[i].raw(row)
	}
	return z
}

// contributions writes each feature's contribution and returns the base
// value.
func (l *Linear) contributions(row, design, out []float64) float64 {
	l.Encoding.Encode(row, design)
	base := l.Intercept
	for i, w := range l.Weights {
		base += w * l.Means[i]
	}
	for j := range out {
		from := l.Encoding.Offsets[j]
		to := from + l.Encoding.columns(j)
		var c float64
		for i := from; i < to; i++ {
			c += l.Weights[i] * (design[i] - l.Means[i])
		}
		out[j] = c
	}
	// A pair column's contribution is shared equally by its two features.
	col := l.Encoding.pairOffset()
	for _, p := range l.Encoding.Pairs {
		for range p.Cells {
			half := l.Weights[col] * (design[col] - l.Means[col]) / 2
			out[p.A.Feature] += half
			out[p.B.Feature] += half
			col++
		}
	}
	return base
}
