package dataset

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
)

// A CRM export whose every line ends with the delimiter has an unnamed,
// empty last column.
const trailingExport = "amount;source;won;\n10;web;yes;\n;ads;no;\n7;web;no\n"

func TestUnnamedEmptyLastColumnIsDropped(t *testing.T) {
	t.Parallel()
	ft, err := readFlatText(t, trailingExport, FlatOptions{Label: "won"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range ft.Columns() {
		names = append(names, c.Name)
	}
	if got, want := strings.Join(names, ","), "amount,source,won"; got != want {
		t.Errorf("columns %s, want %s", got, want)
	}
	if ft.Len() != 3 || ft.Positives() != 1 {
		t.Errorf("%d rows, %d positive; want 3 and 1", ft.Len(), ft.Positives())
	}
	notes := ft.Stats().Notes
	if len(notes) != 1 || !strings.Contains(notes[0], "column 4 has no name") || !strings.Contains(notes[0], "ignored") {
		t.Errorf("notes %q, want one saying column 4 is ignored", notes)
	}
}

func TestUnnamedColumnWithAValueIsAnError(t *testing.T) {
	t.Parallel()
	for _, lenient := range []bool{false, true} {
		_, err := readFlatText(t, "amount,won,\n1,yes,\n2,no,oops\n", FlatOptions{Label: "won", Lenient: lenient})
		var re *RecordError
		if !errors.As(err, &re) {
			t.Fatalf("lenient %v: got %v, want a RecordError", lenient, err)
		}
		if re.Line != 3 || re.Index != 3 || re.Value != "oops" || !strings.Contains(err.Error(), "no name in the header") {
			t.Errorf("lenient %v: got %v (line %d, column %d, value %q); want line 3, column 3, oops", lenient, err, re.Line, re.Index, re.Value)
		}
	}
}

func TestUnnamedColumnsThatAreNotLastAreErrors(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"an unnamed middle column":     "amount,,won\n1,,yes\n",
		"two unnamed trailing columns": "amount,won,,\n1,yes,,\n",
	} {
		_, err := readFlatText(t, text, FlatOptions{Label: "won"})
		if err == nil || !strings.Contains(err.Error(), "has no name in the header") {
			t.Errorf("%s: got %v, want an error naming the unnamed column", name, err)
		}
	}
	// A named last column stays a column, empty or not.
	ft, err := readFlatText(t, "amount,won,note\n1,yes,\n2,no,\n", FlatOptions{Label: "won"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ft.Column("note"); !ok || len(ft.Stats().Notes) != 0 {
		t.Errorf("a named empty column: columns %v, notes %q", ft.Columns(), ft.Stats().Notes)
	}
}

func TestFlatStreamDropsTheUnnamedColumnAlike(t *testing.T) {
	t.Parallel()
	s := openStream(t, "export.csv", strings.NewReader(trailingExport), FlatStreamOptions{},
		[]FlatField{{Column: "amount", Type: ColumnNumeric}, {Column: "source", Type: ColumnCategorical}})
	defer s.Close()
	if got := strings.Join(s.Header(), ","); got != "amount,source,won" {
		t.Errorf("header %s", got)
	}
	if notes := s.Notes(); len(notes) != 1 || !strings.Contains(notes[0], "column 4") {
		t.Errorf("notes %q", notes)
	}
	values, _, errs := readStream(t, s, 3)
	if len(values) != 3 || len(errs) != 0 {
		t.Errorf("read %d rows, errors %v; want 3 rows", len(values), errs)
	}

	s = openStream(t, "export.csv", strings.NewReader("a,b,\n1,2,\n3,4,x\n"), FlatStreamOptions{}, []FlatField{{Column: "a", Type: ColumnNumeric}})
	defer s.Close()
	// The record before the bad one comes first; the error stops the
	// stream at the next Read.
	c := NewFlatChunk(0)
	if err := s.Read(context.Background(), c); err != nil || c.Len() != 1 {
		t.Fatalf("first Read: %d records, error %v; want 1 record", c.Len(), err)
	}
	err := s.Read(context.Background(), c)
	if err == nil || err == io.EOF || !strings.Contains(err.Error(), "column 3") || !strings.Contains(err.Error(), "export.csv:3:") {
		t.Errorf("a value in the unnamed column: got %v", err)
	}
}

func TestThreeTableReadersDropTheUnnamedColumn(t *testing.T) {
	t.Parallel()
	text := "id,lead_id,type,occurred_at,\ne1,l1,page_view,2024-03-01T09:30:00Z,\n"
	n := 0
	stats, err := ReadEventsFrom(context.Background(), bytes.NewReader([]byte(text)), "events.csv", ReadOptions{}, func(leadscore.Event) error {
		n++
		return nil
	})
	if err != nil || n != 1 || len(stats.Notes) != 1 {
		t.Errorf("events: %d read, notes %q, err %v", n, stats.Notes, err)
	}
}
