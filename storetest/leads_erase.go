package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// The conformance suite of DeleteLead and its audit log.

func testDeleteLead(t *testing.T, s leadStore) {
	ctx := t.Context()
	registerScoring(t, s)
	a, b := lead("a"), lead("b")
	a.AccountID, b.AccountID = "acme", "acme"
	upsertLeads(t, s, 0, a, b)
	recordEvents(t, s, 1, event("a1", "a", minute(0)), event("a2", "a", minute(1)), event("b1", "b", minute(0)))
	if _, err := s.RecordOutcomes(ctx, []leadscore.Outcome{{LeadID: "a", Status: leadscore.OutcomeWon, OccurredAt: minute(1)}}, ingest(1)); err != nil {
		t.Fatalf("RecordOutcomes(): %v", err)
	}
	saveScores(t, s, 0, score("a", 1, minute(2), 0.2, leadscore.TierLow, "D4"), score("b", 1, minute(2), 0.3, leadscore.TierMedium, "C2"))
	saveScores(t, s, 0, score("a", 1, minute(3), 0.9, leadscore.TierVeryGood, "A1"))
	if n := len(scoreHistory(t, s, "a", 10)); n != 2 {
		t.Fatalf("a has %d history entries before its erasure, want 2", n)
	}
	before := counts(t, s)
	bBefore := getLead(t, s, "b")

	e := leadscore.Erasure{Actor: "dpo@example.com", Reason: "erasure request 42", At: minute(9).Add(1500)}
	if err := s.DeleteLead(ctx, "a", e); err != nil {
		t.Fatalf("DeleteLead(a): %v", err)
	}

	_, err := s.GetLead(ctx, "a")
	wantCode(t, "GetLead() of an erased lead", err, leadscore.ENOTFOUND)
	_, err = s.ScoreHistory(ctx, "a", 10)
	wantCode(t, "ScoreHistory() of an erased lead", err, leadscore.ENOTFOUND)
	acts, err := s.LeadActivity(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatalf("LeadActivity(): %v", err)
	}
	if len(acts) != 1 || acts[0].Lead.ID != "b" || len(acts[0].Events) != 1 {
		t.Errorf("LeadActivity(a, b) after a's erasure = %+v, want b with its one event", acts)
	}
	for _, c := range scoreChanges(t, s, 0, 100) {
		if c.LeadID == "a" {
			t.Errorf("change log keeps %+v of the erased lead", c)
		}
	}
	if n := len(scoreChanges(t, s, 0, 100)); n != 1 {
		t.Errorf("change log has %d entries after the erasure, want b's one", n)
	}
	if due := dueLeads(t, s, minute(1000), 10); slices.Contains(due, "a") {
		t.Errorf("DueLeads() lists the erased lead: %v", due)
	}
	after := counts(t, s)
	want := before
	want.Leads, want.Events, want.Outcomes = before.Leads-1, before.Events-2, before.Outcomes-1
	if after != want {
		t.Errorf("counts after the erasure = %+v, want %+v (the account stays)", after, want)
	}
	if got, _ := listLeads(t, s, leadscore.LeadFilter{}, leadscore.LeadPage{}, 10); len(got) != 1 || got[0].Lead.ID != "b" {
		t.Errorf("ListLeads() after the erasure lists %d leads, want b alone", len(got))
	}
	if got := getLead(t, s, "b"); !reflect.DeepEqual(got, bBefore) {
		t.Errorf("b after a's erasure = %+v, want it unchanged %+v", got, bBefore)
	}

	// One record, naming the lead by its hash only.
	sum := sha256.Sum256([]byte("a"))
	recs := leadErasures(t, s, "a")
	if len(recs) != 1 {
		t.Fatalf("LeadErasures(a) = %+v, want one record", recs)
	}
	wantRec := leadscore.LeadErasure{Seq: recs[0].Seq, LeadIDSHA256: hex.EncodeToString(sum[:]),
		Erasure: leadscore.Erasure{Actor: e.Actor, Reason: e.Reason, At: stored(e.At)}}
	if recs[0] != wantRec || recs[0].Seq < 1 {
		t.Errorf("erasure record = %+v, want %+v", recs[0], wantRec)
	}
	if got := leadErasures(t, s, "b"); len(got) != 0 {
		t.Errorf("LeadErasures(b) = %+v, want none", got)
	}

	// Erasing again, or a lead never stored, is not found, and the
	// record its transaction wrote before finding no lead is rolled back.
	wantCode(t, "DeleteLead() of an erased lead", s.DeleteLead(ctx, "a", e), leadscore.ENOTFOUND)
	wantCode(t, "DeleteLead() of an unknown lead", s.DeleteLead(ctx, "nobody", e), leadscore.ENOTFOUND)
	if got := leadErasures(t, s, "a"); len(got) != 1 {
		t.Errorf("LeadErasures(a) after a second, failed erasure = %d records, want 1", len(got))
	}
	if got := leadErasures(t, s, "nobody"); len(got) != 0 {
		t.Errorf("LeadErasures(nobody) = %+v, want none", got)
	}

	// A lead created again under the erased id starts afresh; the log keeps
	// the erasure.
	upsertLeads(t, s, 10, lead("a"))
	if got := getLead(t, s, "a"); got.Outcome != nil || got.Score != nil {
		t.Errorf("a created again = %+v, want no outcome or score", got)
	}
	if err := s.DeleteLead(ctx, "a", leadscore.Erasure{Actor: "dpo@example.com", At: minute(11)}); err != nil {
		t.Fatalf("second DeleteLead(a): %v", err)
	}
	if recs := leadErasures(t, s, "a"); len(recs) != 2 || recs[1].Seq <= recs[0].Seq || recs[1].Reason != "" {
		t.Errorf("LeadErasures(a) after two erasures = %+v, want both, oldest first", recs)
	}
}

func testDeleteLeadChecks(t *testing.T, s leadStore) {
	ctx := t.Context()
	upsertLeads(t, s, 0, lead("a"))
	ok := leadscore.Erasure{Actor: "dpo", Reason: "request 1", At: minute(1)}
	tests := []struct {
		name  string
		id    string
		edit  func(*leadscore.Erasure)
		field string
	}{
		{"a malformed id", "no spaces", nil, "id"},
		{"no actor", "a", func(e *leadscore.Erasure) { e.Actor = " " }, "actor"},
		{"a reason over 1024 bytes", "a", func(e *leadscore.Erasure) { e.Reason = strings.Repeat("x", leadscore.MaxErasureReason+1) }, "reason"},
		{"a reason with a NUL", "a", func(e *leadscore.Erasure) { e.Reason = "x\x00" }, "reason"},
		{"no time", "a", func(e *leadscore.Erasure) { e.At = time.Time{} }, "at"},
	}
	for _, tt := range tests {
		e := ok
		if tt.edit != nil {
			tt.edit(&e)
		}
		wantField(t, "DeleteLead() with "+tt.name, s.DeleteLead(ctx, tt.id, e), tt.field)
	}
	getLead(t, s, "a")
	if got := leadErasures(t, s, "a"); len(got) != 0 {
		t.Errorf("refused erasures wrote records %+v", got)
	}
	// A reason of exactly the limit is taken.
	e := ok
	e.Reason = strings.Repeat("x", leadscore.MaxErasureReason)
	if err := s.DeleteLead(ctx, "a", e); err != nil {
		t.Errorf("DeleteLead() with a reason of %d bytes: %v", leadscore.MaxErasureReason, err)
	}
}

func leadErasures(t *testing.T, s leadStore, id string) []leadscore.LeadErasure {
	t.Helper()
	got, err := s.LeadErasures(t.Context(), id)
	if err != nil {
		t.Fatalf("LeadErasures(%q): %v", id, err)
	}
	return got
}
