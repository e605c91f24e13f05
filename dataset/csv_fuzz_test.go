package dataset

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// csvSeeds are inputs worth starting a fuzz run from, beside the corpus in
// testdata/fuzz.
var csvSeeds = []string{
	"id,lead_id,type,occurred_at,page\ne1,l1,page_view,2024-03-01T09:30:00Z,/pricing\n",
	"\ufeffid;lead_id;type;occurred_at\r\ne1;l1;email_open;2024-03-01 10:00:00\r\n",
	"id,created_at,employees,customer,country\nl1,2024-03-01,12,yes,PT\nl2,2024-03-02,NA,no,\"E,S\"\n",
	"lead_id|status|occurred_at|amount|currency\nl1|won|2024-05-01|10.5|EUR\nl2|lost|2024-05-02||\n",
	"a,b\n\"x\ny\",\"say \"\"hi\"\"\"\n\"open\n",
	"a\tb\n1\t2\n3\n",
	// Every line ends with the delimiter, as some CRM exports write.
	"id,lead_id,type,occurred_at,\ne1,l1,page_view,2024-03-01T09:30:00Z,\ne2,l1,email_open,2024-03-02,x\n",
}

// FuzzReadCSV feeds arbitrary bytes to the delimited readers. They must
// never panic; records they hand out must validate; a record that
// tokenizes must survive being written back and read again.
func FuzzReadCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("testdata/bank-sample.csv"); err == nil {
		f.Add(b[:min(len(b), 600)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkTokenizerRoundTrip(t, data)
		for _, name := range []string{"events.csv", "leads.csv", "outcomes.csv"} {
			for _, lenient := range []bool{false, true} {
				checkTableRead(t, name, data, lenient)
			}
		}
	})
}

// checkTokenizerRoundTrip tokenizes data, writes the good records back
// with every field quoted and checks that they read the same.
func checkTokenizerRoundTrip(t *testing.T, data []byte) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(data))
	sample, err := br.Peek(br.Size())
	comma := detectDelimiter(sample, err == io.EOF)
	r := newDelimReader(br, "fuzz.csv", comma)
	var records [][]string
	for {
		bad, err := r.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("read from memory failed with %v", err)
			}
			return
		}
		if bad != nil {
			if bad.Line < 1 {
				t.Fatalf("error on line %d: %v", bad.Line, bad)
			}
			continue
		}
		rec := make([]string, r.numFields())
		for i := range rec {
			rec[i] = r.fieldString(i)
		}
		if slices.ContainsFunc(rec, func(s string) bool { return strings.Contains(s, "\r") }) {
			// A CR before a line break inside quotes reads as a plain
			// line break, by design; such values do not round-trip.
			continue
		}
		records = append(records, rec)
	}
	var out bytes.Buffer
	for _, rec := range records {
		for i, f := range rec {
			if i > 0 {
				out.WriteByte(comma)
			}
			out.WriteByte('"')
			out.WriteString(strings.ReplaceAll(f, `"`, `""`))
			out.WriteByte('"')
		}
		out.WriteByte('\n')
	}
	again, bad := tokenizeBytes(t, out.Bytes(), comma)
	if len(bad) > 0 {
		t.Fatalf("rewritten records fail to read: %v\n%q", bad[0], out.Bytes())
	}
	if !slices.EqualFunc(again, records, slices.Equal) {
		t.Fatalf("records %q read back as %q", records, again)
	}
}

// tokenizeBytes reads every record of data with a known delimiter.
func tokenizeBytes(t *testing.T, data []byte, comma byte) ([][]string, []*RecordError) {
	t.Helper()
	r := newDelimReader(bufio.NewReader(bytes.NewReader(data)), "again.csv", comma)
	var records [][]string
	var errs []*RecordError
	for {
		bad, err := r.read()
		if err == io.EOF {
			return records, errs
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if bad != nil {
			errs = append(errs, bad)
			continue
		}
		rec := make([]string, r.numFields())
		for i := range rec {
			rec[i] = string(r.field(i))
		}
		records = append(records, rec)
	}
}

// checkTableRead reads data as the table its name says and checks every
// record handed out, and the error or stats returned.
func checkTableRead(t *testing.T, name string, data []byte, lenient bool) {
	t.Helper()
	opts := ReadOptions{Lenient: lenient, MaxErrors: 3}
	ctx := context.Background()
	var stats ReadStats
	var err error
	n := 0
	switch {
	case strings.HasPrefix(name, "events"):
		stats, err = ReadEventsFrom(ctx, bytes.NewReader(data), name, opts, func(e leadscore.Event) error {
			n++
			return checkEvent(e)
		})
	case strings.HasPrefix(name, "leads"):
		stats, err = ReadLeadsFrom(ctx, bytes.NewReader(data), name, opts, func(l leadscore.Lead) error {
			n++
			return checkLead(l)
		})
	default:
		stats, err = ReadOutcomesFrom(ctx, bytes.NewReader(data), name, opts, func(o leadscore.Outcome) error {
			n++
			return checkOutcome(o)
		})
	}
	var re *RecordError
	if err != nil && !errors.As(err, &re) {
		// Only the callback's own complaints are not RecordErrors here.
		t.Fatalf("%s (lenient %v): a record that does not validate was handed out: %v", name, lenient, err)
	}
	if re != nil && (re.Line < 1 || re.File != name) {
		t.Fatalf("%s: error without a place: %+v", name, re)
	}
	if stats.Records != n || len(stats.Errors) > opts.MaxErrors || !lenient && stats.Skipped != 0 {
		t.Fatalf("%s (lenient %v): stats %+v after %d records", name, lenient, stats, n)
	}
	for _, e := range stats.Errors {
		if !errors.As(e, &re) || re.Line < 1 {
			t.Fatalf("%s: stats error %v has no place", name, e)
		}
	}
}

// errNotValid reports a record that should never have been handed out.
var errNotValid = errors.New("the record does not validate")

func checkTime(t time.Time) error {
	if t.IsZero() || t.Location() != time.UTC {
		return errNotValid
	}
	return nil
}

func checkEvent(e leadscore.Event) error {
	if err := errors.Join(leadscore.ValidateID("id", e.ID), leadscore.ValidateID("lead_id", e.LeadID),
		leadscore.ValidateKey("type", e.Type), checkTime(e.OccurredAt)); err != nil {
		return err
	}
	if len(e.Properties) > leadscore.MaxEventProperties {
		return errNotValid
	}
	for k, v := range e.Properties {
		if err := leadscore.ValidateKey("property", k); err != nil {
			return err
		}
		if v == "" || len(v) > leadscore.MaxAttributeValueBytes {
			return errNotValid
		}
	}
	return nil
}

func checkLead(l leadscore.Lead) error {
	if err := errors.Join(leadscore.ValidateID("id", l.ID), checkTime(l.CreatedAt)); err != nil {
		return err
	}
	if l.AccountID != "" {
		if err := leadscore.ValidateID("account_id", l.AccountID); err != nil {
			return err
		}
	}
	if len(l.Attributes) > leadscore.MaxAttributes {
		return errNotValid
	}
	for k, v := range l.Attributes {
		if err := errors.Join(leadscore.ValidateKey("attribute", k), v.Validate(k)); err != nil {
			return err
		}
		if v.Kind == leadscore.KindString && v.Str == "" {
			return errNotValid
		}
	}
	return nil
}

func checkOutcome(o leadscore.Outcome) error {
	if err := errors.Join(leadscore.ValidateID("lead_id", o.LeadID), checkTime(o.OccurredAt)); err != nil {
		return err
	}
	if o.Status != leadscore.OutcomeWon && o.Status != leadscore.OutcomeLost {
		return errNotValid
	}
	if math.IsNaN(o.Amount) || math.IsInf(o.Amount, 0) || o.Amount < 0 || o.Amount != 0 && !isCurrency(o.Currency) ||
		o.Currency != "" && !isCurrency(o.Currency) {
		return errNotValid
	}
	return nil
}
