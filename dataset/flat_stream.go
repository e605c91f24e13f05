package dataset

import (
	"context"
	"fmt"
	"io"

	"github.com/leadscore/leadscore"
)

// FlatField is one column a FlatStream types (see SetFields), and the type
// it is read as.
type FlatField struct {
	// Column is the column's name in the header.
	Column string
	// Type is ColumnNumeric, ColumnBoolean or ColumnCategorical.
	Type ColumnType
}

// FlatStreamOptions says how to stream a flat table.
type FlatStreamOptions struct {
	// IDColumn names the column of lead ids, if any; every row must then
	// have one that passes leadscore.ValidateID.
	IDColumn string
	// MissingTokens are values read as missing in every column, in
	// addition to DefaultMissingValues (unless NoDefaultMissing).
	MissingTokens []string
	// NoDefaultMissing leaves DefaultMissingValues out: only the empty
	// value and MissingTokens are missing in every column.
	NoDefaultMissing bool
	// ColumnMissing are values read as missing in one column, by column
	// name, such as "pdays": {"-1"}.
	ColumnMissing map[string][]string
	// Delimiter separates fields; 0 detects it among ',', ';', '\t' and
	// '|'.
	Delimiter rune
	// recorded are the ColumnMissing columns a model's reading added
	// (WithReading): a table without one of them is not an error.
	recorded map[string]bool
}

// Chunk limits: a chunk stops at FlatChunkRows records or once its fields
// pass flatChunkBytes, so a chunk's memory is bounded whatever the lines
// hold (a record is itself at most MaxRecordBytes).
const (
	// FlatChunkRows is the usual number of records of a chunk.
	FlatChunkRows  = 4096
	flatChunkBytes = 8 << 20
)

// FlatStream reads a delimited flat table one chunk of records at a time,
// in one pass, holding only the chunk it fills: a table of any size is
// scored in bounded memory. It parses exactly as ReadFlatTable does
// (delimiter detection, RFC 4180 quoting, CRLF, a byte order mark, gzip,
// the missing tokens); the column types come from the caller, since a
// single pass cannot infer them.
//
// Splitting the input into records is sequential (Read); typing a chunk's
// values (FlatChunk.Parse) is independent of the stream, so chunks may be
// parsed on other goroutines while the next is read.
type FlatStream struct {
	t      *delimTable
	close  func()
	in     *input
	opts   FlatStreamOptions
	id     int
	idMiss missingSet
	fields []streamField
	// rows counts the records read so far, well formed or not.
	rows int
	done bool
	// err is an error that stops the stream, met after records the
	// chunk being filled already held: the next Read returns it.
	err error
}

// streamField is a FlatField resolved against the header.
type streamField struct {
	col  int
	typ  ColumnType
	miss missingSet
}

// OpenFlatStream opens a delimited flat table (.csv, .tsv or .txt,
// optionally .gz) and reads its header.
func OpenFlatStream(path string, opts FlatStreamOptions) (*FlatStream, error) {
	in, err := pathInput(path)
	if err != nil {
		return nil, err
	}
	return openFlatStream(in, opts)
}

// OpenFlatStreamFrom is OpenFlatStream over a stream; name gives the format
// (by its extension) and names the input in errors. The stream is read
// once, so it need not seek.
func OpenFlatStreamFrom(ctx context.Context, r io.Reader, name string, opts FlatStreamOptions) (*FlatStream, error) {
	in, err := readerInput(ctx, r, name, false)
	if err != nil {
		return nil, err
	}
	return openFlatStream(in, opts)
}

func openFlatStream(in *input, opts FlatStreamOptions) (*FlatStream, error) {
	if in.format != formatDelimited {
		in.cleanup()
		return nil, leadscore.Errorf(leadscore.EINVALID, "%s: a flat table is read from delimited text (.csv, .tsv or .txt)", in.name)
	}
	comma, err := ReadOptions{Delimiter: opts.Delimiter}.comma()
	if err != nil {
		in.cleanup()
		return nil, err
	}
	t, closeInput, err := openDelimited(in, comma)
	if err != nil {
		in.cleanup()
		return nil, err
	}
	s := &FlatStream{t: t, in: in, opts: opts, id: -1, close: func() { closeInput(); in.cleanup() }}
	if err := s.resolve(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// unknown returns the error of an option naming a column the header lacks.
func (s *FlatStream) unknown(option, name string) error {
	return leadscore.Errorf(leadscore.EINVALID, "%s: %s names column %q, which the file does not have; the columns are %s",
		s.t.r.file, option, name, quoteList(s.t.header))
}

// missing returns the missing tokens of a column.
func (s *FlatStream) missing(col string) missingSet {
	return newMissingSet(s.opts.NoDefaultMissing, s.opts.MissingTokens, s.opts.ColumnMissing[col])
}

// resolve checks the options against the header.
func (s *FlatStream) resolve() error {
	t := s.t
	for _, name := range sortedKeys(s.opts.ColumnMissing) {
		if t.col(name) < 0 && !s.opts.recorded[name] {
			return s.unknown("ColumnMissing", name)
		}
	}
	if s.opts.IDColumn != "" {
		if s.id = t.col(s.opts.IDColumn); s.id < 0 {
			return s.unknown("IDColumn", s.opts.IDColumn)
		}
		s.idMiss = s.missing(s.opts.IDColumn)
	}
	return nil
}

// SetFields sets the columns Parse types, in the order it returns their
// values, before the first Read. Their types are given, not inferred: a
// stream never sees the whole file (a model's feature spec says them). A
// boolean field takes true, false, yes and no in any case, and 1 and 0, as
// a boolean fixed with FlatOptions.Types does.
func (s *FlatStream) SetFields(fields []FlatField) error {
	if s.rows > 0 {
		return leadscore.Errorf(leadscore.EPRECONDITION, "%s: SetFields after the first Read", s.t.r.file)
	}
	t := s.t
	s.fields = s.fields[:0]
	for _, f := range fields {
		i := t.col(f.Column)
		if i < 0 {
			return s.unknown("SetFields", f.Column)
		}
		if i == s.id {
			return leadscore.Errorf(leadscore.EINVALID, "%s: column %q is the id column, not a field", t.r.file, f.Column)
		}
		switch f.Type {
		case ColumnNumeric, ColumnBoolean, ColumnCategorical:
		default:
			return leadscore.Errorf(leadscore.EINVALID, "%s: field %q has type %v; use numeric, boolean or categorical", t.r.file, f.Column, f.Type)
		}
		s.fields = append(s.fields, streamField{col: i, typ: f.Type, miss: s.missing(f.Column)})
	}
	return nil
}

// Header returns the column names, shared: callers must not modify it.
func (s *FlatStream) Header() []string { return s.t.header }

// File returns the name of the input.
func (s *FlatStream) File() string { return s.t.r.file }

// Delimiter returns the field separator, detected or given.
func (s *FlatStream) Delimiter() rune { return rune(s.t.r.comma) }

// Notes returns what opening the stream decided that a person should be
// told, such as an unnamed, empty last column dropped.
func (s *FlatStream) Notes() []string { return s.t.notes() }

// Rows returns the number of records read so far, well formed or not.
func (s *FlatStream) Rows() int { return s.rows }

// Close releases the input.
func (s *FlatStream) Close() error {
	if s.close != nil {
		s.close()
		s.close = nil
	}
	return nil
}

// Read fills c with the next records, up to its row limit or about
// 8 MiB of fields, and returns io.EOF once no record is left (c is then
// empty). A malformed record (a ragged row, a stray quote, invalid UTF-8)
// takes its place in the chunk with its error, which Parse returns, so a
// caller meets errors in the order of the file. Other errors (a value in
// an unnamed column, an unreadable input) stop the stream: the records
// before one are handed out first, and the next Read returns it.
func (s *FlatStream) Read(ctx context.Context, c *FlatChunk) error {
	c.reset(s)
	if s.err != nil {
		return s.err
	}
	if s.done {
		return io.EOF
	}
	r := s.t.r
	for c.Len() < c.max && len(c.data) < c.maxBytes {
		if err := checkContext(ctx, s.rows, r.file); err != nil {
			return err
		}
		bad, err := r.read()
		if err == io.EOF {
			s.done = true
			break
		}
		if err != nil {
			if c.Len() == 0 {
				return err
			}
			// Hand out the records before the error first, so that a
			// caller meets them in the order of the file.
			s.err = err
			break
		}
		s.rows++
		c.add(r, s.rows, bad)
	}
	if c.Len() == 0 {
		return io.EOF
	}
	return nil
}

// FlatChunk is a run of a FlatStream's records: their fields in one
// buffer, reused from one Read to the next. It is not safe for concurrent
// use, but different chunks of one stream may be parsed concurrently.
type FlatChunk struct {
	s        *FlatStream
	max      int
	maxBytes int
	data     []byte
	// ends holds the end of every field of every record in data; record
	// i's fields end at ends[first[i]:first[i+1]].
	ends  []int
	first []int
	lines []int
	rows  []int
	bad   []*RecordError
	// str is data as a string, made once per chunk for the categorical
	// values and ids that need one.
	str   string
	strOK bool
}

// NewFlatChunk returns a chunk holding up to rows records (FlatChunkRows
// when rows is 0 or less).
func NewFlatChunk(rows int) *FlatChunk {
	if rows <= 0 {
		rows = FlatChunkRows
	}
	return &FlatChunk{max: rows, first: make([]int, 1, rows+1)}
}

func (c *FlatChunk) reset(s *FlatStream) {
	c.s = s
	if c.maxBytes == 0 {
		c.maxBytes = flatChunkBytes
	}
	c.data = c.data[:0]
	c.ends = c.ends[:0]
	c.first = c.first[:1]
	c.lines = c.lines[:0]
	c.rows = c.rows[:0]
	c.bad = c.bad[:0]
	c.str, c.strOK = "", false
}

// add copies the reader's current record (or notes it as malformed).
func (c *FlatChunk) add(r *delimReader, row int, bad *RecordError) {
	c.lines = append(c.lines, r.line)
	c.rows = append(c.rows, row)
	c.bad = append(c.bad, bad)
	if bad == nil {
		base := len(c.data)
		c.data = append(c.data, r.data...)
		for _, e := range r.ends {
			c.ends = append(c.ends, base+e)
		}
	}
	c.first = append(c.first, len(c.ends))
}

// Len returns the number of records in the chunk.
func (c *FlatChunk) Len() int { return len(c.rows) }

// Row returns record i's 1-based position among the table's records (the
// header and blank lines not counted; malformed records counted).
func (c *FlatChunk) Row(i int) int { return c.rows[i] }

// Line returns the 1-based line where record i starts.
func (c *FlatChunk) Line(i int) int { return c.lines[i] }

// field returns field col of record i.
func (c *FlatChunk) field(i, col int) []byte {
	end := c.ends[c.first[i]+col]
	start := 0
	if k := c.first[i] + col; k > 0 {
		start = c.ends[k-1]
	}
	return c.data[start:end]
}

// fieldString returns field col of record i as a string sharing one
// allocation with the chunk's other strings.
func (c *FlatChunk) fieldString(i, col int) string {
	if !c.strOK {
		c.str, c.strOK = string(c.data), true
	}
	k := c.first[i] + col
	start := 0
	if k > 0 {
		start = c.ends[k-1]
	}
	return c.str[start:c.ends[k]]
}

// fieldError returns an error about field col of record i.
func (c *FlatChunk) fieldError(i, col int, value []byte, reason string) *RecordError {
	return &RecordError{File: c.s.t.r.file, Line: c.lines[i], Index: col + 1, Column: c.s.t.header[col], Value: clip(value), Reason: reason}
}

// ID returns record i's id, or "" without an id column or for a
// malformed record. Parse validates it.
func (c *FlatChunk) ID(i int) string {
	if c.s.id < 0 || c.bad[i] != nil {
		return ""
	}
	return c.fieldString(i, c.s.id)
}

// Parse types record i's fields into out, in the order of
// FlatStreamOptions.Fields: a number, a boolean or a string, or a missing
// value for a missing token. It checks the id too. A value that does not
// fit its type is a *RecordError naming the line, the column and the
// value; so is a malformed record. Without SetFields it checks the
// record and its id only.
func (c *FlatChunk) Parse(i int, out []leadscore.Value) error {
	if e := c.bad[i]; e != nil {
		return e
	}
	s := c.s
	if len(out) != len(s.fields) {
		return leadscore.InvalidField("values", len(out), fmt.Sprintf("must have room for the %d fields", len(s.fields)))
	}
	if s.id >= 0 {
		b := c.field(i, s.id)
		if s.idMiss.has(b) {
			return c.fieldError(i, s.id, b, "is required")
		}
		if err := leadscore.ValidateID("id", c.fieldString(i, s.id)); err != nil {
			return c.fieldError(i, s.id, b, reasonOf(err))
		}
	}
	for j := range s.fields {
		f := &s.fields[j]
		b := c.field(i, f.col)
		if f.miss.has(b) {
			out[j] = leadscore.Value{}
			continue
		}
		switch f.typ {
		case ColumnNumeric:
			v, reason := parseNumber(b)
			if reason != "" {
				return c.fieldError(i, f.col, b, reason)
			}
			out[j] = leadscore.Number(v)
		case ColumnBoolean:
			v, ok := parseBoolWord(b)
			if !ok && len(b) == 1 && (b[0] == '0' || b[0] == '1') {
				v, ok = b[0] == '1', true
			}
			if !ok {
				return c.fieldError(i, f.col, b, "is not a boolean (true, false, yes, no, 1 or 0)")
			}
			out[j] = leadscore.Bool(v)
		default:
			out[j] = leadscore.String(c.fieldString(i, f.col))
		}
	}
	return nil
}
