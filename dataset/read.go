package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/leadscore/leadscore"
)

// DefaultMaxErrors is how many errors a lenient read keeps when
// ReadOptions.MaxErrors is 0: enough to see what is wrong with a file
// without holding millions of errors in memory.
const DefaultMaxErrors = 100

// MaxRecordBytes is the longest record the readers accept: one line, or the
// lines of one record whose quoted field spans several. It bounds the
// memory a reader needs whatever the file holds, such as a quote that is
// never closed.
const MaxRecordBytes = 1 << 20

const (
	// bufferSize is the read buffer; lines shorter than it are parsed in
	// place.
	bufferSize = 64 << 10
	// errValueBytes is how much of an offending value an error quotes.
	errValueBytes = 128
	// checkEvery is how many records a reader reads between looks at its
	// context, a power of two.
	checkEvery = 4096
)

// ReadOptions says how the three-table readers treat their input.
type ReadOptions struct {
	// Lenient skips bad records, counting them in ReadStats, instead of
	// stopping at the first one. A bad header, an unreadable file and an
	// error returned by the callback stop a lenient read too.
	Lenient bool
	// MaxErrors is how many errors ReadStats.Errors keeps; 0 means
	// DefaultMaxErrors.
	MaxErrors int
	// MissingTokens are values read as missing in addition to
	// DefaultMissingValues (unless NoDefaultMissing).
	MissingTokens []string
	// NoDefaultMissing leaves DefaultMissingValues out: only the empty
	// value and MissingTokens are missing.
	NoDefaultMissing bool
	// Delimiter separates the fields of a delimited file; 0 detects it
	// among ',', ';', '\t' and '|'.
	Delimiter rune
	// Kinds fixes the kind (number, bool or string) of attribute columns
	// of a delimited leads file by column name, instead of inferring it.
	// An explicit bool column also accepts 1 and 0.
	Kinds map[string]leadscore.ValueKind
}

// ReadStats reports what a read did, for progress output and for the
// lenient mode's report.
type ReadStats struct {
	// File is the name of the input.
	File string
	// Records counts the records handed to the callback.
	Records int
	// Skipped counts the bad records a lenient read skipped.
	Skipped int
	// Errors holds the first errors met, at most ReadOptions.MaxErrors;
	// each is a *RecordError.
	Errors []error
	// Delimiter is the separator of a delimited input, detected or given;
	// 0 for JSONL.
	Delimiter rune
	// Kinds is the kind of each attribute column of a delimited leads
	// input, inferred or fixed; nil for other inputs.
	Kinds map[string]leadscore.ValueKind
	// Notes are what the read decided on its own that a person should
	// be told, such as an unnamed, empty last column dropped.
	Notes []string
}

// RecordError is a bad record of an input file. It says where the record
// is and which value is wrong, so that a person can open the file and fix
// it. It unwraps to an EINVALID *leadscore.Error with the same message and
// one field violation, so callers classify it like any invalid input.
type RecordError struct {
	// File is the input's name.
	File string
	// Line is the 1-based physical line where the record starts.
	Line int
	// Column is the column's name in the header, or the field's path in a
	// JSON object such as "attributes.country"; "" when the error is about
	// the whole record.
	Column string
	// Index is the 1-based position of the column in a delimited file; 0
	// in JSONL, for the whole record, and for a column the header lacks.
	Index int
	// Value is the offending value as read, cut to 128 bytes.
	Value string
	// Reason says what is wrong with the value.
	Reason string

	// noValue marks errors where Value means nothing, such as a column
	// the header lacks.
	noValue bool
	// jsonl marks Column as a JSON field path.
	jsonl bool
}

// Error returns "file:line: column 3 "type": reason (got "value")".
func (e *RecordError) Error() string {
	var b strings.Builder
	b.WriteString(e.location())
	b.WriteString(": ")
	switch {
	case e.Index > 0:
		b.WriteString("column ")
		b.WriteString(strconv.Itoa(e.Index))
		if e.Column != "" {
			b.WriteByte(' ')
			b.WriteString(strconv.Quote(e.Column))
		}
		b.WriteString(": ")
	case e.Column != "" && e.jsonl:
		b.WriteString("field ")
		b.WriteString(strconv.Quote(e.Column))
		b.WriteString(": ")
	case e.Column != "":
		b.WriteString("column ")
		b.WriteString(strconv.Quote(e.Column))
		b.WriteString(": ")
	}
	b.WriteString(e.description())
	return b.String()
}

// Unwrap returns the error as an EINVALID application error.
func (e *RecordError) Unwrap() error {
	field := e.location()
	if e.Column != "" {
		field += ":" + e.Column
	} else if e.Index > 0 {
		field += ":" + strconv.Itoa(e.Index)
	}
	return &leadscore.Error{
		Code:    leadscore.EINVALID,
		Message: e.Error(),
		Fields:  []leadscore.FieldViolation{{Field: field, Description: e.description()}},
	}
}

// location returns "file:line".
func (e *RecordError) location() string {
	file := e.File
	if file == "" {
		file = "input"
	}
	return file + ":" + strconv.Itoa(e.Line)
}

// description returns the reason with the offending value.
func (e *RecordError) description() string {
	if e.noValue {
		return e.Reason
	}
	return e.Reason + " (got " + strconv.Quote(e.Value) + ")"
}

// clip returns b as a string for an error message, cut to errValueBytes at
// a character boundary.
func clip(b []byte) string {
	if len(b) <= errValueBytes {
		return string(b)
	}
	n := errValueBytes
	for n > errValueBytes-utf8.UTFMax && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "…"
}

// reasonOf returns what a leadscore validator says is wrong, without the
// value it quotes, which a RecordError adds itself. The validators are the
// one place the rules for ids and keys live, so their wording is reused.
func reasonOf(err error) string {
	var e *leadscore.Error
	if errors.As(err, &e) && len(e.Fields) == 1 {
		d := e.Fields[0].Description
		if i := strings.LastIndex(d, " (got "); i > 0 {
			return d[:i]
		}
		return d
	}
	return err.Error()
}

// format is how an input is encoded.
type format uint8

const (
	formatDelimited format = iota + 1
	formatJSONL
)

// formatOf chooses the format from a file name's extension: .csv, .tsv and
// .txt are delimited, .jsonl and .ndjson are JSON lines, either optionally
// gzip-compressed (.gz).
func formatOf(name string) (format, bool, error) {
	base := strings.ToLower(filepath.Base(name))
	gz := false
	if b, ok := strings.CutSuffix(base, ".gz"); ok {
		base, gz = b, true
	}
	switch filepath.Ext(base) {
	case ".csv", ".tsv", ".txt":
		return formatDelimited, gz, nil
	case ".jsonl", ".ndjson":
		return formatJSONL, gz, nil
	}
	return 0, false, leadscore.Errorf(leadscore.EINVALID,
		"%s: unknown file type; name it .csv, .tsv or .txt (delimited) or .jsonl or .ndjson (JSON lines), optionally with .gz", name)
}

// input is a file or stream to read, possibly more than once.
type input struct {
	name   string
	format format
	gz     bool
	// open returns the raw (possibly compressed) bytes from the start.
	open func() (io.ReadCloser, error)
	// cleanup releases what the input holds, such as a spooled copy.
	cleanup func()
}

// pathInput returns the input of a file.
func pathInput(path string) (*input, error) {
	f, gz, err := formatOf(path)
	if err != nil {
		return nil, err
	}
	return &input{
		name: path, format: f, gz: gz,
		open:    func() (io.ReadCloser, error) { return os.Open(path) },
		cleanup: func() {},
	}, nil
}

// readerInput returns the input of a stream. With rewind the input can be
// read twice: from its start offset if r seeks, otherwise from a temporary
// copy, so that two-pass inference sees every row without holding the file
// in memory.
func readerInput(ctx context.Context, r io.Reader, name string, rewind bool) (*input, error) {
	f, gz, err := formatOf(name)
	if err != nil {
		return nil, err
	}
	in := &input{name: name, format: f, gz: gz, cleanup: func() {}}
	if !rewind {
		used := false
		in.open = func() (io.ReadCloser, error) {
			if used {
				return nil, errors.New("read " + name + ": the stream cannot be read twice")
			}
			used = true
			return io.NopCloser(r), nil
		}
		return in, nil
	}
	if s, ok := r.(io.ReadSeeker); ok {
		if start, err := s.Seek(0, io.SeekCurrent); err == nil {
			in.open = func() (io.ReadCloser, error) {
				if _, err := s.Seek(start, io.SeekStart); err != nil {
					return nil, fmt.Errorf("rewind %s: %w", name, err)
				}
				return io.NopCloser(s), nil
			}
			return in, nil
		}
	}
	tmp, err := os.CreateTemp("", "leadscore-read-*")
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", name, err)
	}
	in.cleanup = func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	if _, err := io.Copy(tmp, ctxReader{ctx, r}); err != nil {
		in.cleanup()
		return nil, fmt.Errorf("spool %s: %w", name, err)
	}
	in.open = func() (io.ReadCloser, error) {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("rewind %s: %w", name, err)
		}
		return io.NopCloser(tmp), nil
	}
	return in, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read implements io.Reader.
func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// utf8BOM is the byte order mark some Windows tools write at the start of
// UTF-8 files.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// reader opens the input for one pass: decompressed, buffered, with a
// byte order mark skipped. The returned func closes it.
func (in *input) reader() (*bufio.Reader, func(), error) {
	rc, err := in.open()
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", in.name, err)
	}
	var r io.Reader = rc
	if in.gz {
		zr, err := gzip.NewReader(rc)
		if err != nil {
			rc.Close()
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, nil, fmt.Errorf("read %s: not gzip-compressed: %w", in.name, err)
		}
		r = zr
	}
	br := bufio.NewReaderSize(r, bufferSize)
	if b, err := br.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	return br, func() { rc.Close() }, nil
}

// comma returns the delimiter the options give, or 0 to detect it.
func (o ReadOptions) comma() (byte, error) {
	if o.Delimiter == 0 {
		return 0, nil
	}
	return checkDelimiter(o.Delimiter)
}

// collector applies the lenient mode to bad records.
type collector struct {
	stats   *ReadStats
	lenient bool
	max     int
}

// newCollector returns a collector filling stats.
func newCollector(stats *ReadStats, lenient bool, maxErrors int) *collector {
	if maxErrors <= 0 {
		maxErrors = DefaultMaxErrors
	}
	return &collector{stats: stats, lenient: lenient, max: maxErrors}
}

// reject records a bad record. It returns the error when reading must
// stop, and nil when a lenient read skips the record.
func (c *collector) reject(e *RecordError) error {
	if len(c.stats.Errors) < c.max {
		c.stats.Errors = append(c.stats.Errors, e)
	}
	if !c.lenient {
		return e
	}
	c.stats.Skipped++
	return nil
}

// checkContext returns the context's error, wrapped with the input's name,
// every checkEvery records.
func checkContext(ctx context.Context, n int, name string) error {
	if n&(checkEvery-1) != 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// callbackError wraps an error returned by a reader's callback with where
// the record came from.
func callbackError(name string, line int, err error) error {
	return fmt.Errorf("%s:%d: %w", name, line, err)
}

// ReadLeads streams the leads of a delimited or JSONL file (see the package
// documentation for the columns) into fn, the format chosen by the file's
// extension. A delimited file is read twice: once to infer the kind of each
// attribute column from all its values, once to parse, so a value that
// does not fit its column is reported instead of silently changing it.
func ReadLeads(ctx context.Context, path string, opts ReadOptions, fn func(leadscore.Lead) error) (ReadStats, error) {
	in, err := pathInput(path)
	if err != nil {
		return ReadStats{File: path}, err
	}
	defer in.cleanup()
	return readLeads(ctx, in, opts, fn)
}

// ReadLeadsFrom is ReadLeads over a stream; name gives the format (by its
// extension) and names the input in errors. A delimited stream that cannot
// seek is copied to a temporary file for the inference pass.
func ReadLeadsFrom(ctx context.Context, r io.Reader, name string, opts ReadOptions, fn func(leadscore.Lead) error) (ReadStats, error) {
	f, _, err := formatOf(name)
	if err != nil {
		return ReadStats{File: name}, err
	}
	in, err := readerInput(ctx, r, name, f == formatDelimited)
	if err != nil {
		return ReadStats{File: name}, err
	}
	defer in.cleanup()
	return readLeads(ctx, in, opts, fn)
}

// ReadEvents streams the events of a delimited or JSONL file (see the
// package documentation for the columns) into fn, the format chosen by the
// file's extension.
func ReadEvents(ctx context.Context, path string, opts ReadOptions, fn func(leadscore.Event) error) (ReadStats, error) {
	in, err := pathInput(path)
	if err != nil {
		return ReadStats{File: path}, err
	}
	defer in.cleanup()
	return readTable(ctx, in, opts, parseEventJSON, newEventLayout, fn)
}

// ReadEventsFrom is ReadEvents over a stream; name gives the format (by its
// extension) and names the input in errors.
func ReadEventsFrom(ctx context.Context, r io.Reader, name string, opts ReadOptions, fn func(leadscore.Event) error) (ReadStats, error) {
	in, err := readerInput(ctx, r, name, false)
	if err != nil {
		return ReadStats{File: name}, err
	}
	defer in.cleanup()
	return readTable(ctx, in, opts, parseEventJSON, newEventLayout, fn)
}

// ReadOutcomes streams the outcomes of a delimited or JSONL file (see the
// package documentation for the columns) into fn, the format chosen by the
// file's extension.
func ReadOutcomes(ctx context.Context, path string, opts ReadOptions, fn func(leadscore.Outcome) error) (ReadStats, error) {
	in, err := pathInput(path)
	if err != nil {
		return ReadStats{File: path}, err
	}
	defer in.cleanup()
	return readTable(ctx, in, opts, parseOutcomeJSON, newOutcomeLayout, fn)
}

// ReadOutcomesFrom is ReadOutcomes over a stream; name gives the format (by
// its extension) and names the input in errors.
func ReadOutcomesFrom(ctx context.Context, r io.Reader, name string, opts ReadOptions, fn func(leadscore.Outcome) error) (ReadStats, error) {
	in, err := readerInput(ctx, r, name, false)
	if err != nil {
		return ReadStats{File: name}, err
	}
	defer in.cleanup()
	return readTable(ctx, in, opts, parseOutcomeJSON, newOutcomeLayout, fn)
}

// parser is a delimited table's column layout for one kind of record.
type parser[T any] interface {
	parse(r *delimReader) (T, *RecordError)
}

// readTable reads the records of an input whose columns are known up
// front (events, outcomes): JSON lines with parseJSON, delimited text with
// the layout newLayout makes from the header.
func readTable[T any, L parser[T]](ctx context.Context, in *input, opts ReadOptions,
	parseJSON func(p *jsonLine) (T, error), newLayout func(*delimTable, ReadOptions) (L, error), fn func(T) error,
) (ReadStats, error) {
	stats := ReadStats{File: in.name}
	if in.format == formatJSONL {
		err := readJSONL(ctx, in, opts, &stats, parseJSON, fn)
		return stats, err
	}
	comma, err := opts.comma()
	if err != nil {
		return stats, err
	}
	t, closeInput, err := openDelimited(in, comma)
	if err != nil {
		return stats, err
	}
	defer closeInput()
	stats.Delimiter = rune(t.r.comma)
	stats.Notes = t.notes()
	l, err := newLayout(t, opts)
	if err != nil {
		return stats, err
	}
	c := newCollector(&stats, opts.Lenient, opts.MaxErrors)
	err = streamDelimited(ctx, t, c, l.parse, fn)
	return stats, err
}

// streamDelimited parses the records of t through parse into fn.
func streamDelimited[T any](ctx context.Context, t *delimTable, c *collector,
	parse func(r *delimReader) (T, *RecordError), fn func(T) error,
) error {
	r := t.r
	for n := 0; ; n++ {
		if err := checkContext(ctx, n, r.file); err != nil {
			return err
		}
		bad, err := r.read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var re *RecordError
			if errors.As(err, &re) && len(c.stats.Errors) < c.max {
				c.stats.Errors = append(c.stats.Errors, re)
			}
			return err
		}
		var rec T
		if bad == nil {
			rec, bad = parse(r)
		}
		if bad != nil {
			if err := c.reject(bad); err != nil {
				return err
			}
			continue
		}
		if err := fn(rec); err != nil {
			return callbackError(r.file, r.line, err)
		}
		c.stats.Records++
	}
}

// openDelimited opens one pass over a delimited input with its header
// read; comma 0 detects the delimiter.
func openDelimited(in *input, comma byte) (*delimTable, func(), error) {
	br, closeInput, err := in.reader()
	if err != nil {
		return nil, nil, err
	}
	t, err := openDelimTable(br, in.name, comma)
	if err != nil {
		closeInput()
		return nil, nil, err
	}
	return t, closeInput, nil
}

// checkColumns refuses columns a table's layout does not know.
func checkColumns(t *delimTable, known map[string]bool, what string) error {
	for i, name := range t.header {
		if !known[name] {
			return t.headerError(i, "is not "+what)
		}
	}
	return nil
}
