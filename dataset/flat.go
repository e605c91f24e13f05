package dataset

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// FlatOptions says how to read a flat table: one row per lead with a label
// column, as teams export from a CRM.
type FlatOptions struct {
	// Label names the outcome column; required.
	Label string
	// PositiveLabels are the label values (matched without regard to case
	// or surrounding blanks) that mean converted; none means "1", "true",
	// "yes" and "won". Any other present label is negative; a missing
	// label is an error.
	PositiveLabels []string
	// IDColumn names the column of lead ids, if any.
	IDColumn string
	// TimeColumn names the column of the time each row is as of, if any;
	// every row must have one.
	TimeColumn string
	// Exclude names columns not to store, such as fields filled in after
	// the outcome (leakage).
	Exclude []string
	// Groups names columns that key segments or keep related rows on one
	// side of a split; they are stored as categorical and are not
	// features.
	Groups []string
	// Types fixes the type of feature columns by name, instead of
	// inferring it: ColumnNumeric, ColumnBoolean or ColumnCategorical.
	Types map[string]ColumnType
	// MissingTokens are values read as missing in every column, in
	// addition to DefaultMissingValues (unless NoDefaultMissing).
	MissingTokens []string
	// NoDefaultMissing leaves DefaultMissingValues out: only the empty
	// value and MissingTokens are missing in every column.
	NoDefaultMissing bool
	// ColumnMissing are values read as missing in one column, by column
	// name, such as "pdays": {"-1"}.
	ColumnMissing map[string][]string
	// Lenient skips bad rows, counting them in Stats, instead of stopping
	// at the first one.
	Lenient bool
	// MaxErrors is how many errors Stats keeps; 0 means DefaultMaxErrors.
	MaxErrors int
	// Delimiter separates fields; 0 detects it among ',', ';', '\t' and
	// '|'.
	Delimiter rune
	// recorded are the ColumnMissing columns a model's reading added
	// (WithReading): a table without one of them is not an error.
	recorded map[string]bool
}

// defaultPositiveLabels are the label values that mean converted when
// FlatOptions.PositiveLabels is empty.
var defaultPositiveLabels = []string{"1", "true", "yes", "won"}

// FlatTable is a flat table held by column: numeric columns as float64
// with a missing bitmap, categorical columns as dictionary codes, boolean
// columns as bits, the label as bits. N rows take about 8 bytes per
// numeric and 4 per categorical column, whatever the file's size. A
// FlatTable does not change once read and is safe for concurrent use.
type FlatTable struct {
	file      string
	n         int
	info      []ColumnInfo
	byName    map[string]int
	store     []any // per column: *NumericColumn, *CategoricalColumn, *BooleanColumn or nil
	labels    flatBits
	positives int
	hasIDs    bool
	idData    []byte
	idEnds    []int
	times     []int64
	stats     ReadStats
	// met are the missing values each column met, for its profile.
	met     [][]model.ValueCount
	reading model.Reading
}

// ReadFlatTable reads a delimited flat table (.csv, .tsv or .txt,
// optionally .gz) into columns. It reads the file twice: once to infer
// column types and count rows, once to fill columns sized for those rows.
func ReadFlatTable(ctx context.Context, path string, opts FlatOptions) (*FlatTable, error) {
	in, err := pathInput(path)
	if err != nil {
		return nil, err
	}
	defer in.cleanup()
	return readFlat(ctx, in, opts)
}

// ReadFlatTableFrom is ReadFlatTable over a stream; name gives the format
// (by its extension) and names the input in errors. A stream that cannot
// seek is copied to a temporary file for the second pass.
func ReadFlatTableFrom(ctx context.Context, r io.Reader, name string, opts FlatOptions) (*FlatTable, error) {
	if _, _, err := formatOf(name); err != nil {
		return nil, err
	}
	in, err := readerInput(ctx, r, name, true)
	if err != nil {
		return nil, err
	}
	defer in.cleanup()
	return readFlat(ctx, in, opts)
}

// flatPlan is what reading a flat table knows about each column.
type flatPlan struct {
	file      string
	cols      []flatCol
	label     int
	id        int
	tm        int
	positives [][]byte
}

// flatCol is one column of a flat table being read.
type flatCol struct {
	name  string
	role  ColumnRole
	typ   ColumnType
	fixed bool
	miss  missingSet
	// extra are the column's own missing tokens (ColumnMissing), whose
	// values are counted in sentinels: they decide the type of a column
	// that has no other values, as pdays, which is -1 in a whole sample.
	extra     missingSet
	counts    inferCounts
	sentinels inferCounts

	missing int
	// met counts the rows each of miss's tokens made missing.
	met   []int
	token int
	num   *NumericColumn
	cat   *CategoricalColumn
	boo   *BooleanColumn
	// scratch holds the row's parsed number or boolean until the whole
	// row is known to be good.
	scratch float64
	absent  bool
}

// newFlatPlan checks the options against the header.
func newFlatPlan(t *delimTable, opts FlatOptions) (*flatPlan, error) {
	file := t.r.file
	unknown := func(option, name string) error {
		return leadscore.Errorf(leadscore.EINVALID, "%s: %s names column %q, which the file does not have; the columns are %s",
			file, option, name, quoteList(t.header))
	}
	if opts.Label == "" {
		return nil, leadscore.Errorf(leadscore.EINVALID, "%s: FlatOptions.Label is required: name the outcome column among %s", file, quoteList(t.header))
	}
	p := &flatPlan{file: file, cols: make([]flatCol, len(t.header)), label: -1, id: -1, tm: -1}
	global := newMissingSet(opts.NoDefaultMissing, opts.MissingTokens)
	for i, name := range t.header {
		p.cols[i] = flatCol{name: name, role: RoleFeature, miss: global}
	}
	assign := func(option, name string, role ColumnRole) (int, error) {
		i := t.col(name)
		if i < 0 {
			return -1, unknown(option, name)
		}
		c := &p.cols[i]
		if c.role != RoleFeature {
			return -1, leadscore.Errorf(leadscore.EINVALID, "%s: column %q cannot be both %s and %s", file, name, c.role, role)
		}
		c.role = role
		return i, nil
	}
	var err error
	if p.label, err = assign("Label", opts.Label, RoleLabel); err != nil {
		return nil, err
	}
	p.cols[p.label].typ = ColumnBoolean
	if opts.IDColumn != "" {
		if p.id, err = assign("IDColumn", opts.IDColumn, RoleID); err != nil {
			return nil, err
		}
		p.cols[p.id].typ = ColumnText
	}
	if opts.TimeColumn != "" {
		if p.tm, err = assign("TimeColumn", opts.TimeColumn, RoleTime); err != nil {
			return nil, err
		}
		p.cols[p.tm].typ = ColumnTime
	}
	for _, name := range opts.Groups {
		i, err := assign("Groups", name, RoleGroup)
		if err != nil {
			return nil, err
		}
		p.cols[i].typ, p.cols[i].fixed = ColumnCategorical, true
	}
	for _, name := range opts.Exclude {
		if _, err := assign("Exclude", name, RoleExcluded); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(opts.Types) {
		i := t.col(name)
		if i < 0 {
			return nil, unknown("Types", name)
		}
		c := &p.cols[i]
		if c.role != RoleFeature && c.role != RoleExcluded {
			return nil, leadscore.Errorf(leadscore.EINVALID, "%s: Types sets the type of column %q, the %s column, whose type is fixed", file, name, c.role)
		}
		switch typ := opts.Types[name]; typ {
		case ColumnNumeric, ColumnBoolean, ColumnCategorical:
			c.typ, c.fixed = typ, true
		default:
			return nil, leadscore.Errorf(leadscore.EINVALID, "%s: Types[%q] is %v; use numeric, boolean or categorical", file, name, typ)
		}
	}
	for _, name := range sortedKeys(opts.ColumnMissing) {
		i := t.col(name)
		if i < 0 && opts.recorded[name] {
			continue
		}
		if i < 0 {
			return nil, unknown("ColumnMissing", name)
		}
		p.cols[i].miss = newMissingSet(opts.NoDefaultMissing, opts.MissingTokens, opts.ColumnMissing[name])
		p.cols[i].extra = makeMissingSet(opts.ColumnMissing[name])
	}
	positives := opts.PositiveLabels
	if len(positives) == 0 {
		positives = defaultPositiveLabels
	}
	for _, s := range positives {
		p.positives = append(p.positives, []byte(strings.TrimSpace(s)))
	}
	return p, nil
}

// sortedKeys returns a map's keys in order, so errors do not depend on map
// iteration.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// infer reads the rest of t, inferring the type of every feature and
// excluded column that is not fixed, and returns the number of well-formed
// rows.
func (p *flatPlan) infer(ctx context.Context, t *delimTable) (int, error) {
	rows := 0
	for n := 0; ; n++ {
		if err := checkContext(ctx, n, p.file); err != nil {
			return 0, err
		}
		bad, err := t.r.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if bad != nil {
			continue
		}
		rows++
		for i := range p.cols {
			c := &p.cols[i]
			if c.fixed || c.role != RoleFeature && c.role != RoleExcluded {
				continue
			}
			b := t.r.field(i)
			switch {
			case !c.miss.has(b):
				c.counts.add(b)
			case len(b) > 0 && c.extra.has(b):
				c.sentinels.add(b)
			}
		}
	}
	for i := range p.cols {
		c := &p.cols[i]
		if c.fixed || c.role != RoleFeature && c.role != RoleExcluded {
			continue
		}
		counts := c.counts
		if counts.present == 0 {
			counts = c.sentinels
		}
		switch counts.kind() {
		case inferNumber:
			c.typ = ColumnNumeric
		case inferBool:
			c.typ = ColumnBoolean
		default:
			c.typ = ColumnCategorical
		}
	}
	return rows, nil
}

// allocate creates the table and its columns sized for rows.
func (p *flatPlan) allocate(rows int) *FlatTable {
	ft := &FlatTable{
		file:   p.file,
		info:   make([]ColumnInfo, len(p.cols)),
		byName: make(map[string]int, len(p.cols)),
		store:  make([]any, len(p.cols)),
		met:    make([][]model.ValueCount, len(p.cols)),
		labels: newFlatBits(rows),
	}
	for i := range p.cols {
		c := &p.cols[i]
		c.met = make([]int, len(c.miss.tokens))
		ft.byName[c.name] = i
		if c.role != RoleFeature && c.role != RoleGroup {
			continue
		}
		switch c.typ {
		case ColumnNumeric:
			c.num = &NumericColumn{name: c.name, values: make([]float64, 0, rows), missing: newFlatBits(rows)}
			ft.store[i] = c.num
		case ColumnBoolean:
			c.boo = &BooleanColumn{name: c.name, values: newFlatBits(rows), missing: newFlatBits(rows)}
			ft.store[i] = c.boo
		case ColumnCategorical:
			c.cat = &CategoricalColumn{name: c.name, codes: make([]uint32, 0, rows), index: make(map[string]uint32)}
			ft.store[i] = c.cat
		}
	}
	if p.id >= 0 {
		ft.hasIDs = true
		ft.idEnds = make([]int, 0, rows)
	}
	if p.tm >= 0 {
		ft.times = make([]int64, 0, rows)
	}
	return ft
}

// Bounds of a time a flat table can hold as Unix nanoseconds.
var (
	minFlatTime = time.Unix(0, math.MinInt64).UTC()
	maxFlatTime = time.Unix(0, math.MaxInt64).UTC()
)

// row checks the current record and, when it is good, appends it to the
// table. Nothing is written before every value is known to be good, so a
// rejected row leaves all columns the same length.
func (p *flatPlan) row(r *delimReader, ft *FlatTable) *RecordError {
	b := r.field(p.label)
	lc := &p.cols[p.label]
	if lc.miss.has(b) {
		return r.fieldError(p.label+1, b, "is missing; every row needs a label")
	}
	positive := false
	trimmed := bytes.TrimSpace(b)
	for _, pos := range p.positives {
		if bytes.EqualFold(trimmed, pos) {
			positive = true
			break
		}
	}
	var tm int64
	if p.tm >= 0 {
		b := r.field(p.tm)
		if p.cols[p.tm].miss.has(b) {
			return r.fieldError(p.tm+1, b, "is required: the time column orders the rows")
		}
		t, reason := readTime(b)
		if reason != "" {
			return r.fieldError(p.tm+1, b, reason)
		}
		if t.Before(minFlatTime) || t.After(maxFlatTime) {
			return r.fieldError(p.tm+1, b, "is outside the years 1678 to 2262")
		}
		tm = t.UnixNano()
	}
	if p.id >= 0 {
		b := r.field(p.id)
		if p.cols[p.id].miss.has(b) {
			return r.fieldError(p.id+1, b, "is required")
		}
		if err := leadscore.ValidateID("id", string(b)); err != nil {
			return r.fieldError(p.id+1, b, reasonOf(err))
		}
	}
	for i := range p.cols {
		c := &p.cols[i]
		if c.role != RoleFeature && c.role != RoleGroup && c.role != RoleExcluded {
			continue
		}
		b := r.field(i)
		c.token = c.miss.index(b)
		c.absent = c.token >= 0
		if c.absent || c.role == RoleExcluded {
			continue
		}
		switch c.typ {
		case ColumnNumeric:
			f, reason := parseNumber(b)
			if reason != "" {
				if !c.fixed {
					reason += fmt.Sprintf("; the column is numeric because %d of its %d values are numbers: fix the value, add it to ColumnMissing or set its type with FlatOptions.Types",
						c.counts.numbers, c.counts.present)
				}
				return r.fieldError(i+1, b, reason)
			}
			c.scratch = f
		case ColumnBoolean:
			v, ok := parseBoolWord(b)
			if !ok && c.fixed && len(b) == 1 && (b[0] == '0' || b[0] == '1') {
				v, ok = b[0] == '1', true
			}
			if !ok {
				return r.fieldError(i+1, b, "is not a boolean (true, false, yes or no)")
			}
			c.scratch = 0
			if v {
				c.scratch = 1
			}
		case ColumnCategorical:
			if c.cat != nil && uint64(len(c.cat.levels)) >= MissingCode {
				return r.fieldError(i+1, b, "is one level too many for a categorical column")
			}
		}
	}

	// The row is good: commit it.
	row := ft.n
	if positive {
		ft.labels.set(row)
		ft.positives++
	}
	if p.tm >= 0 {
		ft.times = append(ft.times, tm)
	}
	if p.id >= 0 {
		ft.idData = append(ft.idData, r.field(p.id)...)
		ft.idEnds = append(ft.idEnds, len(ft.idData))
	}
	for i := range p.cols {
		c := &p.cols[i]
		if c.role != RoleFeature && c.role != RoleGroup && c.role != RoleExcluded {
			continue
		}
		if c.absent {
			c.missing++
			c.met[c.token]++
		}
		switch {
		case c.num != nil:
			if c.absent {
				c.num.values = append(c.num.values, math.NaN())
				c.num.missing.set(row)
			} else {
				c.num.values = append(c.num.values, c.scratch)
			}
		case c.boo != nil:
			switch {
			case c.absent:
				c.boo.missing.set(row)
			case c.scratch == 1:
				c.boo.values.set(row)
			}
			c.boo.n++
		case c.cat != nil:
			c.cat.add(r.field(i), c.absent)
		}
	}
	ft.n++
	return nil
}

// readFlat reads a flat table from an input.
func readFlat(ctx context.Context, in *input, opts FlatOptions) (*FlatTable, error) {
	if in.format != formatDelimited {
		return nil, leadscore.Errorf(leadscore.EINVALID, "%s: a flat table is read from delimited text (.csv, .tsv or .txt)", in.name)
	}
	comma, err := ReadOptions{Delimiter: opts.Delimiter}.comma()
	if err != nil {
		return nil, err
	}
	t, closeInput, err := openDelimited(in, comma)
	if err != nil {
		return nil, err
	}
	p, err := newFlatPlan(t, opts)
	if err != nil {
		closeInput()
		return nil, err
	}
	rows, err := p.infer(ctx, t)
	closeInput()
	if err != nil {
		return nil, err
	}
	second, closeInput, err := openDelimited(in, t.r.comma)
	if err != nil {
		return nil, err
	}
	defer closeInput()
	if err := t.sameHeader(second); err != nil {
		return nil, err
	}
	ft := p.allocate(rows)
	ft.stats = ReadStats{File: in.name, Delimiter: rune(t.r.comma), Notes: t.notes()}
	c := newCollector(&ft.stats, opts.Lenient, opts.MaxErrors)
	r := second.r
	for n := 0; ; n++ {
		if err := checkContext(ctx, n, in.name); err != nil {
			return nil, err
		}
		bad, err := r.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if bad == nil {
			bad = p.row(r, ft)
		}
		if bad != nil {
			if err := c.reject(bad); err != nil {
				return nil, err
			}
			continue
		}
		ft.stats.Records++
	}
	for i := range p.cols {
		c := &p.cols[i]
		info := ColumnInfo{Name: c.name, Index: i, Type: c.typ, Role: c.role, Missing: c.missing}
		if c.cat != nil {
			info.Distinct = len(c.cat.levels)
			c.cat.index = nil
		}
		ft.info[i] = info
		ft.met[i] = valueCounts(c.miss, c.met)
	}
	ft.reading = readingOf(opts.NoDefaultMissing, opts.MissingTokens, opts.ColumnMissing)
	return ft, nil
}

// Len returns the number of rows.
func (t *FlatTable) Len() int { return t.n }

// File returns the name of the file the table was read from.
func (t *FlatTable) File() string { return t.file }

// Stats returns what reading the table did: rows read, rows skipped by a
// lenient read, and the first errors.
func (t *FlatTable) Stats() ReadStats { return t.stats }

// Columns returns the schema: every column of the file in order, with its
// type, role, missing count and, for categorical columns, distinct count.
func (t *FlatTable) Columns() []ColumnInfo { return slices.Clone(t.info) }

// Column returns the schema of one column.
func (t *FlatTable) Column(name string) (ColumnInfo, bool) {
	i, ok := t.byName[name]
	if !ok {
		return ColumnInfo{}, false
	}
	return t.info[i], true
}

// Features returns the names of the feature columns in file order.
func (t *FlatTable) Features() []string {
	var names []string
	for _, c := range t.info {
		if c.Role == RoleFeature {
			names = append(names, c.Name)
		}
	}
	return names
}

// column finds a stored column, or says why it cannot be had.
func (t *FlatTable) column(name string, want ColumnType) (any, error) {
	i, ok := t.byName[name]
	if !ok {
		names := make([]string, len(t.info))
		for j, c := range t.info {
			names[j] = c.Name
		}
		return nil, leadscore.Errorf(leadscore.ENOTFOUND, "%s: no column %q; the columns are %s", t.file, name, quoteList(names))
	}
	c := t.info[i]
	if t.store[i] == nil {
		return nil, leadscore.Errorf(leadscore.EINVALID, "%s: column %q is the %s column, not a stored feature or group", t.file, name, c.Role)
	}
	if c.Type != want {
		return nil, leadscore.Errorf(leadscore.EINVALID, "%s: column %q is %s, not %s", t.file, name, c.Type, want)
	}
	return t.store[i], nil
}

// Numeric returns a numeric feature column.
func (t *FlatTable) Numeric(name string) (*NumericColumn, error) {
	c, err := t.column(name, ColumnNumeric)
	if err != nil {
		return nil, err
	}
	return c.(*NumericColumn), nil
}

// Categorical returns a categorical feature or group column.
func (t *FlatTable) Categorical(name string) (*CategoricalColumn, error) {
	c, err := t.column(name, ColumnCategorical)
	if err != nil {
		return nil, err
	}
	return c.(*CategoricalColumn), nil
}

// Boolean returns a boolean feature column.
func (t *FlatTable) Boolean(name string) (*BooleanColumn, error) {
	c, err := t.column(name, ColumnBoolean)
	if err != nil {
		return nil, err
	}
	return c.(*BooleanColumn), nil
}

// Label reports whether row i is positive (converted).
func (t *FlatTable) Label(i int) bool {
	if i < 0 || i >= t.n {
		panic("dataset: FlatTable row " + strconv.Itoa(i) + " out of range [0," + strconv.Itoa(t.n) + ")")
	}
	return t.labels.get(i)
}

// Positives returns the number of positive rows.
func (t *FlatTable) Positives() int { return t.positives }

// HasIDs reports whether the table has an id column.
func (t *FlatTable) HasIDs() bool { return t.hasIDs }

// ID returns row i's lead id, or "" when the table has no id column.
func (t *FlatTable) ID(i int) string {
	if !t.hasIDs {
		return ""
	}
	start := 0
	if i > 0 {
		start = t.idEnds[i-1]
	}
	return string(t.idData[start:t.idEnds[i]])
}

// HasTimes reports whether the table has a time column.
func (t *FlatTable) HasTimes() bool { return t.times != nil }

// Time returns row i's time, or the zero time when the table has no time
// column.
func (t *FlatTable) Time(i int) time.Time {
	if t.times == nil {
		return time.Time{}
	}
	return time.Unix(0, t.times[i]).UTC()
}

// Times returns every row's time as Unix nanoseconds, shared (callers must
// not modify it), or nil without a time column: the form OrderedSplit
// takes.
func (t *FlatTable) Times() []int64 { return t.times }
