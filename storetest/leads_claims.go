package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// lease is how long the suite's claims lease their leads.
const lease = time.Hour

func claimDue(t *testing.T, s leadStore, at time.Time, limit int) []string {
	t.Helper()
	got, err := s.ClaimDueLeads(t.Context(), at, limit, lease)
	if err != nil {
		t.Fatalf("ClaimDueLeads(%v, %d): %v", at, limit, err)
	}
	return got
}

// wantClaim claims up to limit leads at at and fails the test unless it
// gets want, in that order.
func wantClaim(t *testing.T, what string, s leadStore, at time.Time, limit int, want ...string) {
	t.Helper()
	if got := claimDue(t, s, at, limit); !slices.Equal(got, want) {
		t.Errorf("ClaimDueLeads() %s = %q, want %q", what, got, want)
	}
}

func testClaimDueLeads(t *testing.T, s leadStore) {
	ctx := t.Context()
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("c"), lead("scored"))
	upsertLeads(t, s, 1, lead("b"), lead("a"))
	upsertLeads(t, s, 5, lead("later"))
	saveScores(t, s, 0.05, score("scored", 1, minute(1), 0.5, leadscore.TierMedium, "B2")) // no next due

	for _, tt := range []struct {
		name  string
		at    time.Time
		limit int
		lease time.Duration
		field string
	}{
		{"without a time", time.Time{}, 10, lease, "at"},
		{"of limit 0", minute(2), 0, lease, "limit"},
		{"of more than a batch", minute(2), leadscore.MaxIngestBatch + 1, lease, "limit"},
		{"without a lease", minute(2), 10, 0, "lease"},
		{"with a negative lease", minute(2), 10, -time.Minute, "lease"},
	} {
		got, err := s.ClaimDueLeads(ctx, tt.at, tt.limit, tt.lease)
		wantField(t, "ClaimDueLeads() "+tt.name, err, tt.field)
		if len(got) != 0 {
			t.Errorf("refused ClaimDueLeads() %s returned %q", tt.name, got)
		}
	}

	// c is due at 0, a and b at 1 (ties by id), later at 5; scored is
	// not due at all.
	wantClaim(t, "of due leads", s, minute(2), 10, "c", "a", "b")
	wantClaim(t, "again at the same time", s, minute(2), 10)
	if got, want := dueLeads(t, s, minute(2), 10), []string{"c", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() of claimed leads = %q, want %q: a claimed lead stays due", got, want)
	}
	wantClaim(t, "when a later lead is due", s, minute(5), 10, "later")
	wantClaim(t, "just before the leases end", s, minute(62).Add(-time.Microsecond), 10)
	wantClaim(t, "of limit 2 when the first leases end", s, minute(62), 2, "c", "a")
	wantClaim(t, "of limit 2 again", s, minute(62), 2, "b")
	wantClaim(t, "when every lease has ended", s, minute(1000), 10, "c", "a", "b", "later")
}

func testClaimThenScore(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"), lead("b"))
	wantClaim(t, "of new leads", s, minute(1), 10, "a", "b")
	a := score("a", 1, minute(1), 0.5, leadscore.TierMedium, "B2")
	a.NextDue = minute(30)
	saveScores(t, s, 0.05, a) // b's claimer never scores it

	wantClaim(t, "before a's next due time", s, minute(29), 10)
	wantClaim(t, "at a's next due time, within the lease it had", s, minute(30), 10, "a")
	wantClaim(t, "when b's lease ends", s, minute(61), 10, "b")

	// a is leased again from 30. Its score ends the lease, so the write
	// that makes it due after the score is claimable at once.
	saveScores(t, s, 0.05, score("a", 1, minute(31), 0.5, leadscore.TierMedium, "B2"))
	recordEvents(t, s, 32, event("e1", "a", minute(32)))
	wantClaim(t, "after a scored lead's event", s, minute(33), 10, "a")

	// A write leaves the lease alone; a score made before the write ends
	// the lease and leaves the lead due.
	recordEvents(t, s, 34, event("e2", "a", minute(34)))
	wantClaim(t, "of a leased lead a write made due", s, minute(35), 10)
	saveScores(t, s, 0.05, score("a", 1, minute(33), 0.5, leadscore.TierMedium, "B2"))
	wantClaim(t, "after a score older than the write", s, minute(36), 10, "a")
}

// testConcurrentClaims has claimers take batches of the same due leads at
// once until none is left: every lead is claimed exactly once between
// them. All the leads are due at one time, so every claim goes for the
// same first rows.
func testConcurrentClaims(t *testing.T, s leadStore) {
	const leads, claimers, batch = 100, 3, 7
	var all []leadscore.Lead
	for i := range leads {
		all = append(all, lead(fmt.Sprintf("l%03d", i)))
	}
	upsertLeads(t, s, 0, all...)
	ctx := t.Context()
	claimed := make([][]string, claimers)
	errs := make([]error, claimers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range claimers {
		wg.Go(func() {
			<-start
			for {
				ids, err := s.ClaimDueLeads(ctx, minute(1), batch, lease)
				if err != nil {
					errs[c] = err
					return
				}
				if len(ids) == 0 {
					return
				}
				if len(ids) > batch {
					errs[c] = fmt.Errorf("claimed %d leads, more than the limit %d", len(ids), batch)
					return
				}
				claimed[c] = append(claimed[c], ids...)
			}
		})
	}
	close(start)
	wg.Wait()
	times := map[string]int{}
	for c := range claimers {
		if errs[c] != nil {
			t.Fatalf("concurrent ClaimDueLeads() of claimer %d: %v", c, errs[c])
		}
		for _, id := range claimed[c] {
			times[id]++
		}
	}
	for id, n := range times {
		if n != 1 {
			t.Errorf("lead %s claimed %d times, want once", id, n)
		}
	}
	if len(times) != leads {
		t.Errorf("concurrent claimers took %d distinct leads, want all %d", len(times), leads)
	}
	wantClaim(t, "after the claimers took every lead", s, minute(1), batch)
}

// testDeadReplica claims a batch that is never scored, as by a server
// that died: no claim takes its leads until the lease ends, and the first
// claim after takes them all.
func testDeadReplica(t *testing.T, s leadStore) {
	registerScoring(t, s)
	var all []leadscore.Lead
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("l%d", i))
		all = append(all, lead(ids[i]))
	}
	upsertLeads(t, s, 0, all...)
	wantClaim(t, "of the dying server", s, minute(1), 5, ids[:5]...)
	wantClaim(t, "of a live server", s, minute(1), 10, ids[5:]...)
	var scores []leadscore.LeadScoreRecord
	for _, id := range ids[5:] {
		scores = append(scores, score(id, 1, minute(2), 0.5, leadscore.TierMedium, "B2"))
	}
	saveScores(t, s, 0.05, scores...)
	wantClaim(t, "just before the dead server's lease ends", s, minute(61).Add(-time.Microsecond), 10)
	wantClaim(t, "when the dead server's lease ends", s, minute(61), 10, ids[:5]...)
}

func testMarkAllDue(t *testing.T, s leadStore) {
	ctx := t.Context()
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"), lead("d"), lead("lost"), lead("won"))
	_, err := s.RecordOutcomes(ctx, []leadscore.Outcome{
		{LeadID: "won", Status: leadscore.OutcomeWon, OccurredAt: minute(1)},
		{LeadID: "lost", Status: leadscore.OutcomeLost, OccurredAt: minute(1)},
	}, ingest(1))
	if err != nil {
		t.Fatalf("RecordOutcomes(): %v", err)
	}
	var scores []leadscore.LeadScoreRecord
	for _, id := range []string{"a", "d", "lost", "won"} {
		scores = append(scores, score(id, 1, minute(2), 0.5, leadscore.TierMedium, "B2"))
	}
	saveScores(t, s, 0.05, scores...)
	recordEvents(t, s, 3, event("e1", "d", minute(3)))
	recordEvents(t, s, 4, event("e2", "won", minute(4)))
	wantClaim(t, "of d and won", s, minute(5), 10, "d", "won")

	_, err = s.MarkAllDue(ctx, time.Time{}, leadscore.VersionRef{})
	wantField(t, "MarkAllDue() without a time", err, "at")
	n, err := s.MarkAllDue(ctx, minute(10), leadscore.VersionRef{})
	if err != nil {
		t.Fatalf("MarkAllDue(): %v", err)
	}
	if n != 2 {
		t.Errorf("MarkAllDue() = %d, want 2: a and d have no outcome", n)
	}
	// won keeps its due time (4) and its lease; lost is still not due.
	if got, want := dueLeads(t, s, minute(9), 10), []string{"won"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() before MarkAllDue's time = %q, want %q", got, want)
	}
	if got, want := dueLeads(t, s, minute(10), 10), []string{"won", "a", "d"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() at MarkAllDue's time = %q, want %q", got, want)
	}
	wantClaim(t, "after MarkAllDue, d's lease ended and won's kept", s, minute(10), 10, "a", "d")

	// A score made before MarkAllDue's time, by the old champion, leaves
	// the lead due.
	saveScores(t, s, 0.05, score("a", 1, minute(9), 0.5, leadscore.TierMedium, "B2"))
	wantClaim(t, "after a score older than MarkAllDue", s, minute(11), 10, "a")

	// A promotion to version 2 seen by two replicas: the second marks only
	// the leads the first's rescoring has not reached.
	createVersion(t, s, scoringModel, 2)
	v2 := leadscore.VersionRef{Model: scoringModel, Version: 2}
	saveScores(t, s, 0.05, score("a", 1, minute(12), 0.5, leadscore.TierMedium, "B2"), score("d", 1, minute(12), 0.5, leadscore.TierMedium, "B2"))
	if n, err := s.MarkAllDue(ctx, minute(20), v2); err != nil || n != 2 {
		t.Fatalf("MarkAllDue(v2) = %d, %v; want a and d", n, err)
	}
	wantProgress(t, "before v2 scored any", s, v2, leadscore.RescoreProgress{Live: 2})
	saveScores(t, s, 0.05, score("a", 2, minute(21), 0.5, leadscore.TierMedium, "B2"))
	wantProgress(t, "after v2 scored a", s, v2, leadscore.RescoreProgress{Live: 2, Rescored: 1})
	wantProgress(t, "of v1, which scores d", s, leadscore.VersionRef{Model: scoringModel, Version: 1}, leadscore.RescoreProgress{Live: 2, Rescored: 1})
	wantProgress(t, "of an unknown version", s, leadscore.VersionRef{Model: scoringModel, Version: 9}, leadscore.RescoreProgress{Live: 2})
	if n, err := s.MarkAllDue(ctx, minute(22), v2); err != nil || n != 1 {
		t.Fatalf("MarkAllDue(v2) again = %d, %v; want only d, which v2 has not scored yet", n, err)
	}
	if got := dueLeads(t, s, minute(30), 10); slices.Contains(got, "a") {
		t.Errorf("DueLeads() = %q: a, scored by v2, was marked again", got)
	}
}

// wantProgress checks what RescoreProgress counts for version.
func wantProgress(t *testing.T, when string, s leadStore, version leadscore.VersionRef, want leadscore.RescoreProgress) {
	t.Helper()
	got, err := s.RescoreProgress(t.Context(), version)
	if err != nil || got != want {
		t.Errorf("RescoreProgress(%s) %s = %+v, %v; want %+v", version.Name(), when, got, err, want)
	}
}
