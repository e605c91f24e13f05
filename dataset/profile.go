package dataset

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// Bounds of a data profile's work and size.
const (
	// ProfileDistinctCap is the most distinct values a profile counts in
	// a numeric column; past it the count says "at least".
	ProfileDistinctCap = 1000
	// profilePlaceholders is the most placeholder values listed per
	// column.
	profilePlaceholders = 5
	// mostlyNumeric is the share of a categorical column's present rows
	// holding numbers from which its other values look like placeholders.
	mostlyNumeric = 0.5
	// sentinelShare is the least share of a numeric column's present rows
	// a sentinel number (-1, 999...) holds to be pointed out.
	sentinelShare = 0.01
)

// placeholderWords are values that often stand for "no answer" but are
// sometimes a real one, so they are pointed out rather than read as
// missing. They are compared after lower-casing and trimming blanks and
// the punctuation forms wrap them in ("-- Select --", "(none)").
var placeholderWords = map[string]bool{
	"": true, "unknown": true, "unk": true, "none": true, "select": true, "please select": true, "select one": true,
	"not specified": true, "unspecified": true, "not provided": true, "not available": true, "not applicable": true,
	"n/a": true, "na": true, "null": true, "nil": true, "nan": true, "missing": true, "undefined": true,
	"empty": true, "blank": true, "no data": true, "no answer": true, "no value": true, "not known": true, "tbd": true,
}

// Reading returns how the table's text was read: the values taken as
// missing in every column and in each, to be recorded with a model so that
// its backtests and scoring read alike.
func (t *FlatTable) Reading() model.Reading { return cloneReading(t.reading) }

// Profile describes every column of the table in file order: its kind, the
// share of rows missing it, its distinct values (up to ProfileDistinctCap
// for a numeric column), the missing values it met, and the values that
// look like placeholders for "no answer". Its work is one pass over each
// stored column.
func (t *FlatTable) Profile() []model.ColumnProfile {
	out := make([]model.ColumnProfile, len(t.info))
	for i, c := range t.info {
		p := model.ColumnProfile{Name: c.Name, MissingValues: t.met[i]}
		if t.n > 0 {
			p.MissingShare = float64(c.Missing) / float64(t.n)
		}
		switch c.Role {
		case RoleLabel:
			p.Kind = model.ColumnLabel
		case RoleID:
			p.Kind = model.ColumnID
		case RoleTime:
			p.Kind = model.ColumnTime
		case RoleExcluded:
			p.Kind = model.ColumnExcluded
		default:
			p.Group = c.Role == RoleGroup
			switch col := t.store[i].(type) {
			case *NumericColumn:
				p.Kind = model.ColumnNumeric
				p.Distinct, p.DistinctCapped = distinctNumbers(col.values, col.missing.get)
				p.Placeholders = sentinels(col.values, col.missing.get)
			case *BooleanColumn:
				p.Kind = model.ColumnBoolean
				p.Distinct = distinctBooleans(col)
			case *CategoricalColumn:
				p.Kind = model.ColumnCategorical
				p.Distinct = len(col.levels)
				counts := make([]int, len(col.levels))
				for _, code := range col.codes {
					if code != MissingCode {
						counts[code]++
					}
				}
				p.Placeholders = levelPlaceholders(col.levels, counts)
			}
		}
		out[i] = p
	}
	return out
}

// distinctNumbers counts the distinct present values of a numeric column,
// stopping at ProfileDistinctCap.
func distinctNumbers(values []float64, missing func(int) bool) (int, bool) {
	seen := make(map[float64]struct{}, 64)
	for i, v := range values {
		if missing(i) {
			continue
		}
		seen[v] = struct{}{}
		if len(seen) == ProfileDistinctCap {
			return len(seen), i < len(values)-1
		}
	}
	return len(seen), false
}

func distinctBooleans(c *BooleanColumn) int {
	var seen [2]bool
	for i := range c.n {
		if !c.missing.get(i) {
			seen[boolIndex(c.values.get(i))] = true
		}
	}
	n := 0
	for _, s := range seen {
		if s {
			n++
		}
	}
	return n
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sentinels points out a number that stands apart at one end of a numeric
// column and holds at least sentinelShare of its rows: -1, -9, -99... below
// values that are otherwise never negative, or 99, 999... above values that
// otherwise stay under half of it, as exports write for "not applicable"
// (pdays = -1 for "never contacted").
func sentinels(values []float64, missing func(int) bool) []model.ValueCount {
	lo, lo2, hi, hi2 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	present := 0
	for i, v := range values {
		if missing(i) {
			continue
		}
		present++
		switch {
		case v < lo:
			lo, lo2 = v, lo
		case v > lo && v < lo2:
			lo2 = v
		}
		switch {
		case v > hi:
			hi, hi2 = v, hi
		case v < hi && v > hi2:
			hi2 = v
		}
	}
	if present == 0 {
		return nil
	}
	var out []model.ValueCount
	check := func(s float64, apart bool) {
		if !apart || !isSentinel(s) {
			return
		}
		n := 0
		for i, v := range values {
			if v == s && !missing(i) {
				n++
			}
		}
		if float64(n) >= sentinelShare*float64(present) {
			out = append(out, model.ValueCount{Value: strconv.FormatFloat(s, 'g', -1, 64), Rows: n})
		}
	}
	check(lo, lo < 0 && lo2 >= 0)
	check(hi, hi > 0 && hi != lo && hi2 <= hi/2)
	slices.SortStableFunc(out, func(a, b model.ValueCount) int { return cmp.Compare(b.Rows, a.Rows) })
	return out
}

// isSentinel reports whether v is -1 or ±(10^k − 1): 9, 99, 999...
func isSentinel(v float64) bool {
	if v == -1 {
		return true
	}
	a := math.Abs(v)
	for s := 9.0; s <= 1e9; s = s*10 + 9 {
		if a == s {
			return true
		}
	}
	return false
}

// levelPlaceholders lists the levels of a categorical column, with the
// rows holding each, that look like placeholders: a placeholder word, or
// any non-numeric level of a column whose rows mostly hold numbers (a
// numeric field with "Select" or "unknown" in some rows).
func levelPlaceholders(levels []string, counts []int) []model.ValueCount {
	present := 0
	for _, n := range counts {
		present += n
	}
	numeric := 0
	isNumber := make([]bool, len(levels))
	for code, level := range levels {
		if ok, _ := scanDecimal([]byte(level)); ok {
			isNumber[code] = true
			numeric += counts[code]
		}
	}
	mostly := present > 0 && float64(numeric) >= mostlyNumeric*float64(present)
	var out []model.ValueCount
	for code, level := range levels {
		if counts[code] > 0 && (mostly && !isNumber[code] || placeholderWords[placeholderKey(level)]) {
			out = append(out, model.ValueCount{Value: level, Rows: counts[code]})
		}
	}
	slices.SortStableFunc(out, func(a, b model.ValueCount) int { return cmp.Compare(b.Rows, a.Rows) })
	if len(out) > profilePlaceholders {
		out = out[:profilePlaceholders]
	}
	return out
}

// placeholderKey lower-cases a value and trims the blanks and punctuation
// around it, so that "-- Select --" and "(None)" compare as their words.
func placeholderKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if t := strings.Trim(s, " -_.*()[]<>{}#"); t != "" || s == "" {
		return t
	}
	return s
}

// Profile describes every lead attribute of the history, by name: its
// kind, the share of leads without it, its distinct values (up to
// ProfileDistinctCap for a number) and the values that look like
// placeholders, as FlatTable.Profile does for a flat table's columns. The
// missing values the files held are not counted: the history keeps
// attributes, not the text they were read from.
func (h *History) Profile() []model.ColumnProfile {
	out := make([]model.ColumnProfile, 0, len(h.attrs))
	n := len(h.ids)
	for i := range h.attrs {
		c := &h.attrs[i]
		missing := func(j int) bool { return j >= len(c.present) || !c.present[j] }
		present := 0
		for j := range n {
			if !missing(j) {
				present++
			}
		}
		p := model.ColumnProfile{Name: c.key}
		if n > 0 {
			p.MissingShare = float64(n-present) / float64(n)
		}
		switch c.kind {
		case leadscore.KindNumber:
			p.Kind = model.ColumnNumeric
			p.Distinct, p.DistinctCapped = distinctNumbers(c.nums, missing)
			p.Placeholders = sentinels(c.nums, missing)
		case leadscore.KindBool:
			p.Kind = model.ColumnBoolean
			var seen [2]bool
			for j, b := range c.bools {
				if !missing(j) {
					seen[boolIndex(b)] = true
				}
			}
			for _, s := range seen {
				if s {
					p.Distinct++
				}
			}
		default:
			p.Kind = model.ColumnCategorical
			counts := make([]int, len(c.dict))
			for j, code := range c.codes {
				if !missing(j) && int(code) < len(counts) {
					counts[code]++
				}
			}
			for _, k := range counts {
				if k > 0 {
					p.Distinct++
				}
			}
			p.Placeholders = levelPlaceholders(c.dict, counts)
		}
		out = append(out, p)
	}
	return out
}

// valueCounts lists the tokens of a missing set that made rows missing,
// most frequent first.
func valueCounts(tokens missingSet, met []int) []model.ValueCount {
	var out []model.ValueCount
	for i, n := range met {
		if n > 0 {
			out = append(out, model.ValueCount{Value: tokens.tokens[i], Rows: n})
		}
	}
	slices.SortStableFunc(out, func(a, b model.ValueCount) int { return cmp.Compare(b.Rows, a.Rows) })
	return out
}

// readingOf records the missing values of a set of options.
func readingOf(noDefaults bool, tokens []string, columns map[string][]string) model.Reading {
	r := model.Reading{MissingValues: newMissingSet(noDefaults, tokens).tokens}
	if len(columns) > 0 {
		r.ColumnMissing = make(map[string][]string, len(columns))
		for k, v := range columns {
			r.ColumnMissing[k] = slices.Clone(v)
		}
	}
	return r
}

func cloneReading(r model.Reading) model.Reading {
	out := model.Reading{MissingValues: slices.Clone(r.MissingValues)}
	if r.ColumnMissing != nil {
		out.ColumnMissing = maps.Clone(r.ColumnMissing)
		for k, v := range out.ColumnMissing {
			out.ColumnMissing[k] = slices.Clone(v)
		}
	}
	return out
}

// ReadingOptions returns the missing values of a model's reading as
// options: the model's values replace the defaults, so data is read as the
// model's training data was. A reading recorded before the values were
// (empty) means the defaults of that time: "", "NA", "N/A", "null" and
// "NULL".
func ReadingOptions(r model.Reading) (tokens []string, noDefaults bool, columns map[string][]string) {
	tokens = r.MissingValues
	if len(tokens) == 0 {
		tokens = legacyMissingTokens
	}
	return slices.Clone(tokens), true, cloneReading(r).ColumnMissing
}

// WithReading returns o reading values as a model's training data was
// read: the model's missing values replace the defaults, and o's own
// MissingTokens and ColumnMissing are added to them.
func (o FlatOptions) WithReading(r model.Reading) FlatOptions {
	o.MissingTokens, o.NoDefaultMissing, o.ColumnMissing = mergeReading(r, o.MissingTokens, o.ColumnMissing)
	o.recorded = recordedColumns(r, o.recorded)
	return o
}

// WithReading returns o reading values as a model's training data was
// read: the model's missing values replace the defaults, and o's own
// MissingTokens and ColumnMissing are added to them.
func (o FlatStreamOptions) WithReading(r model.Reading) FlatStreamOptions {
	o.MissingTokens, o.NoDefaultMissing, o.ColumnMissing = mergeReading(r, o.MissingTokens, o.ColumnMissing)
	o.recorded = recordedColumns(r, o.recorded)
	return o
}

// recordedColumns adds a reading's columns to the set of ColumnMissing
// columns a table may lack: a model's training table may have had a column
// (excluded, say) that the data it scores does not.
func recordedColumns(r model.Reading, set map[string]bool) map[string]bool {
	if len(r.ColumnMissing) == 0 {
		return set
	}
	out := maps.Clone(set)
	if out == nil {
		out = map[string]bool{}
	}
	for k := range r.ColumnMissing {
		out[k] = true
	}
	return out
}

// WithReading returns o reading values as a model's training data was
// read: the model's missing values replace the defaults, and o's own
// MissingTokens are added to them.
func (o ReadOptions) WithReading(r model.Reading) ReadOptions {
	o.MissingTokens, o.NoDefaultMissing, _ = mergeReading(r, o.MissingTokens, nil)
	return o
}

// Reading returns how o reads values, to be recorded with a model.
func (o ReadOptions) Reading() model.Reading {
	return readingOf(o.NoDefaultMissing, o.MissingTokens, nil)
}

func mergeReading(r model.Reading, extra []string, columns map[string][]string) ([]string, bool, map[string][]string) {
	tokens, noDefaults, recorded := ReadingOptions(r)
	tokens = append(tokens, extra...)
	if len(columns) > 0 {
		if recorded == nil {
			recorded = map[string][]string{}
		}
		for k, v := range columns {
			recorded[k] = append(recorded[k], v...)
		}
	}
	return tokens, noDefaults, recorded
}
