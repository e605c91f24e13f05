package dataset

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"time"
)

// defaultMissingTokens are the values every reader takes as "no value"
// unless told not to (NoDefaultMissing): what spreadsheets ("#N/A"), R
// ("NA"), pandas and Python ("nan", "NaN", "None"), SQL ("NULL", "null")
// and hand-typed forms ("N/A", "n/a", "?", "-") write for one, and the
// unchosen default of a web form's dropdown ("Select"), which a CRM exports
// as if the lead had chosen it. Matching is exact and case-sensitive (after
// the trimming of blanks around unquoted fields), so "na", "none" or
// "select" stay values; quoting does not change it, since some exports
// quote every field. Words that are sometimes a real answer ("unknown",
// "none", "other", "0") are not here: the data profile points them out
// instead (see Profile).
var defaultMissingTokens = []string{"", "NA", "N/A", "n/a", "#N/A", "null", "NULL", "None", "nan", "NaN", "?", "-", "Select"}

// legacyMissingTokens are the missing values of models trained before
// the values read were recorded with them.
var legacyMissingTokens = []string{"", "NA", "N/A", "null", "NULL"}

// DefaultMissingValues returns the values read as missing in every column
// unless an option leaves them out: the empty value, "NA", "N/A", "n/a",
// "#N/A", "null", "NULL", "None", "nan", "NaN", "?", "-" and "Select",
// matched exactly and case-sensitively.
func DefaultMissingValues() []string { return slices.Clone(defaultMissingTokens) }

// missingSet is a small set of missing tokens. A linear scan beats a map
// for the handful of tokens files use, and comparing string(b) == t does
// not allocate; most values are told apart from every token by their
// length and first byte alone, before any scan. The empty value is always
// missing.
type missingSet struct {
	tokens []string
	// heads has bit b%64 of word b/64 of row n set when a token n bytes
	// long (n < headLens) starts with byte b; long says a token is longer.
	heads *[headLens][4]uint64
	long  bool
}

// headLens bounds the token lengths heads tells apart.
const headLens = 16

// makeMissingSet returns the set of the given tokens, as given.
func makeMissingSet(tokens []string) missingSet {
	s := missingSet{tokens: tokens, heads: new([headLens][4]uint64)}
	for _, t := range tokens {
		switch {
		case len(t) >= headLens:
			s.long = true
		case len(t) > 0:
			s.heads[len(t)][t[0]/64] |= 1 << (t[0] % 64)
		}
	}
	return s
}

// newMissingSet returns the default tokens (unless noDefaults) plus every
// extra list, without duplicates, the empty value first.
func newMissingSet(noDefaults bool, extra ...[]string) missingSet {
	tokens := []string{""}
	if !noDefaults {
		tokens = slices.Clone(defaultMissingTokens)
	}
	for _, list := range extra {
		for _, t := range list {
			if !slices.Contains(tokens, t) {
				tokens = append(tokens, t)
			}
		}
	}
	return makeMissingSet(tokens)
}

// mayHold reports whether a token is n bytes long and starts with first.
func (s missingSet) mayHold(n int, first byte) bool {
	switch {
	case n >= headLens:
		return s.long
	case s.heads == nil: // the zero set
		return false
	}
	return s.heads[n][first/64]&(1<<(first%64)) != 0
}

// index returns the position of b in the set, or -1 when b is not a
// missing token.
func (s missingSet) index(b []byte) int {
	if len(b) > 0 && !s.mayHold(len(b), b[0]) {
		return -1
	}
	for i, t := range s.tokens {
		if len(t) == len(b) && string(b) == t {
			return i
		}
	}
	return -1
}

// has reports whether b is a missing token.
func (s missingSet) has(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	return s.index(b) >= 0
}

// hasString reports whether v is a missing token.
func (s missingSet) hasString(v string) bool {
	if v == "" {
		return true
	}
	if !s.mayHold(len(v), v[0]) {
		return false
	}
	return slices.Contains(s.tokens, v)
}

// scanDecimal reports whether b is a decimal number: an optional sign,
// digits with an optional fraction (or a fraction alone), and an optional
// exponent. It accepts no hexadecimal, underscores, "Inf" or "NaN", which
// strconv.ParseFloat would. leadingZero reports an integer part of two or
// more digits that starts with 0, as in zip codes and account numbers.
func scanDecimal(b []byte) (ok, leadingZero bool) {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	intStart := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	intDigits := i - intStart
	fracDigits := 0
	if i < len(b) && b[i] == '.' {
		i++
		fracStart := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		fracDigits = i - fracStart
	}
	if intDigits == 0 && fracDigits == 0 {
		return false, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		expStart := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == expStart {
			return false, false
		}
	}
	if i != len(b) {
		return false, false
	}
	return true, intDigits > 1 && b[intStart] == '0'
}

// parseNumber reads a finite decimal number. On failure it returns the
// reason, worded to follow the value's column name.
func parseNumber(b []byte) (float64, string) {
	if ok, _ := scanDecimal(b); !ok {
		if f, err := strconv.ParseFloat(string(b), 64); err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return 0, "must be a finite number"
		}
		return 0, "is not a number"
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, "is out of the range of a 64-bit float"
	}
	return f, ""
}

// looksNumeric reports whether inference counts b as a number: a finite
// decimal without a leading zero. A leading zero marks a code (a zip code,
// an account number) whose zeros a number would drop.
func looksNumeric(b []byte) bool {
	ok, leadingZero := scanDecimal(b)
	if !ok || leadingZero {
		return false
	}
	if len(b) <= 15 && bytes.IndexAny(b, "eE") < 0 {
		// Fifteen significant digits or fewer without an exponent always fit.
		return true
	}
	f, err := strconv.ParseFloat(string(b), 64)
	return err == nil && !math.IsInf(f, 0)
}

// parseBoolWord reads the words a boolean column is inferred from: "true",
// "false", "yes" and "no" in any case.
func parseBoolWord(b []byte) (value, ok bool) {
	switch len(b) {
	case 2:
		return false, bytes.EqualFold(b, []byte("no"))
	case 3:
		return true, bytes.EqualFold(b, []byte("yes"))
	case 4:
		return true, bytes.EqualFold(b, []byte("true"))
	case 5:
		return false, bytes.EqualFold(b, []byte("false"))
	}
	return false, false
}

// inferKind is what inference concluded about a column.
type inferKind uint8

const (
	inferText inferKind = iota
	inferNumber
	inferBool
)

// numericShare is the share of a column's present values that must look
// numeric for the column to be numeric, as numericShareNum/numericShareDen.
// The few values that do not are then reported as errors, not allowed to
// turn a numeric column into text behind the user's back: in real exports
// such values are typos or missing markers nobody listed.
const (
	numericShareNum = 19
	numericShareDen = 20
)

// inferCounts accumulates what one column's present values look like.
type inferCounts struct {
	present, numbers, bools int
}

// add counts one present (not missing) value.
func (c *inferCounts) add(b []byte) {
	c.present++
	if _, ok := parseBoolWord(b); ok {
		c.bools++
		return
	}
	if looksNumeric(b) {
		c.numbers++
	}
}

// kind decides a column's kind. Boolean needs every present value to be a
// boolean word, because a third word ("unknown") is a real level that a
// categorical column keeps. Numeric needs 95% of the present values to be
// numbers, so a stray word is reported as an error rather than silently
// turning the column into text. A column of 0 and 1 is numeric: a model
// treats it the same as a boolean, and a count that happens to be 0 or 1
// in one file keeps its type in the next. A column with no values is text.
func (c inferCounts) kind() inferKind {
	switch {
	case c.present == 0:
		return inferText
	case c.bools == c.present:
		return inferBool
	case c.numbers > 0 && c.numbers*numericShareDen >= c.present*numericShareNum:
		return inferNumber
	default:
		return inferText
	}
}

// timeFormats names the accepted time formats in error messages.
const timeFormats = `is not a time; use RFC 3339 ("2024-03-01T09:30:00Z"), "2024-03-01 09:30:00" (UTC) or "2024-03-01"`

// parseTime reads the time formats of the input files, returning UTC:
// RFC 3339 with or without fractional seconds ("2024-03-01T09:30:00Z",
// "2024-03-01T09:30:00.25+01:00"); "2024-03-01 09:30:00" with an optional
// fraction and an optional zone, UTC when it has none; and "2024-03-01",
// midnight UTC. A "T" without a zone is refused: it is a local time of an
// unknown place. It is written by hand because time.Parse is several times
// slower and the readers parse one time per event.
func parseTime[S string | []byte](b S) (time.Time, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) {
		return time.Time{}, false
	}
	if len(b) == 10 {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), true
	}
	sep := b[10]
	if sep != 'T' && sep != 't' && sep != ' ' {
		return time.Time{}, false
	}
	rest := b[11:]
	if len(rest) < 8 || rest[2] != ':' || rest[5] != ':' {
		return time.Time{}, false
	}
	hour, ok1 := digits(rest[0:2])
	minute, ok2 := digits(rest[3:5])
	sec, ok3 := digits(rest[6:8])
	if !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest = rest[8:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		frac := rest[1:n]
		if len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, false
		}
		v, _ := digits(frac)
		for range 9 - len(frac) {
			v *= 10
		}
		nsec = v
		rest = rest[n:]
	}
	offset := 0
	switch {
	case len(rest) == 0:
		if sep != ' ' {
			return time.Time{}, false
		}
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, true
}

// readTime parses a time field, or says what is wrong with it. The zero
// time (0001-01-01T00:00:00Z) and anything before it are refused: it is
// what unset dates are exported as, Go reads it as "no time", and the API's
// timestamps cannot go below it.
func readTime[S string | []byte](b S) (time.Time, string) {
	t, ok := parseTime(b)
	if !ok {
		return time.Time{}, timeFormats
	}
	if !t.After(time.Time{}) {
		return time.Time{}, "is not after 0001-01-01T00:00:00Z, the zero time unset dates are exported as"
	}
	return t, ""
}

// digits reads a run of ASCII digits as a non-negative integer.
func digits[S string | []byte](b S) (int, bool) {
	n := 0
	for i := range len(b) {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

// daysIn returns the number of days of a month.
func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	default:
		return 31
	}
}
