package dataset

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/leadscore/leadscore"
)

// lineReader hands out physical lines. A line that fits the bufio buffer is
// returned without copying; a longer one is assembled in a reused buffer, up
// to MaxRecordBytes, so memory never depends on what the file holds.
type lineReader struct {
	br   *bufio.Reader
	long []byte
	// line is the 1-based number of the line last returned.
	line int
	// max is the longest line accepted; MaxRecordBytes outside tests.
	max int
}

// next returns the next line without its "\n" and without one "\r" before
// it, so CRLF and LF files read alike. It returns io.EOF after the last
// line. A line longer than max is consumed to its end and reported with
// tooLong; b then holds its first bytes, for the error message.
func (l *lineReader) next() (b []byte, tooLong bool, err error) {
	b, err = l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = l.br.ReadSlice('\n')
			if len(l.long) < l.max+1 {
				l.long = append(l.long, b...)
			}
		}
		b = l.long
	}
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	if err == io.EOF && len(b) == 0 {
		return nil, false, io.EOF
	}
	l.line++
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > l.max {
		return b[:min(len(b), errValueBytes)], true, nil
	}
	return b, false, nil
}

// delimReader reads records of delimited text: RFC 4180 quoting (delimiters,
// doubled quotes and line breaks inside quotes), CRLF or LF line ends,
// surrounding blanks of unquoted fields trimmed, blank lines skipped. The
// fields of the current record live in one reused buffer, so reading
// allocates nothing per record or field.
type delimReader struct {
	lines lineReader
	file  string
	comma byte
	// header names the columns in errors; nil while reading the header.
	header []string
	// unnamed is set when the header ends with a delimiter: its empty
	// last field names no column, and a record's field there must be
	// empty too (see openDelimTable).
	unnamed bool

	// line is where the current record starts.
	line int
	data []byte
	ends []int
	// str is data as a string, built on the first fieldString call, so a
	// record costs one allocation however many string fields it yields.
	str   string
	strOK bool
}

// newDelimReader returns a reader of br with the given delimiter.
func newDelimReader(br *bufio.Reader, file string, comma byte) *delimReader {
	return &delimReader{
		lines: lineReader{br: br, max: MaxRecordBytes},
		file:  file,
		comma: comma,
	}
}

// read reads the next record. It returns io.EOF after the last one and any
// other error when reading cannot go on. bad reports a malformed record:
// it has been consumed, so the caller may skip it and read the next.
func (r *delimReader) read() (bad *RecordError, err error) {
	r.data = r.data[:0]
	r.ends = r.ends[:0]
	r.str, r.strOK = "", false

	var line []byte
	for {
		b, tooLong, err := r.lines.next()
		if err != nil {
			return nil, r.ioError(err)
		}
		if tooLong {
			r.line = r.lines.line
			return r.fieldError(0, b, fmt.Sprintf("the line is longer than %d bytes", r.lines.max)), nil
		}
		if len(b) > 0 {
			line = b
			break
		}
	}
	r.line = r.lines.line

	pos := 0
	for {
		pos = r.skipBlank(line, pos)
		if pos < len(line) && line[pos] == '"' {
			start := len(r.data)
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					// The quoted field goes on past the line break.
					r.data = append(r.data, line[pos:]...)
					r.data = append(r.data, '\n')
					if len(r.data) > r.lines.max {
						return nil, r.fieldError(len(r.ends)+1, r.data[start:], fmt.Sprintf("has a quoted field longer than %d bytes; is a closing quote missing?", r.lines.max))
					}
					b, tooLong, err := r.lines.next()
					if err == io.EOF {
						return r.fieldError(len(r.ends)+1, r.data[start:], reasonUnclosedQuote), nil
					}
					if err != nil {
						return nil, r.ioError(err)
					}
					if tooLong {
						return nil, r.fieldError(len(r.ends)+1, r.data[start:], fmt.Sprintf("has a quoted field longer than %d bytes; is a closing quote missing?", r.lines.max))
					}
					line, pos = b, 0
					continue
				}
				r.data = append(r.data, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					r.data = append(r.data, '"')
					pos++
					continue
				}
				break
			}
			pos = r.skipBlank(line, pos)
			if pos == len(line) {
				r.ends = append(r.ends, len(r.data))
				break
			}
			if line[pos] == r.comma {
				r.ends = append(r.ends, len(r.data))
				pos++
				continue
			}
			if bad == nil {
				end := bytes.IndexByte(line[pos:], r.comma)
				if end < 0 {
					end = len(line) - pos
				}
				bad = r.fieldError(len(r.ends)+1, line[pos:pos+end], "has text after the closing quote of a quoted field")
			}
			// Go on at the next delimiter so the record's end is found.
			r.ends = append(r.ends, len(r.data))
			i := bytes.IndexByte(line[pos:], r.comma)
			if i < 0 {
				break
			}
			pos += i + 1
			continue
		}
		end := len(line)
		if i := bytes.IndexByte(line[pos:], r.comma); i >= 0 {
			end = pos + i
		}
		field := r.trimBlank(line[pos:end])
		if bad == nil && bytes.IndexByte(field, '"') >= 0 {
			bad = r.fieldError(len(r.ends)+1, field, `has a quote inside an unquoted field; quote the whole field and double the quote ("")`)
		}
		r.data = append(r.data, field...)
		r.ends = append(r.ends, len(r.data))
		if end == len(line) {
			break
		}
		pos = end + 1
	}
	if bad != nil {
		return bad, nil
	}
	if !utf8.Valid(r.data) {
		for i := range r.ends {
			if f := r.field(i); !utf8.Valid(f) {
				return r.fieldError(i+1, f, "is not valid UTF-8; save the file as UTF-8"), nil
			}
		}
	}
	if r.unnamed && len(r.ends) == len(r.header)+1 {
		if f := r.field(len(r.header)); len(f) > 0 {
			return nil, r.fieldError(len(r.header)+1, f, "has a value, but the column has no name in the header; name the column in the header, or remove the values")
		}
		r.ends = r.ends[:len(r.header)]
	}
	if r.header != nil && len(r.ends) != len(r.header) {
		n := len(r.ends)
		if n < len(r.header) {
			e := r.fieldError(n+1, nil, fmt.Sprintf("is missing: the record has %d fields, the header %d", n, len(r.header)))
			e.noValue = true
			return e, nil
		}
		return r.fieldError(len(r.header)+1, r.field(len(r.header)), fmt.Sprintf("is beyond the header's %d columns: the record has %d fields", len(r.header), n)), nil
	}
	return nil, nil
}

// skipBlank skips spaces and tabs (unless the tab is the delimiter).
func (r *delimReader) skipBlank(line []byte, pos int) int {
	for pos < len(line) && (line[pos] == ' ' || line[pos] == '\t' && r.comma != '\t') {
		pos++
	}
	return pos
}

// trimBlank trims trailing spaces and tabs (unless the tab is the
// delimiter); leading ones are skipped before the field starts.
func (r *delimReader) trimBlank(b []byte) []byte {
	for n := len(b); n > 0 && (b[n-1] == ' ' || b[n-1] == '\t' && r.comma != '\t'); n = len(b) {
		b = b[:n-1]
	}
	return b
}

// numFields returns the number of fields of the current record.
func (r *delimReader) numFields() int { return len(r.ends) }

// field returns field i (0-based) of the current record, valid until the
// next read.
func (r *delimReader) field(i int) []byte {
	start := 0
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.data[start:r.ends[i]]
}

// fieldString returns field i as a string sharing one allocation with the
// record's other fields.
func (r *delimReader) fieldString(i int) string {
	if !r.strOK {
		r.str, r.strOK = string(r.data), true
	}
	start := 0
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.str[start:r.ends[i]]
}

// fieldError returns an error about column index (1-based; 0 for the
// record as a whole) of the current record.
func (r *delimReader) fieldError(index int, value []byte, reason string) *RecordError {
	e := &RecordError{File: r.file, Line: r.line, Index: index, Value: clip(value), Reason: reason}
	if index > 0 && index <= len(r.header) {
		e.Column = r.header[index-1]
	}
	return e
}

// ioError wraps a read error with the file name; io.EOF passes unchanged.
func (r *delimReader) ioError(err error) error {
	if err == io.EOF {
		return err
	}
	return fmt.Errorf("read %s line %d: %w", r.file, r.lines.line+1, err)
}

// reasonUnclosedQuote is the reason of a quoted field still open at the
// end of the input.
const reasonUnclosedQuote = "has a quote that is never closed"

// delimiters are the separators detection chooses from, in order of
// preference when two fit equally well.
var delimiters = []byte{',', ';', '\t', '|'}

// detectSampleRecords is how many records after the header detection
// looks at.
const detectSampleRecords = 20

// detectDelimiter chooses the delimiter of a file from its first bytes by
// tokenizing them with each candidate, quotes respected: the best is the
// one that gives every sampled record the header's field count, with the
// most fields. If none is consistent (the sample has ragged rows), the
// candidate that fits the most records wins, so the reader then reports the
// ragged rows by line. A file with one column reads as comma-separated.
// complete says whether sample is the whole file.
func detectDelimiter(sample []byte, complete bool) byte {
	if !complete {
		// Drop the partial last line; a record cut inside quotes is
		// recognised below.
		if i := bytes.LastIndexByte(sample, '\n'); i >= 0 {
			sample = sample[:i+1]
		}
	}
	best, bestFields, bestFit, bestConsistent := byte(','), 1, -1, false
	for _, c := range delimiters {
		r := newDelimReader(bufio.NewReader(bytes.NewReader(sample)), "", c)
		bad, err := r.read()
		if err != nil || bad != nil {
			continue
		}
		fields := r.numFields()
		if fields < 2 {
			continue
		}
		fit, consistent := 0, true
		for range detectSampleRecords {
			bad, err := r.read()
			if err != nil {
				break
			}
			if bad != nil {
				if !complete && bad.Reason == reasonUnclosedQuote {
					break
				}
				consistent = false
				continue
			}
			if r.numFields() == fields {
				fit++
			} else {
				consistent = false
			}
		}
		better := false
		switch {
		case consistent != bestConsistent:
			better = consistent
		case consistent:
			better = fields > bestFields
		default:
			better = fit > bestFit || fit == bestFit && fields > bestFields
		}
		if better || bestFit < 0 {
			best, bestFields, bestFit, bestConsistent = c, fields, fit, consistent
		}
	}
	return best
}

// checkDelimiter validates a delimiter given in the options.
func checkDelimiter(d rune) (byte, error) {
	if d > 0 && d < utf8.RuneSelf && d != '"' && d != '\r' && d != '\n' && d != ' ' &&
		(d == '\t' || d > ' ' && d < 0x7f) {
		return byte(d), nil
	}
	return 0, leadscore.Errorf(leadscore.EINVALID, "delimiter %q: use a tab or a printable ASCII character other than a quote or a space", d)
}

// delimTable is a delimited file with its header read.
type delimTable struct {
	r      *delimReader
	header []string
	// headerLine is the physical line of the header.
	headerLine int
	index      map[string]int
}

// openDelimTable reads the header of br. Its names are trimmed; empty and
// duplicate names are errors, but for one: an empty name at the end of a
// header of two or more fields, which CRM exports write when every line
// ends with the delimiter. That column is dropped, and a record with a
// value in it is an error that stops the read (it is a column, misnamed,
// rather than one bad record). With comma 0 the delimiter is detected.
func openDelimTable(br *bufio.Reader, file string, comma byte) (*delimTable, error) {
	if comma == 0 {
		sample, err := br.Peek(br.Size())
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		comma = detectDelimiter(sample, err == io.EOF)
	}
	r := newDelimReader(br, file, comma)
	bad, err := r.read()
	if err == io.EOF {
		return nil, &RecordError{File: file, Line: 1, Reason: "is empty: a delimited file starts with a header of column names", noValue: true}
	}
	if err != nil {
		return nil, err
	}
	if bad != nil {
		bad.Reason = "header: " + bad.Reason
		return nil, bad
	}
	n := r.numFields()
	if n > 1 && strings.TrimSpace(string(r.field(n-1))) == "" {
		n--
		r.unnamed = true
	}
	t := &delimTable{r: r, headerLine: r.line, header: make([]string, n), index: make(map[string]int, n)}
	for i := range t.header {
		name := strings.TrimSpace(string(r.field(i)))
		if name == "" {
			return nil, &RecordError{File: file, Line: r.line, Index: i + 1, Reason: "has no name in the header", noValue: true}
		}
		if j, dup := t.index[name]; dup {
			return nil, &RecordError{File: file, Line: r.line, Index: i + 1, Column: name, Value: name, Reason: "repeats the name of column " + strconv.Itoa(j+1)}
		}
		t.header[i] = name
		t.index[name] = i
	}
	r.header = t.header
	return t, nil
}

// notes returns what reading the table's header decided that the person
// reading the file should know: an unnamed trailing column dropped.
func (t *delimTable) notes() []string {
	if !t.r.unnamed {
		return nil
	}
	return []string{fmt.Sprintf("%s: column %d has no name in the header and no values (every line ends with the delimiter %q); it is ignored",
		t.r.file, len(t.header)+1, rune(t.r.comma))}
}

// col returns the index of a column, or -1.
func (t *delimTable) col(name string) int {
	if i, ok := t.index[name]; ok {
		return i
	}
	return -1
}

// require returns the index of a required column, or an error naming it
// and listing the header.
func (t *delimTable) require(name string) (int, error) {
	if i, ok := t.index[name]; ok {
		return i, nil
	}
	return -1, t.missingColumn(name, "is required but not in the header")
}

// missingColumn returns an error about a column the header lacks.
func (t *delimTable) missingColumn(name, reason string) *RecordError {
	return &RecordError{
		File: t.r.file, Line: t.headerLine, Column: name, noValue: true,
		Reason: reason + "; the columns are " + quoteList(t.header),
	}
}

// headerError returns an error about column i (0-based) of the header.
func (t *delimTable) headerError(i int, reason string) *RecordError {
	return &RecordError{File: t.r.file, Line: t.headerLine, Column: t.header[i], Index: i + 1, Value: t.header[i], Reason: reason}
}

// sameHeader reports whether another pass over the file read the same
// header, which it must unless the file changed in between.
func (t *delimTable) sameHeader(u *delimTable) error {
	if t.r.comma == u.r.comma && t.r.unnamed == u.r.unnamed && len(t.header) == len(u.header) {
		same := true
		for i := range t.header {
			same = same && t.header[i] == u.header[i]
		}
		if same {
			return nil
		}
	}
	return leadscore.Errorf(leadscore.EABORTED, "%s: the file changed between the two passes of reading it", t.r.file)
}

// quoteList formats names for an error message, at most 50 of them.
func quoteList(names []string) string {
	const most = 50
	var b strings.Builder
	for i, n := range names {
		if i == most {
			fmt.Fprintf(&b, " and %d more", len(names)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(n))
	}
	return b.String()
}
