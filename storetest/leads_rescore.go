package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// testRescoreInWrite writes leads and events with IngestOptions.Rescore:
// the function sees the activity the write leaves, its scores are saved
// before the write returns and counted in the result, and scores that
// cannot be saved are undone alone, naming why, while the write commits
// and its leads stay due.
func testRescoreInWrite(t *testing.T, s leadStore) {
	ctx := t.Context()
	registerScoring(t, s)
	var seen [][]leadscore.LeadActivity
	rescore := func(version int64, at int) func([]leadscore.LeadActivity) []leadscore.LeadScoreRecord {
		return func(acts []leadscore.LeadActivity) []leadscore.LeadScoreRecord {
			seen = append(seen, acts)
			var out []leadscore.LeadScoreRecord
			for _, a := range acts {
				out = append(out, score(a.Lead.ID, version, minute(at), 0.3+0.1*float64(len(a.Events)), leadscore.TierMedium, "B2"))
			}
			return out
		}
	}

	opts := ingest(1)
	opts.Rescore, opts.RescoreOptions = rescore(1, 1), leadscore.SaveScoresOptions{HistoryStep: 0.05}
	up, err := s.UpsertLeads(ctx, []leadscore.Lead{lead("b"), lead("a")}, opts)
	if err != nil || up.RescoreErr != nil || up.Rescored != (leadscore.SaveScoresResult{Saved: 2, History: 2, Changes: 2}) {
		t.Fatalf("UpsertLeads(rescoring) = %+v, %v; want both leads' first scores saved", up, err)
	}
	if len(seen) != 1 || len(seen[0]) != 2 || seen[0][0].Lead.ID != "a" || seen[0][1].Lead.ID != "b" || seen[0][0].Score != nil {
		t.Fatalf("rescoring saw %+v, want a and b, in id order, unscored", seen)
	}

	opts = ingest(2)
	opts.Rescore, opts.RescoreOptions = rescore(1, 2), leadscore.SaveScoresOptions{HistoryStep: 0.05}
	ev, err := s.RecordEvents(ctx, []leadscore.Event{event("e1", "a", minute(2)), event("e2", "a", minute(2))}, opts)
	if err != nil || ev.RescoreErr != nil || ev.Rescored.Saved != 1 || ev.Rescored.History != 1 {
		t.Fatalf("RecordEvents(rescoring) = %+v, %v; want a's new score saved with a history entry", ev, err)
	}
	if acts := seen[1]; len(acts) != 1 || len(acts[0].Events) != 2 || acts[0].Score == nil || acts[0].Score.Probability != 0.3 {
		t.Fatalf("rescoring after the events saw %+v, want a with both events and its first score", acts)
	}
	got, err := s.GetLead(ctx, "a")
	if err != nil || got.Score == nil || got.Score.Probability != 0.5 {
		t.Fatalf("GetLead(a) = %+v, %v; want the score the write saved (0.5)", got.Score, err)
	}
	if due := dueLeads(t, s, minute(3), 10); len(due) != 0 {
		t.Errorf("DueLeads() after writes that rescored = %q, want none", due)
	}

	// A score of a version the registry does not hold is undone alone.
	opts = ingest(3)
	opts.Rescore = rescore(9, 3)
	ev, err = s.RecordEvents(ctx, []leadscore.Event{event("e3", "b", minute(3))}, opts)
	if err != nil || ev.Recorded != 1 || ev.RescoreErr == nil || ev.Rescored != (leadscore.SaveScoresResult{}) {
		t.Fatalf("RecordEvents(rescoring with an unknown version) = %+v, %v; want the event recorded and the rescoring's error", ev, err)
	}
	wantField(t, "RescoreErr of a score by an unknown version", ev.RescoreErr, "scores[0].version")
	acts, err := s.LeadActivity(ctx, []string{"b"})
	if err != nil || len(acts) != 1 || len(acts[0].Events) != 1 || acts[0].Score == nil || acts[0].Score.Probability != 0.3 {
		t.Fatalf("LeadActivity(b) = %+v, %v; want the event kept and the first score unchanged", acts, err)
	}
	if due := dueLeads(t, s, minute(3), 10); !slices.Equal(due, []string{"b"}) {
		t.Errorf("DueLeads() after a rescoring that failed = %q, want b", due)
	}
}

// RunConcurrentWrites runs the lead tests whose writes must overlap in
// time, for a backend whose writes of leads run at once (PostgreSQL).
// SQLite takes one writer at a time, so these interleavings cannot arise
// there. open is as RunLeads takes it.
func RunConcurrentWrites(t *testing.T, open func(t *testing.T) leadscore.LeadStore) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s leadStore)
	}{
		{"a write rescoring a lead does not hold it while it scores, and rescores what another committed meanwhile", testRescoreAfterConcurrentWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ls, ok := open(t).(leadStore)
			if !ok {
				t.Fatalf("the store is not also a HistoryStore and RegistryStore; the suite needs them")
			}
			tt.test(t, ls)
		})
	}
}

// testRescoreAfterConcurrentWrite records an event of a lead with
// rescoring, and while that write scores the lead (inside its Rescore),
// records and commits a second event of the same lead with rescoring:
// the second write must not wait for the first (the first locks its leads
// only to save), and the first must score the lead again with both events
// before it saves, so the score it leaves holds every committed event.
func testRescoreAfterConcurrentWrite(t *testing.T, s leadStore) {
	ctx := t.Context()
	registerScoring(t, s)
	if _, err := s.UpsertLeads(ctx, []leadscore.Lead{lead("a")}, ingest(1)); err != nil {
		t.Fatalf("UpsertLeads(): %v", err)
	}
	byEvents := func(acts []leadscore.LeadActivity) []leadscore.LeadScoreRecord {
		var out []leadscore.LeadScoreRecord
		for _, a := range acts {
			out = append(out, score(a.Lead.ID, 1, minute(2), 0.1*float64(len(a.Events)), leadscore.TierMedium, "B2"))
		}
		return out
	}
	second := ingest(2)
	second.Rescore = byEvents
	var (
		seen        [][]leadscore.LeadActivity
		secondRes   leadscore.EventsResult
		secondErr   error
		secondCalls int
	)
	first := ingest(2)
	first.Rescore = func(acts []leadscore.LeadActivity) []leadscore.LeadScoreRecord {
		seen = append(seen, acts)
		if len(seen) == 1 {
			// The guard only keeps a wrong store (one that locks the lead
			// before scoring, so this write waits for the first) from
			// hanging the suite; no timing is measured.
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			secondCalls++
			secondRes, secondErr = s.RecordEvents(wctx, []leadscore.Event{event("e2", "a", minute(2))}, second)
		}
		return byEvents(acts)
	}
	res, err := s.RecordEvents(ctx, []leadscore.Event{event("e1", "a", minute(2))}, first)
	if secondCalls != 1 || secondErr != nil || secondRes.Recorded != 1 || secondRes.Rescored.Saved != 1 {
		t.Fatalf("the second write, while the first scored = %+v, %v; want it recorded and rescored without waiting", secondRes, secondErr)
	}
	if err != nil || res.Recorded != 1 || res.RescoreErr != nil || res.Rescored.Saved != 1 {
		t.Fatalf("the first write = %+v, %v; want its event recorded and the lead rescored", res, err)
	}
	if len(seen) != 2 || len(seen[0]) != 1 || len(seen[0][0].Events) != 1 || len(seen[1]) != 1 || len(seen[1][0].Events) != 2 {
		t.Fatalf("the first write's rescoring saw %+v; want a with its own event, then a again with both", seen)
	}
	got, err := s.GetLead(ctx, "a")
	if err != nil || got.Score == nil || got.Score.Probability != 0.2 {
		t.Fatalf("GetLead(a) = %+v, %v; want the score of both events (0.2)", got.Score, err)
	}
}
