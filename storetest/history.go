package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// RunHistory runs the conformance suite of leadscore.HistoryStore: bulk
// import, its atomicity and idempotence, and reading history back. open
// must return a new, empty, migrated store that shares nothing with any
// other store open returned, and arrange for its cleanup.
func RunHistory(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, open func(t *testing.T) leadscore.HistoryStore)
	}{
		{"import then scan returns the records", testImportThenScan},
		{"reimport changes nothing", testReimportChangesNothing},
		{"reimport with edits changes only the edited records", testReimportWithEdits},
		{"events may name leads already in the store", testEventsOfStoredLeads},
		{"bad record leaves the store unchanged", testBadRecordLeavesStoreUnchanged},
		{"source error leaves the store unchanged", testSourceErrorLeavesStoreUnchanged},
		{"canceled import leaves the store unchanged", testCanceledImportLeavesStoreUnchanged},
		{"progress is reported per table", testProgressReported},
		{"empty import changes nothing", testEmptyImport},
		{"scan stops at the first callback error", testScanCallbackError},
		{"scan reads only tables with a callback", testScanOnlyRequestedTables},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open)
		})
	}
}

// History is lead history held in memory: what tests import, and what
// ReadHistory reads back for comparison.
type History struct {
	Leads    []leadscore.Lead
	Events   []leadscore.Event
	Outcomes []leadscore.Outcome
}

// Source returns h as a leadscore.HistorySource.
func (h History) Source() leadscore.HistorySource { return &historySource{h: h} }

// historySource streams a History. Its hooks let a test fail or cancel an
// import in the middle of a table.
type historySource struct {
	h History
	// beforeEvent, if set, runs before the n-th event (from 1) is passed on;
	// an error it returns is the source's error.
	beforeEvent func(n int) error
}

func (s *historySource) Leads(ctx context.Context, fn func(leadscore.Lead) error) error {
	return each(ctx, s.h.Leads, nil, fn)
}

func (s *historySource) Events(ctx context.Context, fn func(leadscore.Event) error) error {
	return each(ctx, s.h.Events, s.beforeEvent, fn)
}

func (s *historySource) Outcomes(ctx context.Context, fn func(leadscore.Outcome) error) error {
	return each(ctx, s.h.Outcomes, nil, fn)
}

// each passes records to fn as a well-behaved source does: it stops at
// fn's first error and checks ctx now and then.
func each[T any](ctx context.Context, records []T, before func(n int) error, fn func(T) error) error {
	for i, r := range records {
		if i%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if before != nil {
			if err := before(i + 1); err != nil {
				return err
			}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// ReadHistory reads everything s holds, through ScanHistory.
func ReadHistory(t testing.TB, s leadscore.HistoryStore) History {
	t.Helper()
	var h History
	err := s.ScanHistory(t.Context(), leadscore.HistoryScan{
		Leads:    func(l leadscore.Lead) error { h.Leads = append(h.Leads, l); return nil },
		Events:   func(e leadscore.Event) error { h.Events = append(h.Events, e); return nil },
		Outcomes: func(o leadscore.Outcome) error { h.Outcomes = append(h.Outcomes, o); return nil },
	})
	if err != nil {
		t.Fatalf("ScanHistory(): %v", err)
	}
	return h
}

// Stored returns h as a store keeps it and ScanHistory returns it: times
// in UTC truncated to microseconds; leads ordered by id, events by lead id,
// time and id, outcomes by lead id; of several events with one id, only the
// first.
func (h History) Stored() History {
	var out History
	for _, l := range h.Leads {
		l.CreatedAt = stored(l.CreatedAt)
		out.Leads = append(out.Leads, l)
	}
	seen := map[string]bool{}
	for _, e := range h.Events {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		e.OccurredAt = stored(e.OccurredAt)
		out.Events = append(out.Events, e)
	}
	for _, o := range h.Outcomes {
		o.OccurredAt = stored(o.OccurredAt)
		out.Outcomes = append(out.Outcomes, o)
	}
	slices.SortFunc(out.Leads, func(a, b leadscore.Lead) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(out.Events, func(a, b leadscore.Event) int {
		if c := strings.Compare(a.LeadID, b.LeadID); c != 0 {
			return c
		}
		if c := a.OccurredAt.Compare(b.OccurredAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	slices.SortFunc(out.Outcomes, func(a, b leadscore.Outcome) int { return strings.Compare(a.LeadID, b.LeadID) })
	return out
}

func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// lines renders h one record per line, with every value spelled out, so
// that two histories compare as text and a difference reads plainly.
func (h History) lines() []string {
	var lines []string
	for _, l := range h.Leads {
		lines = append(lines, fmt.Sprintf("lead %q account=%q owner=%q created=%s attributes=%s",
			l.ID, l.AccountID, l.Owner, formatTime(l.CreatedAt), formatAttributes(l.Attributes)))
	}
	for _, e := range h.Events {
		lines = append(lines, fmt.Sprintf("event %q lead=%q type=%q at=%s properties=%s",
			e.ID, e.LeadID, e.Type, formatTime(e.OccurredAt), formatProperties(e.Properties)))
	}
	for _, o := range h.Outcomes {
		lines = append(lines, fmt.Sprintf("outcome lead=%q status=%s at=%s amount=%s currency=%q",
			o.LeadID, o.Status, formatTime(o.OccurredAt), formatFloat(o.Amount), o.Currency))
	}
	return lines
}

func formatTime(t time.Time) string {
	// The location's name is part of the line, so a time returned in
	// another zone than UTC is a difference even when the instant is equal.
	return t.Format("2006-01-02T15:04:05.999999999") + " " + t.Location().String()
}

func formatFloat(f float64) string {
	return fmt.Sprintf("%s(bits %x)", fmt.Sprint(f), math.Float64bits(f))
}

func formatAttributes(attrs map[string]leadscore.Value) string {
	var b strings.Builder
	b.WriteString("{")
	for i, k := range slices.Sorted(mapKeys(attrs)) {
		if i > 0 {
			b.WriteString(" ")
		}
		v := attrs[k]
		fmt.Fprintf(&b, "%s:%s:", k, v.Kind)
		switch v.Kind {
		case leadscore.KindString:
			fmt.Fprintf(&b, "%q", v.Str)
		case leadscore.KindNumber:
			b.WriteString(formatFloat(v.Num))
		case leadscore.KindBool:
			fmt.Fprint(&b, v.Bool)
		}
	}
	b.WriteString("}")
	return b.String()
}

func formatProperties(props map[string]string) string {
	var b strings.Builder
	b.WriteString("{")
	for i, k := range slices.Sorted(mapKeys(props)) {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%q", k, props[k])
	}
	b.WriteString("}")
	return b.String()
}

func mapKeys[V any](m map[string]V) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkHistory fails the test if s does not hold exactly want.
func checkHistory(t *testing.T, s leadscore.HistoryStore, want History) {
	t.Helper()
	compareHistory(t, "ScanHistory()", ReadHistory(t, s), want)
	counts, err := s.CountHistory(t.Context())
	if err != nil {
		t.Fatalf("CountHistory(): %v", err)
	}
	if counts.Leads != int64(len(want.Leads)) || counts.Events != int64(len(want.Events)) || counts.Outcomes != int64(len(want.Outcomes)) {
		t.Errorf("CountHistory() = %+v, want %d leads, %d events, %d outcomes",
			counts, len(want.Leads), len(want.Events), len(want.Outcomes))
	}
}

// compareHistory reports every record that is in one history and not the
// other, or out of place.
func compareHistory(t *testing.T, what string, got, want History) {
	t.Helper()
	g, w := got.lines(), want.lines()
	if slices.Equal(g, w) {
		return
	}
	var diff []string
	for i := range max(len(g), len(w)) {
		switch {
		case i >= len(g):
			diff = append(diff, "- "+w[i])
		case i >= len(w):
			diff = append(diff, "+ "+g[i])
		case g[i] != w[i]:
			diff = append(diff, "- "+w[i], "+ "+g[i])
		}
		if len(diff) > 20 {
			diff = append(diff, "...")
			break
		}
	}
	t.Errorf("%s differs from what was imported (- want, + got, by position):\n%s", what, strings.Join(diff, "\n"))
}

// importHistory imports src and fails the test on error.
func importHistory(t *testing.T, s leadscore.HistoryStore, src leadscore.HistorySource) leadscore.ImportStats {
	t.Helper()
	stats, err := s.ImportHistory(t.Context(), src, leadscore.ImportOptions{})
	if err != nil {
		t.Fatalf("ImportHistory(): %v", err)
	}
	return stats
}

func checkStats(t *testing.T, what string, got, want leadscore.ImportStats) {
	t.Helper()
	if got != want {
		t.Errorf("%s stats = %+v, want %+v", what, got, want)
	}
}

// at returns a time in a zone other than UTC with nanoseconds, so that
// every store has to normalise it.
func at(day int, clock string) time.Time {
	zone := time.FixedZone("CEST", 2*60*60)
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", fmt.Sprintf("2025-03-%02d %s", day, clock), zone)
	if err != nil {
		panic(err)
	}
	return t
}

// fixture is a small history that exercises what a store must keep
// exactly: every kind of attribute value (missing included), numbers at
// the edges of float64, strings that need escaping, times with
// nanoseconds, in other zones and before 1970, ids whose byte order
// differs from a natural-language collation, and a duplicated event id.
func fixture() History {
	return History{
		Leads: []leadscore.Lead{
			{ID: "L-10", AccountID: "acme", Owner: "ana@example.com", CreatedAt: at(1, "09:00:00.123456789"),
				Attributes: map[string]leadscore.Value{
					"role":         leadscore.String("VP Sales"),
					"company_size": leadscore.Number(250),
					"revenue":      leadscore.Number(1.7976931348623157e308),
					"tiny":         leadscore.Number(5e-324),
					"ratio":        leadscore.Number(0.1 + 0.2),
					"negative":     leadscore.Number(-42.5),
					"big":          leadscore.Number(1e21),
					"is_customer":  leadscore.Bool(false),
					"subscribed":   leadscore.Bool(true),
					"country":      leadscore.Value{},
					"zip":          leadscore.String("01234"),
					"empty":        leadscore.String(""),
					"city":         leadscore.String("Zürich 🏔"),
					"note":         leadscore.String("say \"hi\"\\ <b>&\n\tnow\x01"),
				}},
			{ID: "L-2", AccountID: "acme", CreatedAt: time.Date(1969, 7, 20, 20, 17, 40, 500, time.UTC)},
			{ID: "L-B", Owner: "Zoë", CreatedAt: at(2, "10:00:00"), Attributes: map[string]leadscore.Value{}},
			{ID: "L-a", AccountID: "globex", CreatedAt: at(3, "11:30:00.5"),
				Attributes: map[string]leadscore.Value{"seniority": leadscore.String("director")}},
			{ID: "L.1", CreatedAt: at(4, "12:00:00")},
			{ID: "L_1", CreatedAt: at(4, "12:00:00")},
			{ID: "l:1@x", AccountID: "initech", CreatedAt: at(5, "00:00:00.000001")},
		},
		Events: []leadscore.Event{
			{ID: "E-3", LeadID: "L-10", Type: leadscore.EventPageView, OccurredAt: at(10, "08:00:00.999999999"),
				Properties: map[string]string{"page": "/pricing", "campaign": "spring \"sale\""}},
			{ID: "E-b", LeadID: "L-10", Type: leadscore.EventEmailOpen, OccurredAt: at(9, "08:00:00")},
			{ID: "E-a", LeadID: "L-10", Type: leadscore.EventEmailClick, OccurredAt: at(9, "08:00:00"),
				Properties: map[string]string{}},
			{ID: "E-dup", LeadID: "L-2", Type: leadscore.EventDemoRequest, OccurredAt: at(11, "13:00:00"),
				Properties: map[string]string{"source": "first"}},
			{ID: "E-dup", LeadID: "L-a", Type: leadscore.EventBounce, OccurredAt: at(12, "13:00:00"),
				Properties: map[string]string{"source": "second, skipped"}},
			{ID: "E-1", LeadID: "l:1@x", Type: "custom_type_42", OccurredAt: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)},
		},
		Outcomes: []leadscore.Outcome{
			{LeadID: "L-10", Status: leadscore.OutcomeWon, OccurredAt: at(20, "17:00:00.1234567"), Amount: 1200.5, Currency: "EUR"},
			{LeadID: "L-2", Status: leadscore.OutcomeLost, OccurredAt: at(21, "17:00:00")},
			{LeadID: "L-a", Status: leadscore.OutcomeWon, OccurredAt: at(22, "17:00:00"), Amount: 0.1 + 0.2, Currency: "USD"},
			{LeadID: "L-B", Status: leadscore.OutcomeWon, OccurredAt: at(23, "17:00:00"), Currency: "GBP"},
		},
	}
}

// generated is a larger history, with enough records to span several
// batches of any backend: leads "G0000".., their accounts, events cycling
// over the leads, and an outcome for every fifth lead.
func generated(leads, events int) History {
	var h History
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range leads {
		h.Leads = append(h.Leads, leadscore.Lead{
			ID:        fmt.Sprintf("G%04d", i),
			AccountID: fmt.Sprintf("GA%03d", i/4),
			CreatedAt: base.Add(time.Duration(i) * time.Hour),
			Attributes: map[string]leadscore.Value{
				"industry": leadscore.String([]string{"software", "retail", "finance"}[i%3]),
				"size":     leadscore.Number(float64(10 * (i + 1))),
			},
		})
	}
	types := []string{leadscore.EventPageView, leadscore.EventEmailOpen, leadscore.EventWebinarAttended}
	for i := range events {
		h.Events = append(h.Events, leadscore.Event{
			ID:         fmt.Sprintf("GE%06d", i),
			LeadID:     fmt.Sprintf("G%04d", i%leads),
			Type:       types[i%len(types)],
			OccurredAt: base.Add(time.Duration(i) * time.Minute),
			Properties: map[string]string{"page": fmt.Sprintf("/p/%d", i%17)},
		})
	}
	for i := 0; i < leads; i += 5 {
		h.Outcomes = append(h.Outcomes, leadscore.Outcome{
			LeadID: fmt.Sprintf("G%04d", i), Status: leadscore.OutcomeLost, OccurredAt: base.AddDate(0, 3, i),
		})
	}
	return h
}

func testImportThenScan(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s := open(t)
	h := fixture()
	stats := importHistory(t, s, h.Source())
	checkStats(t, "ImportHistory()", stats, leadscore.ImportStats{
		LeadsInserted: 7, AccountsInserted: 3, EventsInserted: 5, EventsDuplicate: 1, OutcomesInserted: 4,
	})
	checkHistory(t, s, h.Stored())
	counts, err := s.CountHistory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if counts.Accounts != 3 {
		t.Errorf("CountHistory().Accounts = %d, want the 3 accounts the leads name", counts.Accounts)
	}
	// The imported leads are due for rescoring, as written leads are.
	if ls, ok := s.(leadscore.LeadStore); ok {
		due, err := ls.DueLeads(t.Context(), time.Now().Add(time.Minute), 100)
		if err != nil || len(due) != len(h.Leads) {
			t.Errorf("DueLeads() after the import = %v, %v; want the %d imported leads", due, err, len(h.Leads))
		}
	}
}

func testReimportChangesNothing(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s := open(t)
	h := fixture()
	importHistory(t, s, h.Source())
	stats := importHistory(t, s, h.Source())
	checkStats(t, "second ImportHistory()", stats, leadscore.ImportStats{
		LeadsUnchanged: 7, EventsDuplicate: 6, OutcomesUnchanged: 4,
	})
	if stats.Changed() {
		t.Errorf("second ImportHistory() stats %+v say the store changed", stats)
	}
	checkHistory(t, s, h.Stored())
}

func testReimportWithEdits(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s := open(t)
	h := fixture()
	importHistory(t, s, h.Source())

	edited := fixture()
	edited.Leads[3].Attributes = map[string]leadscore.Value{"seniority": leadscore.String("vp")}
	edited.Leads[4].AccountID = "umbrella"
	edited.Leads[5].Owner = "bo"
	edited.Leads = append(edited.Leads, leadscore.Lead{ID: "L-new", CreatedAt: at(6, "06:00:00")})
	edited.Events = append(edited.Events, leadscore.Event{ID: "E-new", LeadID: "L-new", Type: leadscore.EventFormSubmit, OccurredAt: at(13, "07:00:00")})
	// An event id that is already stored keeps its stored content.
	edited.Events[0].Type = leadscore.EventUnsubscribe
	edited.Outcomes[1].Status = leadscore.OutcomeWon
	edited.Outcomes[1].Amount, edited.Outcomes[1].Currency = 10, "EUR"
	edited.Outcomes = append(edited.Outcomes, leadscore.Outcome{LeadID: "L-new", Status: leadscore.OutcomeLost, OccurredAt: at(24, "00:00:00")})

	stats := importHistory(t, s, edited.Source())
	checkStats(t, "ImportHistory() of edited history", stats, leadscore.ImportStats{
		LeadsInserted: 1, LeadsUpdated: 3, LeadsUnchanged: 4, AccountsInserted: 1,
		EventsInserted: 1, EventsDuplicate: 6,
		OutcomesInserted: 1, OutcomesUpdated: 1, OutcomesUnchanged: 3,
	})
	want := edited
	want.Events = append(slices.Clone(h.Events), edited.Events[len(edited.Events)-1])
	checkHistory(t, s, want.Stored())
}

func testEventsOfStoredLeads(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s := open(t)
	h := fixture()
	importHistory(t, s, History{Leads: h.Leads}.Source())
	stats := importHistory(t, s, History{Events: h.Events, Outcomes: h.Outcomes}.Source())
	checkStats(t, "ImportHistory() of events and outcomes", stats, leadscore.ImportStats{
		EventsInserted: 5, EventsDuplicate: 1, OutcomesInserted: 4,
	})
	checkHistory(t, s, h.Stored())
}

// snapshot is everything the suite can observe of a store.
type snapshot struct {
	history History
	counts  leadscore.HistoryCounts
}

func takeSnapshot(t *testing.T, s leadscore.HistoryStore) snapshot {
	t.Helper()
	counts, err := s.CountHistory(t.Context())
	if err != nil {
		t.Fatalf("CountHistory(): %v", err)
	}
	return snapshot{history: ReadHistory(t, s), counts: counts}
}

// checkUnchanged fails the test if s differs from before in any table.
func checkUnchanged(t *testing.T, s leadscore.HistoryStore, before snapshot) {
	t.Helper()
	after := takeSnapshot(t, s)
	if after.counts != before.counts {
		t.Errorf("CountHistory() after the failed import = %+v, want %+v as before", after.counts, before.counts)
	}
	compareHistory(t, "ScanHistory() after the failed import", after.history, before.history)
}

// storeWithFixture returns a store holding the fixture, so that a failed
// import has something to leave alone.
func storeWithFixture(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) (leadscore.HistoryStore, snapshot) {
	t.Helper()
	s := open(t)
	importHistory(t, s, fixture().Source())
	return s, takeSnapshot(t, s)
}

func testBadRecordLeavesStoreUnchanged(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	const leads, events = 100, 5000
	tests := []struct {
		name string
		// spoil makes one record of a generated history bad.
		spoil func(h *History)
		// want are the parts the error message must contain: the table,
		// the record's position, the field and the value.
		want  []string
		field string
	}{
		{
			"event naming an unknown lead",
			func(h *History) { h.Events[2499].LeadID = "nobody" },
			[]string{"events record 2500", "lead_id", `"nobody"`}, "events[2500].lead_id",
		},
		{
			"event repeating a stored id with an unknown lead",
			func(h *History) { h.Events[2499].ID, h.Events[2499].LeadID = "E-3", "nobody" },
			[]string{"events record 2500", "lead_id", `"nobody"`}, "events[2500].lead_id",
		},
		{
			"event with a bad type",
			func(h *History) { h.Events[2499].Type = "Page View" },
			[]string{"events record 2500", "type", `"Page View"`}, "events[2500].type",
		},
		{
			"event without a time",
			func(h *History) { h.Events[4999].OccurredAt = time.Time{} },
			[]string{"events record 5000", "occurred_at", "required"}, "events[5000].occurred_at",
		},
		{
			"event property that is not UTF-8",
			func(h *History) { h.Events[10].Properties["page"] = "/p\xff" },
			[]string{"events record 11", "properties.page", "UTF-8"}, "events[11].properties.page",
		},
		{
			"lead with a NaN attribute",
			func(h *History) { h.Leads[49].Attributes["size"] = leadscore.Number(math.NaN()) },
			[]string{"leads record 50", "attributes.size", "NaN"}, "leads[50].attributes.size",
		},
		{
			"lead with a bad account id",
			func(h *History) { h.Leads[3].AccountID = "no spaces" },
			[]string{"leads record 4", "account_id", `"no spaces"`}, "leads[4].account_id",
		},
		{
			"lead id repeated in one import",
			func(h *History) { h.Leads[60].ID = h.Leads[10].ID },
			[]string{"leads record 61", "repeats leads record 11", `"G0010"`}, "leads[61].id",
		},
		{
			"outcome with a NaN amount",
			func(h *History) { h.Outcomes[10].Amount = math.NaN() },
			[]string{"outcomes record 11", "amount", "NaN"}, "outcomes[11].amount",
		},
		{
			"outcome with an unknown status",
			func(h *History) { h.Outcomes[3].Status = leadscore.OutcomeUnknown },
			[]string{"outcomes record 4", "status", "unknown"}, "outcomes[4].status",
		},
		{
			"outcome with an amount but no currency",
			func(h *History) { h.Outcomes[5].Amount = 99 },
			[]string{"outcomes record 6", "currency", "required"}, "outcomes[6].currency",
		},
		{
			"outcome naming an unknown lead",
			func(h *History) { h.Outcomes[12].LeadID = "nobody" },
			[]string{"outcomes record 13", "lead_id", `"nobody"`}, "outcomes[13].lead_id",
		},
		{
			"two outcomes of one lead",
			func(h *History) { h.Outcomes[15].LeadID = h.Outcomes[2].LeadID },
			[]string{"outcomes record 16", "repeats outcomes record 3", `"G0010"`}, "outcomes[16].lead_id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, before := storeWithFixture(t, open)
			h := generated(leads, events)
			tt.spoil(&h)
			stats, err := s.ImportHistory(t.Context(), h.Source(), leadscore.ImportOptions{})
			if err == nil {
				t.Fatalf("ImportHistory() succeeded with stats %+v, want an error", stats)
			}
			if got, want := leadscore.ErrorCode(err), leadscore.EINVALID; got != want {
				t.Errorf("ImportHistory() error code = %q, want %q (error: %v)", got, want, err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("ImportHistory() error = %q, want it to mention %q", err, want)
				}
			}
			var appErr *leadscore.Error
			if errors.As(err, &appErr) && (len(appErr.Fields) != 1 || appErr.Fields[0].Field != tt.field) {
				t.Errorf("ImportHistory() error fields = %+v, want one for %q", appErr.Fields, tt.field)
			}
			if stats != (leadscore.ImportStats{}) {
				t.Errorf("failed ImportHistory() stats = %+v, want zero", stats)
			}
			checkUnchanged(t, s, before)
		})
	}
}

func testSourceErrorLeavesStoreUnchanged(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s, before := storeWithFixture(t, open)
	errDisk := errors.New("disk on fire")
	src := &historySource{h: generated(100, 5000), beforeEvent: func(n int) error {
		if n == 3000 {
			return errDisk
		}
		return nil
	}}
	_, err := s.ImportHistory(t.Context(), src, leadscore.ImportOptions{})
	if !errors.Is(err, errDisk) {
		t.Errorf("ImportHistory() error = %v, want the source's error", err)
	}
	checkUnchanged(t, s, before)
}

func testCanceledImportLeavesStoreUnchanged(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s, before := storeWithFixture(t, open)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The source cancels the import and carries on, as if the user pressed
	// ^C while it was busy: the store must notice by itself.
	src := &historySource{h: generated(100, 20_000), beforeEvent: func(n int) error {
		if n == 2500 {
			cancel()
		}
		return nil
	}}
	_, err := s.ImportHistory(ctx, src, leadscore.ImportOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ImportHistory() error = %v, want context.Canceled", err)
	}
	checkUnchanged(t, s, before)
	// The store is still usable after the cancelled import.
	stats := importHistory(t, s, generated(10, 10).Source())
	if stats.LeadsInserted != 10 || stats.EventsInserted != 10 {
		t.Errorf("ImportHistory() after a cancelled import: stats %+v, want 10 leads and 10 events inserted", stats)
	}
}

func testProgressReported(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s := open(t)
	var got []leadscore.ImportProgress
	opts := leadscore.ImportOptions{
		ProgressEvery: 1000,
		Progress:      func(p leadscore.ImportProgress) { got = append(got, p) },
	}
	if _, err := s.ImportHistory(t.Context(), generated(2500, 4500).Source(), opts); err != nil {
		t.Fatalf("ImportHistory(): %v", err)
	}
	want := []leadscore.ImportProgress{
		{Table: leadscore.TableLeads, Records: 1000},
		{Table: leadscore.TableLeads, Records: 2000},
		{Table: leadscore.TableLeads, Records: 2500, Done: true},
		{Table: leadscore.TableEvents, Records: 1000},
		{Table: leadscore.TableEvents, Records: 2000},
		{Table: leadscore.TableEvents, Records: 3000},
		{Table: leadscore.TableEvents, Records: 4000},
		{Table: leadscore.TableEvents, Records: 4500, Done: true},
		{Table: leadscore.TableOutcomes, Records: 500, Done: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("progress reports:\n%+v\nwant:\n%+v", got, want)
	}
}

func testEmptyImport(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s, before := storeWithFixture(t, open)
	stats := importHistory(t, s, History{}.Source())
	checkStats(t, "empty ImportHistory()", stats, leadscore.ImportStats{})
	checkUnchanged(t, s, before)
}

func testScanCallbackError(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s := open(t)
	importHistory(t, s, generated(50, 100).Source())
	errEnough := errors.New("enough")
	var n int
	err := s.ScanHistory(t.Context(), leadscore.HistoryScan{
		Events: func(leadscore.Event) error {
			n++
			if n == 3 {
				return errEnough
			}
			return nil
		},
		Outcomes: func(leadscore.Outcome) error {
			t.Error("ScanHistory() went on to outcomes after the events callback failed")
			return nil
		},
	})
	if !errors.Is(err, errEnough) {
		t.Errorf("ScanHistory() error = %v, want the callback's error", err)
	}
	if n != 3 {
		t.Errorf("ScanHistory() called the events callback %d times, want it to stop at the failing third", n)
	}
}

func testScanOnlyRequestedTables(t *testing.T, open func(t *testing.T) leadscore.HistoryStore) {
	s := open(t)
	h := fixture()
	importHistory(t, s, h.Source())
	var got History
	err := s.ScanHistory(t.Context(), leadscore.HistoryScan{
		Outcomes: func(o leadscore.Outcome) error { got.Outcomes = append(got.Outcomes, o); return nil },
	})
	if err != nil {
		t.Fatalf("ScanHistory(): %v", err)
	}
	compareHistory(t, "ScanHistory() of outcomes only", got, History{Outcomes: h.Stored().Outcomes})
}
