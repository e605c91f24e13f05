package storeutil

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func TestBatchRecordError(t *testing.T) {
	t.Parallel()
	err := BatchRecordError(leadscore.TableLeads, 3, leadscore.InvalidField("attributes.size", "NaN", "must be a finite number"))
	var e *leadscore.Error
	if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "leads[3].attributes.size" {
		t.Fatalf("BatchRecordError() = %#v, want EINVALID with field leads[3].attributes.size", err)
	}
	if !strings.HasPrefix(e.Message, "leads[3]: invalid attributes.size") {
		t.Errorf("BatchRecordError() message = %q, want it to start with the record", e.Message)
	}
	if err := BatchRecordError("events", 0, errors.New("boom")); leadscore.ErrorCode(err) != leadscore.EINTERNAL || !strings.Contains(err.Error(), "events[0]: boom") {
		t.Errorf("BatchRecordError() of an unclassified error = %v, want it wrapped with the record", err)
	}
}

func TestBatchErrAllOrNothing(t *testing.T) {
	t.Parallel()
	opts := leadscore.IngestOptions{At: t0}
	leads := []leadscore.Lead{{ID: "a", CreatedAt: t0}, {ID: "bad id", CreatedAt: t0}, {ID: "a", CreatedAt: t0}}
	b, err := CheckLeads(leads, opts)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Err()
	var e *leadscore.Error
	if !errors.As(err, &e) || e.Code != leadscore.EINVALID {
		t.Fatalf("Err() = %v, want EINVALID", err)
	}
	var fields []string
	for _, f := range e.Fields {
		fields = append(fields, f.Field)
	}
	if want := []string{"leads[1].id", "leads[2].id"}; !slices.Equal(fields, want) {
		t.Errorf("Err() fields = %q, want %q", fields, want)
	}
	if !strings.Contains(e.Message, "and 1 more rejected leads") {
		t.Errorf("Err() message = %q, want it to count the other rejections", e.Message)
	}
	opts.Partial = true
	b, _ = CheckLeads(leads, opts)
	if err := b.Err(); err != nil {
		t.Errorf("Err() in partial mode = %v, want nil", err)
	}
	if rs := b.Rejections(); len(rs) != 2 || rs[0].Index != 1 || rs[1].Index != 2 {
		t.Errorf("Rejections() = %+v, want records 1 and 2", rs)
	}
}

func TestNewBatchRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		n     int
		opts  leadscore.IngestOptions
		field string
	}{
		{"no records", 0, leadscore.IngestOptions{At: t0}, "leads"},
		{"too many records", leadscore.MaxIngestBatch + 1, leadscore.IngestOptions{At: t0}, "leads"},
		{"no time", 1, leadscore.IngestOptions{}, "at"},
	} {
		_, err := NewBatch(leadscore.TableLeads, tt.n, tt.opts)
		var e *leadscore.Error
		if !errors.As(err, &e) || e.Code != leadscore.EINVALID || e.Fields[0].Field != tt.field {
			t.Errorf("NewBatch() with %s = %v, want EINVALID on %s", tt.name, err, tt.field)
		}
	}
}

func TestEventConflict(t *testing.T) {
	t.Parallel()
	kept := leadscore.Event{ID: "e", LeadID: "a", Type: "page_view", OccurredAt: t0, Properties: map[string]string{}}
	for _, tt := range []struct {
		name string
		edit func(*leadscore.Event)
		want []string
	}{
		{"same event", func(*leadscore.Event) {}, nil},
		{"nanoseconds the store drops", func(e *leadscore.Event) { e.OccurredAt = t0.Add(50) }, nil},
		{"same time in another zone", func(e *leadscore.Event) { e.OccurredAt = t0.In(time.FixedZone("x", 3600)) }, nil},
		{"nil and empty properties", func(e *leadscore.Event) { e.Properties = nil }, nil},
		{"another microsecond", func(e *leadscore.Event) { e.OccurredAt = t0.Add(time.Microsecond) }, []string{"occurred_at"}},
		{"everything", func(e *leadscore.Event) {
			e.LeadID, e.Type, e.OccurredAt, e.Properties = "b", "email_open", t0.Add(time.Hour), map[string]string{"k": "v"}
		}, []string{"lead_id", "type", "occurred_at", "properties"}},
	} {
		sent := kept
		tt.edit(&sent)
		if got := EventConflict(kept, sent); !slices.Equal(got, tt.want) {
			t.Errorf("EventConflict() of %s = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestEventsResult(t *testing.T) {
	t.Parallel()
	ev := func(id, lead string) leadscore.Event {
		return leadscore.Event{ID: id, LeadID: lead, Type: "page_view", OccurredAt: t0}
	}
	events := []leadscore.Event{ev("new", "b"), ev("old", "a"), ev("new", "c"), ev("old", "a"), ev("x", "")}
	b, err := CheckEvents(events, leadscore.IngestOptions{At: t0, Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if first := FirstEvents(b, events); !slices.Equal(first, []int{0, 1}) {
		t.Errorf("FirstEvents() = %v, want [0 1]", first)
	}
	stored := map[string]leadscore.Event{"old": ev("old", "z")}
	res := EventsResult(b, events, map[string]bool{"new": true}, stored)
	if res.Recorded != 1 || res.Duplicates != 3 || len(res.Rejected) != 1 || !slices.Equal(res.Leads, []string{"b"}) {
		t.Errorf("EventsResult() = %+v, want 1 recorded for b, 3 duplicates, 1 rejected", res)
	}
	var conflicts []int
	for _, c := range res.Conflicts {
		conflicts = append(conflicts, c.Index)
	}
	if !slices.Equal(conflicts, []int{1, 2, 3}) {
		t.Errorf("EventsResult() conflicts at %v, want [1 2 3]", conflicts)
	}
}

func TestScoreTransition(t *testing.T) {
	t.Parallel()
	b2, _ := leadscore.ParseCell("cell", "B2")
	a2, _ := leadscore.ParseCell("cell", "A2")
	prev := leadscore.LeadScoreRecord{Probability: 0.5, Tier: leadscore.TierMedium, Cell: b2}
	for _, tt := range []struct {
		name            string
		prev            *leadscore.LeadScoreRecord
		p               float64
		tier            leadscore.Tier
		cell            leadscore.Cell
		step            float64
		history, change bool
	}{
		{"no previous score", nil, 0.5, leadscore.TierMedium, b2, 0.05, true, true},
		{"nothing moved", &prev, 0.5, leadscore.TierMedium, b2, 0, false, false},
		{"move within the step", &prev, 0.54, leadscore.TierMedium, b2, 0.05, false, false},
		{"move beyond the step", &prev, 0.44, leadscore.TierMedium, b2, 0.05, true, false},
		{"tier changed", &prev, 0.5, leadscore.TierGood, b2, 0.05, true, true},
		{"cell changed", &prev, 0.5, leadscore.TierMedium, a2, 0.05, true, true},
	} {
		next := leadscore.LeadScoreRecord{Probability: tt.p, Tier: tt.tier, Cell: tt.cell}
		h, c := ScoreTransition(tt.prev, next, tt.step)
		if h != tt.history || c != tt.change {
			t.Errorf("ScoreTransition() with %s = %v, %v; want %v, %v", tt.name, h, c, tt.history, tt.change)
		}
	}
}

func TestStaleScore(t *testing.T) {
	t.Parallel()
	prev := &leadscore.LeadScoreRecord{ScoredAt: t0}
	if StaleScore(nil, leadscore.LeadScoreRecord{ScoredAt: t0}) {
		t.Error("a first score is stale")
	}
	if !StaleScore(prev, leadscore.LeadScoreRecord{ScoredAt: t0.Add(-time.Microsecond)}) {
		t.Error("an older score is not stale")
	}
	if StaleScore(prev, leadscore.LeadScoreRecord{ScoredAt: t0.Add(-50)}) {
		t.Error("a score older only below the store's precision is stale")
	}
	if StaleScore(prev, leadscore.LeadScoreRecord{ScoredAt: t0}) {
		t.Error("a score as old as the stored one is stale")
	}
}

func TestDueAfterScore(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return StoredTime(t0.Add(time.Duration(m) * time.Minute)) }
	for _, tt := range []struct {
		name                   string
		due, scoredAt, nextDue time.Time
		want                   time.Time
	}{
		{"not due, no next", time.Time{}, at(10), time.Time{}, time.Time{}},
		{"due before the score, next", at(5), at(10), at(60), at(60)},
		{"due at the score's time", at(10), at(10), time.Time{}, time.Time{}},
		{"due after the score", at(15), at(10), time.Time{}, at(15)},
		{"due after the score, next sooner", at(15), at(10), at(12), at(12)},
		{"due after the score, next later", at(15), at(10), at(60), at(15)},
	} {
		if got := DueAfterScore(tt.due, tt.scoredAt, tt.nextDue); !got.Equal(tt.want) {
			t.Errorf("DueAfterScore() %s = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCheckClaim(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		at    time.Time
		limit int
		lease time.Duration
		field string
	}{
		{"smallest claim", t0, 1, time.Microsecond, ""},
		{"largest claim", t0, leadscore.MaxIngestBatch, time.Hour, ""},
		{"no time refused", time.Time{}, 10, time.Minute, "at"},
		{"limit 0 refused", t0, 0, time.Minute, "limit"},
		{"limit above a batch refused", t0, leadscore.MaxIngestBatch + 1, time.Minute, "limit"},
		{"no lease refused", t0, 10, 0, "lease"},
		{"negative lease refused", t0, 10, -time.Minute, "lease"},
		{"lease below the stored precision refused", t0, 10, 999 * time.Nanosecond, "lease"},
	} {
		err := CheckClaim(tt.at, tt.limit, tt.lease)
		if tt.field == "" {
			if err != nil {
				t.Errorf("CheckClaim() %s: %v", tt.name, err)
			}
			continue
		}
		var e *leadscore.Error
		if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != tt.field {
			t.Errorf("CheckClaim() %s = %v, want EINVALID naming %s", tt.name, err, tt.field)
		}
	}
}

func TestLeaseEnd(t *testing.T) {
	t.Parallel()
	// t0 has nanoseconds: the end is kept to the microsecond, after the
	// claim's own stored time even for the shortest lease.
	if got, want := LeaseEnd(t0, time.Minute), StoredTime(t0.Add(time.Minute)); !got.Equal(want) {
		t.Errorf("LeaseEnd(1m) = %v, want %v", got, want)
	}
	if got := LeaseEnd(t0, time.Microsecond); !got.After(StoredTime(t0)) {
		t.Errorf("LeaseEnd(1µs) = %v, want after the claim's stored time %v", got, StoredTime(t0))
	}
}

func TestDueOrder(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	got := DueOrder([]DueLead{{"b", at(2)}, {"c", at(1)}, {"a", at(2)}, {"B", at(2)}, {"d", at(0)}})
	if want := []string{"d", "c", "B", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("DueOrder() = %q, want %q: earliest due first, then by id in byte order", got, want)
	}
	if got := DueOrder(nil); len(got) != 0 {
		t.Errorf("DueOrder(none) = %q, want none", got)
	}
}

func TestCheckScores(t *testing.T) {
	t.Parallel()
	b2, _ := leadscore.ParseCell("cell", "B2")
	ok := leadscore.LeadScoreRecord{LeadID: "a", Version: leadscore.VersionRef{Model: "m", Version: 1},
		Probability: 0.5, Score: 50, Tier: leadscore.TierMedium, Cell: b2, ScoredAt: t0, Reason: leadscore.ReasonEvent}
	nanFactor := ok
	nanFactor.Factors = []leadscore.ScoreFactor{{Feature: "f", Contribution: math.NaN()}}
	for _, tt := range []struct {
		name   string
		scores []leadscore.LeadScoreRecord
		step   float64
		field  string
	}{
		{"a NaN factor", []leadscore.LeadScoreRecord{nanFactor}, 0, "scores[0].factors"},
		{"a lead twice", []leadscore.LeadScoreRecord{ok, ok}, 0, "scores[1].lead_id"},
		{"a NaN step", []leadscore.LeadScoreRecord{ok}, math.NaN(), "history_step"},
	} {
		err := CheckScores(tt.scores, leadscore.SaveScoresOptions{HistoryStep: tt.step})
		var e *leadscore.Error
		if !errors.As(err, &e) || e.Code != leadscore.EINVALID || e.Fields[0].Field != tt.field {
			t.Errorf("CheckScores() with %s = %v, want EINVALID on %s", tt.name, err, tt.field)
		}
	}
	if err := CheckScores([]leadscore.LeadScoreRecord{ok}, leadscore.SaveScoresOptions{HistoryStep: 0.05}); err != nil {
		t.Errorf("CheckScores() of a good score = %v", err)
	}
}

func TestEncodeDecodeScore(t *testing.T) {
	t.Parallel()
	c3, _ := leadscore.ParseCell("cell", "C3")
	r := leadscore.LeadScoreRecord{LeadID: "a", Tier: leadscore.TierLow, Cell: c3, Horizon: 90 * 24 * time.Hour,
		Factors: []leadscore.ScoreFactor{{Feature: "f", Group: "fit", Contribution: 0.25, Description: "d"}}}
	cols := EncodeScore(r)
	var got leadscore.LeadScoreRecord
	got.LeadID = "a"
	if err := DecodeScore(&got, cols); err != nil {
		t.Fatalf("DecodeScore(): %v", err)
	}
	if got.Tier != r.Tier || got.Cell != r.Cell || got.Horizon != r.Horizon || len(got.Factors) != 1 || got.Factors[0] != r.Factors[0] {
		t.Errorf("DecodeScore(EncodeScore(%+v)) = %+v", r, got)
	}
	cols.Grade, cols.Factors = "", nil // as score_changes keeps it
	if err := DecodeScore(&got, cols); err != nil || got.Cell != c3 || got.Factors != nil {
		t.Errorf("DecodeScore() from the cell text = %+v, %v; want C3 without factors", got, err)
	}
	if err := DecodeScore(&got, ScoreColumns{Tier: "great", Cell: "A1"}); err == nil {
		t.Error("DecodeScore() of an unknown tier succeeded")
	}
}
