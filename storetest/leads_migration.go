package storetest

import (
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// CheckLiveLeadsAfter0004 checks a store migrated to 0004_live_leads,
// and then to the latest migration, from one holding the backends' test
// fixture: lead "lead" of account "acct", scored 0.42 (tier good, cell
// A1) by version 1 of model "default" at changedAt, with one history
// entry and one change, all written at changedAt. What was stored reads
// back (the change as scored when it changed, the lead not due), and the
// lead takes a new score.
func CheckLiveLeadsAfter0004(t *testing.T, s leadscore.LeadStore, changedAt time.Time) {
	t.Helper()
	ctx := t.Context()
	a1, _ := leadscore.ParseCell("cell", "A1")
	got, err := s.GetLead(ctx, "lead")
	if err != nil {
		t.Fatalf("GetLead() after 0004: %v", err)
	}
	ref := leadscore.VersionRef{Model: "default", Version: 1}
	if sc := got.Score; sc == nil || sc.Version != ref || sc.Probability != 0.42 || sc.Score != 42 ||
		sc.Tier != leadscore.TierGood || sc.Cell != a1 || !sc.ScoredAt.Equal(changedAt) {
		t.Errorf("GetLead().Score after 0004 = %+v, want 0.42, good, A1 by %s at %v", sc, ref.Name(), changedAt)
	}
	if got.Lead.AccountID != "acct" || got.Outcome == nil || got.Outcome.Amount != 1200.5 {
		t.Errorf("GetLead() after 0004 = %+v, want the fixture's lead of acct with its outcome", got)
	}
	if h, err := s.ScoreHistory(ctx, "lead", 10); err != nil || len(h) != 1 || h[0].Reason != leadscore.ReasonEvent {
		t.Errorf("ScoreHistory() after 0004 = %+v, %v; want the one entry, of reason event", h, err)
	}
	changes, err := s.ScoreChanges(ctx, 0, 10)
	if err != nil {
		t.Fatalf("ScoreChanges() after 0004: %v", err)
	}
	if len(changes) != 1 || !changes[0].Score.ScoredAt.Equal(changedAt) || !changes[0].ChangedAt.Equal(changedAt) ||
		changes[0].Score.Tier != leadscore.TierGood || changes[0].Score.Cell != a1 || changes[0].PreviousTier != leadscore.TierNone {
		t.Errorf("ScoreChanges() after 0004 = %+v, want the one change to good A1, scored when it changed (%v)", changes, changedAt)
	}
	// 0007_change_prunes counts the seqs below the oldest retained change
	// as pruned, as the log's bounds did before it.
	if len(changes) == 1 {
		if p, n, err := s.ScoreChangeBounds(ctx); err != nil || p != changes[0].Seq-1 || n != changes[0].Seq {
			t.Errorf("ScoreChangeBounds() after 0004 = %d, %d, %v; want %d, %d", p, n, err, changes[0].Seq-1, changes[0].Seq)
		}
	}
	if due, err := s.DueLeads(ctx, changedAt.Add(1000*time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("DueLeads() after 0004 = %q, %v; want none: nothing made the lead due", due, err)
	}
	next := leadscore.LeadScoreRecord{LeadID: "lead", Version: ref, Probability: 0.9, Score: 90,
		Tier: leadscore.TierVeryGood, Cell: a1, ScoredAt: changedAt.Add(time.Hour), Reason: leadscore.ReasonDecay}
	res, err := s.SaveScores(ctx, []leadscore.LeadScoreRecord{next}, leadscore.SaveScoresOptions{HistoryStep: 0.05})
	if err != nil {
		t.Fatalf("SaveScores() after 0004: %v", err)
	}
	if want := (leadscore.SaveScoresResult{Saved: 1, History: 1, Changes: 1}); res != want {
		t.Errorf("SaveScores() after 0004 = %+v, want %+v", res, want)
	}
	changes, err = s.ScoreChanges(ctx, 0, 10)
	if err != nil || len(changes) != 2 || changes[1].PreviousTier != leadscore.TierGood {
		t.Errorf("ScoreChanges() after a new score = %+v, %v; want a second change from good", changes, err)
	}
}

// LeadsBefore0005 writes leads to a store migrated up to 0004_live_leads,
// for CheckDueLeasesAfter0005: "due" made due at minute 0 of the suite's
// clock and "later" at minute 5. It only upserts leads: the store's other
// writes are those of the latest schema.
func LeadsBefore0005(t *testing.T, s leadscore.LeadStore) {
	t.Helper()
	if _, err := s.UpsertLeads(t.Context(), []leadscore.Lead{lead("due")}, ingest(0)); err != nil {
		t.Fatalf("UpsertLeads() before 0005: %v", err)
	}
	if _, err := s.UpsertLeads(t.Context(), []leadscore.Lead{lead("later")}, ingest(5)); err != nil {
		t.Fatalf("UpsertLeads() before 0005: %v", err)
	}
}

// CheckDueLeasesAfter0005 checks a store migrated to 0005_due_leases
// from the leads of LeadsBefore0005: no lead is leased, so each is
// claimed once it is due, and only once.
func CheckDueLeasesAfter0005(t *testing.T, s leadscore.LeadStore) {
	t.Helper()
	ls, ok := s.(leadStore)
	if !ok {
		t.Fatalf("%T is not also a HistoryStore and RegistryStore; the check needs them", s)
	}
	wantClaim(t, "of a lead due before 0005", ls, minute(2), 10, "due")
	wantClaim(t, "again", ls, minute(2), 10)
	wantClaim(t, "when the later lead is due", ls, minute(5), 10, "later")
}
