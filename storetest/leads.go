package storetest

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// RunLeads runs the conformance suite of leadscore.LeadStore: ingesting
// leads, accounts, events and outcomes in batches, all or nothing or
// partially; reading leads and their activity back; saving scores with
// their history and change log; due rescoring, with claims of due leads
// and their leases. open must return a new, empty, migrated store that
// shares nothing with any other store open returned, and arrange for its
// cleanup. The store must also be a leadscore.HistoryStore (the suite
// counts what a write left) and a RegistryStore (scores refer to
// registered model versions).
func RunLeads(t *testing.T, open func(t *testing.T) leadscore.LeadStore) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s leadStore)
	}{
		{"upsert counts created updated and unchanged leads", testUpsertLeadsCounts},
		{"unknown accounts of leads are created", testLeadAccountsCreated},
		{"upsert accounts counts created updated and unchanged", testUpsertAccounts},
		{"rejected record fails the whole batch and writes nothing", testAllOrNothing},
		{"partial batch writes the valid records and returns the rejected", testPartial},
		{"events and outcomes of unknown leads are rejected", testUnknownLeads},
		{"repeated ids within a batch are rejected", testRepeatsRejected},
		{"repeated event ids are duplicates and conflicts name the fields", testEventDuplicates},
		{"late events are returned in time order", testLeadActivity},
		{"outcome is replaced or unchanged", testOutcomes},
		{"get and score history of an unknown lead are not found", testLeadNotFound},
		{"malformed records are rejected naming the field", testMalformed},
		{"batch and listing limits are enforced", testLimits},

		{"first score creates history and a change from no tier", testFirstScore},
		{"history and changes follow the transition rules", testScoreTransitions},
		{"older and lead-less scores are stale", testStaleScores},
		{"score of an unregistered version fails the call", testScoreUnknownVersion},
		{"score history lists newest first", testScoreHistoryOrder},
		{"score changes list after a cursor in order", testScoreChangesCursor},
		{"writes and next due times make leads due", testDueLeads},
		{"concurrent saves of one lead keep the newest score", testConcurrentSavesKeepNewest},
		{"a watcher following the cursor misses no change", testWatcherMissesNoChange},
		{"pruning deletes changes before a time, the bounds follow, a zero time is refused", testPruneScoreChanges},

		{"claims take due leads earliest first and lease them", testClaimDueLeads},
		{"a saved score ends its lead's lease", testClaimThenScore},
		{"concurrent claims take each due lead once", testConcurrentClaims},
		{"leads of a claimer that never scores them are claimable when the lease ends", testDeadReplica},
		{"mark all due makes leads without an outcome due and ends their leases", testMarkAllDue},
		{"writes rescore the leads they make due before they commit", testRescoreInWrite},

		{"list by score highest first with unscored leads last", testListByScore},
		{"list by updated time newest first", testListByUpdate},
		{"list filters by tier cell action account and owner", testListFilters},
		{"pages of a listing return every lead once", testListPaging},
		{"paging during concurrent rescoring lists each unmoved lead once", testListConcurrentScores},
		{"list limits filters and positions are checked", testListLimits},
		{"delete lead erases everything of the lead and records the erasure by hash", testDeleteLead},
		{"delete lead checks its id actor reason and time", testDeleteLeadChecks},
		{"get account rolls up its leads' current scores", testAccountRollup},
		{"list accounts by roll-up with unscored accounts last, paged and filtered by best grade", testListAccounts},
		{"list accounts checks its grades limit and position", testListAccountsChecks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			ls, ok := s.(leadStore)
			if !ok {
				t.Fatalf("%T is not also a HistoryStore and RegistryStore; the suite needs them", s)
			}
			tt.test(t, ls)
		})
	}
}

// leadStore is a LeadStore with what the suite needs beside it.
type leadStore interface {
	leadscore.LeadStore
	leadscore.HistoryStore
	RegistryStore
}

// ingest is the usual options of the suite's writes.
func ingest(n int) leadscore.IngestOptions { return leadscore.IngestOptions{At: minute(n)} }

func lead(id string) leadscore.Lead {
	return leadscore.Lead{ID: id, CreatedAt: minute(-1000), Attributes: map[string]leadscore.Value{
		"industry": leadscore.String("software"), "size": leadscore.Number(120), "partner": leadscore.Bool(false),
	}}
}

func event(id, leadID string, at time.Time) leadscore.Event {
	return leadscore.Event{ID: id, LeadID: leadID, Type: leadscore.EventPageView, OccurredAt: at,
		Properties: map[string]string{"page": "pricing"}}
}

// wantField fails the test unless err is an EINVALID error with a field
// violation of path field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	wantCode(t, what, err, leadscore.EINVALID)
	var e *leadscore.Error
	errors.As(err, &e)
	for _, f := range e.Fields {
		if f.Field == field {
			return
		}
	}
	t.Errorf("%s: fields %+v, want one named %q", what, e.Fields, field)
}

// wantRejections fails the test unless rs rejects exactly the records at
// the indexes, each with a field violation of the path fields gives.
func wantRejections(t *testing.T, what string, rs []leadscore.Rejection, fields map[int]string) {
	t.Helper()
	if len(rs) != len(fields) {
		t.Fatalf("%s: rejected %+v, want %d rejections %v", what, rs, len(fields), fields)
	}
	for i, r := range rs {
		if i > 0 && rs[i-1].Index >= r.Index {
			t.Errorf("%s: rejections not in batch order: %+v", what, rs)
		}
		field, ok := fields[r.Index]
		if !ok {
			t.Errorf("%s: record %d rejected (%v), want only %v", what, r.Index, r.Err, fields)
			continue
		}
		wantField(t, fmt.Sprintf("%s: rejection of record %d", what, r.Index), r.Err, field)
	}
}

func upsertLeads(t *testing.T, s leadStore, at int, leads ...leadscore.Lead) leadscore.UpsertResult {
	t.Helper()
	res, err := s.UpsertLeads(t.Context(), leads, ingest(at))
	if err != nil {
		t.Fatalf("UpsertLeads(): %v", err)
	}
	return res
}

func recordEvents(t *testing.T, s leadStore, at int, events ...leadscore.Event) leadscore.EventsResult {
	t.Helper()
	res, err := s.RecordEvents(t.Context(), events, ingest(at))
	if err != nil {
		t.Fatalf("RecordEvents(): %v", err)
	}
	return res
}

func counts(t *testing.T, s leadStore) leadscore.HistoryCounts {
	t.Helper()
	c, err := s.CountHistory(t.Context())
	if err != nil {
		t.Fatalf("CountHistory(): %v", err)
	}
	return c
}

func getLead(t *testing.T, s leadStore, id string) leadscore.StoredLead {
	t.Helper()
	l, err := s.GetLead(t.Context(), id)
	if err != nil {
		t.Fatalf("GetLead(%q): %v", id, err)
	}
	return l
}

// storedLead is l as a store keeps it.
func storedLead(l leadscore.Lead) leadscore.Lead {
	l.CreatedAt = stored(l.CreatedAt)
	if len(l.Attributes) == 0 {
		l.Attributes = nil
	}
	return l
}

func wantUpsert(t *testing.T, what string, got leadscore.UpsertResult, created, updated, unchanged int, leads ...string) {
	t.Helper()
	if got.Created != created || got.Updated != updated || got.Unchanged != unchanged || len(got.Rejected) != 0 {
		t.Errorf("%s = %d created, %d updated, %d unchanged, rejected %v; want %d, %d, %d, none",
			what, got.Created, got.Updated, got.Unchanged, got.Rejected, created, updated, unchanged)
	}
	if !slices.Equal(got.Leads, leads) {
		t.Errorf("%s leads = %q, want %q", what, got.Leads, leads)
	}
}

func testUpsertLeadsCounts(t *testing.T, s leadStore) {
	a, b, c := lead("lead-b"), lead("lead-a"), lead("lead-c")
	c.Owner = "sam"
	wantUpsert(t, "first UpsertLeads()", upsertLeads(t, s, 0, a, b, c), 3, 0, 0, "lead-a", "lead-b", "lead-c")
	got := getLead(t, s, "lead-c")
	if !reflect.DeepEqual(got.Lead, storedLead(c)) || !got.UpdatedAt.Equal(stored(minute(0))) || got.Outcome != nil || got.Score != nil {
		t.Errorf("GetLead() = %+v, want %+v updated at %v without outcome or score", got, storedLead(c), stored(minute(0)))
	}

	wantUpsert(t, "UpsertLeads() of the same leads", upsertLeads(t, s, 1, c, b, a), 0, 0, 3)
	if got := getLead(t, s, "lead-c"); !got.UpdatedAt.Equal(stored(minute(0))) {
		t.Errorf("unchanged lead's UpdatedAt = %v, want %v: it must not be rewritten", got.UpdatedAt, stored(minute(0)))
	}

	changed := lead("lead-a")
	changed.Attributes["size"] = leadscore.Number(121)
	moved := lead("lead-b")
	moved.CreatedAt = minute(-999)
	wantUpsert(t, "UpsertLeads() with changes", upsertLeads(t, s, 2, changed, lead("lead-d"), c, moved),
		1, 2, 1, "lead-a", "lead-b", "lead-d")
	got = getLead(t, s, "lead-a")
	if !reflect.DeepEqual(got.Lead, storedLead(changed)) || !got.UpdatedAt.Equal(stored(minute(2))) {
		t.Errorf("GetLead() of a changed lead = %+v, want %+v updated at %v", got, storedLead(changed), stored(minute(2)))
	}
	if n := counts(t, s).Leads; n != 4 {
		t.Errorf("CountHistory().Leads = %d, want 4", n)
	}
}

func testLeadAccountsCreated(t *testing.T, s leadStore) {
	a, b, c := lead("a"), lead("b"), lead("c")
	a.AccountID, b.AccountID = "acme", "acme"
	c.AccountID = "globex"
	upsertLeads(t, s, 0, a, b, c)
	if n := counts(t, s).Accounts; n != 2 {
		t.Errorf("CountHistory().Accounts = %d after leads of two new accounts, want 2", n)
	}
	if got := getLead(t, s, "a"); got.Lead.AccountID != "acme" {
		t.Errorf("GetLead().Lead.AccountID = %q, want acme", got.Lead.AccountID)
	}
	// An account created for a lead has no name or attributes: sending it
	// so changes nothing.
	res, err := s.UpsertAccounts(t.Context(), []leadscore.Account{{ID: "acme"}}, ingest(1))
	if err != nil {
		t.Fatalf("UpsertAccounts(): %v", err)
	}
	wantUpsert(t, "UpsertAccounts() of a created account as created", res, 0, 0, 1)
}

func testUpsertAccounts(t *testing.T, s leadStore) {
	ctx := t.Context()
	acme := leadscore.Account{ID: "acme", Name: "Acme Corp", Attributes: map[string]leadscore.Value{"employees": leadscore.Number(250)}}
	globex := leadscore.Account{ID: "globex"}
	res, err := s.UpsertAccounts(ctx, []leadscore.Account{acme, globex}, ingest(0))
	if err != nil {
		t.Fatalf("UpsertAccounts(): %v", err)
	}
	wantUpsert(t, "first UpsertAccounts()", res, 2, 0, 0)
	renamed := globex
	renamed.Name = "Globex"
	res, err = s.UpsertAccounts(ctx, []leadscore.Account{acme, renamed, {ID: "initech"}}, ingest(1))
	if err != nil {
		t.Fatalf("UpsertAccounts(): %v", err)
	}
	wantUpsert(t, "second UpsertAccounts()", res, 1, 1, 1)
	if n := counts(t, s).Accounts; n != 3 {
		t.Errorf("CountHistory().Accounts = %d, want 3", n)
	}
}

func testAllOrNothing(t *testing.T, s leadStore) {
	ctx := t.Context()
	upsertLeads(t, s, 0, lead("kept"))
	bad := lead("bad")
	bad.Attributes["size"] = leadscore.Number(math.NaN())
	changed := lead("kept")
	changed.Owner = "sam"
	newer := lead("new")
	newer.AccountID = "acme"
	_, err := s.UpsertLeads(ctx, []leadscore.Lead{newer, changed, bad}, ingest(1))
	wantField(t, "UpsertLeads() with a bad lead", err, "leads[2].attributes.size")
	if c := counts(t, s); c.Leads != 1 || c.Accounts != 0 {
		t.Errorf("after a failed batch the store holds %d leads and %d accounts, want 1 and 0", c.Leads, c.Accounts)
	}
	if got := getLead(t, s, "kept"); got.Lead.Owner != "" {
		t.Errorf("after a failed batch the kept lead's owner is %q, want it unchanged", got.Lead.Owner)
	}

	badEvent := event("e2", "kept", minute(1))
	badEvent.Type = ""
	_, err = s.RecordEvents(ctx, []leadscore.Event{event("e1", "kept", minute(1)), badEvent}, ingest(1))
	wantField(t, "RecordEvents() with a bad event", err, "events[1].type")
	if n := counts(t, s).Events; n != 0 {
		t.Errorf("after a failed batch of events the store holds %d events, want 0", n)
	}
	_, err = s.RecordOutcomes(ctx, []leadscore.Outcome{
		{LeadID: "kept", Status: leadscore.OutcomeWon, OccurredAt: minute(1)},
		{LeadID: "kept", Status: leadscore.OutcomeLost, OccurredAt: minute(1), Amount: -1, Currency: "EUR"},
	}, ingest(1))
	wantCode(t, "RecordOutcomes() with a bad outcome", err, leadscore.EINVALID)
	if n := counts(t, s).Outcomes; n != 0 {
		t.Errorf("after a failed batch of outcomes the store holds %d outcomes, want 0", n)
	}
}

func testPartial(t *testing.T, s leadStore) {
	ctx := t.Context()
	bad := lead("bad")
	bad.Attributes["size"] = leadscore.Number(math.Inf(1))
	res, err := s.UpsertLeads(ctx, []leadscore.Lead{lead("a"), bad, lead("b"), {ID: "c"}},
		leadscore.IngestOptions{At: minute(0), Partial: true})
	if err != nil {
		t.Fatalf("partial UpsertLeads(): %v", err)
	}
	if res.Created != 2 || res.Updated != 0 || res.Unchanged != 0 || !slices.Equal(res.Leads, []string{"a", "b"}) {
		t.Errorf("partial UpsertLeads() = %+v, want 2 created, leads a and b", res)
	}
	wantRejections(t, "partial UpsertLeads()", res.Rejected, map[int]string{1: "leads[1].attributes.size", 3: "leads[3].created_at"})
	if n := counts(t, s).Leads; n != 2 {
		t.Errorf("CountHistory().Leads = %d, want 2", n)
	}
	if _, err := s.GetLead(ctx, "bad"); leadscore.ErrorCode(err) != leadscore.ENOTFOUND {
		t.Errorf("GetLead() of a rejected lead: %v, want ENOTFOUND", err)
	}

	badEvent := event("e2", "a", minute(1))
	badEvent.Properties = map[string]string{"Page": "pricing"}
	evs, err := s.RecordEvents(ctx, []leadscore.Event{badEvent, event("e1", "a", minute(1))},
		leadscore.IngestOptions{At: minute(1), Partial: true})
	if err != nil {
		t.Fatalf("partial RecordEvents(): %v", err)
	}
	if evs.Recorded != 1 || evs.Duplicates != 0 || !slices.Equal(evs.Leads, []string{"a"}) {
		t.Errorf("partial RecordEvents() = %+v, want 1 recorded for lead a", evs)
	}
	wantRejections(t, "partial RecordEvents()", evs.Rejected, map[int]string{0: "events[0].property key"})

	none, err := s.RecordOutcomes(ctx, []leadscore.Outcome{{LeadID: "a", OccurredAt: minute(2)}, {LeadID: "nobody", Status: leadscore.OutcomeWon, OccurredAt: minute(2)}},
		leadscore.IngestOptions{At: minute(2), Partial: true})
	if err != nil {
		t.Fatalf("partial RecordOutcomes() of only bad outcomes: %v", err)
	}
	if none.Created+none.Updated+none.Unchanged != 0 || len(none.Leads) != 0 {
		t.Errorf("partial RecordOutcomes() of only bad outcomes = %+v, want nothing written", none)
	}
	wantRejections(t, "partial RecordOutcomes() of only bad outcomes", none.Rejected,
		map[int]string{0: "outcomes[0].status", 1: "outcomes[1].lead_id"})
}

func testUnknownLeads(t *testing.T, s leadStore) {
	ctx := t.Context()
	upsertLeads(t, s, 0, lead("known"))
	events := []leadscore.Event{event("e1", "known", minute(1)), event("e2", "nobody", minute(1))}
	_, err := s.RecordEvents(ctx, events, ingest(1))
	wantField(t, "RecordEvents() of an unknown lead", err, "events[1].lead_id")
	wantMention(t, "RecordEvents() of an unknown lead", err, "nobody")
	if n := counts(t, s).Events; n != 0 {
		t.Errorf("CountHistory().Events = %d after a failed batch, want 0", n)
	}
	res, err := s.RecordEvents(ctx, events, leadscore.IngestOptions{At: minute(1), Partial: true})
	if err != nil {
		t.Fatalf("partial RecordEvents(): %v", err)
	}
	if res.Recorded != 1 {
		t.Errorf("partial RecordEvents().Recorded = %d, want 1", res.Recorded)
	}
	wantRejections(t, "partial RecordEvents()", res.Rejected, map[int]string{1: "events[1].lead_id"})

	outcomes := []leadscore.Outcome{
		{LeadID: "nobody", Status: leadscore.OutcomeWon, OccurredAt: minute(2)},
		{LeadID: "known", Status: leadscore.OutcomeWon, OccurredAt: minute(2)},
	}
	_, err = s.RecordOutcomes(ctx, outcomes, ingest(2))
	wantField(t, "RecordOutcomes() of an unknown lead", err, "outcomes[0].lead_id")
	out, err := s.RecordOutcomes(ctx, outcomes, leadscore.IngestOptions{At: minute(2), Partial: true})
	if err != nil {
		t.Fatalf("partial RecordOutcomes(): %v", err)
	}
	wantRejections(t, "partial RecordOutcomes()", out.Rejected, map[int]string{0: "outcomes[0].lead_id"})
	if out.Created != 1 || !slices.Equal(out.Leads, []string{"known"}) {
		t.Errorf("partial RecordOutcomes() = %+v, want 1 created for lead known", out)
	}
}

func testRepeatsRejected(t *testing.T, s leadStore) {
	ctx := t.Context()
	_, err := s.UpsertLeads(ctx, []leadscore.Lead{lead("a"), lead("b"), lead("a")}, ingest(0))
	wantField(t, "UpsertLeads() repeating an id", err, "leads[2].id")
	res, err := s.UpsertLeads(ctx, []leadscore.Lead{lead("a"), lead("b"), lead("a")}, leadscore.IngestOptions{At: minute(0), Partial: true})
	if err != nil {
		t.Fatalf("partial UpsertLeads(): %v", err)
	}
	wantRejections(t, "partial UpsertLeads() repeating an id", res.Rejected, map[int]string{2: "leads[2].id"})
	if res.Created != 2 {
		t.Errorf("partial UpsertLeads().Created = %d, want 2", res.Created)
	}
	_, err = s.UpsertAccounts(ctx, []leadscore.Account{{ID: "x"}, {ID: "x", Name: "X"}}, ingest(0))
	wantField(t, "UpsertAccounts() repeating an id", err, "accounts[1].id")
	_, err = s.RecordOutcomes(ctx, []leadscore.Outcome{
		{LeadID: "a", Status: leadscore.OutcomeWon, OccurredAt: minute(1)},
		{LeadID: "a", Status: leadscore.OutcomeLost, OccurredAt: minute(1)},
	}, ingest(1))
	wantField(t, "RecordOutcomes() repeating a lead", err, "outcomes[1].lead_id")
	if c := counts(t, s); c.Accounts != 0 || c.Outcomes != 0 {
		t.Errorf("failed batches left %d accounts and %d outcomes, want none", c.Accounts, c.Outcomes)
	}
}

func testEventDuplicates(t *testing.T, s leadStore) {
	upsertLeads(t, s, 0, lead("a"), lead("b"))
	e1 := event("e1", "a", minute(1))
	res := recordEvents(t, s, 2, e1, event("e2", "a", minute(2)))
	if res.Recorded != 2 || res.Duplicates != 0 || len(res.Conflicts) != 0 {
		t.Fatalf("RecordEvents() = %+v, want 2 recorded", res)
	}

	// The same event again, also to the nanosecond beyond what the store
	// keeps: a duplicate, not a conflict.
	same := e1
	same.OccurredAt = same.OccurredAt.Add(50 * time.Nanosecond) // base is at .535897932 s
	same.Properties = map[string]string{"page": "pricing"}
	reused := event("e2", "b", minute(3))
	reused.Type = leadscore.EventEmailOpen
	reused.Properties = nil
	inBatch := event("e3", "a", minute(4))
	inBatchSame := inBatch
	inBatchOther := inBatch
	inBatchOther.Properties = map[string]string{"page": "blog"}
	res = recordEvents(t, s, 5, same, reused, inBatch, inBatchSame, inBatchOther)
	want := leadscore.EventsResult{
		Recorded:   1,
		Duplicates: 4,
		Conflicts: []leadscore.EventConflict{
			{Index: 1, ID: "e2", Fields: []string{"lead_id", "type", "occurred_at", "properties"}},
			{Index: 4, ID: "e3", Fields: []string{"properties"}},
		},
		Leads: []string{"a"},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("RecordEvents() of duplicates = %+v, want %+v", res, want)
	}
	if n := counts(t, s).Events; n != 3 {
		t.Errorf("CountHistory().Events = %d, want 3", n)
	}
	// The first event of an id stays.
	acts, err := s.LeadActivity(t.Context(), []string{"b"})
	if err != nil {
		t.Fatalf("LeadActivity(): %v", err)
	}
	if len(acts) != 1 || len(acts[0].Events) != 0 {
		t.Errorf("LeadActivity(b) = %+v, want lead b without events: the reused id keeps its first event", acts)
	}
}

func testLeadActivity(t *testing.T, s leadStore) {
	ctx := t.Context()
	upsertLeads(t, s, 0, lead("a"), lead("b"))
	e3, e1 := event("e3", "a", minute(30)), event("e1", "a", minute(10))
	e2a, e2b := event("e2b", "a", minute(20)), event("e2a", "a", minute(20))
	recordEvents(t, s, 40, e3, event("x1", "b", minute(5)))
	recordEvents(t, s, 50, e2a, e1, e2b) // late, out of order, two at one time
	got, err := s.LeadActivity(ctx, []string{"a", "nobody", "a"})
	if err != nil {
		t.Fatalf("LeadActivity(): %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("LeadActivity(a, nobody) = %d leads, want only a", len(got))
	}
	var ids []string
	for _, e := range got[0].Events {
		ids = append(ids, e.ID)
	}
	if want := []string{"e1", "e2a", "e2b", "e3"}; !slices.Equal(ids, want) {
		t.Errorf("LeadActivity() events = %q, want %q", ids, want)
	}
	wantEvent := e1
	wantEvent.OccurredAt = stored(wantEvent.OccurredAt)
	if !reflect.DeepEqual(got[0].Events[0], wantEvent) || !reflect.DeepEqual(got[0].Lead, storedLead(lead("a"))) || got[0].Score != nil {
		t.Errorf("LeadActivity()[0] = %+v, want lead %+v with first event %+v and no score", got[0], storedLead(lead("a")), wantEvent)
	}
	got, err = s.LeadActivity(ctx, []string{"b", "a"})
	if err != nil {
		t.Fatalf("LeadActivity(): %v", err)
	}
	if len(got) != 2 || got[0].Lead.ID != "a" || got[1].Lead.ID != "b" || len(got[1].Events) != 1 {
		t.Errorf("LeadActivity(b, a) = %+v, want a then b (byte order) with 4 and 1 events", got)
	}
	if got, err := s.LeadActivity(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("LeadActivity(none) = %v, %v; want nothing", got, err)
	}
}

func testOutcomes(t *testing.T, s leadStore) {
	ctx := t.Context()
	upsertLeads(t, s, 0, lead("a"), lead("b"))
	won := leadscore.Outcome{LeadID: "a", Status: leadscore.OutcomeWon, OccurredAt: minute(5), Amount: 1200.5, Currency: "EUR"}
	lost := leadscore.Outcome{LeadID: "b", Status: leadscore.OutcomeLost, OccurredAt: minute(6)}
	res, err := s.RecordOutcomes(ctx, []leadscore.Outcome{won, lost}, ingest(7))
	if err != nil {
		t.Fatalf("RecordOutcomes(): %v", err)
	}
	wantUpsert(t, "first RecordOutcomes()", res, 2, 0, 0, "a", "b")
	wantOutcome := won
	wantOutcome.OccurredAt = stored(won.OccurredAt)
	if got := getLead(t, s, "a"); got.Outcome == nil || *got.Outcome != wantOutcome {
		t.Errorf("GetLead().Outcome = %+v, want %+v", got.Outcome, wantOutcome)
	}
	replaced := won
	replaced.Status, replaced.Amount, replaced.Currency = leadscore.OutcomeLost, 0, ""
	res, err = s.RecordOutcomes(ctx, []leadscore.Outcome{lost, replaced}, ingest(8))
	if err != nil {
		t.Fatalf("RecordOutcomes(): %v", err)
	}
	wantUpsert(t, "second RecordOutcomes()", res, 0, 1, 1, "a")
	wantOutcome = replaced
	wantOutcome.OccurredAt = stored(replaced.OccurredAt)
	if got := getLead(t, s, "a"); got.Outcome == nil || *got.Outcome != wantOutcome {
		t.Errorf("GetLead().Outcome after replacing = %+v, want %+v", got.Outcome, wantOutcome)
	}
	if n := counts(t, s).Outcomes; n != 2 {
		t.Errorf("CountHistory().Outcomes = %d, want 2", n)
	}
}

func testLeadNotFound(t *testing.T, s leadStore) {
	ctx := t.Context()
	upsertLeads(t, s, 0, lead("a"))
	_, err := s.GetLead(ctx, "nobody")
	wantCode(t, "GetLead() of an unknown lead", err, leadscore.ENOTFOUND)
	wantMention(t, "GetLead() of an unknown lead", err, "leads/nobody")
	_, err = s.ScoreHistory(ctx, "nobody", 10)
	wantCode(t, "ScoreHistory() of an unknown lead", err, leadscore.ENOTFOUND)
	wantMention(t, "ScoreHistory() of an unknown lead", err, "leads/nobody")
	if h, err := s.ScoreHistory(ctx, "a", 10); err != nil || len(h) != 0 {
		t.Errorf("ScoreHistory() of an unscored lead = %v, %v; want none", h, err)
	}
}

func testMalformed(t *testing.T, s leadStore) {
	ctx := t.Context()
	upsertLeads(t, s, 0, lead("a"))
	badID := lead("a b")
	badAccount := leadscore.Account{ID: "acme", Attributes: map[string]leadscore.Value{"Bad-Key": leadscore.String("x")}}
	noTime := event("e1", "a", time.Time{})
	badStatus := leadscore.Outcome{LeadID: "a", OccurredAt: minute(1)}
	badScore := score("a", 1, minute(1), 2, leadscore.TierLow, "D4")
	tests := []struct {
		name  string
		write func() error
		field string
	}{
		{"lead with a bad id", func() error {
			_, err := s.UpsertLeads(ctx, []leadscore.Lead{lead("b"), badID}, ingest(1))
			return err
		}, "leads[1].id"},
		{"account with a bad attribute key", func() error {
			_, err := s.UpsertAccounts(ctx, []leadscore.Account{badAccount}, ingest(1))
			return err
		}, "accounts[0].attribute key"},
		{"event without a time", func() error {
			_, err := s.RecordEvents(ctx, []leadscore.Event{noTime}, ingest(1))
			return err
		}, "events[0].occurred_at"},
		{"outcome without a status", func() error {
			_, err := s.RecordOutcomes(ctx, []leadscore.Outcome{badStatus}, ingest(1))
			return err
		}, "outcomes[0].status"},
		{"score with a probability above 1", func() error {
			_, err := s.SaveScores(ctx, []leadscore.LeadScoreRecord{badScore}, leadscore.SaveScoresOptions{})
			return err
		}, "scores[0].probability"},
		{"write without a time", func() error {
			_, err := s.UpsertLeads(ctx, []leadscore.Lead{lead("b")}, leadscore.IngestOptions{})
			return err
		}, "at"},
		{"scores with a negative history step", func() error {
			_, err := s.SaveScores(ctx, []leadscore.LeadScoreRecord{score("a", 1, minute(1), 0.5, leadscore.TierLow, "D4")},
				leadscore.SaveScoresOptions{HistoryStep: -0.1})
			return err
		}, "history_step"},
	}
	for _, tt := range tests {
		wantField(t, tt.name, tt.write(), tt.field)
	}
	c := counts(t, s)
	if c.Leads != 1 || c.Accounts != 0 || c.Events != 0 || c.Outcomes != 0 {
		t.Errorf("malformed batches left %+v, want only the first lead", c)
	}
	if got := getLead(t, s, "a"); got.Score != nil {
		t.Errorf("a malformed score was saved: %+v", got.Score)
	}
}

func testLimits(t *testing.T, s leadStore) {
	ctx := t.Context()
	tooMany := make([]leadscore.Lead, leadscore.MaxIngestBatch+1)
	for i := range tooMany {
		tooMany[i] = lead(fmt.Sprintf("l%d", i))
	}
	_, err := s.UpsertLeads(ctx, tooMany, ingest(0))
	wantField(t, "UpsertLeads() of 1001 leads", err, "leads")
	if n := counts(t, s).Leads; n != 0 {
		t.Errorf("a refused batch of 1001 leads left %d leads", n)
	}
	res := upsertLeads(t, s, 0, tooMany[:leadscore.MaxIngestBatch]...)
	if res.Created != leadscore.MaxIngestBatch {
		t.Errorf("UpsertLeads() of 1000 leads created %d", res.Created)
	}
	empty := []struct {
		name  string
		write func() error
		field string
	}{
		{"UpsertLeads", func() error { _, err := s.UpsertLeads(ctx, nil, ingest(1)); return err }, "leads"},
		{"UpsertAccounts", func() error { _, err := s.UpsertAccounts(ctx, nil, ingest(1)); return err }, "accounts"},
		{"RecordEvents", func() error { _, err := s.RecordEvents(ctx, nil, ingest(1)); return err }, "events"},
		{"RecordOutcomes", func() error { _, err := s.RecordOutcomes(ctx, nil, ingest(1)); return err }, "outcomes"},
		{"SaveScores", func() error { _, err := s.SaveScores(ctx, nil, leadscore.SaveScoresOptions{}); return err }, "scores"},
	}
	for _, tt := range empty {
		wantField(t, tt.name+"() of no records", tt.write(), tt.field)
	}
	ids := make([]string, leadscore.MaxIngestBatch+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("l%d", i)
	}
	_, err = s.LeadActivity(ctx, ids)
	wantField(t, "LeadActivity() of 1001 ids", err, "ids")
	_, err = s.LeadActivity(ctx, []string{"l1", "not an id"})
	wantField(t, "LeadActivity() of a malformed id", err, "ids[1]")
	acts, err := s.LeadActivity(ctx, ids[:leadscore.MaxIngestBatch])
	if err != nil || len(acts) != leadscore.MaxIngestBatch {
		t.Errorf("LeadActivity() of 1000 ids = %d leads, %v; want 1000", len(acts), err)
	}
	_, err = s.DueLeads(ctx, minute(1), 0)
	wantField(t, "DueLeads() with limit 0", err, "limit")
	_, err = s.ScoreHistory(ctx, "l1", 0)
	wantField(t, "ScoreHistory() with limit 0", err, "limit")
	_, err = s.ScoreChanges(ctx, 0, 0)
	wantField(t, "ScoreChanges() with limit 0", err, "limit")
	_, err = s.ScoreChanges(ctx, -1, 10)
	wantField(t, "ScoreChanges() after -1", err, "after")
}
