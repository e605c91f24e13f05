package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonScan is a strict scanner over one JSON line. encoding/json matches
// field names case-insensitively and keeps the last of two equal keys; the
// readers need exact names and must refuse duplicates, and they must say
// which field is wrong, so objects are walked here and only escaped strings
// are handed to encoding/json.
type jsonScan struct {
	b []byte
	i int
}

// jsonSyntaxError is malformed JSON at byte offset at.
type jsonSyntaxError struct {
	at  int
	msg string
}

// Error implements error.
func (e *jsonSyntaxError) Error() string { return e.msg + " at byte " + strconv.Itoa(e.at+1) }

// jsonKind is the kind of a JSON value.
type jsonKind uint8

const (
	jsonString jsonKind = iota + 1
	jsonNumber
	jsonTrue
	jsonFalse
	jsonNull
	jsonObject
	jsonArray
)

// jsonValue is a scalar read by value; objects and arrays are recognised
// but not consumed.
type jsonValue struct {
	kind jsonKind
	str  string // decoded, for strings
	raw  []byte // the JSON text, for numbers and error messages
}

// errorf returns a syntax error at offset at.
func (s *jsonScan) errorf(at int, msg string) error { return &jsonSyntaxError{at: at, msg: msg} }

// ws skips JSON whitespace.
func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (s *jsonScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// end checks that nothing but whitespace follows the value read.
func (s *jsonScan) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.errorf(s.i, "unexpected text after the object")
	}
	return nil
}

// object walks the members of an object. fn is called with each key and
// must read its value.
func (s *jsonScan) object(fn func(key string) error) error {
	s.ws()
	if s.peek() != '{' {
		return s.errorf(s.i, "expected an object")
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.peek() != '"' {
			return s.errorf(s.i, "expected a quoted field name")
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if s.peek() != ':' {
			return s.errorf(s.i, `expected ":" after a field name`)
		}
		s.i++
		s.ws()
		if err := fn(key); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errorf(s.i, `expected "," or "}"`)
		}
	}
}

// str reads the string at s.i.
func (s *jsonScan) str() (string, error) {
	start := s.i
	escaped := false
	for i := start + 1; i < len(s.b); {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			if !escaped {
				return string(s.b[start+1 : i]), nil
			}
			var out string
			if err := json.Unmarshal(s.b[start:i+1], &out); err != nil {
				return "", s.errorf(start, "invalid escape in a string")
			}
			return out, nil
		case c == '\\':
			escaped = true
			i += 2
		case c < 0x20:
			return "", s.errorf(i, "control character in a string")
		default:
			i++
		}
	}
	return "", s.errorf(start, "string never closed")
}

// number reads the number at s.i, checking JSON's grammar, and returns its
// text.
func (s *jsonScan) number() ([]byte, error) {
	start, i := s.i, s.i
	b := s.b
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, s.errorf(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, s.errorf(start, "invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, s.errorf(start, "invalid number")
		}
	}
	s.i = i
	return b[start:i], nil
}

// value reads a scalar. An object or array is reported by kind without
// being consumed: the readers accept none where a scalar belongs.
func (s *jsonScan) value() (jsonValue, error) {
	start := s.i
	switch c := s.peek(); {
	case c == '"':
		str, err := s.str()
		return jsonValue{kind: jsonString, str: str, raw: s.b[start:s.i]}, err
	case c == '-' || c >= '0' && c <= '9':
		raw, err := s.number()
		return jsonValue{kind: jsonNumber, raw: raw}, err
	case c == '{' || c == '[':
		kind := jsonObject
		if c == '[' {
			kind = jsonArray
		}
		return jsonValue{kind: kind, raw: s.b[start:compositeEnd(s.b, start)]}, nil
	}
	for _, lit := range [...]struct {
		text string
		kind jsonKind
	}{{"true", jsonTrue}, {"false", jsonFalse}, {"null", jsonNull}} {
		if bytes.HasPrefix(s.b[s.i:], []byte(lit.text)) {
			s.i += len(lit.text)
			return jsonValue{kind: lit.kind, raw: s.b[start:s.i]}, nil
		}
	}
	return jsonValue{}, s.errorf(start, "expected a value")
}

// compositeEnd returns where the object or array starting at start ends,
// or the end of b if it never does, so that an error can quote it whole.
func compositeEnd(b []byte, start int) int {
	depth, quoted := 0, false
	for i := start; i < len(b); i++ {
		switch c := b[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(b)
}

// jsonLine is the JSONL line being parsed, with what its errors need.
type jsonLine struct {
	file string
	line int
	miss missingSet
	s    jsonScan
}

// fieldError returns an error about one field of the line.
func (p *jsonLine) fieldError(field string, value []byte, reason string) *RecordError {
	return &RecordError{File: p.file, Line: p.line, Column: field, Value: clip(value), Reason: reason, jsonl: true}
}

// noValue returns an error about a field where no value is to be quoted,
// such as a required field the object lacks.
func (p *jsonLine) noValue(field, reason string) *RecordError {
	return &RecordError{File: p.file, Line: p.line, Column: field, Reason: reason, noValue: true, jsonl: true}
}

// once marks a field seen, refusing a second occurrence: encoding/json
// would silently keep the last.
func (p *jsonLine) once(seen *bool, field string) error {
	if *seen {
		return p.duplicate(field)
	}
	*seen = true
	return nil
}

// problem turns what parsing a line returned into a RecordError.
func (p *jsonLine) problem(err error) *RecordError {
	switch e := err.(type) {
	case *RecordError:
		return e
	case *jsonSyntaxError:
		return &RecordError{
			File: p.file, Line: p.line, Value: clip(p.s.b[min(e.at, len(p.s.b)):]),
			Reason: "the line is not valid JSON: " + e.Error(), jsonl: true,
		}
	default:
		return &RecordError{File: p.file, Line: p.line, Reason: err.Error(), noValue: true, jsonl: true}
	}
}

// text reads a string field: a string, or null or a missing token for "".
func (p *jsonLine) text(field string) (string, []byte, error) {
	v, err := p.s.value()
	if err != nil {
		return "", nil, err
	}
	switch v.kind {
	case jsonNull:
		return "", v.raw, nil
	case jsonString:
		if p.miss.hasString(v.str) {
			return "", v.raw, nil
		}
		return v.str, v.raw, nil
	}
	return "", nil, p.fieldError(field, v.raw, "must be a string")
}

// required reads a string field that must have a value.
func (p *jsonLine) required(field string) (string, error) {
	s, raw, err := p.text(field)
	if err == nil && s == "" {
		err = p.fieldError(field, raw, "is required")
	}
	return s, err
}

// time reads a required time field.
func (p *jsonLine) time(field string) (time.Time, error) {
	s, err := p.required(field)
	if err != nil {
		return time.Time{}, err
	}
	t, reason := readTime(s)
	if reason != "" {
		return time.Time{}, p.fieldError(field, []byte(s), reason)
	}
	return t, nil
}

// duplicate returns the error of a key seen twice in one object.
func (p *jsonLine) duplicate(field string) error {
	return p.noValue(field, "appears twice in the object")
}

// isBlank reports whether a line holds only whitespace.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// readJSONL streams the records of a JSONL input through parse into fn.
// Blank lines are skipped; a bad line is rejected through the collector.
func readJSONL[T any](ctx context.Context, in *input, opts ReadOptions, stats *ReadStats,
	parse func(p *jsonLine) (T, error), fn func(T) error,
) error {
	br, closeInput, err := in.reader()
	if err != nil {
		return err
	}
	defer closeInput()
	c := newCollector(stats, opts.Lenient, opts.MaxErrors)
	lines := lineReader{br: br, max: MaxRecordBytes}
	p := &jsonLine{file: in.name, miss: newMissingSet(opts.NoDefaultMissing, opts.MissingTokens)}
	for n := 0; ; n++ {
		if err := checkContext(ctx, n, in.name); err != nil {
			return err
		}
		b, tooLong, err := lines.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s line %d: %w", in.name, lines.line+1, err)
		}
		p.line = lines.line
		var bad *RecordError
		var rec T
		switch {
		case tooLong:
			bad = p.fieldError("", b, fmt.Sprintf("the line is longer than %d bytes", lines.max))
		case isBlank(b):
			continue
		case !utf8.Valid(b):
			bad = p.fieldError("", invalidUTF8At(b), "the line is not valid UTF-8; save the file as UTF-8")
		default:
			p.s = jsonScan{b: b}
			var err error
			if rec, err = parse(p); err == nil {
				err = p.s.end()
			}
			if err != nil {
				bad = p.problem(err)
			}
		}
		if bad != nil {
			if err := c.reject(bad); err != nil {
				return err
			}
			continue
		}
		if err := fn(rec); err != nil {
			return callbackError(in.name, p.line, err)
		}
		stats.Records++
	}
}

// invalidUTF8At returns the bytes of b from shortly before its first
// invalid UTF-8 sequence, to quote in an error.
func invalidUTF8At(b []byte) []byte {
	i := 0
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return b[max(0, i-16):]
}
