package server

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testClock is a server clock a test sets.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// leadEnv is a scoring environment whose server runs on a test clock, with
// a LeadService client.
func leadEnv(t *testing.T, at time.Time, edit func(*Options)) (*scoringEnv, *testClock, leadscorev1.LeadServiceClient) {
	t.Helper()
	return leadEnvOn(t, openStore(t), at, edit)
}

// leadEnvOn is leadEnv over a given store.
func leadEnvOn(t *testing.T, st leadscore.Store, at time.Time, edit func(*Options)) (*scoringEnv, *testClock, leadscorev1.LeadServiceClient) {
	t.Helper()
	clock := &testClock{t: at}
	env := newScoringEnv(t, st, func(o *Options) {
		o.Now = clock.Now
		if edit != nil {
			edit(o)
		}
	})
	return env, clock, leadscorev1.NewLeadServiceClient(env.conn)
}

// leadWrite is a fixture lead as a write sends it.
func leadWrite(l leadscore.Lead) *leadscorev1.Lead {
	out := &leadscorev1.Lead{
		Name: leadscore.LeadName(l.ID), Owner: l.Owner, CreateTime: timestamppb.New(l.CreatedAt),
		Attributes: map[string]*leadscorev1.AttributeValue{},
	}
	if l.AccountID != "" {
		out.Account = leadscore.AccountName(l.AccountID)
	}
	for k, v := range l.Attributes {
		if pv := attributeProto(v); pv != nil {
			out.Attributes[k] = pv
		}
	}
	return out
}

func eventWrite(e leadscore.Event) *leadscorev1.Event {
	return &leadscorev1.Event{
		EventId: e.ID, Lead: leadscore.LeadName(e.LeadID), Type: e.Type,
		OccurTime: timestamppb.New(e.OccurredAt), Properties: e.Properties,
	}
}

// backtestScores scores fixture leads as of at the way backtests do
// (History.Bind, the featurizer and the scorer of version 1).
func backtestScores(t *testing.T, env *scoringEnv, leads []int, at time.Time) map[int]model.Scored {
	t.Helper()
	m, _, err := env.reg.LoadVersion(testContext(t), leadscore.VersionRef{Model: "default", Version: 1})
	if err != nil {
		t.Fatalf("load version: %v", err)
	}
	bind, err := env.fx.history.Bind(m.Spec)
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	sc, err := model.NewScorer(m)
	if err != nil {
		t.Fatalf("scorer: %v", err)
	}
	out := map[int]model.Scored{}
	row := make([]float64, bind.Width())
	for _, i := range leads {
		if err := bind.Row(i, at, row); err != nil {
			t.Fatalf("row of lead %d: %v", i, err)
		}
		var s model.Scored
		if err := sc.Score(row, &s); err != nil {
			t.Fatalf("score lead %d: %v", i, err)
		}
		out[i] = s
	}
	return out
}

// TestRecordEventsRescoresLikeTheBacktest replays fixture leads and their
// events through UpsertLeads and RecordEvents in time order, on a server
// clock at two snapshot times, and checks at each that the stored score
// of every lead equals what the backtest path computes and what Score by
// the stored lead's name returns, for the same lead, time and version, to
// 1e-9, on both backends.
func TestRecordEventsRescoresLikeTheBacktest(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testRecordEventsRescoresLikeTheBacktest)
}

func testRecordEventsRescoresLikeTheBacktest(t *testing.T, st leadscore.Store) {
	t1 := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.AddDate(0, 0, 45)
	env, clock, client := leadEnvOn(t, st, t1, nil)
	ctx := testContext(t)
	h := env.fx.history
	var picked []int
	for i := 0; i < h.Len() && len(picked) < 60; i += 53 {
		if h.Created(i).Before(t1) {
			picked = append(picked, i)
		}
	}
	var writes []*leadscorev1.Lead
	for _, i := range picked {
		writes = append(writes, leadWrite(h.Lead(i)))
	}
	up, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: writes})
	if err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
	if int(up.GetCreatedCount()) != len(picked) || int(up.GetRescoredCount()) != len(picked) || up.GetNotRescoredCount() != 0 {
		t.Fatalf("UpsertLeads: %v, want %d created and rescored", up, len(picked))
	}
	// events sends the picked leads' events in [from, to) in time order,
	// in batches, and returns the leads that gained any.
	events := func(from, to time.Time) []int {
		var evs []leadscore.Event
		gained := map[int]bool{}
		for _, i := range picked {
			for j, e := range h.Events(i) {
				// The fixture's events carry no ids; a CRM's would.
				e.ID = fmt.Sprintf("%s-%d", e.LeadID, j)
				if !e.OccurredAt.Before(from) && e.OccurredAt.Before(to) {
					evs = append(evs, e)
					gained[i] = true
				}
			}
		}
		slices.SortStableFunc(evs, func(a, b leadscore.Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
		for len(evs) > 0 {
			n := min(len(evs), 250)
			req := &leadscorev1.RecordEventsRequest{}
			for _, e := range evs[:n] {
				req.Events = append(req.Events, eventWrite(e))
			}
			resp, err := client.RecordEvents(ctx, req)
			if err != nil {
				t.Fatalf("RecordEvents: %v", err)
			}
			if int(resp.GetRecordedCount()+resp.GetDuplicateCount()) != n || resp.GetNotRescoredCount() != 0 || len(resp.GetRejected()) != 0 {
				t.Fatalf("RecordEvents of %d: %v", n, resp)
			}
			evs = evs[n:]
		}
		var out []int
		for i := range gained {
			out = append(out, i)
		}
		return out
	}
	check := func(leads []int, at time.Time) {
		t.Helper()
		want := backtestScores(t, env, leads, at)
		for _, i := range leads {
			name := leadscore.LeadName(h.LeadID(i))
			got, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: name})
			if err != nil {
				t.Fatalf("GetLead %s: %v", name, err)
			}
			cur := got.GetLead().GetCurrentScore()
			if cur == nil {
				t.Fatalf("%s has no current score", name)
			}
			if !cur.GetScoreTime().AsTime().Equal(at) || cur.GetModelVersion() != "models/default/versions/1" || cur.GetAlias() != leadscore.AliasChampion {
				t.Errorf("%s: scored at %v by %s@%s, want %v by version 1 as champion", name, cur.GetScoreTime().AsTime(), cur.GetModelVersion(), cur.GetAlias(), at)
			}
			w := want[i]
			if d := math.Abs(cur.GetProbability() - w.Probability); d > 1e-9 {
				t.Errorf("%s at %v: stored probability %v, backtest %v", name, at, cur.GetProbability(), w.Probability)
			}
			if cur.GetCell() != w.Cell.String() || cur.GetTier() != tierProto(w.Tier) || cur.GetNextAction() != w.Action {
				t.Errorf("%s: stored %s %v %q, backtest %s %v %q", name, cur.GetCell(), cur.GetTier(), cur.GetNextAction(), w.Cell, w.Tier, w.Action)
			}
			if len(cur.GetFactors()) == 0 {
				t.Errorf("%s: GetLead gave no factors", name)
			}
			sc, err := env.client.Score(ctx, &leadscorev1.ScoreRequest{
				Item: &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_Lead{Lead: name}}, Options: scoreOpts(at),
			})
			if err != nil {
				t.Fatalf("Score %s: %v", name, err)
			}
			if d := math.Abs(sc.GetScore().GetProbability() - cur.GetProbability()); d > 1e-9 {
				t.Errorf("%s: Score by name %v, stored %v", name, sc.GetScore().GetProbability(), cur.GetProbability())
			}
		}
	}
	events(time.Time{}, t1)
	check(picked, t1)

	clock.Set(t2)
	gained := events(t1, t2)
	if len(gained) < 5 {
		t.Fatalf("only %d leads have events between the snapshots", len(gained))
	}
	check(gained, t2)
}

// wantField checks that err is INVALID_ARGUMENT with a violation of field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("%s: got %v, want INVALID_ARGUMENT", what, err)
	}
	for _, f := range fieldViolations(err) {
		if f == field {
			return
		}
	}
	t.Errorf("%s: violations %v do not name %s (%v)", what, fieldViolations(err), field, err)
}

// TestLeadWritesRefuseMalformedRecords sends a bad record of every kind in
// an all-or-nothing batch with a good one, and checks the error's field
// path and that the good record was not written either.
func TestLeadWritesRefuseMalformedRecords(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	_, _, client := leadEnv(t, now, nil)
	ctx := testContext(t)
	good := func(id string) *leadscorev1.Lead {
		return &leadscorev1.Lead{Name: "leads/" + id, CreateTime: timestamppb.New(now.AddDate(0, -1, 0)),
			Attributes: map[string]*leadscorev1.AttributeValue{"industry": {Kind: &leadscorev1.AttributeValue_StringValue{StringValue: "retail"}}}}
	}
	if _, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: []*leadscorev1.Lead{good("known")}}); err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*leadscorev1.Lead)
		field string
	}{
		{"a name without leads/", func(l *leadscorev1.Lead) { l.Name = "x-1" }, "leads[1].name"},
		{"a bad id", func(l *leadscorev1.Lead) { l.Name = "leads/a b" }, "leads[1].name"},
		{"no create time", func(l *leadscorev1.Lead) { l.CreateTime = nil }, "leads[1].create_time"},
		{"an invalid create time", func(l *leadscorev1.Lead) { l.CreateTime = &timestamppb.Timestamp{Nanos: -1} }, "leads[1].create_time"},
		{"a bad account", func(l *leadscorev1.Lead) { l.Account = "acme" }, "leads[1].account"},
		{"a non-finite attribute", func(l *leadscorev1.Lead) {
			l.Attributes["size"] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: math.Inf(1)}}
		}, "leads[1].attributes.size"},
		{"an attribute of no kind", func(l *leadscorev1.Lead) { l.Attributes["size"] = &leadscorev1.AttributeValue{} }, "leads[1].attributes.size"},
		{"a bad attribute key", func(l *leadscorev1.Lead) {
			l.Attributes["Bad Key"] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_BoolValue{BoolValue: true}}
		}, "leads[1].attribute key"},
		{"the other lead's name again", func(l *leadscorev1.Lead) { l.Name = "leads/new-0" }, "leads[1].name"},
	} {
		bad := good("new-1")
		tc.edit(bad)
		_, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: []*leadscorev1.Lead{good("new-0"), bad}})
		wantField(t, tc.name, err, tc.field)
		if _, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: "leads/new-0"}); status.Code(err) != codes.NotFound {
			t.Fatalf("%s: the good lead of the refused batch: %v, want NOT_FOUND", tc.name, err)
		}
	}
	tooMany := &leadscorev1.UpsertLeadsRequest{}
	for i := range leadscore.MaxIngestBatch + 1 {
		tooMany.Leads = append(tooMany.Leads, good("l"+string(rune('a'+i%26))))
	}
	_, err := client.UpsertLeads(ctx, tooMany)
	wantField(t, "1001 leads", err, "leads")
	_, err = client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{})
	wantField(t, "no leads", err, "leads")

	event := func(id, lead string) *leadscorev1.Event {
		return &leadscorev1.Event{EventId: id, Lead: "leads/" + lead, Type: "page_view", OccurTime: timestamppb.New(now.Add(-time.Hour))}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*leadscorev1.Event)
		field string
	}{
		{"an unknown lead", func(e *leadscorev1.Event) { e.Lead = "leads/nobody" }, "events[1].lead"},
		{"no event id", func(e *leadscorev1.Event) { e.EventId = "" }, "events[1].event_id"},
		{"a bad lead name", func(e *leadscorev1.Event) { e.Lead = "nobody" }, "events[1].lead"},
		{"a bad type", func(e *leadscorev1.Event) { e.Type = "Page View" }, "events[1].type"},
		{"no time", func(e *leadscorev1.Event) { e.OccurTime = nil }, "events[1].occur_time"},
		{"a time in the future", func(e *leadscorev1.Event) { e.OccurTime = timestamppb.New(now.Add(time.Hour)) }, "events[1].occur_time"},
		{"a bad property key", func(e *leadscorev1.Event) { e.Properties = map[string]string{"Page": "x"} }, "events[1].property key"},
		{"a bad property value", func(e *leadscorev1.Event) { e.Properties = map[string]string{"page": "a\x00b"} }, "events[1].properties.page"},
	} {
		bad := event("e-bad", "known")
		tc.edit(bad)
		_, err := client.RecordEvents(ctx, &leadscorev1.RecordEventsRequest{Events: []*leadscorev1.Event{event("e-good", "known"), bad}})
		wantField(t, tc.name, err, tc.field)
	}
	// The good event of every refused batch was not recorded: sent alone,
	// it is new.
	resp, err := client.RecordEvents(ctx, &leadscorev1.RecordEventsRequest{Events: []*leadscorev1.Event{event("e-good", "known")}})
	if err != nil || resp.GetRecordedCount() != 1 {
		t.Fatalf("the good event alone: %v, %v; want it recorded once", resp, err)
	}

	outcome := func(lead string) *leadscorev1.Outcome {
		return &leadscorev1.Outcome{Lead: "leads/" + lead, Status: leadscorev1.OutcomeStatus_OUTCOME_STATUS_WON, OccurTime: timestamppb.New(now.Add(-time.Hour))}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*leadscorev1.Outcome)
		field string
	}{
		{"an unknown lead", func(o *leadscorev1.Outcome) { o.Lead = "leads/nobody" }, "outcomes[0].lead"},
		{"no status", func(o *leadscorev1.Outcome) { o.Status = leadscorev1.OutcomeStatus_OUTCOME_STATUS_UNSPECIFIED }, "outcomes[0].status"},
		{"no time", func(o *leadscorev1.Outcome) { o.OccurTime = nil }, "outcomes[0].occur_time"},
		{"an amount without currency", func(o *leadscorev1.Outcome) { o.Amount = 10 }, "outcomes[0].currency_code"},
		{"a bad currency", func(o *leadscorev1.Outcome) { o.Amount, o.CurrencyCode = 10, "euro" }, "outcomes[0].currency_code"},
		{"a negative amount", func(o *leadscorev1.Outcome) { o.Amount, o.CurrencyCode = -1, "EUR" }, "outcomes[0].amount"},
		{"a NaN amount", func(o *leadscorev1.Outcome) { o.Amount, o.CurrencyCode = math.NaN(), "EUR" }, "outcomes[0].amount"},
	} {
		bad := outcome("known")
		tc.edit(bad)
		_, err := client.RecordOutcomes(ctx, &leadscorev1.RecordOutcomesRequest{Outcomes: []*leadscorev1.Outcome{bad}})
		wantField(t, tc.name, err, tc.field)
	}
	got, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: "leads/known"})
	if err != nil || got.GetLead().GetOutcome() != nil {
		t.Fatalf("leads/known after refused outcomes: %v, %v; want no outcome", got, err)
	}

	for _, tc := range []struct {
		name  string
		acct  *leadscorev1.Account
		field string
	}{
		{"a bad name", &leadscorev1.Account{Name: "acme"}, "accounts[0].name"},
		{"a bad display name", &leadscorev1.Account{Name: "accounts/acme", DisplayName: "a\x00"}, "accounts[0].display_name"},
		{"an attribute of no kind", &leadscorev1.Account{Name: "accounts/acme", Attributes: map[string]*leadscorev1.AttributeValue{"x": {}}}, "accounts[0].attributes.x"},
	} {
		_, err := client.UpsertAccounts(ctx, &leadscorev1.UpsertAccountsRequest{Accounts: []*leadscorev1.Account{tc.acct}})
		wantField(t, tc.name, err, tc.field)
	}
	for _, tc := range []struct {
		name  string
		req   *leadscorev1.GetLeadRequest
		code  codes.Code
		field string
	}{
		{"a bad name", &leadscorev1.GetLeadRequest{Name: "known"}, codes.InvalidArgument, "name"},
		{"an unknown lead", &leadscorev1.GetLeadRequest{Name: "leads/nobody"}, codes.NotFound, ""},
		{"a negative history limit", &leadscorev1.GetLeadRequest{Name: "leads/known", ScoreHistoryLimit: -1}, codes.InvalidArgument, "score_history_limit"},
		{"too long a history", &leadscorev1.GetLeadRequest{Name: "leads/known", ScoreHistoryLimit: MaxScoreHistory + 1}, codes.InvalidArgument, "score_history_limit"},
	} {
		_, err := client.GetLead(ctx, tc.req)
		if tc.field != "" {
			wantField(t, "GetLead with "+tc.name, err, tc.field)
		} else if status.Code(err) != tc.code {
			t.Errorf("GetLead with %s: %v, want %v", tc.name, err, tc.code)
		}
	}
}

// TestPartialWritesApplyTheValidRecords checks that a partial call writes
// the valid records and names each rejected one by index and field.
func TestPartialWritesApplyTheValidRecords(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	_, _, client := leadEnv(t, now, nil)
	ctx := testContext(t)
	lead := func(id string) *leadscorev1.Lead {
		return &leadscorev1.Lead{Name: "leads/" + id, CreateTime: timestamppb.New(now.AddDate(0, -1, 0))}
	}
	bad := lead("b")
	bad.CreateTime = nil
	up, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Partial: true, Leads: []*leadscorev1.Lead{lead("a"), bad, lead("c")}})
	if err != nil {
		t.Fatalf("partial UpsertLeads: %v", err)
	}
	if up.GetCreatedCount() != 2 || len(up.GetRejected()) != 1 || up.GetRejected()[0].GetIndex() != 1 ||
		up.GetRejected()[0].GetError().GetCode() != "INVALID_ARGUMENT" ||
		up.GetRejected()[0].GetError().GetFieldViolations()[0].GetField() != "leads[1].create_time" {
		t.Fatalf("partial UpsertLeads: %v, want 2 created and leads[1].create_time rejected", up)
	}
	ev := func(id, lead string) *leadscorev1.Event {
		return &leadscorev1.Event{EventId: id, Lead: "leads/" + lead, Type: "page_view", OccurTime: timestamppb.New(now.Add(-time.Hour))}
	}
	// A bad event the server refuses, and one the store refuses (its lead
	// is unknown), among good ones: the indexes are the request's.
	badType := ev("e2", "a")
	badType.Type = "Bad"
	resp, err := client.RecordEvents(ctx, &leadscorev1.RecordEventsRequest{Partial: true, Events: []*leadscorev1.Event{
		ev("e1", "a"), badType, ev("e3", "c"), ev("e4", "nobody"), ev("e5", "c"),
	}})
	if err != nil {
		t.Fatalf("partial RecordEvents: %v", err)
	}
	var rejected []string
	for _, r := range resp.GetRejected() {
		rejected = append(rejected, r.GetError().GetFieldViolations()[0].GetField())
		if want := []int32{1, 3}[len(rejected)-1]; r.GetIndex() != want {
			t.Errorf("rejection %d has index %d, want %d", len(rejected), r.GetIndex(), want)
		}
	}
	if resp.GetRecordedCount() != 3 || !slices.Equal(rejected, []string{"events[1].type", "events[3].lead"}) || resp.GetRescoredCount() != 2 {
		t.Fatalf("partial RecordEvents: %v; want 3 recorded, events[1].type and events[3].lead rejected, 2 leads rescored", resp)
	}
}

// TestRecordEventsReportsDuplicatesAndConflicts re-sends event ids, once
// unchanged and once with other content.
func TestRecordEventsReportsDuplicatesAndConflicts(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	_, _, client := leadEnv(t, now, nil)
	ctx := testContext(t)
	if _, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: []*leadscorev1.Lead{
		{Name: "leads/a", CreateTime: timestamppb.New(now.AddDate(0, -1, 0))},
	}}); err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
	e := &leadscorev1.Event{EventId: "e1", Lead: "leads/a", Type: "page_view", OccurTime: timestamppb.New(now.Add(-time.Hour)),
		Properties: map[string]string{"page": "pricing"}}
	first, err := client.RecordEvents(ctx, &leadscorev1.RecordEventsRequest{Events: []*leadscorev1.Event{e}})
	if err != nil || first.GetRecordedCount() != 1 || first.GetRescoredCount() != 1 {
		t.Fatalf("first RecordEvents: %v, %v", first, err)
	}
	changed := proto.Clone(e).(*leadscorev1.Event)
	changed.Type = "email_click"
	changed.Properties = nil
	again, err := client.RecordEvents(ctx, &leadscorev1.RecordEventsRequest{Events: []*leadscorev1.Event{e, changed}})
	if err != nil {
		t.Fatalf("RecordEvents again: %v", err)
	}
	if again.GetRecordedCount() != 0 || again.GetDuplicateCount() != 2 || len(again.GetConflicts()) != 1 {
		t.Fatalf("RecordEvents again: %v; want 2 duplicates, 1 conflict", again)
	}
	c := again.GetConflicts()[0]
	if c.GetIndex() != 1 || c.GetEventId() != "e1" || !slices.Equal(c.GetFields(), []string{"type", "properties"}) {
		t.Errorf("conflict %v, want index 1, e1, fields type and properties", c)
	}
	if again.GetRescoredCount() != 0 {
		t.Errorf("duplicates rescored %d leads, want none", again.GetRescoredCount())
	}
}

// TestLeadsWithoutAChampionStayUnscored checks that a lead whose model has
// no champion is reported not rescored and read as not scored, not 0; and
// that its score history and outcome read back.
func TestLeadsWithoutAChampionStayUnscored(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	_, clock, client := leadEnv(t, now, func(o *Options) { o.LeadModel = "nomodel" })
	ctx := testContext(t)
	up, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: []*leadscorev1.Lead{
		{Name: "leads/a", Account: "accounts/acme", Owner: "sam", CreateTime: timestamppb.New(now.AddDate(0, -1, 0))},
	}})
	if err != nil || up.GetRescoredCount() != 0 || up.GetNotRescoredCount() != 1 {
		t.Fatalf("UpsertLeads: %v, %v; want the lead not rescored", up, err)
	}
	clock.Set(now.Add(time.Hour))
	if _, err := client.RecordOutcomes(ctx, &leadscorev1.RecordOutcomesRequest{Outcomes: []*leadscorev1.Outcome{{
		Lead: "leads/a", Status: leadscorev1.OutcomeStatus_OUTCOME_STATUS_WON, OccurTime: timestamppb.New(now),
		Amount: 1200, CurrencyCode: "EUR",
	}}}); err != nil {
		t.Fatalf("RecordOutcomes: %v", err)
	}
	got, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: "leads/a", ScoreHistoryLimit: 10})
	if err != nil {
		t.Fatalf("GetLead: %v", err)
	}
	l := got.GetLead()
	if l.GetCurrentScore() != nil || len(got.GetScoreHistory()) != 0 {
		t.Errorf("an unscored lead reads %v with history %v; want no score", l.GetCurrentScore(), got.GetScoreHistory())
	}
	if l.GetAccount() != "accounts/acme" || l.GetOwner() != "sam" || !l.GetUpdateTime().AsTime().Equal(now) {
		t.Errorf("lead reads %v", l)
	}
	if o := l.GetOutcome(); o.GetStatus() != leadscorev1.OutcomeStatus_OUTCOME_STATUS_WON || o.GetAmount() != 1200 || o.GetCurrencyCode() != "EUR" {
		t.Errorf("outcome reads %v", o)
	}
}

// TestGetLeadShowsScoreHistory moves a lead's score with events and reads
// its history back, newest first.
func TestGetLeadShowsScoreHistory(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	_, clock, client := leadEnv(t, now, func(o *Options) { o.HistoryStep = -1 })
	ctx := testContext(t)
	if _, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: []*leadscorev1.Lead{
		{Name: "leads/a", CreateTime: timestamppb.New(now.AddDate(0, -1, 0))},
	}}); err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
	for i := range 3 {
		clock.Set(now.Add(time.Duration(i+1) * time.Hour))
		if _, err := client.RecordEvents(ctx, &leadscorev1.RecordEventsRequest{Events: []*leadscorev1.Event{{
			EventId: "e" + string(rune('0'+i)), Lead: "leads/a", Type: "demo_request", OccurTime: timestamppb.New(now.Add(time.Duration(i) * time.Hour)),
		}}}); err != nil {
			t.Fatalf("RecordEvents: %v", err)
		}
	}
	got, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: "leads/a", ScoreHistoryLimit: 3})
	if err != nil {
		t.Fatalf("GetLead: %v", err)
	}
	hist := got.GetScoreHistory()
	if len(hist) != 3 {
		t.Fatalf("history has %d entries, want 3 (of 4, newest first)", len(hist))
	}
	for i, e := range hist {
		want := now.Add(time.Duration(3-i) * time.Hour)
		if !e.GetScore().GetScoreTime().AsTime().Equal(want) || e.GetReason() != leadscore.ReasonEvent {
			t.Errorf("history entry %d: %v at %v, want %s at %v", i, e.GetReason(), e.GetScore().GetScoreTime().AsTime(), leadscore.ReasonEvent, want)
		}
	}
	if cur := got.GetLead().GetCurrentScore(); !proto.Equal(cur.GetScoreTime(), hist[0].GetScore().GetScoreTime()) ||
		cur.GetProbability() != hist[0].GetScore().GetProbability() {
		t.Errorf("current score %v is not the newest history entry %v", cur, hist[0].GetScore())
	}
	if !strings.HasPrefix(hist[0].GetScore().GetModelVersion(), "models/default/versions/") {
		t.Errorf("history names version %q", hist[0].GetScore().GetModelVersion())
	}
}

// FuzzLeadWrites decodes arbitrary bytes as each lead write and converts
// every record: nothing panics, and every refusal is an invalid argument.
func FuzzLeadWrites(f *testing.F) {
	now := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	seed := &leadscorev1.UpsertLeadsRequest{Leads: []*leadscorev1.Lead{{
		Name: "leads/a", Account: "accounts/b", CreateTime: timestamppb.New(now),
		Attributes: map[string]*leadscorev1.AttributeValue{"x": {Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: 1}}},
	}}}
	for _, m := range []proto.Message{seed,
		&leadscorev1.RecordEventsRequest{Events: []*leadscorev1.Event{{EventId: "e", Lead: "leads/a", Type: "page_view", OccurTime: timestamppb.New(now)}}},
		&leadscorev1.RecordOutcomesRequest{Outcomes: []*leadscorev1.Outcome{{Lead: "leads/a", Status: 1, OccurTime: timestamppb.New(now), Amount: 3, CurrencyCode: "EUR"}}},
		&leadscorev1.UpsertAccountsRequest{Accounts: []*leadscorev1.Account{{Name: "accounts/b", DisplayName: "B"}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(err error) {
			if err != nil && leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Fatalf("refused with %v (%s), want an invalid-argument error", err, leadscore.ErrorCode(err))
			}
		}
		var leads leadscorev1.UpsertLeadsRequest
		if proto.Unmarshal(data, &leads) == nil {
			_, err := convertBatch(leadscore.TableLeads, leads.GetLeads(), leadscore.IngestOptions{At: now, Partial: true}, leadFromProto)
			check(err)
		}
		var events leadscorev1.RecordEventsRequest
		if proto.Unmarshal(data, &events) == nil {
			_, err := convertBatch(leadscore.TableEvents, events.GetEvents(), leadscore.IngestOptions{At: now}, func(e *leadscorev1.Event) (leadscore.Event, error) {
				return eventFromProto(e, now)
			})
			check(err)
		}
		var outcomes leadscorev1.RecordOutcomesRequest
		if proto.Unmarshal(data, &outcomes) == nil {
			_, err := convertBatch(leadscore.TableOutcomes, outcomes.GetOutcomes(), leadscore.IngestOptions{At: now}, func(o *leadscorev1.Outcome) (leadscore.Outcome, error) {
				return outcomeFromProto(o, now)
			})
			check(err)
		}
		var accounts leadscorev1.UpsertAccountsRequest
		if proto.Unmarshal(data, &accounts) == nil {
			_, err := convertBatch("accounts", accounts.GetAccounts(), leadscore.IngestOptions{At: now, Partial: true}, accountFromProto)
			check(err)
		}
	})
}

// fieldViolations returns the fields of an error's BadRequest details.
func fieldViolations(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}
