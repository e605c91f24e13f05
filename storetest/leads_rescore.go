package storetest

import (
	"slices"
	"testing"

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
