package dataset

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
)

// readStream reads a whole stream with chunks of the given size, parsing
// every record; it returns each row's values (nil for a row Parse refused)
// and the errors in order.
func readStream(t *testing.T, s *FlatStream, rows int) (values [][]leadscore.Value, ids []string, errs []error) {
	t.Helper()
	c := NewFlatChunk(rows)
	n := len(s.fields)
	for {
		err := s.Read(context.Background(), c)
		if err == io.EOF {
			if c.Len() != 0 {
				t.Fatalf("io.EOF with %d records in the chunk", c.Len())
			}
			return values, ids, errs
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.Len() == 0 || c.Len() > rows {
			t.Fatalf("a chunk of %d records, limit %d", c.Len(), rows)
		}
		for i := range c.Len() {
			if got, want := c.Row(i), len(values)+1; got != want {
				t.Fatalf("record numbered %d, want %d", got, want)
			}
			out := make([]leadscore.Value, n)
			if err := c.Parse(i, out); err != nil {
				errs = append(errs, err)
				out = nil
			}
			values = append(values, out)
			ids = append(ids, c.ID(i))
		}
	}
}

// openStream opens a stream of a file (r nil) or a reader and sets its
// fields.
func openStream(t *testing.T, name string, r io.Reader, opts FlatStreamOptions, fields []FlatField) *FlatStream {
	t.Helper()
	var s *FlatStream
	var err error
	if r == nil {
		s, err = OpenFlatStream(name, opts)
	} else {
		s, err = OpenFlatStreamFrom(context.Background(), r, name, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetFields(fields); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s
}

func TestFlatStreamReadsAsReadFlatTable(t *testing.T) {
	t.Parallel()
	// A byte order mark, CRLF, semicolons, quoting, missing tokens of
	// every kind and a column's own missing value.
	table := "\ufeffid;employees;industry;customer;pdays;won\r\n" +
		"l1;12;\"Health; care\";yes;3;1\r\n" +
		"l2;NA;retail;no;-1;0\r\n" +
		"\r\n" +
		"l3;7.5;;TRUE;;1\r\n" +
		"l4;1e3;\"say \"\"hi\"\"\";false;10;0\r\n"
	dir := t.TempDir()
	plain := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(plain, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(table))
	zw.Close()
	zipped := filepath.Join(dir, "t.csv.gz")
	if err := os.WriteFile(zipped, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	colMissing := map[string][]string{"pdays": {"-1"}}
	ft, err := ReadFlatTable(context.Background(), plain, FlatOptions{Label: "won", IDColumn: "id", ColumnMissing: colMissing})
	if err != nil {
		t.Fatal(err)
	}
	var fields []FlatField
	for _, name := range ft.Features() {
		info, _ := ft.Column(name)
		fields = append(fields, FlatField{Column: name, Type: info.Type})
	}
	for _, path := range []string{plain, zipped} {
		for _, rows := range []int{1, 3, FlatChunkRows} {
			s := openStream(t, path, nil, FlatStreamOptions{IDColumn: "id", ColumnMissing: colMissing}, fields)
			values, ids, errs := readStream(t, s, rows)
			s.Close()
			if len(errs) > 0 {
				t.Fatalf("%s: %v", path, errs)
			}
			if len(values) != ft.Len() || s.Rows() != ft.Len() {
				t.Fatalf("%s: %d rows (Rows %d), the table %d", path, len(values), s.Rows(), ft.Len())
			}
			for i, row := range values {
				if ids[i] != ft.ID(i) {
					t.Errorf("row %d id %q, want %q", i+1, ids[i], ft.ID(i))
				}
				for j, f := range fields {
					if got, want := row[j], tableValue(t, ft, f, i); got != want {
						t.Errorf("%s row %d %s: got %+v, want %+v", path, i+1, f.Column, got, want)
					}
				}
			}
		}
	}
}

// tableValue returns row i of a flat table's column as a value.
func tableValue(t *testing.T, ft *FlatTable, f FlatField, i int) leadscore.Value {
	t.Helper()
	switch f.Type {
	case ColumnNumeric:
		c, err := ft.Numeric(f.Column)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := c.Value(i); ok {
			return leadscore.Number(v)
		}
	case ColumnBoolean:
		c, err := ft.Boolean(f.Column)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := c.Value(i); ok {
			return leadscore.Bool(v)
		}
	default:
		c, err := ft.Categorical(f.Column)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := c.Value(i); ok {
			return leadscore.String(v)
		}
	}
	return leadscore.Value{}
}

func TestFlatStreamErrorsNameLineColumnAndValue(t *testing.T) {
	t.Parallel()
	table := "id,employees,customer,industry\n" +
		"l1,12,yes,saas\n" +
		"l2,twelve,no,saas\n" + // not a number
		"l3,5,maybe,retail\n" + // not a boolean
		"l4,5,yes\n" + // ragged
		"l 5,5,yes,retail\n" + // a bad id
		"l6,\"7\"x,no,retail\n" + // text after a closing quote
		"l7,8,1,finance\n"
	s := openStream(t, "leads.csv", strings.NewReader(table), FlatStreamOptions{IDColumn: "id"},
		[]FlatField{{"employees", ColumnNumeric}, {"customer", ColumnBoolean}, {"industry", ColumnCategorical}})
	defer s.Close()
	values, _, errs := readStream(t, s, 2)
	want := []struct {
		line   int
		column string
		value  string
	}{
		{3, "employees", "twelve"},
		{4, "customer", "maybe"},
		{5, "industry", ""},
		{6, "id", "l 5"},
		{7, "employees", "x"},
	}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(want), errs)
	}
	for k, w := range want {
		var re *RecordError
		if !errors.As(errs[k], &re) {
			t.Fatalf("error %v is not a *RecordError", errs[k])
		}
		if re.File != "leads.csv" || re.Line != w.line || re.Column != w.column || (w.value != "" && !strings.Contains(re.Value, w.value)) {
			t.Errorf("error %d: %v; want line %d column %q value %q", k, re, w.line, w.column, w.value)
		}
		if leadscore.ErrorCode(errs[k]) != leadscore.EINVALID {
			t.Errorf("error %d is %s, want invalid", k, leadscore.ErrorCode(errs[k]))
		}
	}
	if len(values) != 7 || values[0] == nil || values[6] == nil || values[6][1] != leadscore.Bool(true) {
		t.Fatalf("rows %v; want seven with the good first and last (1 read as true)", values)
	}
}

func TestFlatStreamRefusesBadOptions(t *testing.T) {
	t.Parallel()
	table := "id,a\nl1,1\n"
	tests := []struct {
		name   string
		opts   FlatStreamOptions
		fields []FlatField
		says   string
	}{
		{"unknown field", FlatStreamOptions{}, []FlatField{{"b", ColumnNumeric}}, `"b"`},
		{"unknown id column", FlatStreamOptions{IDColumn: "lead"}, nil, `"lead"`},
		{"unknown missing column", FlatStreamOptions{ColumnMissing: map[string][]string{"pdays": {"-1"}}}, nil, `"pdays"`},
		{"id as a field", FlatStreamOptions{IDColumn: "id"}, []FlatField{{"id", ColumnCategorical}}, "id column"},
		{"text type", FlatStreamOptions{}, []FlatField{{"a", ColumnText}}, "numeric, boolean or categorical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenFlatStreamFrom(context.Background(), strings.NewReader(table), "t.csv", tt.opts)
			if err == nil {
				err = s.SetFields(tt.fields)
				s.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("error %v, want one saying %s", err, tt.says)
			}
		})
	}
	if _, err := OpenFlatStreamFrom(context.Background(), strings.NewReader(table), "t.jsonl", FlatStreamOptions{}); err == nil {
		t.Fatal("a JSONL input opened as a flat stream")
	}
}

// TestFlatChunkIsBounded checks the two limits of a chunk: its row count
// and the bytes of its fields, so that lines of any length keep a chunk's
// memory bounded.
func TestFlatChunkIsBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("id,text\n")
	long := strings.Repeat("x", 1000)
	const rows = 100
	for i := range rows {
		b.WriteString("l")
		b.WriteString(strings.Repeat("0", i%3))
		b.WriteString(",")
		b.WriteString(long)
		b.WriteString("\n")
	}
	s := openStream(t, "t.csv", strings.NewReader(b.String()), FlatStreamOptions{}, []FlatField{{"text", ColumnCategorical}})
	defer s.Close()
	c := NewFlatChunk(30)
	c.maxBytes = 10_000
	total, chunks := 0, 0
	for {
		err := s.Read(context.Background(), c)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks++
		if c.Len() > 30 || len(c.data) > c.maxBytes+1005 {
			t.Fatalf("a chunk of %d records and %d bytes; limits 30 records, %d bytes plus one record", c.Len(), len(c.data), c.maxBytes)
		}
		total += c.Len()
	}
	if total != rows || chunks != 10 {
		t.Fatalf("%d records in %d chunks, want %d in 10 (ten records of 1 kB fill 10 kB)", total, chunks, rows)
	}
	if err := s.Read(context.Background(), c); err != io.EOF || c.Len() != 0 {
		t.Fatalf("Read after the end: %v with %d records, want io.EOF and none", err, c.Len())
	}
}

func TestFlatStreamStopsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := OpenFlatStreamFrom(ctx, strings.NewReader("a\n1\n"), "t.csv", FlatStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Read(ctx, NewFlatChunk(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context: %v", err)
	}
}

// FuzzFlatStream reads arbitrary bytes as a flat stream whose columns are
// typed in turn as numeric, boolean and categorical. It must never panic,
// must number every record once, and must agree with ReadFlatTable on
// every table ReadFlatTable accepts.
func FuzzFlatStream(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("y,a,b,c\nyes,1,x,true\nno,NA,y,false\nyes,2,,\n"))
	f.Add([]byte("y;n;t\r\n1;1e3;\"a;b\"\r\n0;-0.5;\"q\"\"\"\r\n"))
	f.Add([]byte("y;n;t;\r\n1;1e3;x;\r\n0;-0.5;\"q\";\r\n1;2;z\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		s, err := OpenFlatStreamFrom(ctx, bytes.NewReader(data), "flat.csv", FlatStreamOptions{})
		if err != nil {
			return
		}
		header := s.Header()
		types := []ColumnType{ColumnNumeric, ColumnBoolean, ColumnCategorical}
		var fields []FlatField
		for j, name := range header {
			fields = append(fields, FlatField{Column: name, Type: types[j%3]})
		}
		if err := s.SetFields(fields); err != nil {
			t.Fatalf("SetFields of the header's own columns: %v", err)
		}
		c := NewFlatChunk(3)
		records, lastLine := 0, 0
		for {
			err := s.Read(ctx, c)
			if err != nil {
				break
			}
			for i := range c.Len() {
				records++
				if c.Row(i) != records || c.Line(i) <= lastLine {
					t.Fatalf("record %d numbered %d at line %d after line %d", records, c.Row(i), c.Line(i), lastLine)
				}
				lastLine = c.Line(i)
				out := make([]leadscore.Value, len(fields))
				if err := c.Parse(i, out); err != nil {
					var re *RecordError
					if !errors.As(err, &re) || re.Line != c.Line(i) {
						t.Fatalf("record %d: error %v is not a RecordError of its line %d", records, err, c.Line(i))
					}
					continue
				}
				for j, v := range out {
					if v.Kind == leadscore.KindNumber && (math.IsNaN(v.Num) || math.IsInf(v.Num, 0)) {
						t.Fatalf("record %d field %d is %v", records, j, v.Num)
					}
				}
			}
		}
		s.Close()
		if records != s.Rows() {
			t.Fatalf("%d records handed out, Rows says %d", records, s.Rows())
		}

		// Where ReadFlatTable accepts the bytes, the stream typed by its
		// schema reads the same values.
		if len(header) < 2 {
			return
		}
		ft, err := ReadFlatTableFrom(ctx, bytes.NewReader(data), "flat.csv", FlatOptions{Label: header[0]})
		if err != nil {
			return
		}
		fields = fields[:0]
		for _, name := range ft.Features() {
			info, _ := ft.Column(name)
			fields = append(fields, FlatField{Column: name, Type: info.Type})
		}
		s = openStream(t, "flat.csv", bytes.NewReader(data), FlatStreamOptions{}, fields)
		defer s.Close()
		values, _, errs := readStream(t, s, 2)
		if len(errs) > 0 || len(values) != ft.Len() {
			t.Fatalf("the stream read %d rows with errors %v; ReadFlatTable read %d", len(values), errs, ft.Len())
		}
		for i, row := range values {
			for j, f := range fields {
				if got, want := row[j], tableValue(t, ft, f, i); got != want {
					t.Fatalf("row %d %q: stream %+v, table %+v", i+1, f.Column, got, want)
				}
			}
		}
	})
}
