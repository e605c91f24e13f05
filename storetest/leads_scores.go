package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// scoringModel is the model whose versions the suite's scores name.
const scoringModel = "scoring"

// registerScoring registers version 1 of scoringModel, which the suite's
// scores refer to.
func registerScoring(t *testing.T, s leadStore) {
	t.Helper()
	createModel(t, s, scoringModel)
	createVersion(t, s, scoringModel, 1)
}

// score returns a score of version v of scoringModel.
func score(leadID string, v int64, at time.Time, p float64, tier leadscore.Tier, cell string) leadscore.LeadScoreRecord {
	c, err := leadscore.ParseCell("cell", cell)
	if err != nil {
		panic(err)
	}
	return leadscore.LeadScoreRecord{
		LeadID: leadID, Version: leadscore.VersionRef{Model: scoringModel, Version: v}, Alias: leadscore.AliasChampion,
		Probability: p, Score: max(1, min(99, int(p*100))), Percentile: 0.75, Tier: tier, Cell: c,
		Action: leadscore.ActionNurture, BaseValue: -1.25, RawOutput: 0.3125,
		Horizon: 90*24*time.Hour + 1500*time.Nanosecond,
		Factors: []leadscore.ScoreFactor{
			{Feature: "events.page_view.count_30d", Group: "engagement", Contribution: 0.21, Value: "3", Description: "visited pricing 3 times"},
			{Feature: "attributes.size", Group: "fit", Contribution: -0.05, Description: "small company"},
		},
		ScoredAt: at, Reason: leadscore.ReasonEvent,
	}
}

// storedScore is r as a store keeps it.
func storedScore(r leadscore.LeadScoreRecord) leadscore.LeadScoreRecord {
	r.ScoredAt = stored(r.ScoredAt)
	if !r.NextDue.IsZero() {
		r.NextDue = stored(r.NextDue)
	}
	r.Horizon = r.Horizon.Truncate(time.Microsecond)
	if len(r.Factors) == 0 {
		r.Factors = nil
	}
	return r
}

func saveScores(t *testing.T, s leadStore, step float64, scores ...leadscore.LeadScoreRecord) leadscore.SaveScoresResult {
	t.Helper()
	res, err := s.SaveScores(t.Context(), scores, leadscore.SaveScoresOptions{HistoryStep: step})
	if err != nil {
		t.Fatalf("SaveScores(): %v", err)
	}
	return res
}

func wantSaved(t *testing.T, what string, got leadscore.SaveScoresResult, saved, stale, history, changes int) {
	t.Helper()
	want := leadscore.SaveScoresResult{Saved: saved, Stale: stale, History: history, Changes: changes}
	if got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func scoreChanges(t *testing.T, s leadStore, after int64, limit int) []leadscore.ScoreChange {
	t.Helper()
	got, err := s.ScoreChanges(t.Context(), after, limit)
	if err != nil {
		t.Fatalf("ScoreChanges(%d, %d): %v", after, limit, err)
	}
	return got
}

func scoreHistory(t *testing.T, s leadStore, id string, limit int) []leadscore.LeadScoreRecord {
	t.Helper()
	got, err := s.ScoreHistory(t.Context(), id, limit)
	if err != nil {
		t.Fatalf("ScoreHistory(%q, %d): %v", id, limit, err)
	}
	return got
}

func dueLeads(t *testing.T, s leadStore, at time.Time, limit int) []string {
	t.Helper()
	got, err := s.DueLeads(t.Context(), at, limit)
	if err != nil {
		t.Fatalf("DueLeads(): %v", err)
	}
	return got
}

func testFirstScore(t *testing.T, s leadStore) {
	registerScoring(t, s)
	l := lead("a")
	l.AccountID, l.Owner = "acme", "sam"
	upsertLeads(t, s, 0, l)
	first := score("a", 1, minute(1), 0.42, leadscore.TierMedium, "B2")
	first.NextDue = minute(600)
	before := time.Now()
	wantSaved(t, "SaveScores() of a first score", saveScores(t, s, 0.05, first), 1, 0, 1, 1)
	after := time.Now()

	want := storedScore(first)
	if got := getLead(t, s, "a"); got.Score == nil || !reflect.DeepEqual(*got.Score, want) {
		t.Errorf("GetLead().Score = %+v, want %+v", got.Score, want)
	}
	if got := scoreHistory(t, s, "a", 10); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("ScoreHistory() = %+v, want [%+v]", got, want)
	}
	acts, err := s.LeadActivity(t.Context(), []string{"a"})
	if err != nil || len(acts) != 1 || acts[0].Score == nil || !reflect.DeepEqual(*acts[0].Score, want) {
		t.Errorf("LeadActivity() = %+v, %v; want lead a with score %+v", acts, err, want)
	}
	changes := scoreChanges(t, s, 0, 10)
	if len(changes) != 1 {
		t.Fatalf("ScoreChanges() = %+v, want one change", changes)
	}
	c := changes[0]
	wantChange := want
	wantChange.Factors = nil
	if c.Seq < 1 || c.LeadID != "a" || c.AccountID != "acme" || c.Owner != "sam" ||
		c.PreviousTier != leadscore.TierNone || c.PreviousCell != (leadscore.Cell{}) || !reflect.DeepEqual(c.Score, wantChange) {
		t.Errorf("ScoreChanges()[0] = %+v, want lead a of acme owned by sam, from no tier to %+v", c, wantChange)
	}
	if c.ChangedAt.Before(before.Add(-5*time.Second)) || c.ChangedAt.After(after.Add(5*time.Second)) {
		t.Errorf("ScoreChanges()[0].ChangedAt = %v, want between %v and %v", c.ChangedAt, before, after)
	}
}

func testScoreTransitions(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"))
	steps := []struct {
		name                      string
		score                     leadscore.LeadScoreRecord
		step                      float64
		history, change           int
		previousTier, currentTier leadscore.Tier
	}{
		{"first score", score("a", 1, minute(1), 0.50, leadscore.TierMedium, "B2"), 0.05, 1, 1, leadscore.TierNone, leadscore.TierMedium},
		{"move within the step", score("a", 1, minute(2), 0.52, leadscore.TierMedium, "B2"), 0.05, 0, 0, 0, 0},
		{"move beyond the step", score("a", 1, minute(3), 0.60, leadscore.TierMedium, "B2"), 0.05, 1, 0, 0, 0},
		{"tier change", score("a", 1, minute(4), 0.61, leadscore.TierGood, "B2"), 0.05, 1, 1, leadscore.TierMedium, leadscore.TierGood},
		{"cell change", score("a", 1, minute(5), 0.61, leadscore.TierGood, "A2"), 0.05, 1, 1, leadscore.TierGood, leadscore.TierGood},
		{"no move with step 0", score("a", 1, minute(6), 0.61, leadscore.TierGood, "A2"), 0, 0, 0, 0, 0},
		{"any move with step 0", score("a", 1, minute(7), 0.6100001, leadscore.TierGood, "A2"), 0, 1, 0, 0, 0},
	}
	var history, changes int
	for _, st := range steps {
		wantSaved(t, "SaveScores() of "+st.name, saveScores(t, s, st.step, st.score), 1, 0, st.history, st.change)
		history += st.history
		changes += st.change
		if got := getLead(t, s, "a"); got.Score == nil || !reflect.DeepEqual(*got.Score, storedScore(st.score)) {
			t.Errorf("after %s GetLead().Score = %+v, want %+v", st.name, got.Score, storedScore(st.score))
		}
		if st.change == 0 {
			continue
		}
		all := scoreChanges(t, s, 0, 100)
		if len(all) != changes {
			t.Fatalf("after %s ScoreChanges() has %d entries, want %d", st.name, len(all), changes)
		}
		last := all[len(all)-1]
		if last.PreviousTier != st.previousTier || last.Score.Tier != st.currentTier || last.Score.Cell != st.score.Cell {
			t.Errorf("after %s the last change is %v -> %v %v, want %v -> %v %v", st.name,
				last.PreviousTier, last.Score.Tier, last.Score.Cell, st.previousTier, st.currentTier, st.score.Cell)
		}
	}
	if got := scoreHistory(t, s, "a", 100); len(got) != history {
		t.Errorf("ScoreHistory() has %d entries, want %d", len(got), history)
	}
	if got := scoreChanges(t, s, 0, 100); len(got) != changes || got[len(got)-1].PreviousCell.String() != "B2" {
		t.Errorf("ScoreChanges() = %+v, want %d entries, the last from B2", got, changes)
	}
}

func testStaleScores(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"), lead("b"))
	current := score("a", 1, minute(10), 0.5, leadscore.TierMedium, "B2")
	saveScores(t, s, 0.05, current)
	older := score("a", 1, minute(5), 0.9, leadscore.TierVeryGood, "A1")
	wantSaved(t, "SaveScores() of an older score", saveScores(t, s, 0.05, older), 0, 1, 0, 0)
	if got := getLead(t, s, "a"); got.Score == nil || !reflect.DeepEqual(*got.Score, storedScore(current)) {
		t.Errorf("after an older score GetLead().Score = %+v, want the newer %+v", got.Score, storedScore(current))
	}
	ghost := score("ghost", 1, minute(11), 0.5, leadscore.TierMedium, "B2")
	newB := score("b", 1, minute(11), 0.3, leadscore.TierLow, "C3")
	wantSaved(t, "SaveScores() of a mixed batch", saveScores(t, s, 0.05, ghost, older, newB), 1, 2, 1, 1)
	sameTime := current
	sameTime.Probability = 0.7
	wantSaved(t, "SaveScores() at the stored score's time", saveScores(t, s, 0.05, sameTime), 1, 0, 1, 0)
	if got := scoreHistory(t, s, "a", 10); len(got) != 2 || got[0].Probability != 0.7 {
		t.Errorf("ScoreHistory() = %+v, want 2 entries, the newest of probability 0.7", got)
	}
}

func testScoreUnknownVersion(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"), lead("b"))
	_, err := s.SaveScores(t.Context(), []leadscore.LeadScoreRecord{
		score("a", 1, minute(1), 0.5, leadscore.TierMedium, "B2"),
		score("b", 7, minute(1), 0.5, leadscore.TierMedium, "B2"),
	}, leadscore.SaveScoresOptions{})
	wantField(t, "SaveScores() of an unregistered version", err, "scores[1].version")
	if got := getLead(t, s, "a"); got.Score != nil {
		t.Errorf("a failed SaveScores() saved %+v", got.Score)
	}
	if got := scoreChanges(t, s, 0, 10); len(got) != 0 {
		t.Errorf("a failed SaveScores() logged changes %+v", got)
	}
}

func testScoreHistoryOrder(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"), lead("b"))
	tiers := []leadscore.Tier{leadscore.TierLow, leadscore.TierMedium, leadscore.TierGood, leadscore.TierVeryGood}
	var saved []leadscore.LeadScoreRecord
	for i, tier := range tiers {
		sc := score("a", 1, minute(i+1), 0.2*float64(i+1), tier, "B2")
		saveScores(t, s, 0.05, sc, score("b", 1, minute(i+1), 0.5, leadscore.TierMedium, "B2"))
		saved = append(saved, storedScore(sc))
	}
	want := []leadscore.LeadScoreRecord{saved[3], saved[2]}
	if got := scoreHistory(t, s, "a", 2); !reflect.DeepEqual(got, want) {
		t.Errorf("ScoreHistory(a, 2) = %+v\nwant %+v", got, want)
	}
	got := scoreHistory(t, s, "a", 10)
	if len(got) != 4 {
		t.Fatalf("ScoreHistory(a, 10) has %d entries, want 4", len(got))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], saved[3-i]) {
			t.Errorf("ScoreHistory(a, 10)[%d] = %+v, want %+v", i, got[i], saved[3-i])
		}
	}
	if got := scoreHistory(t, s, "b", 10); len(got) != 1 {
		t.Errorf("ScoreHistory(b) has %d entries, want 1: its score never moved", len(got))
	}
}

func testScoreChangesCursor(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"), lead("b"), lead("c"))
	saveScores(t, s, 0.05,
		score("c", 1, minute(1), 0.5, leadscore.TierMedium, "B2"),
		score("a", 1, minute(1), 0.5, leadscore.TierMedium, "B2"),
		score("b", 1, minute(1), 0.5, leadscore.TierMedium, "B2"))
	saveScores(t, s, 0.05, score("a", 1, minute(2), 0.9, leadscore.TierVeryGood, "A1"))
	all := scoreChanges(t, s, 0, 100)
	var leads []string
	for i, c := range all {
		leads = append(leads, c.LeadID)
		if i > 0 && c.Seq <= all[i-1].Seq {
			t.Errorf("ScoreChanges() seq %d follows %d, want increasing", c.Seq, all[i-1].Seq)
		}
	}
	if want := []string{"c", "a", "b", "a"}; !slices.Equal(leads, want) {
		t.Fatalf("ScoreChanges() leads = %q, want %q (batch order, then the later save)", leads, want)
	}
	if got := scoreChanges(t, s, all[1].Seq, 2); !reflect.DeepEqual(got, all[2:4]) {
		t.Errorf("ScoreChanges(after %d, 2) = %+v, want %+v", all[1].Seq, got, all[2:4])
	}
	if got := scoreChanges(t, s, 0, 1); !reflect.DeepEqual(got, all[:1]) {
		t.Errorf("ScoreChanges(0, 1) = %+v, want %+v", got, all[:1])
	}
	if got := scoreChanges(t, s, all[3].Seq, 10); len(got) != 0 {
		t.Errorf("ScoreChanges() after the last = %+v, want none", got)
	}
	if last := all[3]; last.PreviousTier != leadscore.TierMedium || last.PreviousCell.String() != "B2" || last.Score.Tier != leadscore.TierVeryGood {
		t.Errorf("last change = %+v, want medium B2 -> very good A1", last)
	}
}

func testDueLeads(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("b"), lead("a"))
	if got, want := dueLeads(t, s, minute(0), 10), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() of new leads = %q, want %q", got, want)
	}
	if got := dueLeads(t, s, minute(-1), 10); len(got) != 0 {
		t.Errorf("DueLeads() before the write = %q, want none", got)
	}

	a := score("a", 1, minute(1), 0.5, leadscore.TierMedium, "B2")
	a.NextDue = minute(60)
	saveScores(t, s, 0.05, a, score("b", 1, minute(1), 0.5, leadscore.TierMedium, "B2"))
	if got := dueLeads(t, s, minute(30), 10); len(got) != 0 {
		t.Errorf("DueLeads() before the next due time = %q, want none", got)
	}
	if got, want := dueLeads(t, s, minute(60), 10), []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() at a's next due time = %q, want %q (b has none)", got, want)
	}
	upsertLeads(t, s, 65, lead("b")) // unchanged: not due
	if got, want := dueLeads(t, s, minute(66), 10), []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() after an unchanged lead = %q, want %q", got, want)
	}

	recordEvents(t, s, 70, event("e1", "b", minute(69)))
	if got, want := dueLeads(t, s, minute(100), 10), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() after an event of b = %q, want %q, earliest first", got, want)
	}
	if got, want := dueLeads(t, s, minute(100), 1), []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads(limit 1) = %q, want %q", got, want)
	}
	recordEvents(t, s, 80, event("e2", "a", minute(79)))
	if got, want := dueLeads(t, s, minute(100), 10), []string{"b", "a"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() after an event of a = %q, want %q", got, want)
	}
	// A score made before a's event did not see it: a stays due.
	saveScores(t, s, 0.05, score("a", 1, minute(75), 0.5, leadscore.TierMedium, "B2"))
	if got, want := dueLeads(t, s, minute(100), 10), []string{"b", "a"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() after a score older than a's event = %q, want %q", got, want)
	}
	b := score("b", 1, minute(85), 0.5, leadscore.TierMedium, "B2")
	b.NextDue = minute(200)
	saveScores(t, s, 0.05, score("a", 1, minute(85), 0.5, leadscore.TierMedium, "B2"), b)
	if got := dueLeads(t, s, minute(100), 10); len(got) != 0 {
		t.Errorf("DueLeads() after fresh scores = %q, want none", got)
	}
	if got, want := dueLeads(t, s, minute(200), 10), []string{"b"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() at b's next due time = %q, want %q", got, want)
	}
	_, err := s.RecordOutcomes(t.Context(), []leadscore.Outcome{{LeadID: "a", Status: leadscore.OutcomeWon, OccurredAt: minute(88)}}, ingest(90))
	if err != nil {
		t.Fatalf("RecordOutcomes(): %v", err)
	}
	if got, want := dueLeads(t, s, minute(100), 10), []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("DueLeads() after an outcome of a = %q, want %q", got, want)
	}
}

func testConcurrentSavesKeepNewest(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"))
	tiers := []leadscore.Tier{leadscore.TierLow, leadscore.TierMedium, leadscore.TierGood, leadscore.TierVeryGood}
	const savers = 8
	results := make([]leadscore.SaveScoresResult, savers)
	errs := make([]error, savers)
	var wg sync.WaitGroup
	for i := range savers {
		wg.Go(func() {
			sc := score("a", 1, minute(i+1), 0.1*float64(i+1), tiers[i%len(tiers)], "B2")
			results[i], errs[i] = s.SaveScores(t.Context(), []leadscore.LeadScoreRecord{sc}, leadscore.SaveScoresOptions{})
		})
	}
	wg.Wait()
	saved := 0
	for i := range savers {
		if errs[i] != nil {
			t.Fatalf("concurrent SaveScores() %d: %v", i, errs[i])
		}
		if results[i].Saved+results[i].Stale != 1 {
			t.Errorf("concurrent SaveScores() %d = %+v, want the score saved or stale", i, results[i])
		}
		saved += results[i].Saved
	}
	got := getLead(t, s, "a")
	if got.Score == nil || !got.Score.ScoredAt.Equal(stored(minute(savers))) {
		t.Errorf("after concurrent saves GetLead().Score = %+v, want the newest, scored at %v", got.Score, stored(minute(savers)))
	}
	if h := scoreHistory(t, s, "a", 100); len(h) != saved {
		t.Errorf("ScoreHistory() has %d entries, want one per saved score (%d): every probability moved", len(h), saved)
	}
}

// testWatcherMissesNoChange reads the change log after a cursor while
// savers write to it: a change numbered below the cursor that commits
// later would be missed, so every change must be read exactly once.
func testWatcherMissesNoChange(t *testing.T, s leadStore) {
	registerScoring(t, s)
	const savers, each = 4, 15
	var leads []leadscore.Lead
	for i := range savers * each {
		leads = append(leads, lead(fmt.Sprintf("l%03d", i)))
	}
	upsertLeads(t, s, 0, leads...)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, savers)
	for w := range savers {
		wg.Go(func() {
			for i := range each {
				sc := score(fmt.Sprintf("l%03d", w*each+i), 1, minute(1), 0.5, leadscore.TierMedium, "B2")
				if _, err := s.SaveScores(ctx, []leadscore.LeadScoreRecord{sc}, leadscore.SaveScoresOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[int64]bool{}
	var cursor int64
	read := func() {
		got, err := s.ScoreChanges(ctx, cursor, 7)
		if err != nil {
			t.Fatalf("ScoreChanges(): %v", err)
		}
		for _, c := range got {
			if seen[c.Seq] {
				t.Errorf("change %d read twice", c.Seq)
			}
			seen[c.Seq] = true
			cursor = c.Seq
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		read()
	}
	for before := -1; before != len(seen); {
		before = len(seen)
		read()
	}
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent SaveScores(): %v", err)
	}
	if len(seen) != savers*each {
		t.Errorf("a watcher following the cursor read %d changes, want %d", len(seen), savers*each)
	}
}
