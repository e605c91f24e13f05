package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// The output formats of leadscore score.
const (
	formatCSV   = "csv"
	formatJSONL = "jsonl"
)

// outputFormat chooses the format of --out: --format when given, else the
// file's extension (.csv, or .jsonl or .ndjson, either optionally .gz);
// stdout ("-") is CSV unless --format says otherwise. A .gz file is
// compressed whatever the format.
func outputFormat(out, format string) (string, bool, error) {
	switch format {
	case "", formatCSV, formatJSONL:
	default:
		return "", false, leadscore.InvalidField("--format", format, "must be csv or jsonl")
	}
	if out == "-" {
		if format == "" {
			format = formatCSV
		}
		return format, false, nil
	}
	base := strings.ToLower(filepath.Base(out))
	base, gz := strings.CutSuffix(base, ".gz")
	var byExt string
	switch filepath.Ext(base) {
	case ".csv":
		byExt = formatCSV
	case ".jsonl", ".ndjson":
		byExt = formatJSONL
	}
	switch {
	case format != "":
		return format, gz, nil
	case byExt != "":
		return byExt, gz, nil
	}
	return "", false, leadscore.InvalidField("--out", out, "has an unknown extension: name it .csv or .jsonl (optionally .gz), or set --format csv|jsonl")
}

// scoreOutput is where scored rows go: stdout, or a file written under a
// temporary name and renamed when complete, so that a failed or
// interrupted run never leaves a file that looks whole.
type scoreOutput struct {
	w    *bufio.Writer
	gz   *gzip.Writer
	f    *os.File
	tmp  string
	path string
}

// createOutput opens the output: stdout for "-", else a temporary file
// beside path, compressed when gz.
func createOutput(path string, gz bool, stdout io.Writer) (*scoreOutput, error) {
	if path == "-" {
		return &scoreOutput{w: bufio.NewWriterSize(stdout, 1<<20)}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, leadscore.InvalidField("--out", path, "cannot be written: "+err.Error())
	}
	// CreateTemp makes the file private; scores are as shareable as the
	// table they came from, like every file the commands write.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	o := &scoreOutput{f: f, tmp: f.Name(), path: path}
	var w io.Writer = f
	if gz {
		o.gz = gzip.NewWriter(f)
		w = o.gz
	}
	o.w = bufio.NewWriterSize(w, 1<<20)
	return o, nil
}

// commit flushes the output and, for a file, gives it its name.
func (o *scoreOutput) commit() error {
	if err := o.w.Flush(); err != nil {
		o.abort()
		return fmt.Errorf("write %s: %w", o.name(), err)
	}
	if o.f == nil {
		return nil
	}
	if o.gz != nil {
		if err := o.gz.Close(); err != nil {
			o.abort()
			return fmt.Errorf("write %s: %w", o.path, err)
		}
	}
	if err := o.f.Close(); err != nil {
		os.Remove(o.tmp)
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	if err := os.Rename(o.tmp, o.path); err != nil {
		os.Remove(o.tmp)
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return nil
}

// abort drops a file output; stdout keeps what was written.
func (o *scoreOutput) abort() {
	if o.f != nil {
		o.f.Close()
		os.Remove(o.tmp)
	}
}

func (o *scoreOutput) name() string {
	if o.f == nil {
		return "stdout"
	}
	return o.path
}

// scoreResult is what a row's output line says.
type scoreResult struct {
	scored  model.Scored // Contributions unset
	factors []model.Factor
}

// rowFormat writes output rows in one format. The fields are the API's
// LeadScore fields: the enums by their value names without the prefix in
// lower case (TIER_VERY_GOOD is "very_good", GRADE_A "A",
// ENGAGEMENT_LEVEL_1 "1"), the time in RFC 3339 and the horizon in
// seconds ("7776000s"), as the API's JSON spells a Timestamp and a
// Duration.
type rowFormat struct {
	format string
	// idName names the first column: the input's id column, "lead_id" for
	// a history, or "row" for a flat table without ids.
	idName  string
	explain bool
	// The fields every row shares, already escaped for the format.
	modelVersion, alias, scoreTime, horizon []byte
}

// scoreFields are the output's fields after the id, in order.
var scoreFields = []string{
	"probability", "score", "percentile", "tier", "grade", "engagement_level", "cell", "next_action",
	"model_version", "alias", "score_time", "horizon", "raw_output", "base_value",
}

func newRowFormat(format, idName string, explain bool, modelVersion, alias string, scoreTime time.Time, horizon time.Duration) *rowFormat {
	f := &rowFormat{format: format, idName: idName, explain: explain}
	horizonText := ""
	if horizon > 0 {
		horizonText = strconv.FormatInt(int64(horizon/time.Second), 10) + "s"
	}
	f.modelVersion = f.text(nil, modelVersion)
	f.alias = f.text(nil, alias)
	f.scoreTime = f.text(nil, scoreTime.UTC().Format(time.RFC3339))
	f.horizon = f.text(nil, horizonText)
	return f
}

// text appends a string field escaped for the format.
func (f *rowFormat) text(b []byte, s string) []byte {
	if f.format == formatJSONL {
		return appendJSONString(b, s)
	}
	return appendCSVField(b, s)
}

// header appends the CSV header line; JSON lines have none.
func (f *rowFormat) header(b []byte) []byte {
	if f.format != formatCSV {
		return b
	}
	b = appendCSVField(b, f.idName)
	for _, name := range scoreFields {
		b = append(b, ',')
		b = append(b, name...)
	}
	if f.explain {
		b = append(b, ",factors"...)
	}
	return append(b, '\n')
}

// appendRow appends one output row: id is the row's id, or "" to number
// it with row.
func (f *rowFormat) appendRow(b []byte, id string, row int, r *scoreResult) []byte {
	s := &r.scored
	jsonl := f.format == formatJSONL
	// sep starts each field after the first: the separator, and in JSON
	// the field's name.
	sep := func(name string) {
		if jsonl {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
		} else {
			b = append(b, ',')
		}
	}
	if jsonl {
		b = append(b, '{')
		b = appendJSONString(b, f.idName)
		b = append(b, ':')
	}
	if id != "" {
		b = f.text(b, id)
	} else {
		b = strconv.AppendInt(b, int64(row), 10)
	}
	sep("probability")
	b = strconv.AppendFloat(b, s.Probability, 'g', -1, 64)
	sep("score")
	b = strconv.AppendInt(b, int64(s.Score), 10)
	sep("percentile")
	b = strconv.AppendFloat(b, s.Percentile, 'g', -1, 64)
	sep("tier")
	b = f.enum(b, s.Tier.String())
	sep("grade")
	b = f.enum(b, s.Cell.Grade.String())
	sep("engagement_level")
	level := ""
	if s.Cell.Valid() {
		level = string(rune('0' + s.Cell.Level))
	}
	b = f.enum(b, level)
	sep("cell")
	b = f.enum(b, s.Cell.String())
	sep("next_action")
	b = f.text(b, s.Action)
	sep("model_version")
	b = append(b, f.modelVersion...)
	sep("alias")
	b = append(b, f.alias...)
	sep("score_time")
	b = append(b, f.scoreTime...)
	sep("horizon")
	b = append(b, f.horizon...)
	sep("raw_output")
	b = strconv.AppendFloat(b, s.Raw, 'g', -1, 64)
	sep("base_value")
	b = strconv.AppendFloat(b, s.Base, 'g', -1, 64)
	if f.explain {
		sep("factors")
		js := factorsJSON(r.factors)
		if jsonl {
			b = append(b, js...)
		} else {
			b = appendCSVField(b, string(js))
		}
	}
	if jsonl {
		b = append(b, '}')
	}
	return append(b, '\n')
}

// enum appends an enum's name: letters, digits and "_" only, so it never
// needs escaping, but JSON quotes it.
func (f *rowFormat) enum(b []byte, name string) []byte {
	if f.format == formatJSONL {
		b = append(b, '"')
		b = append(b, name...)
		return append(b, '"')
	}
	return append(b, name...)
}

// factorJSON is a factor as the API's Factor message spells it.
type factorJSON struct {
	Feature      string  `json:"feature"`
	Group        string  `json:"group"`
	Contribution float64 `json:"contribution"`
	Value        string  `json:"value"`
	Description  string  `json:"description"`
}

// factorsJSON returns the factors as a JSON array, "[]" for none.
func factorsJSON(factors []model.Factor) []byte {
	out := make([]factorJSON, len(factors))
	for i, f := range factors {
		out[i] = factorJSON{Feature: f.Feature, Group: string(f.Group), Contribution: f.Contribution, Value: f.Value, Description: f.Description}
	}
	b, err := json.Marshal(out)
	if err != nil {
		// Only a NaN or infinite contribution fails, and explanations
		// never hold one.
		panic(fmt.Sprintf("encode factors: %v", err))
	}
	return b
}

// appendCSVField appends s as an RFC 4180 field, quoted when it holds a
// comma, a quote, a line break or blanks at either end (which readers
// trim).
func appendCSVField(b []byte, s string) []byte {
	quote := s != "" && (s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t')
	for i := 0; i < len(s) && !quote; i++ {
		switch s[i] {
		case ',', '"', '\n', '\r':
			quote = true
		}
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but JavaScript reads them as line breaks.
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
