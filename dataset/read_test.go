package dataset

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// readEventsText reads events from text named name.
func readEventsText(t *testing.T, name, text string, opts ReadOptions) ([]leadscore.Event, ReadStats, error) {
	t.Helper()
	var got []leadscore.Event
	stats, err := ReadEventsFrom(context.Background(), strings.NewReader(text), name, opts, func(e leadscore.Event) error {
		got = append(got, e)
		return nil
	})
	return got, stats, err
}

// readLeadsText reads leads from text named name.
func readLeadsText(t *testing.T, name, text string, opts ReadOptions) ([]leadscore.Lead, ReadStats, error) {
	t.Helper()
	var got []leadscore.Lead
	stats, err := ReadLeadsFrom(context.Background(), strings.NewReader(text), name, opts, func(l leadscore.Lead) error {
		got = append(got, l)
		return nil
	})
	return got, stats, err
}

// readOutcomesText reads outcomes from text named name.
func readOutcomesText(t *testing.T, name, text string, opts ReadOptions) ([]leadscore.Outcome, ReadStats, error) {
	t.Helper()
	var got []leadscore.Outcome
	stats, err := ReadOutcomesFrom(context.Background(), strings.NewReader(text), name, opts, func(o leadscore.Outcome) error {
		got = append(got, o)
		return nil
	})
	return got, stats, err
}

// wantRecordError checks that err is a RecordError at the given place.
func wantRecordError(t *testing.T, err error, file string, line int, column string, index int, value, reason string) {
	t.Helper()
	var e *RecordError
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want a *RecordError", err, err)
	}
	if e.File != file || e.Line != line || e.Column != column || e.Index != index || e.Value != value || !strings.Contains(e.Reason, reason) {
		t.Errorf("error = %+v\nwant file %q, line %d, column %q (%d), value %q, reason containing %q", e, file, line, column, index, value, reason)
	}
	msg := err.Error()
	parts := []string{file + ":" + strconv.Itoa(line) + ": "}
	if column != "" {
		parts = append(parts, strconv.Quote(column))
	}
	if index > 0 {
		parts = append(parts, "column "+strconv.Itoa(index))
	}
	if !e.noValue {
		parts = append(parts, "(got "+strconv.Quote(value)+")")
	}
	for _, part := range parts {
		if !strings.Contains(msg, part) {
			t.Errorf("message %q does not name %q", msg, part)
		}
	}
	if leadscore.ErrorCode(err) != leadscore.EINVALID {
		t.Errorf("ErrorCode = %q, want %q", leadscore.ErrorCode(err), leadscore.EINVALID)
	}
}

const eventsHeader = "id,lead_id,type,occurred_at,page\n"

func TestReadEventsReportsBadRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string // after eventsHeader; the first record is on line 2
		line   int
		column string
		index  int
		value  string
		reason string
	}{
		{"too few fields name the first missing column", "e1,l1,page_view,2024-03-01\n", 2, "page", 5, "", "is missing: the record has 4 fields, the header 5"},
		{"too many fields name the first extra one", "e1,l1,page_view,2024-03-01,/,extra\n", 2, "", 6, "extra", "beyond the header's 5 columns"},
		{"an unclosed quote names the line it opens on", "e1,l1,page_view,2024-03-01,/\ne2,l1,page_view,2024-03-01,\"/pricing\n", 3, "page", 5, "/pricing\n", "never closed"},
		{"a bad time names the value", "e1,l1,page_view,01/03/2024,/\n", 2, "occurred_at", 4, "01/03/2024", "is not a time"},
		{"a time without a zone is refused", "e1,l1,page_view,2024-03-01T10:00:00,/\n", 2, "occurred_at", 4, "2024-03-01T10:00:00", "is not a time"},
		{"the zero time is refused", "e1,l1,page_view,0001-01-01,/\n", 2, "occurred_at", 4, "0001-01-01", "the zero time"},
		{"an invalid id names the column", "e 1,l1,page_view,2024-03-01,/\n", 2, "id", 1, "e 1", "contains ' '"},
		{"a missing lead id is an error", "e1,NA,page_view,2024-03-01,/\n", 2, "lead_id", 2, "NA", "is required"},
		{"a type must be a key", "e1,l1,Page View,2024-03-01,/\n", 2, "type", 3, "Page View", "lower-case"},
		{"invalid UTF-8 is refused", "e1,l1,page_view,2024-03-01,/caf\xe9\n", 2, "page", 5, "/caf\xe9", "not valid UTF-8"},
		{"a stray quote is refused", "e1,l1,page_view,2024-03-01,/5\"tv\n", 2, "page", 5, "/5\"tv", "quote inside an unquoted field"},
		{"the line counts blank lines and quoted line breaks", "\ne1,l1,page_view,2024-03-01,\"a\nb\"\n\ne2,l1,page_view,yesterday,/\n", 6, "occurred_at", 4, "yesterday", "is not a time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, stats, err := readEventsText(t, "events.csv", eventsHeader+tt.body, ReadOptions{})
			wantRecordError(t, err, "events.csv", tt.line, tt.column, tt.index, tt.value, tt.reason)
			if len(stats.Errors) != 1 || stats.Skipped != 0 {
				t.Errorf("stats = %+v, want the one error and nothing skipped", stats)
			}
		})
	}
}

func TestReadEventsReadsRealWorldShapes(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)
	want := []leadscore.Event{
		{ID: "e1", LeadID: "l1", Type: "page_view", OccurredAt: at, Properties: map[string]string{"page": "/pricing, plans", "title": `The "best" plan`}},
		{ID: "e2", LeadID: "l1", Type: "email_open", OccurredAt: at.Add(time.Hour)},
		{ID: "e3", LeadID: "l2", Type: "form_submit", OccurredAt: at.Add(-90 * time.Minute), Properties: map[string]string{"page": "line one\nline two"}},
	}
	const rows = `e1,l1,page_view,2024-03-01T09:30:00Z,"/pricing, plans","The ""best"" plan"
e2,l1,email_open,2024-03-01 10:30:00,,NA

e3,l2,form_submit,2024-03-01T09:00:00+01:00,"line one
line two",null
`
	const header = "id,lead_id,type,occurred_at,page,title\n"
	tests := []struct {
		name, file, text string
		delim            rune
	}{
		{"commas with LF", "events.csv", header + rows, ','},
		{"a BOM and CRLF", "events.csv", "\ufeff" + strings.ReplaceAll(header+rows, "\n", "\r\n"), ','},
		{"semicolons", "events.txt", separated(header+rows, ';'), ';'},
		{"tabs", "events.tsv", separated(header+rows, '\t'), '\t'},
		{"pipes", "events.csv", separated(header+rows, '|'), '|'},
		{"header names with blanks", "events.csv", " id , lead_id ,type,occurred_at,page , title\n" + rows, ','},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, stats, err := readEventsText(t, tt.file, tt.text, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if stats.Delimiter != tt.delim {
				t.Errorf("delimiter = %q, want %q", stats.Delimiter, tt.delim)
			}
			wantEvents(t, got, want)
			if stats.Records != len(want) || stats.Skipped != 0 || len(stats.Errors) != 0 {
				t.Errorf("stats = %+v, want %d records and no errors", stats, len(want))
			}
		})
	}
}

// separated turns the comma-separated test text into text separated by
// sep, leaving commas inside quotes alone.
func separated(text string, sep rune) string {
	var b strings.Builder
	quoted := false
	for _, r := range text {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			r = sep
		}
		b.WriteRune(r)
	}
	return b.String()
}

func wantEvents(t *testing.T, got, want []leadscore.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.LeadID != w.LeadID || g.Type != w.Type || !g.OccurredAt.Equal(w.OccurredAt) || len(g.Properties) != len(w.Properties) {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
			continue
		}
		for k, v := range w.Properties {
			if g.Properties[k] != v {
				t.Errorf("event %d property %q = %q, want %q", i, k, g.Properties[k], v)
			}
		}
	}
}

func TestReadEventsLenientSkipsAndCounts(t *testing.T) {
	t.Parallel()
	text := eventsHeader +
		"e1,l1,page_view,2024-03-01,/\n" +
		"e2,l1,page_view,not a time,/\n" +
		"e3,l1\n" +
		"e4,l1,page_view,2024-03-02,/\n" +
		"e 5,l1,page_view,2024-03-02,/\n" +
		"e6,l1,page_view,2024-03-02,\"/x\"y\n" +
		"e7,l1,page_view,2024-03-03,/\n"
	got, stats, err := readEventsText(t, "events.csv", text, ReadOptions{Lenient: true, MaxErrors: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != "e1" || got[1].ID != "e4" || got[2].ID != "e7" {
		t.Errorf("events = %+v, want e1, e4 and e7", got)
	}
	if stats.Records != 3 || stats.Skipped != 4 || len(stats.Errors) != 2 {
		t.Fatalf("stats = %+v, want 3 records, 4 skipped, the first 2 errors kept", stats)
	}
	wantRecordError(t, stats.Errors[0], "events.csv", 3, "occurred_at", 4, "not a time", "is not a time")
	wantRecordError(t, stats.Errors[1], "events.csv", 4, "type", 3, "", "is missing")
}

func TestReadEventsJSONL(t *testing.T) {
	t.Parallel()
	text := `{"id":"e1","lead_id":"l1","type":"page_view","occurred_at":"2024-03-01T09:30:00Z","properties":{"page":"/pricing","title":"caf\u00e9","gone":null}}

  {"occurred_at":"2024-03-01 10:30:00","type":"email_open","lead_id":"l1","id":"e2"}  ` + "\r\n"
	got, stats, err := readEventsText(t, "events.jsonl", text, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)
	wantEvents(t, got, []leadscore.Event{
		{ID: "e1", LeadID: "l1", Type: "page_view", OccurredAt: at, Properties: map[string]string{"page": "/pricing", "title": "café"}},
		{ID: "e2", LeadID: "l1", Type: "email_open", OccurredAt: at.Add(time.Hour)},
	})
	if stats.Records != 2 || stats.Delimiter != 0 {
		t.Errorf("stats = %+v, want 2 records", stats)
	}
}

func TestReadJSONLReportsBadLines(t *testing.T) {
	t.Parallel()
	const good = `{"id":"e1","lead_id":"l1","type":"page_view","occurred_at":"2024-03-01"}`
	tests := []struct {
		name   string
		line   string
		column string
		value  string
		reason string
	}{
		{"malformed JSON", `{"id":"e1",}`, "", "}", "not valid JSON: expected a quoted field name at byte 12"},
		{"not an object", `["e1"]`, "", `["e1"]`, "expected an object"},
		{"text after the object", good + ` x`, "", "x", "unexpected text after the object"},
		{"an unknown field", `{"id":"e1","ID":"e2"}`, "ID", "", "is not an event field"},
		{"a repeated field", `{"id":"e1","id":"e2"}`, "id", "", "appears twice"},
		{"a missing required field", `{"id":"e1","lead_id":"l1","type":"page_view"}`, "occurred_at", "", "is required"},
		{"a number where a string belongs", `{"id":1}`, "id", "1", "must be a string"},
		{"a bad time", `{"id":"e1","lead_id":"l1","type":"page_view","occurred_at":"March 1"}`, "occurred_at", "March 1", "is not a time"},
		{"a property that is not a string", `{"id":"e1","lead_id":"l1","type":"page_view","occurred_at":"2024-03-01","properties":{"n":3}}`, "properties.n", "3", "must be a string"},
		{"a property key that is not a key", `{"id":"e1","lead_id":"l1","type":"page_view","occurred_at":"2024-03-01","properties":{"Page":"x"}}`, "properties.Page", "", "not a valid property key"},
		{"invalid UTF-8", "{\"id\":\"caf\xe9\"}", "", "{\"id\":\"caf\xe9\"}", "not valid UTF-8"},
		{"a control character in a string", "{\"id\":\"e\x011\"}", "", "\x011\"}", "control character"},
		{"a bad escape", `{"id":"\q"}`, "", `"\q"}`, "invalid escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := readEventsText(t, "events.jsonl", good+"\n\n"+tt.line+"\n", ReadOptions{})
			wantRecordError(t, err, "events.jsonl", 3, tt.column, 0, tt.value, tt.reason)
		})
	}
}

func TestReadLeadsInfersKindsOverTheWholeFile(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("id,account_id,owner,created_at,employees,is_customer,country,zip,score\n")
	for i := range 40 {
		// zip codes keep their zeros; score is 0/1, which is numeric.
		b.WriteString("l" + strconv.Itoa(i) + ",acme,Jane Doe,2024-03-01," + strconv.Itoa(10*i) + ",yes,PT,0" + strconv.Itoa(1000+i) + "," + strconv.Itoa(i%2) + "\n")
	}
	// The last row has words where the first rows have numbers: the
	// columns stay what the whole file says, and missing stays missing.
	b.WriteString("l40,,,2024-03-02 08:00:00,NA,No,ES,N/A,\n")
	got, stats, err := readLeadsText(t, "leads.csv", b.String(), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantKinds := map[string]leadscore.ValueKind{
		"employees": leadscore.KindNumber, "is_customer": leadscore.KindBool, "country": leadscore.KindString,
		"zip": leadscore.KindString, "score": leadscore.KindNumber,
	}
	for k, want := range wantKinds {
		if stats.Kinds[k] != want {
			t.Errorf("kind of %s = %v, want %v", k, stats.Kinds[k], want)
		}
	}
	if len(got) != 41 {
		t.Fatalf("got %d leads, want 41", len(got))
	}
	first, last := got[1], got[40]
	if first.ID != "l1" || first.AccountID != "acme" || first.Owner != "Jane Doe" || !first.CreatedAt.Equal(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("lead 1 = %+v", first)
	}
	if v := first.Attributes["employees"]; v != leadscore.Number(10) {
		t.Errorf("employees = %+v, want 10", v)
	}
	if v := first.Attributes["zip"]; v != leadscore.String("01001") {
		t.Errorf("zip = %+v, want the string 01001", v)
	}
	if v := first.Attributes["is_customer"]; v != leadscore.Bool(true) {
		t.Errorf("is_customer = %+v, want true", v)
	}
	if last.AccountID != "" || last.Owner != "" {
		t.Errorf("last lead = %+v, want no account or owner", last)
	}
	for _, k := range []string{"employees", "zip", "score"} {
		v, ok := last.Attributes[k]
		if !ok || !v.Missing() {
			t.Errorf("last lead's %s = %+v (present %v), want a missing value", k, v, ok)
		}
	}
	if v := last.Attributes["is_customer"]; v != leadscore.Bool(false) {
		t.Errorf("last is_customer = %+v, want false", v)
	}
}

func TestReadLeadsReportsAStrayValueInANumericColumn(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("id,created_at,employees\n")
	for i := range 30 {
		b.WriteString("l" + strconv.Itoa(i) + ",2024-03-01," + strconv.Itoa(i) + "\n")
	}
	b.WriteString("l30,2024-03-01,about fifty\n")
	_, _, err := readLeadsText(t, "leads.csv", b.String(), ReadOptions{})
	wantRecordError(t, err, "leads.csv", 32, "employees", 3, "about fifty", "is not a number; the column is numeric because 30 of its 31 values are numbers")

	// Fixing the kind reads the column as text.
	got, stats, err := readLeadsText(t, "leads.csv", b.String(), ReadOptions{Kinds: map[string]leadscore.ValueKind{"employees": leadscore.KindString}})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Kinds["employees"] != leadscore.KindString || got[30].Attributes["employees"] != leadscore.String("about fifty") {
		t.Errorf("kind %v, value %+v; want the string", stats.Kinds["employees"], got[30].Attributes["employees"])
	}
}

func TestReadLeadsJSONL(t *testing.T) {
	t.Parallel()
	text := `{"id":"l1","account_id":"a1","created_at":"2024-03-01T00:00:00Z","attributes":{"employees":250,"country":"PT","customer":false,"revenue":null,"industry":"NA"}}
{"id":"l2","created_at":"2024-03-02","attributes":null,"owner":null}
`
	got, _, err := readLeadsText(t, "leads.ndjson", text, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d leads, want 2", len(got))
	}
	want := map[string]leadscore.Value{
		"employees": leadscore.Number(250), "country": leadscore.String("PT"), "customer": leadscore.Bool(false),
		"revenue": {}, "industry": {},
	}
	if len(got[0].Attributes) != len(want) {
		t.Errorf("attributes = %+v, want %+v", got[0].Attributes, want)
	}
	for k, w := range want {
		if g, ok := got[0].Attributes[k]; !ok || g != w {
			t.Errorf("attribute %s = %+v (present %v), want %+v", k, g, ok, w)
		}
	}
	if got[1].ID != "l2" || got[1].Attributes != nil {
		t.Errorf("lead 2 = %+v", got[1])
	}

	bad := []struct {
		name, line, column, value, reason string
	}{
		{"a nested attribute", `{"id":"l1","created_at":"2024-03-01","attributes":{"tags":["a"]}}`, "attributes.tags", `["a"]`, "must be a string, number, boolean or null"},
		{"an attribute key that is not a key", `{"id":"l1","created_at":"2024-03-01","attributes":{"Country":"PT"}}`, "attributes.Country", "", "not a valid attribute key"},
		{"a number out of range", `{"id":"l1","created_at":"2024-03-01","attributes":{"n":1e999}}`, "attributes.n", "1e999", "out of the range"},
		{"a repeated attribute", `{"id":"l1","created_at":"2024-03-01","attributes":{"n":1,"n":2}}`, "attributes.n", "", "appears twice"},
		{"attributes that are not an object", `{"id":"l1","created_at":"2024-03-01","attributes":"x"}`, "attributes", `"x"`, "must be an object"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := readLeadsText(t, "leads.jsonl", tt.line+"\n", ReadOptions{})
			wantRecordError(t, err, "leads.jsonl", 1, tt.column, 0, tt.value, tt.reason)
		})
	}
}

func TestReadOutcomes(t *testing.T) {
	t.Parallel()
	text := "lead_id,status,occurred_at,amount,currency\nl1,won,2024-05-01,1200.50,EUR\nl2,lost,2024-05-02,,\nl3,won,2024-05-03,0,\n"
	got, _, err := readOutcomesText(t, "outcomes.csv", text, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []leadscore.Outcome{
		{LeadID: "l1", Status: leadscore.OutcomeWon, OccurredAt: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), Amount: 1200.5, Currency: "EUR"},
		{LeadID: "l2", Status: leadscore.OutcomeLost, OccurredAt: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)},
		{LeadID: "l3", Status: leadscore.OutcomeWon, OccurredAt: time.Date(2024, 5, 3, 0, 0, 0, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("outcome %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	const header = "lead_id,status,occurred_at,amount,currency\n"
	bad := []struct {
		name, row, column string
		index             int
		value, reason     string
	}{
		{"a bad status", "l1,Won,2024-05-01,,\n", "status", 2, "Won", `must be "won" or "lost"`},
		{"a NaN amount", "l1,won,2024-05-01,Nan,EUR\n", "amount", 4, "Nan", "must be a finite number"},
		{"an infinite amount", "l1,won,2024-05-01,+Inf,EUR\n", "amount", 4, "+Inf", "must be a finite number"},
		{"a negative amount", "l1,won,2024-05-01,-5,EUR\n", "amount", 4, "-5", "must not be negative"},
		{"a word for an amount", "l1,won,2024-05-01,lots,EUR\n", "amount", 4, "lots", "is not a number"},
		{"an amount without a currency", "l1,won,2024-05-01,10,\n", "currency", 5, "", "is required when amount is not 0"},
		{"a currency that is not a code", "l1,won,2024-05-01,10,eur\n", "currency", 5, "eur", "ISO 4217"},
		{"a bad time", "l1,won,2024-13-01,10,EUR\n", "occurred_at", 3, "2024-13-01", "is not a time"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := readOutcomesText(t, "outcomes.csv", header+tt.row, ReadOptions{})
			wantRecordError(t, err, "outcomes.csv", 2, tt.column, tt.index, tt.value, tt.reason)
		})
	}

	jsonBad := []struct {
		name, line, column, value, reason string
	}{
		{"a string amount", `{"lead_id":"l1","status":"won","occurred_at":"2024-05-01","amount":"10","currency":"EUR"}`, "amount", `"10"`, "must be a number or null"},
		{"a negative amount", `{"lead_id":"l1","status":"won","occurred_at":"2024-05-01","amount":-1,"currency":"EUR"}`, "amount", "-1", "must not be negative"},
		{"a bad status", `{"lead_id":"l1","status":"open","occurred_at":"2024-05-01"}`, "status", "open", `must be "won" or "lost"`},
	}
	for _, tt := range jsonBad {
		t.Run("JSONL "+tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := readOutcomesText(t, "outcomes.jsonl", tt.line+"\n", ReadOptions{})
			wantRecordError(t, err, "outcomes.jsonl", 1, tt.column, 0, tt.value, tt.reason)
		})
	}
}

func TestReadRefusesBadHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		read   func(name, text string) error
		file   string
		text   string
		want   []string
		column string
	}{
		{"a repeated column name", eventsReader, "events.csv", "id,lead_id,type,occurred_at,id\n", []string{`column 5 "id"`, "repeats the name of column 1"}, "id"},
		{"an empty column name", eventsReader, "events.csv", "id,lead_id,,type,occurred_at\n", []string{"column 3", "has no name"}, ""},
		{"a missing required column", eventsReader, "events.csv", "id,lead_id,type,when\n", []string{`column "occurred_at"`, "is required but not in the header", `"when"`}, "occurred_at"},
		{"a property name that is not a key", eventsReader, "events.csv", "id,lead_id,type,occurred_at,Page URL\n", []string{`"Page URL"`, "not a valid property key"}, "Page URL"},
		{"an attribute name that is not a key", leadsReader, "leads.csv", "id,created_at,Company Size\n", []string{`"Company Size"`, "not a valid attribute key"}, "Company Size"},
		{"an unknown outcome column", outcomesReader, "outcomes.csv", "lead_id,status,occurred_at,note\n", []string{`"note"`, "is not an outcome column"}, "note"},
		{"an empty file", eventsReader, "events.csv", "", []string{"is empty"}, ""},
		{"a header with a stray quote", eventsReader, "events.csv", "id,lead\"id\n", []string{"header:", "quote"}, "lead\"id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.read(tt.file, tt.text)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var e *RecordError
			if !errors.As(err, &e) || e.Line != 1 && tt.text != "" {
				t.Errorf("error = %#v, want a RecordError on line 1", err)
			}
		})
	}
	// Lenient mode does not skip a bad header.
	if _, _, err := readEventsText(t, "events.csv", "id,id\n", ReadOptions{Lenient: true}); err == nil {
		t.Error("a lenient read accepted a repeated column name")
	}
}

func eventsReader(name, text string) error {
	_, err := ReadEventsFrom(context.Background(), strings.NewReader(text), name, ReadOptions{}, func(leadscore.Event) error { return nil })
	return err
}

func leadsReader(name, text string) error {
	_, err := ReadLeadsFrom(context.Background(), strings.NewReader(text), name, ReadOptions{}, func(leadscore.Lead) error { return nil })
	return err
}

func outcomesReader(name, text string) error {
	_, err := ReadOutcomesFrom(context.Background(), strings.NewReader(text), name, ReadOptions{}, func(leadscore.Outcome) error { return nil })
	return err
}

func TestReadFilesByExtension(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const csvText = "id,created_at,segment\nl1,2024-03-01,smb\nl2,2024-03-02,ent\n"
	const jsonText = `{"id":"l1","created_at":"2024-03-01","attributes":{"segment":"smb"}}` + "\n" + `{"id":"l2","created_at":"2024-03-02","attributes":{"segment":"ent"}}` + "\n"
	files := map[string]string{"leads.csv": csvText, "leads.csv.gz": csvText, "leads.jsonl": jsonText, "leads.ndjson.gz": jsonText, "leads.TXT": csvText}
	for name, text := range files {
		var data []byte
		if strings.HasSuffix(name, ".gz") {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write([]byte(text))
			zw.Close()
			data = buf.Bytes()
		} else {
			data = []byte(text)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name := range files {
		t.Run(name+" reads", func(t *testing.T) {
			t.Parallel()
			var ids []string
			path := filepath.Join(dir, name)
			stats, err := ReadLeads(context.Background(), path, ReadOptions{}, func(l leadscore.Lead) error {
				if l.Attributes["segment"].Kind != leadscore.KindString {
					t.Errorf("segment = %+v, want a string", l.Attributes["segment"])
				}
				ids = append(ids, l.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(ids, ",") != "l1,l2" || stats.Records != 2 || stats.File != path {
				t.Errorf("ids %q, stats %+v", ids, stats)
			}
		})
	}
	t.Run("an unknown extension is refused", func(t *testing.T) {
		t.Parallel()
		_, err := ReadLeads(context.Background(), filepath.Join(dir, "leads.xlsx"), ReadOptions{}, func(leadscore.Lead) error { return nil })
		if leadscore.ErrorCode(err) != leadscore.EINVALID || !strings.Contains(err.Error(), "unknown file type") {
			t.Errorf("error = %v, want an invalid file type", err)
		}
	})
	t.Run("a missing file is an error naming it", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(dir, "nope.csv")
		_, err := ReadEvents(context.Background(), path, ReadOptions{}, func(leadscore.Event) error { return nil })
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("error = %v, want not-exist naming the path", err)
		}
	})
	t.Run("a gz name on plain text is an error", func(t *testing.T) {
		t.Parallel()
		_, _, err := readEventsText(t, "events.csv.gz", eventsHeader, ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), "not gzip-compressed") {
			t.Errorf("error = %v, want not gzip-compressed", err)
		}
	})
}

// onlyReader hides every method but Read, as a pipe would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestReadLeadsFromAStreamThatCannotSeek(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("id;created_at;employees\n")
	for i := range 5000 {
		b.WriteString("l" + strconv.Itoa(i) + ";2024-03-01;" + strconv.Itoa(i) + "\n")
	}
	b.WriteString("l5000;2024-03-01;NA\n")
	n := 0
	stats, err := ReadLeadsFrom(context.Background(), onlyReader{strings.NewReader(b.String())}, "leads.csv", ReadOptions{}, func(l leadscore.Lead) error {
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 5001 || stats.Kinds["employees"] != leadscore.KindNumber {
		t.Errorf("read %d leads, employees %v; want 5001 and numeric", n, stats.Kinds["employees"])
	}
}

func TestReadStopsOnCallbackErrorsAndCancellation(t *testing.T) {
	t.Parallel()
	text := eventsHeader + strings.Repeat("e1,l1,page_view,2024-03-01,/\n", 10000)
	boom := errors.New("store refused")
	n := 0
	_, err := ReadEventsFrom(context.Background(), strings.NewReader(text), "events.csv", ReadOptions{Lenient: true}, func(leadscore.Event) error {
		n++
		if n == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "events.csv:4: ") {
		t.Errorf("error = %v, want the callback's error at events.csv:4", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	_, err = ReadEventsFrom(ctx, strings.NewReader(text), "events.csv", ReadOptions{}, func(leadscore.Event) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 10000 {
		t.Errorf("after %d events error = %v, want the read cancelled early", n, err)
	}
}

func TestRecordErrorIsAnInvalidFieldError(t *testing.T) {
	t.Parallel()
	_, _, err := readEventsText(t, "events.csv", eventsHeader+"e1,l1,page_view,tomorrow,/\n", ReadOptions{})
	var app *leadscore.Error
	if !errors.As(err, &app) {
		t.Fatalf("error %v does not unwrap to a *leadscore.Error", err)
	}
	if app.Code != leadscore.EINVALID || app.Message != err.Error() || len(app.Fields) != 1 || app.Fields[0].Field != "events.csv:2:occurred_at" {
		t.Errorf("application error = %+v", app)
	}
	if want := `events.csv:2: column 4 "occurred_at": is not a time`; !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), `(got "tomorrow")`) {
		t.Errorf("message = %q, want it to start %q and quote the value", err, want)
	}
}

func TestReadOptionsDelimiter(t *testing.T) {
	t.Parallel()
	text := "id|lead_id|type|occurred_at\ne1|l1|page_view|2024-03-01\n"
	got, stats, err := readEventsText(t, "events.csv", text, ReadOptions{Delimiter: '|'})
	if err != nil || len(got) != 1 || got[0].ID != "e1" || stats.Delimiter != '|' {
		t.Errorf("with '|': events %+v, stats %+v, error %v", got, stats, err)
	}
	// A forced comma reads the header as one column.
	_, _, err = readEventsText(t, "events.csv", text, ReadOptions{Delimiter: ','})
	if err == nil || !strings.Contains(err.Error(), `"id|lead_id|type|occurred_at"`) {
		t.Errorf("with ',': error %v, want a missing column listing the one-column header", err)
	}
	for _, d := range []rune{'"', '\n', ' ', 'é', 0x7f} {
		if _, _, err := readEventsText(t, "events.csv", eventsHeader, ReadOptions{Delimiter: d}); err == nil {
			t.Errorf("delimiter %q was accepted", d)
		}
	}
}

func TestReadLeadsRefusesBadKinds(t *testing.T) {
	t.Parallel()
	const text = "id,created_at,employees\nl1,2024-03-01,5\n"
	tests := []struct {
		name  string
		kinds map[string]leadscore.ValueKind
		want  string
	}{
		{"a column the file lacks", map[string]leadscore.ValueKind{"revenue": leadscore.KindNumber}, `column "revenue": is named in ReadOptions.Kinds but is not an attribute column; the columns are "id", "created_at", "employees"`},
		{"a column that is not an attribute", map[string]leadscore.ValueKind{"id": leadscore.KindString}, `column "id": is named in ReadOptions.Kinds`},
		{"the missing kind", map[string]leadscore.ValueKind{"employees": leadscore.KindMissing}, `ReadOptions.Kinds["employees"] is missing; use number, bool or string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := readLeadsText(t, "leads.csv", text, ReadOptions{Kinds: tt.kinds})
			if leadscore.ErrorCode(err) != leadscore.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want an invalid error containing %q", err, tt.want)
			}
		})
	}
}
