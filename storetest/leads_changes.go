package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// The change log's retention: PruneScoreChanges and ScoreChangeBounds.

func scoreChangeBounds(t *testing.T, s leadStore) (prunedThrough, newest int64) {
	t.Helper()
	prunedThrough, newest, err := s.ScoreChangeBounds(t.Context())
	if err != nil {
		t.Fatalf("ScoreChangeBounds(): %v", err)
	}
	return prunedThrough, newest
}

func wantBounds(t *testing.T, what string, s leadStore, prunedThrough, newest int64) {
	t.Helper()
	if p, n := scoreChangeBounds(t, s); p != prunedThrough || n != newest {
		t.Errorf("ScoreChangeBounds() %s = %d, %d; want %d, %d", what, p, n, prunedThrough, newest)
	}
}

func pruneScoreChanges(t *testing.T, s leadStore, before time.Time) int64 {
	t.Helper()
	n, err := s.PruneScoreChanges(t.Context(), before)
	if err != nil {
		t.Fatalf("PruneScoreChanges(%v): %v", before, err)
	}
	return n
}

// testPruneScoreChanges records two batches of changes a little apart
// (changes are stamped with the store's clock, not the scores' times)
// and prunes by time: the entries before the cutoff go, with their count,
// and the later ones stay as they were; the bounds follow: the watermark
// is the highest seq pruned, and newest stays the highest seq assigned
// when every entry is pruned. A zero
// time is refused.
func testPruneScoreChanges(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"), lead("b"), lead("c"))
	wantBounds(t, "of an empty log", s, 0, 0)

	saveScores(t, s, 0.05,
		score("a", 1, minute(1), 0.5, leadscore.TierMedium, "B2"),
		score("b", 1, minute(1), 0.5, leadscore.TierMedium, "B2"))
	first := scoreChanges(t, s, 0, 100)
	if len(first) != 2 {
		t.Fatalf("ScoreChanges() after the first save = %+v, want 2 changes", first)
	}
	// A cutoff half a microsecond after the first batch: stores keep
	// microseconds, so it deletes that batch and nothing recorded later.
	cutoff := first[1].ChangedAt.Add(500 * time.Nanosecond)
	for time.Now().Before(cutoff.Add(2 * time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
	saveScores(t, s, 0.05,
		score("c", 1, minute(2), 0.5, leadscore.TierMedium, "B2"),
		score("a", 1, minute(2), 0.9, leadscore.TierVeryGood, "A1"))
	all := scoreChanges(t, s, 0, 100)
	if len(all) != 4 {
		t.Fatalf("ScoreChanges() after the second save = %+v, want 4 changes", all)
	}
	second := all[2:]
	if !second[0].ChangedAt.After(cutoff) {
		t.Fatalf("second batch changed at %v, not after the cutoff %v: the store's clock went back", second[0].ChangedAt, cutoff)
	}
	wantBounds(t, "of four changes", s, 0, second[1].Seq)

	if n := pruneScoreChanges(t, s, first[0].ChangedAt); n != 0 {
		t.Errorf("PruneScoreChanges(the first change's time) = %d, want 0: nothing is before it", n)
	}
	if n := pruneScoreChanges(t, s, cutoff); n != 2 {
		t.Errorf("PruneScoreChanges(cutoff) = %d, want 2", n)
	}
	if got := scoreChanges(t, s, 0, 100); !reflect.DeepEqual(got, second) {
		t.Errorf("ScoreChanges() after pruning = %+v, want the later two unchanged %+v", got, second)
	}
	if got := scoreChanges(t, s, first[1].Seq, 100); !reflect.DeepEqual(got, second) {
		t.Errorf("ScoreChanges(after a pruned seq) = %+v, want %+v", got, second)
	}
	wantBounds(t, "after pruning the first two", s, first[1].Seq, second[1].Seq)
	if n := pruneScoreChanges(t, s, cutoff); n != 0 {
		t.Errorf("PruneScoreChanges(cutoff) again = %d, want 0", n)
	}

	if n := pruneScoreChanges(t, s, time.Now().Add(time.Hour)); n != 2 {
		t.Errorf("PruneScoreChanges(an hour ahead) = %d, want 2", n)
	}
	if got := scoreChanges(t, s, 0, 100); len(got) != 0 {
		t.Errorf("ScoreChanges() after pruning all = %+v, want none", got)
	}
	wantBounds(t, "after pruning all", s, second[1].Seq, second[1].Seq)

	saveScores(t, s, 0.05, score("b", 1, minute(3), 0.9, leadscore.TierVeryGood, "A1"))
	next := scoreChanges(t, s, 0, 100)
	if len(next) != 1 || next[0].Seq <= second[1].Seq {
		t.Fatalf("ScoreChanges() after a change that follows pruning = %+v, want one change after seq %d", next, second[1].Seq)
	}
	wantBounds(t, "after a change that follows pruning", s, second[1].Seq, next[0].Seq)

	// A cutoff no one computed deletes nothing.
	_, err := s.PruneScoreChanges(t.Context(), time.Time{})
	wantField(t, "PruneScoreChanges(zero time)", err, "before")
	if got := scoreChanges(t, s, 0, 100); !reflect.DeepEqual(got, next) {
		t.Errorf("ScoreChanges() after a refused prune = %+v, want %+v", got, next)
	}
}
